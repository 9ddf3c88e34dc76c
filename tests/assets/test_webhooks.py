"""Webhooks: signing and the receiver's recipe, the outbox, and the deliverer against a real receiver."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from assets import catalog, leases, webhooks
from assets.db import make_engine, make_session_factory, migrate
from assets.models import Job, Product, Upload, WebhookDelivery, utcnow
from assets.publish import publish
from assets.storage import LocalStorage
from assets.webhook_delivery import MAX_BACKOFF_SECONDS, DeliveryConfig, Deliverer, backoff
from tests.webhook_receiver import Receiver

SECRET = "ab" * 32
TENANT = "default"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> str:
    """Every catalog test runs on both backends: the claims and RETURNING differ between them."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/catalog.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def sessions(db_url):
    engine = make_engine(db_url)
    migrate(engine)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def secret(sessions) -> str:
    with sessions() as session:
        return webhooks.tenant_secret(session, TENANT)


@pytest.fixture
def receiver(secret):
    with Receiver(lambda: secret) as receiver:
        yield receiver


def _config(**changes) -> DeliveryConfig:
    defaults = dict(
        retry_base_seconds=0.05, max_attempts=3, timeout_seconds=2.0, allow_private_urls=True, poll_seconds=0.02
    )
    return DeliveryConfig(**{**defaults, **changes})


@pytest.fixture
def deliverers(sessions):
    """Make deliverers on the test database; all are stopped after the test."""
    made: list[Deliverer] = []

    def make(sessions=sessions, **changes) -> Deliverer:
        deliverer = Deliverer(sessions, _config(**changes))
        made.append(deliverer)
        return deliverer

    yield make
    for deliverer in made:
        deliverer.stop()


def _subscribe(sessions, url: str, events=webhooks.EVENTS, tenant: str = TENANT) -> str:
    with sessions() as session:
        webhook = webhooks.create_webhook(session, tenant, url, list(events))
        session.commit()
        return webhook.id


def _emit(sessions, event: str = "job.succeeded", data: dict | None = None, tenant: str = TENANT) -> list[str]:
    with sessions() as session:
        ids = [d.id for d in webhooks.emit(session, tenant, event, data or {"job": {"id": "j1"}})]
        session.commit()
        return ids


def _deliveries(sessions) -> dict[str, WebhookDelivery]:
    with sessions() as session:
        return {d.id: d for d in session.scalars(select(WebhookDelivery))}


def _wait_settled(sessions, timeout: float = 10.0) -> dict[str, WebhookDelivery]:
    """Wait until no delivery is pending; the deliveries then."""
    deadline = time.monotonic() + timeout
    while True:
        rows = _deliveries(sessions)
        if all(d.status != "pending" for d in rows.values()):
            return rows
        assert time.monotonic() < deadline, f"still pending: {rows}"
        time.sleep(0.02)


# Signing and the receiver's recipe ---------------------------------------------------------------


def test_a_signed_body_verifies_and_returns_the_event():
    body = webhooks.payload_bytes({"id": "d1", "event": "job.succeeded", "data": {}})
    now = 1_700_000_000
    header = webhooks.sign(SECRET, body, now)
    assert header.startswith(f"t={now},v1=")
    seen: set[str] = set()
    assert webhooks.verify(SECRET, body, header, seen, now=now + 10)["event"] == "job.succeeded"
    assert seen == {"d1"}


def test_the_signature_is_the_documented_hmac():
    import hashlib
    import hmac

    body = b'{"id":"d1"}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhooks.sign(SECRET, body, 1_700_000_000) == f"t=1700000000,v1={expected}"


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda body, header: (body.replace(b"SOFA", b"SOFB"), header), id="tampered body"),
        pytest.param(lambda body, header: (body, header.replace("t=1700000000", "t=1700000001")), id="moved timestamp"),
        pytest.param(lambda body, header: (body, header.split(",")[0]), id="no signature"),
        pytest.param(lambda body, header: (body, "v1=" + header.split("v1=")[1]), id="no timestamp"),
        pytest.param(lambda body, header: (body, webhooks.sign("cd" * 32, body, 1_700_000_000)), id="other secret"),
    ],
)
def test_tampered_requests_are_rejected(tamper):
    body = webhooks.payload_bytes({"id": "d1", "data": {"product": {"sku": "SOFA"}}})
    body, header = tamper(body, webhooks.sign(SECRET, body, 1_700_000_000))
    seen: set[str] = set()
    with pytest.raises(webhooks.VerificationError):
        webhooks.verify(SECRET, body, header, seen, now=1_700_000_000)
    assert not seen


@pytest.mark.parametrize("age", [301, -301, 3600])
def test_timestamps_outside_the_tolerance_are_rejected(age):
    body = webhooks.payload_bytes({"id": "d1"})
    header = webhooks.sign(SECRET, body, 1_700_000_000)
    with pytest.raises(webhooks.VerificationError, match="tolerance"):
        webhooks.verify(SECRET, body, header, set(), now=1_700_000_000 + age)
    assert webhooks.verify(SECRET, body, header, set(), tolerance=abs(age), now=1_700_000_000 + age)


def test_a_replayed_delivery_id_is_rejected_even_with_a_fresh_signature():
    body = webhooks.payload_bytes({"id": "d1"})
    seen: set[str] = set()
    webhooks.verify(SECRET, body, webhooks.sign(SECRET, body, 1_700_000_000), seen, now=1_700_000_000)
    with pytest.raises(webhooks.DuplicateDelivery):
        webhooks.verify(SECRET, body, webhooks.sign(SECRET, body, 1_700_000_005), seen, now=1_700_000_005)


def test_a_signed_body_that_is_not_an_event_is_rejected():
    body = b"[1, 2]"
    with pytest.raises(webhooks.VerificationError, match="not a webhook event"):
        webhooks.verify(SECRET, body, webhooks.sign(SECRET, body, 1_700_000_000), set(), now=1_700_000_000)


def test_the_secret_is_created_once_then_rotated(sessions):
    with sessions() as session:
        first = webhooks.tenant_secret(session, TENANT)
        assert len(first) == 64 and int(first, 16) >= 0
        assert webhooks.tenant_secret(session, TENANT) == first
        assert webhooks.tenant_secret(session, "other-shop") != first
        catalog.set_allowed_origins(session, "third-shop", ["https://shop.example"])
        session.commit()
        third = webhooks.tenant_secret(session, "third-shop")  # a settings row without a secret yet
        rotated = webhooks.rotate_secret(session, TENANT)
    with sessions() as session:
        assert rotated != first and webhooks.tenant_secret(session, TENANT) == rotated
        assert webhooks.tenant_secret(session, "third-shop") == third
        assert catalog.allowed_origins(session, "third-shop") == ["https://shop.example"]


# Which URLs may be called (SSRF) -----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",
    ],
)
def test_private_addresses_are_refused_unless_allowed(url):
    with pytest.raises(webhooks.UrlNotAllowed, match="private"):
        webhooks.check_url(url, allow_private=False)
    webhooks.check_url(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    ["ftp://93.184.215.14/hook", "http://user:pw@93.184.215.14/hook", "http:///hook", "http://93.184.215.14:99999/"],
)
def test_malformed_or_credentialed_urls_are_refused(url):
    with pytest.raises(webhooks.UrlNotAllowed):
        webhooks.check_url(url, allow_private=True)


def test_a_public_address_is_accepted():
    webhooks.check_url("https://93.184.215.14/hooks/vitrine", allow_private=False)


# The outbox --------------------------------------------------------------------------------------


def test_emit_records_one_delivery_per_subscribed_webhook(sessions):
    everything = _subscribe(sessions, "http://127.0.0.1:1/all")
    failures = _subscribe(sessions, "http://127.0.0.1:1/failures", ["job.failed"])
    _subscribe(sessions, "http://127.0.0.1:1/other-tenant", tenant="other-shop")

    _emit(sessions, "job.succeeded", {"job": {"id": "j1"}})
    _emit(sessions, "job.failed", {"job": {"id": "j2"}})

    rows = _deliveries(sessions)
    assert sorted((d.webhook_id, d.event) for d in rows.values()) == sorted(
        [(everything, "job.succeeded"), (everything, "job.failed"), (failures, "job.failed")]
    )
    for delivery in rows.values():
        assert delivery.status == "pending" and delivery.attempts == 0 and delivery.tenant == TENANT
        assert delivery.payload["id"] == delivery.id and delivery.payload["event"] == delivery.event
        assert delivery.payload["data"]["job"]["id"] in ("j1", "j2")


def test_emit_writes_nothing_unless_the_transaction_commits(sessions):
    _subscribe(sessions, "http://127.0.0.1:1/all")
    with sessions() as session:
        assert len(webhooks.emit(session, TENANT, "product.published", {})) == 1
        session.rollback()
    with pytest.raises(RuntimeError), sessions() as session, session.begin():
        webhooks.emit(session, TENANT, "product.published", {})
        raise RuntimeError("the state change failed")
    assert _deliveries(sessions) == {}


def test_emit_refuses_unknown_events(sessions):
    with sessions() as session, pytest.raises(ValueError):
        webhooks.emit(session, TENANT, "product.deleted", {})


def _claimed_job(sessions, sku: str = "SOFA-1") -> leases.ClaimedJob:
    with sessions() as session:
        product = catalog.get_product(session, TENANT, sku) or catalog.create_product(
            session, Product(tenant=TENANT, sku=sku, name="Sofa")
        )
        upload = Upload(id=catalog.new_id(), product_id=product.id, storage_key="u", sha256="0", size=1, filename="f")
        catalog.create_job(session, product, upload, {})
        session.commit()
        return leases.claim_next_job(session, "test", lease_seconds=60)


def _outputs(directory: Path) -> dict[str, Path]:
    directory.mkdir()
    outputs = {"glb": directory / "m.glb", "usdz": directory / "m.usdz", "report": directory / "r.json"}
    outputs["glb"].write_bytes(b"glb")
    outputs["usdz"].write_bytes(b"usdz")
    outputs["report"].write_text(json.dumps({"dimensions_m": None}))
    return outputs


def _events(sessions) -> list[tuple[str, dict]]:
    return sorted((d.event, d.payload["data"]) for d in _deliveries(sessions).values())


def test_publishing_emits_job_succeeded_and_product_published(sessions, tmp_path):
    _subscribe(sessions, "http://127.0.0.1:1/all")
    job = _claimed_job(sessions)
    assert publish(sessions, LocalStorage(tmp_path / "objects"), job, _outputs(tmp_path / "out"))
    with sessions() as session:
        version = session.get(Product, job.product_id).published_version_id
    job_summary = {"id": job.id, "sku": "SOFA-1", "kind": "upload", "status": "succeeded"}
    assert _events(sessions) == [
        ("job.succeeded", {"job": job_summary, "product": {"sku": "SOFA-1", "version": version}}),
        ("product.published", {"product": {"sku": "SOFA-1", "version": version}, "job": {"id": job.id}}),
    ]


def test_a_publish_that_is_not_current_emits_nothing(sessions, tmp_path):
    _subscribe(sessions, "http://127.0.0.1:1/all")
    job = _claimed_job(sessions)
    with sessions() as session:
        leases.requeue(session, job)  # the attempt lost its job
    assert not publish(sessions, LocalStorage(tmp_path / "objects"), job, _outputs(tmp_path / "out"))
    assert _deliveries(sessions) == {}


def test_a_failed_job_emits_job_failed_once(sessions):
    _subscribe(sessions, "http://127.0.0.1:1/all")
    job = _claimed_job(sessions)
    with sessions() as session:
        leases.finish_failed(session, job, "BAD_FILE", "Not a model.")
        leases.finish_failed(session, job, "BAD_FILE", "Not a model.")  # fenced: no longer running
    error = {"code": "BAD_FILE", "message": "Not a model."}
    job_summary = {"id": job.id, "sku": "SOFA-1", "kind": "upload", "status": "failed", "error": error}
    assert _events(sessions) == [("job.failed", {"job": job_summary, "product": {"sku": "SOFA-1"}})]


def test_jobs_interrupted_too_often_emit_job_failed(sessions):
    _subscribe(sessions, "http://127.0.0.1:1/all")
    out_of_attempts, retried = _claimed_job(sessions), _claimed_job(sessions, "SOFA-2")
    with sessions() as session:
        session.execute(update(Job).where(Job.id == out_of_attempts.id).values(attempts=3))
        session.commit()
        assert leases.recover_interrupted(session, max_attempts=3) == (1, 1)
    [(event, data)] = _events(sessions)
    assert event == "job.failed" and data["job"]["id"] == out_of_attempts.id
    assert data["job"]["error"]["code"] == "INTERRUPTED"


# The deliverer against a real receiver ------------------------------------------------------------


def test_a_delivery_is_signed_sent_and_marked_delivered(sessions, receiver, deliverers):
    webhook_id = _subscribe(sessions, receiver.url("/hook"))
    [delivery_id] = _emit(sessions, "product.published", {"product": {"sku": "SOFA-1", "version": 3}})

    assert deliverers().deliver_due() == 1

    [request] = receiver.requests("/hook")
    assert request.answer == 200, request.problem
    assert request.headers["Vitrine-Event"] == "product.published"
    assert request.headers["Vitrine-Delivery"] == delivery_id
    assert request.headers["Content-Type"] == "application/json"
    assert request.event["data"] == {"product": {"sku": "SOFA-1", "version": 3}}
    row = _deliveries(sessions)[delivery_id]
    assert (row.status, row.attempts, row.last_status, row.last_error) == ("delivered", 1, 200, None)
    assert row.delivered is not None and row.webhook_id == webhook_id
    assert deliverers().deliver_due() == 0  # nothing left to send


def test_a_failing_receiver_gets_retries_with_growing_delays_then_succeeds(sessions, receiver, deliverers):
    receiver.fail_first["/flaky"] = 3
    _subscribe(sessions, receiver.url("/flaky"))
    [delivery_id] = _emit(sessions)
    base = 0.2
    deliverers(retry_base_seconds=base, max_attempts=5).start()

    [row] = _wait_settled(sessions).values()

    assert (row.status, row.attempts, row.last_status, row.last_error) == ("delivered", 4, 200, None)
    requests = receiver.requests("/flaky")
    assert [r.answer for r in requests] == [500, 500, 500, 200]
    assert {r.headers["Vitrine-Delivery"] for r in requests} == {delivery_id}
    gaps = [b.arrived - a.arrived for a, b in zip(requests, requests[1:])]
    # Waits of base·2^(n-1), the upper half of it random: each at least its lower bound...
    for n, gap in enumerate(gaps, start=1):
        assert gap >= base * 2 ** (n - 1) / 2, gaps
    # ...so the third wait (≥ 0.4 s) is longer than the first could be (≤ 0.2 s plus polling).
    assert gaps[2] > gaps[0] + 0.1, gaps


def test_a_dead_receiver_ends_failed_after_max_attempts(sessions, deliverers):
    _subscribe(sessions, "http://127.0.0.1:9/nobody-listens")  # the discard port: connection refused
    _emit(sessions)
    deliverers(max_attempts=3).start()

    [row] = _wait_settled(sessions).values()

    assert (row.status, row.attempts, row.last_status, row.delivered) == ("failed", 3, None, None)
    assert row.last_error.startswith("Could not connect") and "Traceback" not in row.last_error


def test_a_receiver_that_answers_too_late_is_a_failed_attempt(sessions, receiver, deliverers):
    receiver.delay["/slow"] = 1.0
    _subscribe(sessions, receiver.url("/slow"))
    _emit(sessions)
    started = time.monotonic()
    deliverers(timeout_seconds=0.2, max_attempts=1).deliver_due()

    assert time.monotonic() - started < 0.9  # the deliverer did not wait for the answer
    [row] = _deliveries(sessions).values()
    assert (row.status, row.last_status, row.last_error) == ("failed", None, "No answer within 0.2 s.")


def test_an_error_status_is_recorded_and_redirects_are_not_followed(sessions, receiver, deliverers):
    receiver.redirect.add("/moved")
    _subscribe(sessions, receiver.url("/moved"))
    _emit(sessions)
    deliverers(max_attempts=1).deliver_due()

    [row] = _deliveries(sessions).values()
    assert (row.status, row.attempts, row.last_status) == ("failed", 1, 302)
    assert "redirects are not followed" in row.last_error
    assert receiver.requests("/redirected") == []


def test_a_private_receiver_is_not_called_unless_allowed(sessions, receiver, deliverers):
    _subscribe(sessions, receiver.url("/hook"))
    _emit(sessions)
    deliverers(allow_private_urls=False, max_attempts=1).deliver_due()

    [row] = _deliveries(sessions).values()
    assert (row.status, row.last_status) == ("failed", None)
    assert "private" in row.last_error
    assert receiver.received == []


def test_a_claimed_delivery_is_not_claimed_again(sessions, receiver, deliverers):
    _subscribe(sessions, receiver.url("/hook"))
    [delivery_id] = _emit(sessions)
    first, second = deliverers(), deliverers()

    claim = first.claim_next()
    assert claim.delivery_id == delivery_id
    assert second.claim_next() is None
    assert second.deliver_due() == 0
    first.deliver(claim)
    assert [r.answer for r in receiver.requests("/hook")] == [200]


def test_a_claim_that_lapsed_is_taken_over_and_the_stale_sender_cannot_record(sessions, receiver, deliverers):
    _subscribe(sessions, receiver.url("/hook"))
    [delivery_id] = _emit(sessions)
    stale, fresh = deliverers(), deliverers()
    old_claim = stale.claim_next()
    with sessions() as session:  # the stale sender froze past its claim
        session.execute(update(WebhookDelivery).values(next_attempt=utcnow() - timedelta(seconds=1)))
        session.commit()

    assert fresh.deliver_due() == 1
    stale.deliver(old_claim)  # sends again (at least once), but its outcome is not recorded

    row = _deliveries(sessions)[delivery_id]
    assert (row.status, row.attempts) == ("delivered", 1)
    assert [r.answer for r in receiver.requests("/hook")] == [200, 200]  # the retry was a duplicate


def test_two_deliverers_never_send_the_same_delivery_twice(sessions, db_url, receiver, deliverers):
    _subscribe(sessions, receiver.url("/hook"))
    ids = [delivery_id for _ in range(30) for delivery_id in _emit(sessions)]
    # Two "API processes": each its own engine on the same catalog.
    other_engine = make_engine(db_url)
    try:
        a, b = deliverers(), deliverers(sessions=make_session_factory(other_engine))
        threads = [threading.Thread(target=d.deliver_due) for d in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        other_engine.dispose()

    sent = [r.headers["Vitrine-Delivery"] for r in receiver.requests("/hook")]
    assert sorted(sent) == sorted(ids)  # each exactly once
    assert all(r.answer == 200 for r in receiver.requests("/hook"))
    assert {d.status for d in _deliveries(sessions).values()} == {"delivered"}


def test_a_rotated_secret_signs_the_next_send(sessions, deliverers, secret):
    current = {"secret": secret}
    with Receiver(lambda: current["secret"]) as receiver:
        _subscribe(sessions, receiver.url("/hook"))
        _emit(sessions)
        with sessions() as session:
            current["secret"] = webhooks.rotate_secret(session, TENANT)
        deliverers().deliver_due()
        assert [r.answer for r in receiver.requests("/hook")] == [200]


def test_backoff_doubles_with_jitter_up_to_a_cap():
    for attempts in range(1, 8):
        full = 10 * 2 ** (attempts - 1)
        delays = [backoff(attempts, 10) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays)
        assert len(set(delays)) > 100  # random, not one fixed value
    assert all(MAX_BACKOFF_SECONDS / 2 <= backoff(30, 10) <= MAX_BACKOFF_SECONDS for _ in range(50))
