"""/v1 products and jobs: keys, tenants, validation, and the error envelope on every error path."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from assets import catalog

SOFA = {"sku": "SOFA-3S.oak_1", "name": "Three-seat sofa", "dimensions": {"width": 200, "height": 90, "depth": 85}}


def _envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/v1/products"),
        ("POST", "/v1/products"),
        ("GET", "/v1/products/SOFA-1"),
        ("DELETE", "/v1/products/SOFA-1"),
        ("POST", "/v1/products/SOFA-1/model"),
        ("GET", "/v1/jobs/0123456789abcdef0123456789abcdef"),
    ],
)
def test_every_v1_endpoint_needs_a_valid_key(api, method: str, url: str):
    missing = api.client.request(method, url)
    _envelope(missing, 401, "UNAUTHENTICATED")
    assert missing.headers["www-authenticate"] == "Bearer"
    _envelope(api.client.request(method, url, headers={"Authorization": "Bearer vk_nope"}), 401, "INVALID_API_KEY")
    _envelope(api.client.request(method, url, headers={"Authorization": f"Basic {api.key}"}), 401, "UNAUTHENTICATED")


def test_revoked_key_is_refused(api):
    assert api.get("/v1/products").status_code == 200
    with api.app.state.sessions() as session:
        assert catalog.revoke_api_key(session, api.key)
        session.commit()
    _envelope(api.get("/v1/products"), 401, "INVALID_API_KEY")


def test_keys_are_stored_hashed(api):
    with api.app.state.sessions() as session:
        assert catalog.tenant_for_key(session, api.key) == "default"
        hashes = [row.hashed for row in session.query(catalog.ApiKey)]
    assert api.key not in hashes and catalog.hash_key(api.key) in hashes


def test_create_get_list_delete(api):
    created = api.client.post("/v1/products", json=SOFA, headers=api.headers)
    assert created.status_code == 201
    product = created.json()
    assert product["sku"] == SOFA["sku"] and product["placement"] == "floor"
    assert product["dimensions"] == {"width": 200, "height": 90, "depth": 85, "unit": "cm"}
    assert "assets" not in product and "dimensions_m" not in product  # not published yet

    assert api.get(f"/v1/products/{SOFA['sku']}").json() == product
    api.create_product("LAMP-1", placement="wall")
    listed = api.get("/v1/products").json()["products"]
    assert [p["sku"] for p in listed] == ["LAMP-1", SOFA["sku"]]
    assert [p["sku"] for p in api.get("/v1/products", params={"limit": 1, "offset": 1}).json()["products"]] == [
        SOFA["sku"]
    ]

    assert api.client.delete(f"/v1/products/{SOFA['sku']}", headers=api.headers).status_code == 204
    _envelope(api.get(f"/v1/products/{SOFA['sku']}"), 404, "NOT_FOUND")
    _envelope(api.client.delete(f"/v1/products/{SOFA['sku']}", headers=api.headers), 404, "NOT_FOUND")


def test_duplicate_sku_is_409_but_another_tenant_may_use_it(api, other_api):
    api.create_product("SOFA-1")
    _envelope(
        api.client.post("/v1/products", json={"sku": "SOFA-1", "name": "x"}, headers=api.headers), 409, "SKU_EXISTS"
    )
    other_api.create_product("SOFA-1")


def test_another_tenants_products_and_jobs_are_404(api, other_api):
    api.create_product("SOFA-1")
    job_id = api.upload("SOFA-1").json()["job"]["id"]

    _envelope(other_api.get("/v1/products/SOFA-1"), 404, "NOT_FOUND")
    _envelope(other_api.client.delete("/v1/products/SOFA-1", headers=other_api.headers), 404, "NOT_FOUND")
    _envelope(other_api.upload("SOFA-1"), 404, "NOT_FOUND")
    _envelope(other_api.get(f"/v1/jobs/{job_id}"), 404, "NOT_FOUND")
    assert other_api.get("/v1/products").json() == {"products": []}
    assert api.get("/v1/products/SOFA-1").status_code == 200


def test_unknown_sku_and_job_are_404(api):
    _envelope(api.get("/v1/products/NOPE"), 404, "NOT_FOUND")
    _envelope(api.upload("NOPE"), 404, "NOT_FOUND")
    _envelope(api.get("/v1/jobs/0123456789abcdef0123456789abcdef"), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    "body",
    [
        {"sku": "", "name": "x"},
        {"sku": "a" * 65, "name": "x"},
        {"sku": "sofa/1", "name": "x"},
        {"sku": "..", "name": "x"},
        {"sku": "sofa 1", "name": "x"},
        {"sku": "SOFA-1"},
        {"sku": "SOFA-1", "name": "x", "placement": "ceiling"},
        {"sku": "SOFA-1", "name": "x", "dimensions": {"width": -1, "height": 1, "depth": 1}},
        {"sku": "SOFA-1", "name": "x", "dimensions": {"width": 1, "height": 1, "depth": 1, "unit": "furlong"}},
        {"sku": "SOFA-1", "name": "x", "colour": "red"},
    ],
)
def test_invalid_products_are_422_with_field_details(api, body):
    error = _envelope(api.client.post("/v1/products", json=body, headers=api.headers), 422, "VALIDATION_ERROR")
    assert error["fields"] and all(field["loc"][0] == "body" for field in error["fields"])


def test_validation_errors_do_not_echo_the_input(api):
    huge = "N" * 100_000
    response = api.client.post("/v1/products", json={"sku": "S", "name": huge}, headers=api.headers)
    error = _envelope(response, 422, "VALIDATION_ERROR")
    assert error["fields"][0]["loc"] == ["body", "name"]
    assert "NNNN" not in response.text and len(response.content) < 2000


def test_malformed_json_is_422(api):
    response = api.client.post(
        "/v1/products", content=b"{not json", headers={**api.headers, "Content-Type": "application/json"}
    )
    _envelope(response, 422, "VALIDATION_ERROR")


def test_unknown_route_and_wrong_method_use_the_envelope(api):
    _envelope(api.get("/v2/anything"), 404, "NOT_FOUND")
    _envelope(api.client.put("/v1/products", headers=api.headers), 405, "METHOD_NOT_ALLOWED")


def test_unexpected_exception_is_a_bare_500(api, caplog):
    @api.app.get("/v1/explode")
    def explode():
        raise RuntimeError("cannot open /srv/vitrine/secret.db")

    response = TestClient(api.app, raise_server_exceptions=False).get("/v1/explode")
    _envelope(response, 500, "INTERNAL")
    assert "/srv" not in response.text and "Traceback" not in response.text
    assert "cannot open /srv/vitrine/secret.db" in caplog.text  # logged for us, not sent to them


def test_job_of_a_deleted_product_is_gone(api):
    api.create_product("SOFA-1")
    job_id = api.upload("SOFA-1").json()["job"]["id"]
    assert api.client.delete("/v1/products/SOFA-1", headers=api.headers).status_code == 204
    _envelope(api.get(f"/v1/jobs/{job_id}"), 404, "NOT_FOUND")
    assert list(api.app.state.storage.list("uploads/")) == []


def test_openapi_documents_the_api(api):
    paths = api.client.get("/openapi.json").json()["paths"]
    assert {"/v1/products", "/v1/products/{sku}", "/v1/products/{sku}/model", "/v1/jobs/{job_id}"} <= set(paths)
    upload = paths["/v1/products/{sku}/model"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(upload["properties"]) == {"file", "unit", "max_triangles", "up_axis", "front", "fit", "tolerance",
                                         "web_textures", "max_texture_memory_mib", "optimize_vertices"}
