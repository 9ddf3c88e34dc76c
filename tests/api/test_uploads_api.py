"""POST /v1/products/{sku}/model: the upload limits hold while streaming, and bad bodies are 4xx.

The test settings cap uploads at 64 KiB (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from starlette.requests import Request

from api.errors import ApiError
from api.uploads import receive_upload
from assets.models import Job, Upload

GLB = b"glTF\x02\x00\x00\x00" + b"\x00" * 64
BOUNDARY = "vitrine-test-boundary"


def _multipart_head(filename: str = "model.glb") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def _multipart_tail() -> bytes:
    return f"\r\n--{BOUNDARY}--\r\n".encode()


def _leftovers(api) -> list[Path]:
    incoming = api.app.state.settings.data_dir / "incoming"
    return list(incoming.iterdir()) if incoming.exists() else []


def _nothing_stored(api) -> None:
    assert _leftovers(api) == []
    assert list(api.app.state.storage.list("uploads/")) == []
    with api.app.state.sessions() as session:
        assert session.query(Upload).count() == 0 and session.query(Job).count() == 0


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    return response.json()["error"]


def test_chunked_body_without_content_length_is_cut_at_the_limit(api):
    api.create_product("SOFA-1")

    def body():
        yield _multipart_head() + GLB
        for _ in range(64):  # 64 x 4 KiB = 256 KiB, four times the limit
            yield b"\x00" * 4096
        yield _multipart_tail()

    headers = {**api.headers, **MULTIPART}
    request = api.client.build_request("POST", "/v1/products/SOFA-1/model", content=body(), headers=headers)
    assert "content-length" not in request.headers and request.headers["transfer-encoding"] == "chunked"
    response = api.client.send(request)

    error = _error(response, 413, "UPLOAD_TOO_LARGE")
    assert str(64 * 1024) in error["message"]
    _nothing_stored(api)


def test_declared_content_length_over_the_limit_is_refused_at_once(api):
    api.create_product("SOFA-1")
    _error(api.upload("SOFA-1", GLB + b"\x00" * 70_000), 413, "UPLOAD_TOO_LARGE")
    _nothing_stored(api)


def test_upload_just_under_the_limit_is_accepted(api):
    api.create_product("SOFA-1")
    assert api.upload("SOFA-1", GLB + b"\x00" * 60_000).status_code == 202


def test_empty_file_is_400(api):
    api.create_product("SOFA-1")
    _error(api.upload("SOFA-1", b""), 400, "EMPTY_FILE")
    _nothing_stored(api)


@pytest.mark.parametrize("content", [b"\x00\x01\x02garbage", b"MZ\x90\x00 an executable", b"%PDF-1.7\n"])
def test_unknown_format_is_415(api, content: bytes):
    api.create_product("SOFA-1")
    _error(api.upload("SOFA-1", content, filename="model.glb"), 415, "UNSUPPORTED_FORMAT")
    _nothing_stored(api)


def test_missing_file_part_is_400(api):
    api.create_product("SOFA-1")
    response = api.client.post("/v1/products/SOFA-1/model", data={"unit": "cm"}, files={}, headers=api.headers)
    # httpx sends a urlencoded body when there are no files: that is not multipart.
    _error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    body = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="unit"\r\n\r\ncm\r\n--{BOUNDARY}--\r\n'
    headers = {**api.headers, **MULTIPART}
    _error(api.client.post("/v1/products/SOFA-1/model", content=body, headers=headers), 400, "MISSING_FILE")


def test_truncated_multipart_is_400_and_leaves_nothing(api):
    api.create_product("SOFA-1")
    headers = {**api.headers, **MULTIPART}
    response = api.client.post("/v1/products/SOFA-1/model", content=_multipart_head() + GLB, headers=headers)
    _error(response, 400, "INVALID_MULTIPART")
    _nothing_stored(api)


def test_too_many_parts_is_400(api):
    api.create_product("SOFA-1")
    fields = "".join(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nx\r\n' for i in range(20))
    headers = {**api.headers, **MULTIPART}
    response = api.client.post("/v1/products/SOFA-1/model", content=fields + f"--{BOUNDARY}--\r\n", headers=headers)
    _error(response, 400, "TOO_MANY_PARTS")


def test_huge_form_field_is_400(api):
    api.create_product("SOFA-1")
    _error(api.upload("SOFA-1", unit="m" * 10_000), 400, "FIELD_TOO_LARGE")
    _nothing_stored(api)


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"unit": "furlong"}, "unit"),
        ({"max_triangles": "lots"}, "max_triangles"),
        ({"max_triangles": 3}, "max_triangles"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_form_fields_are_422(api, fields: dict, loc: str):
    api.create_product("SOFA-1")
    error = _error(api.upload("SOFA-1", **fields), 422, "VALIDATION_ERROR")
    assert error["fields"][0]["loc"] == ["body", loc]
    _nothing_stored(api)


def test_second_file_part_is_400(api):
    api.create_product("SOFA-1")
    response = api.client.post(
        "/v1/products/SOFA-1/model",
        files=[("file", ("a.glb", GLB)), ("file", ("b.glb", GLB))],
        headers=api.headers,
    )
    _error(response, 400, "TOO_MANY_FILES")
    _nothing_stored(api)


@pytest.mark.parametrize(
    ("filename", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("/abs/path/chair.glb", "chair.glb"),
        ("C:\\Users\\me\\chair.glb", "chair.glb"),
        ("evil\u202egpj.glb", "evilgpj.glb"),
        ("tab\tand\x7fcontrol.glb", "tabandcontrol.glb"),
        ("x" * 1000, "x" * 255),
        ("", "upload"),
    ],
)
def test_client_filenames_are_for_display_only(api, filename: str, shown: str):
    api.create_product("SOFA-1")
    body = _multipart_head(filename) + GLB + _multipart_tail()  # raw: httpx would escape the filename
    response = api.client.post("/v1/products/SOFA-1/model", content=body, headers={**api.headers, **MULTIPART})
    assert response.status_code == 202, response.text
    with api.app.state.sessions() as session:
        upload = session.query(Upload).one()
        assert upload.filename == shown
        assert upload.storage_key == f"uploads/{upload.id}"
        assert upload.size == len(GLB)
    assert api.app.state.storage.open(upload.storage_key).read() == GLB
    assert _leftovers(api) == []


def _trickle_request(chunks: list[bytes], pause: float) -> Request:
    """A request whose body arrives as `chunks`, then stalls for `pause` seconds (a slow client)."""
    pending = list(chunks)

    async def receive():
        if pending:
            return {"type": "http.request", "body": pending.pop(0), "more_body": True}
        await asyncio.sleep(pause)
        return {"type": "http.request", "body": b"", "more_body": False}

    headers = [(b"content-type", MULTIPART["Content-Type"].encode())]
    return Request({"type": "http", "method": "POST", "headers": headers}, receive)


@pytest.mark.parametrize(("idle", "total"), [(0.2, 60.0), (60.0, 0.3)])
def test_a_stalled_or_endless_upload_is_cut_off_with_408(tmp_path: Path, idle: float, total: float):
    request = _trickle_request([_multipart_head() + GLB], pause=5.0)
    with pytest.raises(ApiError) as raised:
        asyncio.run(receive_upload(request, tmp_path, 1024 * 1024, idle_seconds=idle, max_seconds=total))
    assert raised.value.status_code == 408 and raised.value.code == "UPLOAD_TIMEOUT"
    assert list(tmp_path.iterdir()) == []  # the spool file is gone
