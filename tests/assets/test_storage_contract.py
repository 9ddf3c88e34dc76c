"""The Storage contract, on the local disk and on a real S3 server (moto over HTTP) alike.

Then what only S3 has: the headers on objects read straight from the store over HTTP, multipart
uploads (and their abort when a part fails), presigned GET and PUT URLs, errors as OSErrors.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from botocore.exceptions import ConnectionClosedError

from assets.storage import LocalStorage, Storage, object_key, sha256_file, storage_from_url
from assets.storage_s3 import IMMUTABLE, S3Storage, StorageUnavailable

MiB = 1024 * 1024


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "objects")
    endpoint = request.getfixturevalue("s3_server").url
    return storage_from_url(f"s3://{request.getfixturevalue('bucket')}/shop/assets", endpoint_url=endpoint)


def test_put_open_exists_list_delete(storage: Storage, tmp_path: Path):
    source = tmp_path / "model.glb"
    source.write_bytes(b"glb bytes")
    key = object_key(sha256_file(source), "glb")

    storage.put(key, source, "model/gltf-binary")
    storage.put("manifests/job-1.json", b"{}", "application/json")

    assert storage.exists(key) and not storage.exists("objects/absent.glb")
    with storage.open(key) as stream:
        assert stream.read() == b"glb bytes"
    assert sorted(storage.list()) == sorted([key, "manifests/job-1.json"])
    assert list(storage.list("manifests/")) == ["manifests/job-1.json"]
    storage.delete(key)
    storage.delete(key)  # absent is fine
    assert not storage.exists(key)
    with pytest.raises(FileNotFoundError):
        storage.open(key)


def test_put_replaces_the_whole_object(storage: Storage):
    storage.put("uploads/a", b"first, longer", "application/octet-stream")
    storage.put("uploads/a", b"second", "application/octet-stream")
    with storage.open("uploads/a") as stream:
        assert stream.read() == b"second"
    assert list(storage.list("uploads/")) == ["uploads/a"]


def test_entries_say_when_each_object_was_written(storage: Storage):
    before = datetime.now(UTC) - timedelta(seconds=2)  # S3 times have one-second resolution
    storage.put("objects/x.json", b"{}", "application/json")
    [(key, modified)] = list(storage.entries("objects/"))
    assert key == "objects/x.json" and before <= modified <= datetime.now(UTC) + timedelta(seconds=1)


@pytest.mark.parametrize("key", ["../outside", "a/../../outside", "/etc/passwd", "a\\..\\b"])
def test_keys_cannot_escape(storage: Storage, key: str):
    with pytest.raises(ValueError):
        storage.put(key, b"x", "text/plain")
    with pytest.raises(ValueError):
        storage.exists(key)


def test_url_reads_the_object_over_http(storage: Storage, tmp_path: Path):
    storage.put("objects/abc.usdz", b"usdz bytes", "model/vnd.usdz+zip")
    url = storage.url("objects/abc.usdz")
    if isinstance(storage, LocalStorage):
        assert url == "/files/objects/abc.usdz"  # served by the API (tests/api cover the route)
        return
    response = httpx.get(url)  # no credentials: a presigned URL
    assert response.status_code == 200 and response.content == b"usdz bytes"


# S3 only ----------------------------------------------------------------------------------------


@pytest.fixture
def s3(s3_server, bucket) -> S3Storage:
    return S3Storage(bucket, "shop", endpoint_url=s3_server.url, multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)


def test_published_objects_carry_their_headers_when_read_from_the_bucket(s3: S3Storage):
    s3.put("objects/abc.glb", b"glb", "model/gltf-binary")
    s3.put("uploads/123", b"original", "application/octet-stream")

    published = httpx.get(s3.url("objects/abc.glb"))
    assert published.headers["content-type"] == "model/gltf-binary"
    assert published.headers["cache-control"] == IMMUTABLE == "public, max-age=31536000, immutable"
    assert published.headers["content-disposition"] == 'inline; filename="abc.glb"'
    original = httpx.get(s3.url("uploads/123"))
    assert original.headers["content-disposition"] == 'attachment; filename="123"'
    assert "immutable" not in original.headers.get("cache-control", "")


def test_keys_live_under_the_prefix(s3: S3Storage, s3_server, bucket):
    s3.put("objects/abc.glb", b"glb", "model/gltf-binary")
    raw = boto3.client("s3", endpoint_url=s3_server.url).list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in raw["Contents"]] == ["shop/objects/abc.glb"]


def test_big_files_go_up_in_parts(s3: S3Storage, s3_server, bucket, tmp_path: Path):
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * (11 * MiB // 256))  # 11 MiB: three parts of 5 MiB
    s3.put("uploads/big", big, "application/octet-stream")

    head = boto3.client("s3", endpoint_url=s3_server.url).head_object(Bucket=bucket, Key="shop/uploads/big")
    assert head["ETag"].strip('"').endswith("-3")  # the ETag of a three-part multipart upload
    with s3.open("uploads/big") as stream:
        assert stream.read() == big.read_bytes()


def test_a_failed_part_aborts_the_multipart_upload(s3: S3Storage, s3_server, bucket, tmp_path: Path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (11 * MiB))
    parts = []

    def fail_second_part(**kwargs):
        parts.append(kwargs)
        if len(parts) == 2:
            raise ConnectionClosedError(endpoint_url=s3_server.url)  # the network went away

    s3.client.meta.events.register("before-call.s3.UploadPart", fail_second_part)
    with pytest.raises(StorageUnavailable):
        s3.put("uploads/big", big, "application/octet-stream")

    assert not s3.exists("uploads/big")
    raw = boto3.client("s3", endpoint_url=s3_server.url)
    assert raw.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_presigned_urls(s3: S3Storage):
    put_url = s3.presigned_put("uploads/direct", "application/octet-stream", 600)
    headers = {"Content-Type": "application/octet-stream"}
    assert httpx.put(put_url, content=b"straight to the bucket", headers=headers).status_code == 200
    with s3.open("uploads/direct") as stream:
        assert stream.read() == b"straight to the bucket"

    get_url = s3.presigned_get("uploads/direct", 60)
    assert httpx.get(get_url).content == b"straight to the bucket"
    query = parse_qs(urlsplit(get_url).query)
    # The expiry is part of what is signed. (moto does not refuse expired URLs, so the refusal
    # itself is S3's to enforce; here we check that we ask for it.)
    assert query["X-Amz-Expires"] == ["60"] and "X-Amz-Signature" in query


def test_public_base_url_replaces_presigned_urls(s3_server, bucket):
    storage = S3Storage(bucket, "p", endpoint_url=s3_server.url, public_base_url="https://cdn.example/")
    assert storage.url("objects/a.glb") == "https://cdn.example/p/objects/a.glb"


def test_an_unreachable_store_is_an_oserror(bucket):
    storage = S3Storage(bucket, endpoint_url="http://127.0.0.1:9", max_attempts=2)  # nothing listens there
    with pytest.raises(StorageUnavailable):
        storage.put("objects/a.glb", b"x", "model/gltf-binary")
    with pytest.raises(OSError):
        storage.exists("objects/a.glb")
