"""A product's history (issue 9): jobs, versions, re-processing, rollback, and idempotent uploads."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from assets.models import Job, Upload, WebhookDelivery
from tests.conftest import GLB_BYTES

SOFA_DIMENSIONS = {"width": 200, "height": 90, "depth": 85, "unit": "cm"}  # what the fake conversion measures


def _job_settings(api, job_id: str) -> dict:
    with api.app.state.sessions() as session:
        return session.get(Job, job_id).settings


def _count(api, model) -> int:
    with api.app.state.sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def _reprocess(api, sku: str, **body) -> dict:
    response = api.client.post(f"/v1/products/{sku}/reprocess", json=body, headers=api.headers)
    assert response.status_code == 202, response.text
    return api.wait_for_job(response.json()["job"]["id"])


def test_product_shows_its_latest_job_source_version_and_summary(api):
    api.create_product("SOFA-1", dimensions=SOFA_DIMENSIONS)
    product = api.publish("SOFA-1", GLB_BYTES + b"v1")
    assert product["latest_job"]["status"] == "succeeded" and product["latest_job"]["kind"] == "upload"
    assert product["source"] == {
        "sha256": hashlib.sha256(GLB_BYTES + b"v1").hexdigest(),
        "filename": "model.glb",
        "size": len(GLB_BYTES) + 2,
    }
    assert isinstance(product["version"], int)
    assert product["summary"]["dimension_mismatch"] is False
    listed = api.get("/v1/products").json()["products"][0]
    assert listed["latest_job"] == product["latest_job"] and listed["source"] == product["source"]


def test_a_failed_job_shows_in_the_product_with_its_code(start_api):
    api = start_api(convert_function="tests.assets.fake_conversions:refuse")
    api.create_product("SOFA-1")
    job_id = api.upload("SOFA-1").json()["job"]["id"]
    api.wait_for_job(job_id)
    latest = api.get("/v1/products/SOFA-1").json()["latest_job"]
    assert latest["id"] == job_id and latest["status"] == "failed" and latest["error"]["code"] == "CORRUPT_FILE"


def test_changed_declared_dimensions_show_as_a_mismatch_and_reach_the_next_run(api):
    api.create_product("SOFA-1", dimensions=SOFA_DIMENSIONS)
    api.publish("SOFA-1")
    patched = api.client.patch(
        "/v1/products/SOFA-1",
        json={"dimensions": {"width": 100, "height": 90, "depth": 85, "unit": "cm"}, "placement": "wall"},
        headers=api.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["placement"] == "wall" and patched.json()["summary"]["dimension_mismatch"] is True
    job = _reprocess(api, "SOFA-1")
    settings = _job_settings(api, job["id"])
    assert settings["dimensions"]["width"] == 100 and settings["placement"] == "wall"
    cleared = api.client.patch("/v1/products/SOFA-1", json={"dimensions": None}, headers=api.headers).json()
    assert "dimensions" not in cleared and cleared["summary"]["dimension_mismatch"] is False
    refused = api.client.patch("/v1/products/SOFA-1", json={"placement": None}, headers=api.headers)
    assert refused.status_code == 422


def test_reprocess_keeps_earlier_choices_and_publishes_a_new_version(api):
    api.create_product("SOFA-1")
    first_job = api.upload("SOFA-1", unit="mm", max_triangles=5000, web_textures="ktx2",
                           max_texture_memory_mib=64, optimize_vertices="true").json()["job"]["id"]
    api.wait_for_job(first_job)
    first = api.get("/v1/products/SOFA-1").json()
    job = _reprocess(api, "SOFA-1", max_triangles=20000, up_axis="z")
    assert job["status"] == "succeeded" and job["kind"] == "reprocess"
    settings = _job_settings(api, job["id"])
    assert (settings["unit"], settings["max_triangles"], settings["up_axis"], settings["web_textures"],
            settings["max_texture_memory_mib"], settings["optimize_vertices"]) == ("mm", 20000, "+z", "ktx2", 64, True)
    second = api.get("/v1/products/SOFA-1").json()
    assert second["version"] != first["version"] and second["source"] == first["source"]
    assert _count(api, Upload) == 1  # the stored original was converted again, not uploaded again
    jobs = api.get("/v1/products/SOFA-1/jobs").json()["jobs"]
    assert [j["kind"] for j in jobs] == ["reprocess", "upload"]


def test_reprocess_needs_an_original_and_valid_settings(api):
    api.create_product("SOFA-1")
    response = api.client.post("/v1/products/SOFA-1/reprocess", json={}, headers=api.headers)
    assert response.status_code == 409 and response.json()["error"]["code"] == "NO_ORIGINAL"
    api.publish("SOFA-1")
    for bad in ({"max_triangles": 3}, {"up_axis": "w"}, {"colour": "red"}, {"web_textures": "jpeg"},
                {"max_texture_memory_mib": 2}, {"optimize_vertices": "sometimes"}):
        response = api.client.post("/v1/products/SOFA-1/reprocess", json=bad, headers=api.headers)
        assert response.status_code == 422, bad


def test_versions_are_listed_and_an_earlier_one_can_be_published_again(api):
    api.create_product("SOFA-1")
    first = api.publish("SOFA-1", GLB_BYTES + b"first")
    second = api.publish("SOFA-1", GLB_BYTES + b"second")
    versions = api.get("/v1/products/SOFA-1/versions").json()["versions"]
    assert [v["id"] for v in versions] == [second["version"], first["version"]]
    assert [v["published"] for v in versions] == [True, False]
    assert "assets" in versions[0] and "assets" not in versions[1]

    rolled_back = api.client.post(f"/v1/products/SOFA-1/versions/{first['version']}/publish", headers=api.headers)
    assert rolled_back.status_code == 200, rolled_back.text
    assert rolled_back.json()["assets"] == first["assets"]
    served = api.client.get(first["assets"]["glb"])
    assert served.status_code == 200 and served.content == b"GLB:" + GLB_BYTES + b"first"
    assert api.client.get(second["assets"]["glb"]).status_code == 404  # only the published version is served
    missing = api.client.post("/v1/products/SOFA-1/versions/999999/publish", headers=api.headers)
    assert missing.status_code == 404


def test_another_tenants_history_is_not_found(api, other_api):
    api.create_product("SOFA-1")
    version = api.publish("SOFA-1")["version"]
    other_api.create_product("SOFA-1")
    for method, url in (
        ("GET", "/v1/products/SOFA-1/versions"),
        ("GET", "/v1/products/SOFA-1/jobs"),
        ("POST", f"/v1/products/SOFA-1/versions/{version}/publish"),
    ):
        response = other_api.client.request(method, url, headers=other_api.headers)
        assert response.status_code in (200, 404), url
        if response.status_code == 200:
            assert response.json() in ({"versions": []}, {"jobs": []}), url
    assert other_api.client.post(
        f"/v1/products/SOFA-1/versions/{version}/publish", headers=other_api.headers
    ).status_code == 404


def test_a_repeated_idempotency_key_returns_the_first_job_and_stores_nothing(api):
    api.create_product("SOFA-1")
    api.create_product("SOFA-2")
    headers = api.headers | {"Idempotency-Key": "batch-SOFA-1-abc"}

    def upload(sku: str, content: bytes):
        return api.client.post(
            f"/v1/products/{sku}/model", files={"file": ("m.glb", content)}, headers=headers
        )

    first = upload("SOFA-1", GLB_BYTES)
    again = upload("SOFA-1", GLB_BYTES + b"different bytes, same key")
    assert first.status_code == again.status_code == 202
    assert again.json()["job"]["id"] == first.json()["job"]["id"]
    assert _count(api, Upload) == 1 and _count(api, Job) == 1
    reused = upload("SOFA-2", GLB_BYTES)
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    bad = api.client.post(
        "/v1/products/SOFA-1/model",
        files={"file": ("m.glb", GLB_BYTES)},
        headers=api.headers | {"Idempotency-Key": "has spaces"},
    )
    assert bad.status_code == 422
    other = api.as_tenant("other-shop")
    other.create_product("SOFA-1")
    theirs = other.client.post(
        "/v1/products/SOFA-1/model", files={"file": ("m.glb", GLB_BYTES)},
        headers=other.headers | {"Idempotency-Key": "batch-SOFA-1-abc"},
    )
    assert theirs.status_code == 202 and theirs.json()["job"]["id"] != first.json()["job"]["id"]


def test_a_rollback_is_announced_to_webhooks(start_api):
    api = start_api(webhook_allow_private_urls=True)
    hook = {"url": "http://127.0.0.1:9/hook", "events": ["product.published"]}
    assert api.client.post("/v1/webhooks", json=hook, headers=api.headers).status_code == 201
    api.create_product("SOFA-1")
    first = api.publish("SOFA-1", GLB_BYTES + b"first")
    api.publish("SOFA-1", GLB_BYTES + b"second")
    api.client.post(f"/v1/products/SOFA-1/versions/{first['version']}/publish", headers=api.headers)
    api.client.post(f"/v1/products/SOFA-1/versions/{first['version']}/publish", headers=api.headers)  # no change
    with api.app.state.sessions() as session:
        payloads = [d.payload for d in session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created))]
    assert [p["data"]["product"]["version"] for p in payloads][-1] == first["version"]
    assert len(payloads) == 3  # two publishes and one rollback; re-publishing the published version is silent
