"""Very large originals PUT straight to the bucket (issue 6), against a real S3 server (moto, over HTTP)."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from assets.models import Upload
from tests.conftest import GLB_BYTES

FAKE = "tests.assets.fake_conversions:succeed"


@pytest.fixture
def s3_api(start_api, s3_server, bucket):
    return start_api(storage_url=f"s3://{bucket}/shop", s3_endpoint_url=s3_server.url, max_direct_upload_bytes=4096)


def _start(api, sku: str, size: int) -> httpx.Response:
    return api.client.post(f"/v1/products/{sku}/uploads", json={"size": size}, headers=api.headers)


def _start_job(api, sku: str, upload_id: str, **form) -> httpx.Response:
    return api.client.post(f"/v1/products/{sku}/uploads/{upload_id}/job", json=form, headers=api.headers)


def test_an_original_put_to_the_bucket_is_converted_and_published(s3_api):
    s3_api.create_product("SOFA-1")
    content = GLB_BYTES + b"direct to the bucket"
    offer = _start(s3_api, "SOFA-1", len(content))
    assert offer.status_code == 201, offer.text
    offer = offer.json()
    assert offer["method"] == "PUT" and "Authorization" not in offer["headers"]
    put = httpx.put(offer["url"], content=content, headers=offer["headers"])  # no API key: the URL is the credential
    assert put.status_code == 200, put.text

    accepted = _start_job(s3_api, "SOFA-1", offer["upload_id"], filename="sofa.glb", unit="cm")
    assert accepted.status_code == 202, accepted.text
    job = s3_api.wait_for_job(accepted.json()["job"]["id"])
    assert job["status"] == "succeeded", job
    product = s3_api.get("/v1/products/SOFA-1").json()
    assert product["source"] == {"sha256": hashlib.sha256(content).hexdigest(), "filename": "sofa.glb", "size": len(content)}
    assert httpx.get(product["assets"]["glb"]).content == b"GLB:" + content

    again = _start_job(s3_api, "SOFA-1", offer["upload_id"])
    assert again.status_code == 202 and again.json()["job"]["id"] == job["id"]  # started once, whatever the retries


def test_sizes_over_the_limit_are_refused_up_front_and_after_the_put(s3_api):
    s3_api.create_product("SOFA-1")
    refused = _start(s3_api, "SOFA-1", 4097)
    assert refused.status_code == 413 and refused.json()["error"]["code"] == "UPLOAD_TOO_LARGE"

    # A store that ignores the signed length: the object is bigger than promised. Checked again, and removed.
    offer = _start(s3_api, "SOFA-1", 100).json()
    storage = s3_api.app.state.storage
    key = f"uploads/direct/default/SOFA-1/{offer['upload_id']}"
    storage.put(key, b"x" * 5000, "application/octet-stream")
    response = _start_job(s3_api, "SOFA-1", offer["upload_id"])
    assert response.status_code == 413 and response.json()["error"]["code"] == "UPLOAD_TOO_LARGE"
    assert not storage.exists(key)


def test_the_url_signs_the_promised_length_and_type(s3_api):
    # S3 refuses a PUT whose signed headers differ; moto does not check signatures, so the contract is
    # asserted on the URL, and the size is checked again when the job starts (the test above).
    s3_api.create_product("SOFA-1")
    offer = _start(s3_api, "SOFA-1", 100).json()
    query = parse_qs(urlsplit(offer["url"]).query)
    assert query["X-Amz-SignedHeaders"] == ["content-length;content-type;host"]
    assert query["X-Amz-Expires"] == [str(s3_api.app.state.settings.direct_upload_seconds)]


def test_a_job_needs_the_file_and_the_callers_own_upload(s3_api):
    s3_api.create_product("SOFA-1")
    missing = _start_job(s3_api, "SOFA-1", "0" * 32)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "UPLOAD_NOT_FOUND"
    assert _start_job(s3_api, "SOFA-1", "../../objects/x").status_code in (404, 422)
    assert _start_job(s3_api, "SOFA-1", "NOT-AN-ID").status_code == 422

    offer = _start(s3_api, "SOFA-1", len(GLB_BYTES)).json()
    httpx.put(offer["url"], content=GLB_BYTES, headers=offer["headers"]).raise_for_status()
    other = s3_api.as_tenant("other-shop")
    other.create_product("SOFA-1")
    stolen = _start_job(other, "SOFA-1", offer["upload_id"])
    assert stolen.status_code == 404  # the object lives under the first tenant's prefix
    with s3_api.app.state.sessions() as session:
        assert session.query(Upload).count() == 0


def test_local_storage_has_no_direct_uploads(api):
    api.create_product("SOFA-1")
    response = _start(api, "SOFA-1", 10)
    assert response.status_code == 409 and response.json()["error"]["code"] == "DIRECT_UPLOAD_UNAVAILABLE"
