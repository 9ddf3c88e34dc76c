"""Webhooks from the real server process to a real receiver on loopback.

The receiver (tests/webhook_receiver.py) checks every request with the recipe the README gives
(`assets.webhooks.verify`). A textured box is uploaded and published, a broken GLB fails, and one
endpoint fails its first two requests; then the receiver and the delivery log must agree on
what was sent, how often, and how it ended.
"""
from __future__ import annotations

import struct
import time
from dataclasses import dataclass

import pytest

from assets import webhooks
from tests.processing.inputs import textured_glb
from tests.webhook_receiver import Receiver

from .conftest import Catalog

GOOD_SKU = "WEBHOOK-BOX"
BROKEN_SKU = "WEBHOOK-BROKEN"
DELIVERY_TIMEOUT = 60.0
# A GLB whose header claims more bytes than the file has: accepted as a GLB, failed by the pipeline.
BROKEN_GLB = b"glTF" + struct.pack("<II", 2, 4096) + b"\x00" * 64


@dataclass(frozen=True)
class Announced:
    receiver: Receiver
    good_job: dict
    broken_job: dict
    deliveries: list[dict]  # the delivery log once nothing for our jobs is pending


def _ours(event: dict) -> bool:
    """Events about this module's products (other e2e tests publish on the same server)."""
    return event["data"].get("product", {}).get("sku") in (GOOD_SKU, BROKEN_SKU)


def _settled_log(catalog: Catalog, receiver: Receiver) -> list[dict]:
    """The delivery log once every delivery the receiver accepted is recorded as delivered."""
    accepted = {e["id"] for e in receiver.events() if _ours(e)}
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while True:
        deliveries = catalog.http.get("/v1/webhooks/deliveries", params={"limit": 500}).json()["deliveries"]
        if {d["id"] for d in deliveries if d["status"] == "delivered"} >= accepted:
            return deliveries
        assert time.monotonic() < deadline, f"the log never caught up with the receiver: {deliveries}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def announced(catalog: Catalog):
    http = catalog.http
    secret = http.get("/v1/webhooks/secret").json()["secret"]
    with Receiver(lambda: secret) as receiver:
        receiver.fail_first["/flaky"] = 2
        hooks = [
            http.post("/v1/webhooks", json={"url": receiver.url("/all"), "events": list(webhooks.EVENTS)}),
            http.post("/v1/webhooks", json={"url": receiver.url("/flaky"), "events": ["job.succeeded"]}),
        ]
        assert [h.status_code for h in hooks] == [201, 201], [h.text for h in hooks]
        try:
            for sku in (GOOD_SKU, BROKEN_SKU):
                assert http.post("/v1/products", json={"sku": sku, "name": "Webhook test"}).status_code == 201
            good = catalog.upload_model(GOOD_SKU, "box.glb", textured_glb(), {})
            broken = catalog.upload_model(BROKEN_SKU, "broken.glb", BROKEN_GLB, {})
            good_job, broken_job = catalog.wait_for_job(good), catalog.wait_for_job(broken)
            receiver.wait_for(
                lambda: len([e for e in receiver.events("/all") if _ours(e)]) == 3 and receiver.events("/flaky"),
                DELIVERY_TIMEOUT,
                "every event of the two jobs",
            )
            yield Announced(receiver, good_job, broken_job, _settled_log(catalog, receiver))
        finally:
            for hook in hooks:
                http.delete(f"/v1/webhooks/{hook.json()['id']}")


def test_a_published_model_is_announced_with_verified_signatures(announced: Announced):
    assert announced.good_job["status"] == "succeeded", announced.good_job
    events = {e["event"]: e for e in announced.receiver.events("/all") if e["data"]["product"]["sku"] == GOOD_SKU}
    assert set(events) == {"job.succeeded", "product.published"}
    succeeded, published = events["job.succeeded"], events["product.published"]
    job = {"id": announced.good_job["id"], "sku": GOOD_SKU, "kind": "upload", "status": "succeeded"}
    assert succeeded["data"]["job"] == job
    assert published["data"]["job"] == {"id": announced.good_job["id"]}
    assert published["data"]["product"]["version"] == succeeded["data"]["product"]["version"]
    # Every request carried the headers, and only genuine ones were accepted.
    for request in announced.receiver.requests("/all"):
        assert request.problem is None, request.problem
        assert request.headers["Vitrine-Event"] == request.event["event"]
        assert request.headers["Vitrine-Delivery"] == request.event["id"]


def test_a_broken_upload_is_announced_as_failed(announced: Announced):
    assert announced.broken_job["status"] == "failed"
    [failed] = [e for e in announced.receiver.events("/all") if _ours(e) and e["event"] == "job.failed"]
    assert failed["data"]["job"]["id"] == announced.broken_job["id"]
    assert failed["data"]["job"]["error"] == announced.broken_job["error"]
    assert failed["data"]["product"] == {"sku": BROKEN_SKU}


def test_a_failing_receiver_gets_retries_with_growing_delays(announced: Announced):
    requests = [r for r in announced.receiver.requests("/flaky") if r.event is None or _ours(r.event)]
    assert [r.answer for r in requests] == [500, 500, 200]
    assert len({r.event["id"] for r in requests}) == 1
    first, second = (b.arrived - a.arrived for a, b in zip(requests, requests[1:]))
    # VITRINE_WEBHOOK_RETRY_BASE_SECONDS=0.5: waits of at least 0.25 s, then at least 0.5 s.
    assert first >= 0.25 and second >= 0.5, (first, second)


def test_the_delivery_log_shows_every_delivery(announced: Announced):
    accepted = {e["id"] for e in announced.receiver.events() if _ours(e)}
    log = {d["id"]: d for d in announced.deliveries if d["id"] in accepted}
    assert len(log) == len(accepted) == 4
    for delivery in log.values():
        assert delivery["status"] == "delivered" and delivery["last_status"] == 200, delivery
        assert "last_error" not in delivery and "next_attempt" not in delivery
    flaky = [d for d in log.values() if d["url"].endswith("/flaky")]
    assert [(d["event"], d["attempts"]) for d in flaky] == [("job.succeeded", 3)]
    assert sorted((d["event"], d["attempts"]) for d in log.values() if d["url"].endswith("/all")) == [
        ("job.failed", 1),
        ("job.succeeded", 1),
        ("product.published", 1),
    ]
