"""Every /v1 endpoint × every kind of caller (issue 8): no key, a bad key, a revoked key, a read-only
key, another tenant's key, a key over its rate. Endpoints come from the app's own OpenAPI schema, so
a new route is covered the day it is added."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from assets import catalog
from tests.conftest import GLB_BYTES, make_test_settings

# Readable without a key (published products are public); a key, when sent, must still be valid.
PUBLIC_READS = {"/v1/products/{sku}/embed", "/v1/products/{sku}/qr.svg", "/v1/products/{sku}/qr.png", "/v1/events"}
ADMIN_TAGS = {"settings", "webhooks"}
BODIES = {
    ("POST", "/v1/products"): {"sku": "NEW-1", "name": "New"},
    ("PATCH", "/v1/products/{sku}"): {"name": "Renamed"},
    ("POST", "/v1/products/{sku}/reprocess"): {},
    ("POST", "/v1/products/{sku}/uploads"): {"size": 10},
    ("POST", "/v1/products/{sku}/uploads/{upload_id}/job"): {},
    ("PUT", "/v1/settings/embedding"): {"allowed_origins": []},
    ("POST", "/v1/webhooks"): {"url": "http://127.0.0.1:9/hook", "events": ["job.failed"]},
}


def _operations() -> list[tuple[str, str, set[str]]]:
    app = create_app()
    operations = []
    for path, methods in app.openapi()["paths"].items():
        for method, operation in methods.items():
            if operation.get("security") and path not in PUBLIC_READS:
                operations.append((method.upper(), path, set(operation.get("tags", []))))
    return operations


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One app: the default tenant's published product, job, version and webhook; keys of every kind."""
    settings = make_test_settings(tmp_path_factory.mktemp("access")).model_copy(
        update={"webhook_allow_private_urls": True}
    )
    client = TestClient(create_app(settings))
    client.__enter__()
    app = client.app
    with app.state.sessions() as session:
        keys = {
            "owner": catalog.create_api_key(session, "default"),
            "read_only": catalog.create_api_key(session, "default", ("read",)),
            "revoked": catalog.create_api_key(session, "default"),
            "other_tenant": catalog.create_api_key(session, "other-shop"),
        }
        catalog.revoke_api_key(session, keys["revoked"])
        session.commit()
    owner = {"Authorization": f"Bearer {keys['owner']}"}
    client.post("/v1/products", json={"sku": "SOFA-1", "name": "Sofa"}, headers=owner).raise_for_status()
    job = client.post("/v1/products/SOFA-1/model", files={"file": ("m.glb", GLB_BYTES)}, headers=owner).json()["job"]
    for _ in range(500):
        if client.get(f"/v1/jobs/{job['id']}", headers=owner).json()["status"] == "succeeded":
            break
        time.sleep(0.02)
    version = client.get("/v1/products/SOFA-1", headers=owner).json()["version"]
    webhook = client.post("/v1/webhooks", json=BODIES[("POST", "/v1/webhooks")], headers=owner).json()["id"]
    ids = {"sku": "SOFA-1", "job_id": job["id"], "version_id": str(version), "webhook_id": webhook, "upload_id": "0" * 32}
    yield client, keys, ids
    client.__exit__(None, None, None)


def _call(client: TestClient, method: str, path: str, ids: dict, key: str | None, auth: str = "Bearer"):
    url = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)
    headers = {"Authorization": f"{auth} {key}"} if key else {}
    if path.endswith("/model"):
        return client.post(url, files={"file": ("m.glb", GLB_BYTES)}, headers=headers)
    return client.request(method, url, json=BODIES.get((method, path)), headers=headers)


def _code(response) -> str:
    return response.json()["error"]["code"]


@pytest.mark.parametrize(("method", "path", "tags"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_every_endpoint_refuses_callers_without_a_live_key(world, method, path, tags):
    client, keys, ids = world
    for key, auth, code in (
        (None, "Bearer", "UNAUTHENTICATED"),
        ("vk_not-a-key", "Bearer", "INVALID_API_KEY"),
        (keys["revoked"], "Bearer", "INVALID_API_KEY"),
        (keys["owner"], "Basic", "UNAUTHENTICATED"),  # only as a Bearer header, never another scheme
    ):
        response = _call(client, method, path, ids, key, auth)
        assert response.status_code == 401 and _code(response) == code, (key, response.text)
    by_query = client.request(method, path.replace("{sku}", "SOFA-1") + f"?api_key={keys['owner']}")
    assert by_query.status_code == 401  # a key in the URL is not a key


@pytest.mark.parametrize(("method", "path", "tags"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_a_read_only_key_reads_but_changes_nothing(world, method, path, tags):
    client, keys, ids = world
    response = _call(client, method, path, ids, keys["read_only"])
    if method == "GET" and not tags & ADMIN_TAGS:
        assert response.status_code not in (401, 403), response.text
    else:
        assert response.status_code == 403 and _code(response) == "INSUFFICIENT_SCOPE", response.text


@pytest.mark.parametrize(("method", "path", "tags"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_another_tenants_objects_are_not_found(world, method, path, tags):
    client, keys, ids = world
    response = _call(client, method, path, ids, keys["other_tenant"])
    assert response.status_code < 500, response.text
    if "{" in path:
        assert response.status_code in (404, 422), response.text  # 422: a body check that runs first
        if response.status_code == 422:
            assert method == "POST" and path.endswith("/job")
    elif method == "GET":
        assert "SOFA-1" not in response.text and ids["webhook_id"] not in response.text
    # The owner still sees everything as it was.
    owner = {"Authorization": f"Bearer {keys['owner']}"}
    assert client.get("/v1/products/SOFA-1", headers=owner).json()["name"] in ("Sofa", "Renamed")


def test_a_key_over_its_rate_gets_429_with_retry_after(start_api):
    api = start_api(api_requests_per_minute=5)
    statuses = [api.get("/v1/products").status_code for _ in range(7)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
    limited = api.get("/v1/products")
    assert _code(limited) == "RATE_LIMITED" and 1 <= int(limited.headers["retry-after"]) <= 61
    assert api.as_tenant("other-shop").get("/v1/products").status_code == 200  # limits are per key


def test_a_tenant_over_its_queued_jobs_gets_429(start_api):
    api = start_api(max_queued_jobs_per_tenant=2, convert_function="tests.assets.fake_conversions:hang")
    api.create_product("SOFA-1")
    statuses = [api.upload("SOFA-1").status_code for _ in range(4)]
    # The first job is taken by the runner (running, not queued), two more wait, the fourth is refused.
    assert statuses[:3] == [202, 202, 202] and statuses[3] == 429, statuses
    assert _code(api.upload("SOFA-1")) == "QUEUE_FULL"
    assert api.as_tenant("other-shop").create_product("SOFA-1")  # other tenants are not held up


def test_keys_carry_their_scopes_and_can_be_listed_and_revoked_by_id(api):
    with api.app.state.sessions() as session:
        with pytest.raises(ValueError):
            catalog.create_api_key(session, "default", ("read", "root"))
        catalog.create_api_key(session, "default", ("read",), name="dashboard")
        session.commit()
        listed = catalog.list_api_keys(session, "default")
        labelled = next(row for row in listed if row.name == "dashboard")
        assert labelled.scopes == ["read"] and api.key not in str([vars(row) for row in listed])
        assert catalog.revoke_api_key(session, str(labelled.id))
        session.commit()
        assert catalog.list_api_keys(session, "default")[-1].revoked_at is not None
