"""/v1/webhooks through the app: subscriptions, the secret, the delivery log, tenant isolation."""

from __future__ import annotations

import time

import pytest

from assets import webhooks
from tests.conftest import FAKES
from tests.webhook_receiver import Receiver

LOOPBACK = {"webhook_allow_private_urls": True, "webhook_retry_base_seconds": 0.05, "webhook_max_attempts": 3}


def _create(api, url: str, events=("job.succeeded",)):
    return api.client.post("/v1/webhooks", json={"url": url, "events": list(events)}, headers=api.headers)


def _secret(api) -> str:
    response = api.get("/v1/webhooks/secret")
    assert response.status_code == 200, response.text
    return response.json()["secret"]


def _wait_for_log(api, condition, timeout: float = 15.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        deliveries = api.get("/v1/webhooks/deliveries").json()["deliveries"]
        if condition(deliveries):
            return deliveries
        assert time.monotonic() < deadline, f"delivery log never matched: {deliveries}"
        time.sleep(0.05)


def test_create_list_and_delete_a_webhook(start_api):
    api = start_api(**LOOPBACK)
    response = _create(api, "http://127.0.0.1:9/hook", ["product.published", "job.failed", "job.failed"])
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["url"] == "http://127.0.0.1:9/hook"
    assert created["events"] == ["job.failed", "product.published"]
    assert len(created["id"]) == 32

    assert api.get("/v1/webhooks").json() == {"webhooks": [created]}
    assert api.client.delete(f"/v1/webhooks/{created['id']}", headers=api.headers).status_code == 204
    assert api.get("/v1/webhooks").json() == {"webhooks": []}
    response = api.client.delete(f"/v1/webhooks/{created['id']}", headers=api.headers)
    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"


def test_another_tenants_webhook_is_not_found(start_api):
    api = start_api(**LOOPBACK)
    other = api.as_tenant("other-shop")
    webhook_id = _create(api, "http://127.0.0.1:9/hook").json()["id"]

    assert other.get("/v1/webhooks").json() == {"webhooks": []}
    response = other.client.delete(f"/v1/webhooks/{webhook_id}", headers=other.headers)
    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
    assert len(api.get("/v1/webhooks").json()["webhooks"]) == 1


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/hook", "http://169.254.169.254/latest", "http://[::1]/x"])
def test_private_urls_are_refused_by_default(api, url):
    response = _create(api, url)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "WEBHOOK_URL_NOT_ALLOWED"
    assert api.get("/v1/webhooks").json() == {"webhooks": []}


@pytest.mark.parametrize(
    "body",
    [
        {"url": "http://127.0.0.1:9/hook", "events": []},
        {"url": "http://127.0.0.1:9/hook", "events": ["job.deleted"]},
        {"url": "file:///etc/passwd", "events": ["job.failed"]},
        {"url": "http://127.0.0.1:9/" + "x" * 2000, "events": ["job.failed"]},
        {"url": "http://127.0.0.1:9/hook", "events": ["job.failed"], "secret": "mine"},
    ],
)
def test_invalid_subscriptions_are_validation_errors(start_api, body):
    api = start_api(**LOOPBACK)
    response = api.client.post("/v1/webhooks", json=body, headers=api.headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_a_tenant_has_a_bounded_number_of_webhooks(start_api):
    api = start_api(**LOOPBACK)
    for n in range(webhooks.MAX_WEBHOOKS_PER_TENANT):
        assert _create(api, f"http://127.0.0.1:9/{n}").status_code == 201
    response = _create(api, "http://127.0.0.1:9/one-more")
    assert response.status_code == 409 and response.json()["error"]["code"] == "TOO_MANY_WEBHOOKS"


def test_webhook_calls_need_an_api_key(api):
    for method, path in [("GET", "/v1/webhooks"), ("POST", "/v1/webhooks"), ("GET", "/v1/webhooks/secret"),
                         ("POST", "/v1/webhooks/secret/rotate"), ("GET", "/v1/webhooks/deliveries"),
                         ("DELETE", "/v1/webhooks/abc")]:
        response = api.client.request(method, path)
        assert response.status_code == 401, (method, path)


def test_the_secret_is_per_tenant_stable_and_rotatable(api, other_api):
    secret = _secret(api)
    assert len(secret) == 64 and _secret(api) == secret
    assert _secret(other_api) != secret
    response = api.client.post("/v1/webhooks/secret/rotate", headers=api.headers)
    assert response.status_code == 200
    rotated = response.json()["secret"]
    assert rotated != secret and _secret(api) == rotated


def test_job_events_reach_the_receiver_and_the_delivery_log(start_api):
    api = start_api(**LOOPBACK)
    other = api.as_tenant("other-shop")
    secret = _secret(api)
    with Receiver(lambda: secret) as receiver:
        assert _create(api, receiver.url("/all"), webhooks.EVENTS).status_code == 201
        sku = api.publish("SOFA-1")["sku"]
        receiver.wait_for(lambda: len(receiver.events("/all")) == 2, 15, "job.succeeded and product.published")

        events = {e["event"]: e for e in receiver.events("/all")}
        assert events["job.succeeded"]["data"]["job"]["sku"] == sku
        assert events["job.succeeded"]["data"]["job"]["status"] == "succeeded"
        assert events["product.published"]["data"]["product"]["sku"] == sku
        log = _wait_for_log(api, lambda ds: len(ds) == 2 and all(d["status"] == "delivered" for d in ds))
        assert {d["event"] for d in log} == {"job.succeeded", "product.published"}
        for delivery in log:
            assert delivery["url"] == receiver.url("/all")
            assert (delivery["attempts"], delivery["last_status"]) == (1, 200)
            assert "delivered" in delivery and "next_attempt" not in delivery and "last_error" not in delivery
        assert {d["id"] for d in log} == {e["id"] for e in events.values()}
        assert other.get("/v1/webhooks/deliveries").json() == {"deliveries": []}


def test_a_failed_job_is_sent_and_a_failing_receiver_is_retried(start_api):
    api = start_api(convert_function=f"{FAKES}:refuse", **LOOPBACK)
    secret = _secret(api)
    with Receiver(lambda: secret) as receiver:
        receiver.fail_first["/failures"] = 1
        assert _create(api, receiver.url("/failures"), ["job.failed"]).status_code == 201
        api.create_product("SOFA-1")
        job_id = api.upload("SOFA-1").json()["job"]["id"]
        assert api.wait_for_job(job_id)["status"] == "failed"

        [delivery] = _wait_for_log(api, lambda ds: len(ds) == 1 and ds[0]["status"] == "delivered")
        assert (delivery["event"], delivery["attempts"], delivery["last_status"]) == ("job.failed", 2, 200)
        [event] = receiver.events("/failures")
        assert event["data"]["job"]["id"] == job_id
        assert event["data"]["job"]["error"]["code"] == "CORRUPT_FILE"
        assert [r.answer for r in receiver.requests("/failures")] == [500, 200]


def test_the_log_shows_failures_and_is_limited(start_api):
    api = start_api(**{**LOOPBACK, "webhook_max_attempts": 2})
    for path in ("/nobody", "/nobody-either"):
        assert _create(api, f"http://127.0.0.1:9{path}", ["job.succeeded"]).status_code == 201
    api.publish("SOFA-1")
    log = _wait_for_log(api, lambda ds: len(ds) == 2 and all(d["status"] == "failed" for d in ds))
    for delivery in log:
        assert delivery["attempts"] == 2 and delivery["last_error"].startswith("Could not connect")
        assert "last_status" not in delivery and "delivered" not in delivery
    assert len(api.get("/v1/webhooks/deliveries?limit=1").json()["deliveries"]) == 1
    assert api.get("/v1/webhooks/deliveries?limit=0").status_code == 422


def test_a_slow_receiver_never_holds_up_a_job(start_api):
    api = start_api(**LOOPBACK)
    secret = _secret(api)
    with Receiver(lambda: secret) as receiver:
        receiver.delay["/slow"] = 3.0
        assert _create(api, receiver.url("/slow"), ["job.succeeded"]).status_code == 201
        api.publish("SOFA-1")  # succeeded while the receiver has not answered yet
        [delivery] = api.get("/v1/webhooks/deliveries").json()["deliveries"]
        assert delivery["status"] == "pending"
        _wait_for_log(api, lambda ds: ds[0]["status"] == "delivered")
