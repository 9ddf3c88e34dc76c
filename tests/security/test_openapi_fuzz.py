"""Property-based tests of the HTTP API against its own OpenAPI schema, with schemathesis (issue 8).

Requests are generated from every operation's declared parameters and bodies, valid ones and (in
schemathesis' negative mode) invalid ones, and sent in-process to one started app. Every answer
must not be a 5xx and must be what the schema declares: status code, content type, headers and
body. With the owner's key all of schemathesis' phases run (its schema examples, the coverage
phase's boundary and malformed values, random fuzzing); with no key, an unknown key and a
read-only key the examples and fuzzing phases run, since most of those requests stop at the key.
Generated path parameters rarely name anything that exists, so a case with path parameters is
sent a second time with them replaced by a published product's real ids.

Examples per operation are few so the module stays fast; run it longer by hand with
`VITRINE_FUZZ_EXAMPLES=500 .venv/bin/pytest tests/security/test_openapi_fuzz.py`.
What it found is kept below as explicit regression tests.
"""
from __future__ import annotations

import copy
import os
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import get_client
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.main import create_app
from assets import catalog, webhooks
from tests.conftest import GLB_BYTES, make_test_settings

EXAMPLES = int(os.environ.get("VITRINE_FUZZ_EXAMPLES", "5"))
CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# The oEmbed spec (oembed.com) requires 501 for a format the provider does not serve.
SPEC_MANDATED_5XX = {("GET", "/oembed", 501)}
KEYLESS_CALLERS = ("no_key", "bad_key", "read_only")
UPLOAD_PATH = "/v1/products/{sku}/model"
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)


def _openapi() -> dict:
    """The document the app serves; the app is built on a throwaway directory and never started."""
    with tempfile.TemporaryDirectory() as tmp:
        return create_app(make_test_settings(Path(tmp))).openapi()


DOCUMENT = _openapi()
schema = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT))
keyless_schema = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT))
keyless_schema.config.phases.update(phases=["examples", "fuzzing"])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A started app with the default tenant's published product, its job, version and webhook, a
    spare product and webhook for DELETE to remove, and a key for every caller."""
    client = TestClient(create_app(make_test_settings(tmp_path_factory.mktemp("fuzz"))))
    client.__enter__()
    with client.app.state.sessions() as session:
        keys = {
            "owner": catalog.create_api_key(session, catalog.DEFAULT_TENANT),
            "read_only": catalog.create_api_key(session, catalog.DEFAULT_TENANT, ("read",)),
            "uploader": catalog.create_api_key(session, "uploads"),
        }
        # Made here, not through the API, which only takes URLs that resolve to public addresses.
        hooks = [webhooks.create_webhook(session, catalog.DEFAULT_TENANT, "http://127.0.0.1:9/", ["job.failed"])]
        hooks.append(webhooks.create_webhook(session, catalog.DEFAULT_TENANT, "http://127.0.0.1:9/", ["job.failed"]))
        session.commit()
        hook_ids = [hook.id for hook in hooks]
    owner = {"Authorization": f"Bearer {keys['owner']}"}
    for sku in ("SOFA-1", "SPARE-1"):
        client.post("/v1/products", json={"sku": sku, "name": "Sofa"}, headers=owner).raise_for_status()
    uploader = {"Authorization": f"Bearer {keys['uploader']}"}
    client.post("/v1/products", json={"sku": "CHAIR-1", "name": "Chair"}, headers=uploader).raise_for_status()
    job = client.post("/v1/products/SOFA-1/model", files={"file": ("m.glb", GLB_BYTES)}, headers=owner).json()["job"]
    deadline = time.monotonic() + 15
    while (status := client.get(f"/v1/jobs/{job['id']}", headers=owner).json()["status"]) in ("queued", "running"):
        assert time.monotonic() < deadline, "the first upload's job did not finish"
        time.sleep(0.02)
    assert status == "succeeded", status
    published = client.get("/v1/products/SOFA-1", headers=owner).json()
    ids = {
        "sku": "SOFA-1",
        "tenant": catalog.DEFAULT_TENANT,
        "job_id": job["id"],
        "version_id": str(published["version"]),
        "key": published["assets"]["glb"].split("/files/", 1)[1],
        "webhook_id": hook_ids[0],
        "upload_id": "0" * 32,
    }
    yield {"client": client, "keys": keys, "ids": ids, "spare_ids": {**ids, "sku": "SPARE-1", "webhook_id": hook_ids[1]}}
    client.__exit__(None, None, None)


def _headers(caller: str, keys: dict[str, str]) -> dict[str, str]:
    key = {"owner": keys["owner"], "bad_key": "vk_not-a-key", "read_only": keys["read_only"]}.get(caller)
    return {"Authorization": f"Bearer {key}"} if key else {}


def _send_and_check(case, world: dict, caller: str) -> None:
    """Send `case` as `caller`, then again on real ids if it has path parameters; check each answer."""
    app = world["client"].app
    if case.headers:
        case.headers.pop("Authorization", None)  # the caller's own, or none, is sent instead
    headers = _headers(caller, world["keys"])
    session = get_client(app)  # not entered: the TestClient above owns the app's lifespan
    _check(case, case.call(session=session, app=app, headers=headers))
    if case.path_parameters:
        real = world["spare_ids"] if case.method == "DELETE" else world["ids"]
        case.path_parameters = {name: real.get(name, value) for name, value in case.path_parameters.items()}
        _check(case, case.call(session=session, app=app, headers=headers))


def _check(case, response) -> None:
    allowed_5xx = (case.method, case.path, response.status_code) in SPEC_MANDATED_5XX
    case.validate_response(response, checks=CONFORMANCE if allowed_5xx else [not_a_server_error, *CONFORMANCE])


@schema.parametrize()
@FUZZ_SETTINGS
def test_with_the_owners_key_every_operation_answers_as_its_schema_says(case, world):
    _send_and_check(case, world, "owner")


@pytest.mark.parametrize("caller", KEYLESS_CALLERS)
@keyless_schema.parametrize()
@FUZZ_SETTINGS
def test_without_a_writing_key_every_operation_answers_as_its_schema_says(case, caller, world):
    _send_and_check(case, world, caller)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_schemathesis_generates_multipart_uploads_and_they_get_202_or_a_4xx(world, mode):
    """The upload's body is hand-declared (openapi_extra): schemathesis must be able to build
    multipart requests from it, and whatever they carry the upload parser answers 202 or a 4xx."""
    client, key = world["client"], world["keys"]["uploader"]
    statuses = []

    @given(case=schema[UPLOAD_PATH]["POST"].as_strategy(generation_mode=mode))
    @FUZZ_SETTINGS
    def upload(case):
        assert case.media_type == "multipart/form-data"
        if mode == GenerationMode.POSITIVE:
            assert isinstance(case.body, dict) and "file" in case.body
        case.path_parameters = {"sku": "CHAIR-1"}
        if case.headers:
            case.headers.pop("Authorization", None)
        response = case.call(session=get_client(client.app), app=client.app, headers={"Authorization": f"Bearer {key}"})
        _check(case, response)
        statuses.append(response.status_code)

    upload()
    read_the_body = {202, 400, 413, 415, 422}
    assert read_the_body & set(statuses), statuses
    # Negative cases may also leave the key out, which is the one other answer expected.
    assert set(statuses) <= read_the_body | ({401} if mode == GenerationMode.NEGATIVE else set()), statuses


# Regressions: what the fuzzing above found, each sent by hand and checked against the schema.


def _conforms(method: str, path: str, response: httpx.Response, **path_parameters: str) -> httpx.Response:
    case = schema[path][method].Case(path_parameters=path_parameters)
    case.validate_response(response, checks=[not_a_server_error, *CONFORMANCE])
    return response


def _owner(world: dict) -> dict[str, str]:
    return _headers("owner", world["keys"])


def test_a_validation_error_is_documented_as_the_error_envelope(world):
    """FastAPI documented 422 as `{"detail": [...]}`; the API sends `{"error": {...}}`."""
    response = world["client"].post("/v1/products", json={"sku": "../x"}, headers=_owner(world))
    assert _conforms("POST", "/v1/products", response).status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "HTTPValidationError" not in DOCUMENT["components"]["schemas"]


@pytest.mark.parametrize("caller", KEYLESS_CALLERS)
def test_key_errors_are_documented_on_every_keyed_operation(world, caller):
    """401 (no key, unknown key) and 403 (read-only key) were sent but declared nowhere."""
    headers = _headers(caller, world["keys"])
    response = world["client"].post("/v1/products", json={"sku": "NEW-1", "name": "New"}, headers=headers)
    assert _conforms("POST", "/v1/products", response).status_code in (401, 403)
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            if operation.get("security"):
                assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)


def test_the_catalog_list_leaves_out_an_unknown_ar_launch_rate_as_its_schema_allows(world):
    """`engagement.ar_launch_rate` was required, but left out (not null) before any AR view."""
    response = world["client"].get("/v1/products", headers=_owner(world))
    listed = _conforms("GET", "/v1/products", response).json()["products"]
    assert any("ar_launch_rate" not in product["engagement"] for product in listed)


def test_an_existing_sku_is_a_documented_409(world):
    response = world["client"].post("/v1/products", json={"sku": "SOFA-1", "name": "Sofa"}, headers=_owner(world))
    assert _conforms("POST", "/v1/products", response).status_code == 409


def test_an_upload_of_an_unsupported_format_is_a_documented_415(world):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    response = world["client"].post("/v1/products/SOFA-1/model", files={"file": ("f.png", png)}, headers=_owner(world))
    assert _conforms("POST", UPLOAD_PATH, response, sku="SOFA-1").status_code == 415
    assert response.json()["error"]["code"] == "UNSUPPORTED_FORMAT"


@pytest.mark.parametrize(
    ("method", "path", "path_parameters"),
    [
        ("POST", "/v1/products/{sku}/reprocess", {"sku": "SOFA-1"}),
        ("PUT", "/v1/settings/embedding", {}),
        ("POST", "/v1/webhooks", {}),
    ],
)
@pytest.mark.parametrize("caller", ["owner", "bad_key"])
def test_a_body_that_is_not_utf8_is_a_documented_400(world, method, path, path_parameters, caller):
    """FastAPI refuses an undecodable JSON body before the key is even looked at."""
    headers = {**_headers(caller, world["keys"]), "Content-Type": "application/json"}
    url = path.format(**path_parameters)
    response = world["client"].request(method, url, content=b"\xff\xfe{", headers=headers)
    assert _conforms(method, path, response, **path_parameters).status_code == 400


def test_direct_uploads_without_s3_are_a_documented_409(world):
    client, headers = world["client"], _owner(world)
    started = client.post("/v1/products/SOFA-1/uploads", json={"size": 2}, headers=headers)
    assert _conforms("POST", "/v1/products/{sku}/uploads", started, sku="SOFA-1").status_code == 409
    job = client.post(f"/v1/products/SOFA-1/uploads/{'0' * 32}/job", json={"filename": "m.glb"}, headers=headers)
    path = "/v1/products/{sku}/uploads/{upload_id}/job"
    assert _conforms("POST", path, job, sku="SOFA-1", upload_id="0" * 32).status_code == 409


@pytest.mark.parametrize("path", ["/view/{sku}", "/embed/{sku}"])
def test_an_unpublished_page_is_a_documented_html_404(world, path):
    response = world["client"].get(path.replace("{sku}", "NO-SUCH-SKU"))
    assert _conforms("GET", path, response, sku="NO-SUCH-SKU").status_code == 404
    assert response.headers["content-type"].startswith("text/html")


def test_oembed_errors_are_documented(world):
    client = world["client"]
    assert _conforms("GET", "/oembed", client.get("/oembed", params={"url": ""})).status_code == 404
    xml = client.get("/oembed", params={"url": "http://testserver/view/SOFA-1", "format": "xml"})
    assert xml.status_code == 501  # what oEmbed requires, so declared, and not counted as a server error
    schema["/oembed"]["GET"].Case().validate_response(xml, checks=CONFORMANCE)


def test_a_published_file_is_served_with_a_documented_content_type(world):
    """The 200 of /files was documented as JSON, but a GLB is model/gltf-binary."""
    key = world["ids"]["key"]
    response = world["client"].get(f"/files/{key}")
    assert _conforms("GET", "/files/{key}", response, key=key).status_code == 200
    assert response.headers["content-type"] == "model/gltf-binary"


def test_an_event_for_an_unknown_product_is_a_documented_404(world):
    response = world["client"].post("/v1/events", json={"sku": "NO-SUCH-SKU", "type": "view"})
    assert _conforms("POST", "/v1/events", response).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "url"),
    [
        ("GET", "/v1/products", f"/v1/products?offset={2**63}"),
        ("POST", "/v1/products/{sku}/versions/{version_id}/publish", f"/v1/products/SOFA-1/versions/{2**63}/publish"),
    ],
)
def test_a_number_too_large_for_the_database_is_a_documented_422(world, method, path, url):
    """An offset past a signed 64-bit integer reached SQLite, which raised OverflowError: a 500."""
    response = world["client"].request(method, url, headers=_owner(world))
    path_parameters = {"sku": "SOFA-1", "version_id": str(2**63)} if "{sku}" in path else {}
    assert _conforms(method, path, response, **path_parameters).status_code == 422
