"""Webhooks: what a tenant subscribes to, how events are recorded, signed and verified (issue 9).

Events are recorded in an *outbox*: `emit` adds one `WebhookDelivery` row per subscribed webhook
inside the caller's transaction, so an event exists exactly when the state change that caused it
committed (a rolled-back publish sends nothing). Sending is assets/webhook_delivery.py's job, in
the background: a slow or dead receiver never holds up a job.

Every request is signed with the tenant's secret (256 random bits, created on first use,
rotatable):

    Vitrine-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{raw body}")>

`verify` is the receiver's recipe, written with the standard library alone so that shops running
Python can import it (or copy it): check the HMAC over the raw bytes, refuse timestamps outside a tolerance (default
300 s), and refuse a delivery id already seen. The id is read from the signed body (not from the
unsigned `Vitrine-Delivery` header), so a replay cannot dress itself up as a new delivery.

Webhook URLs are supplied by tenants, so they are a way to make this server send requests
(SSRF, SECURITY.md): only http(s) URLs without credentials, and only hosts whose every address is
public, unless the operator allows private addresses (a setting, off by default; tests and
one-machine setups with a receiver on the LAN turn it on). Addresses are checked when a webhook is
registered and again at every send, where the connection goes to the checked address.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
from collections.abc import MutableSet
from typing import Literal, get_args
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import Job, TenantSettings, Webhook, WebhookDelivery, utcnow

WebhookEvent = Literal["job.succeeded", "job.failed", "product.published"]
EVENTS: tuple[str, ...] = get_args(WebhookEvent)
EVENT_HEADER = "Vitrine-Event"
DELIVERY_HEADER = "Vitrine-Delivery"
SIGNATURE_HEADER = "Vitrine-Signature"
DEFAULT_TOLERANCE_SECONDS = 300
MAX_WEBHOOKS_PER_TENANT = 20


def new_id() -> str:
    """A random 128-bit id for webhooks and deliveries: not guessable."""
    return secrets.token_hex(16)


# Subscriptions ----------------------------------------------------------------------------------


def create_webhook(session: Session, tenant: str, url: str, events: list[str]) -> Webhook:
    webhook = Webhook(id=new_id(), tenant=tenant, url=url, events=sorted(set(events)))
    session.add(webhook)
    return webhook


def list_webhooks(session: Session, tenant: str) -> list[Webhook]:
    return list(session.scalars(select(Webhook).where(Webhook.tenant == tenant).order_by(Webhook.created)))


def get_webhook(session: Session, tenant: str, webhook_id: str) -> Webhook | None:
    """The tenant's webhook; another tenant's is simply not found."""
    return session.scalar(select(Webhook).where(Webhook.id == webhook_id, Webhook.tenant == tenant))


def list_deliveries(session: Session, tenant: str, limit: int) -> list[tuple[WebhookDelivery, str]]:
    """The tenant's most recent deliveries, newest first, each with its webhook's URL."""
    query = (
        select(WebhookDelivery, Webhook.url)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.tenant == tenant)
        .order_by(WebhookDelivery.created.desc(), WebhookDelivery.id)
        .limit(limit)
    )
    return [tuple(row) for row in session.execute(query)]


# The outbox ---------------------------------------------------------------------------------------


def emit(session: Session, tenant: str, event: str, data: dict) -> list[WebhookDelivery]:
    """Record `event` for each of the tenant's webhooks subscribed to it, in the caller's transaction.

    Nothing is sent here and nothing is committed: the deliveries exist iff the caller commits.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    deliveries = []
    # A tenant has a handful of webhooks: filtering their event lists here keeps the query portable.
    for webhook in list_webhooks(session, tenant):
        if event in webhook.events:
            delivery_id = new_id()
            payload = {"id": delivery_id, "event": event, "created": utcnow().isoformat(), "data": data}
            deliveries.append(
                WebhookDelivery(id=delivery_id, tenant=tenant, webhook_id=webhook.id, event=event, payload=payload)
            )
    session.add_all(deliveries)
    return deliveries


def job_data(job: Job, version_id: int | None = None) -> dict:
    """The `data` of job events: the job as GET /v1/jobs shows it, and the product it is for."""
    summary = {"id": job.id, "sku": job.product.sku, "kind": job.kind, "status": job.status}
    if job.error_code:
        summary["error"] = {"code": job.error_code, "message": job.error_message}
    return {"job": summary, "product": product_data(job.product.sku, version_id)["product"]}


def product_data(sku: str, version_id: int | None, job_id: str | None = None) -> dict:
    """The `data` of product.published: which version is now visible, and the job that made it."""
    data: dict = {"product": {"sku": sku}}
    if version_id is not None:
        data["product"]["version"] = version_id
    if job_id is not None:
        data["job"] = {"id": job_id}
    return data


def emit_job_failed(session: Session, job_ids: list[str]) -> None:
    """`job.failed` for jobs the caller just failed, in its transaction (fenced failures, interruptions)."""
    if not job_ids:
        return
    for job in session.scalars(select(Job).where(Job.id.in_(job_ids))):
        emit(session, job.tenant, "job.failed", job_data(job))


# Secrets ------------------------------------------------------------------------------------------


def tenant_secret(session: Session, tenant: str) -> str:
    """The tenant's signing secret, created and committed on first use; safe when callers race."""
    row = session.get(TenantSettings, tenant)
    if row is None or not row.webhook_secret:
        try:
            if row is None:
                session.add(TenantSettings(tenant=tenant, allowed_origins=[], webhook_secret=_new_secret()))
            else:
                # Only if still unset: of two racing first uses, one secret wins and both return it.
                session.execute(
                    update(TenantSettings)
                    .where(TenantSettings.tenant == tenant, TenantSettings.webhook_secret.is_(None))
                    .values(webhook_secret=_new_secret())
                )
            session.commit()
        except IntegrityError:
            session.rollback()  # another request created the row first: read its secret
        row = session.get(TenantSettings, tenant, populate_existing=True)
    return row.webhook_secret


def rotate_secret(session: Session, tenant: str) -> str:
    """Replace the tenant's secret (committed); deliveries sent from now on, retries included, use it."""
    tenant_secret(session, tenant)
    secret = _new_secret()
    session.execute(update(TenantSettings).where(TenantSettings.tenant == tenant).values(webhook_secret=secret))
    session.commit()
    return secret


def _new_secret() -> str:
    return secrets.token_hex(32)  # 256 bits, 64 hex characters


# Signing and verifying ---------------------------------------------------------------------------


class VerificationError(ValueError):
    """A webhook request that must not be trusted: bad signature, stale timestamp or malformed."""


class DuplicateDelivery(VerificationError):
    """A delivery id already seen: a replay, or a retry of a delivery the receiver already handled."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `Vitrine-Signature` header value for `body` sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={_hmac(secret, timestamp, body)}"


def payload_bytes(payload: dict) -> bytes:
    """The exact bytes sent (and signed) for a delivery's payload."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def verify(
    secret: str,
    body: bytes,
    signature: str,
    seen: MutableSet[str],
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict:
    """Check a received webhook and return its event; raise VerificationError if it is not genuine.

    `body` is the raw request body (before any JSON parsing), `signature` the `Vitrine-Signature`
    header, `seen` the ids of deliveries already accepted: this adds the event's id to it. Keep
    ids for at least `tolerance` seconds (older requests fail the timestamp check anyway). If
    handling the event then fails, `seen.discard(event["id"])` before answering non-2xx, so the
    retry is accepted; answer 2xx to a DuplicateDelivery, which was handled already.
    """
    fields: dict[str, list[str]] = {}
    for part in signature.split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        raise VerificationError("signature header has no timestamp") from None
    expected = _hmac(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in fields.get("v1", [])):
        raise VerificationError("signature does not match")
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise VerificationError("timestamp outside the tolerance")
    try:
        event = json.loads(body)
        delivery_id = event["id"]
    except (ValueError, TypeError, KeyError):
        raise VerificationError("body is not a webhook event") from None
    if delivery_id in seen:
        raise DuplicateDelivery("delivery already received")
    seen.add(delivery_id)
    return event


def _hmac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


# Which URLs may be called -------------------------------------------------------------------------


class UrlNotAllowed(ValueError):
    """A webhook URL this server refuses to call; the message says why (safe to show the tenant)."""


def check_url(url: str, allow_private: bool) -> None:
    """Refuse URLs that are not plain http(s), carry credentials, or reach a non-public address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlNotAllowed("The URL must be http:// or https:// with a host.")
    if parts.username is not None or parts.password is not None:
        raise UrlNotAllowed("The URL must not contain credentials.")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise UrlNotAllowed("The URL's port is not valid.") from None
    resolve(parts.hostname, allow_private)


def resolve(host: str, allow_private: bool) -> str:
    """One address of `host` to connect to; every address it has must be public unless allowed."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UrlNotAllowed("The URL's host does not resolve.") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not allow_private and not all(_is_public(address) for address in addresses):
        raise UrlNotAllowed("The URL's host has a private, loopback or reserved address.")
    return str(addresses[0])


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast
