"""Sending recorded webhook deliveries: a background thread in each API process.

The outbox rows (assets/webhooks.py) are the truth. A deliverer *claims* the oldest due delivery
(pending, `next_attempt` <= now) with one conditional UPDATE that pushes `next_attempt` past the
longest a send can take: of two API processes that see the same row, exactly one changes it, and
only that one sends. It then POSTs the signed payload (short timeout, redirects not followed,
the connection made to the address that passed the SSRF check) and records the outcome, fenced by
its claim: 2xx → delivered; anything else → attempts + 1 and a retry after an exponential backoff
with jitter, or failed once `max_attempts` sends have failed. A deliverer that dies mid-send leaves
its claim to lapse, and the delivery is sent again: receivers get each event at least once and
deduplicate by its id. Errors recorded for the tenant are short texts, never tracebacks.

One delivery is sent at a time: a claim only has to outlast one send, never a queue of them.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from .models import Webhook, WebhookDelivery, utcnow
from .webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    UrlNotAllowed,
    payload_bytes,
    resolve,
    sign,
    tenant_secret,
)

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 3600.0
MAX_ERROR_CHARS = 300
USER_AGENT = "Vitrine3D-Webhooks/1"


@dataclass(frozen=True)
class DeliveryConfig:
    retry_base_seconds: float = 30.0  # before the 2nd send; doubled for each further one (with jitter)
    max_attempts: int = 10
    timeout_seconds: float = 5.0
    allow_private_urls: bool = False
    poll_seconds: float = 1.0

    @property
    def claim_seconds(self) -> float:
        """How long a claim holds: past the longest send (connect, write, read timeouts and DNS)."""
        return 4 * self.timeout_seconds + 60


def backoff(attempts: int, base: float) -> float:
    """Seconds before the next send after `attempts` failed ones: doubling, half of it random.

    "Equal jitter": receivers that failed together do not all come back at once, and the delay
    still never shrinks from one attempt to the next (until the cap).
    """
    full = min(base * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)
    return full / 2 + random.uniform(0, full / 2)


@dataclass(frozen=True)
class Claim:
    delivery_id: str
    until: datetime  # the claimed row's next_attempt: the fence for recording the outcome


@dataclass(frozen=True)
class Outcome:
    status: int | None  # the receiver's HTTP status, when it answered
    error: str | None  # None: delivered


class Deliverer:
    """Claims and sends due deliveries until stopped; `deliver_due` does one round (tests call it)."""

    def __init__(self, sessions: sessionmaker[Session], config: DeliveryConfig):
        self.sessions = sessions
        self.config = config
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = self._new_client()

    def _new_client(self) -> httpx.Client:
        return httpx.Client(
            timeout=self.config.timeout_seconds,
            follow_redirects=False,
            trust_env=False,  # a proxy would see past the address check; receivers are called directly
            headers={"User-Agent": USER_AGENT},
        )

    def start(self) -> None:
        if self._client.is_closed:  # started again after a stop
            self._client = self._new_client()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="vitrine-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._client.close()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sent = self.deliver_due()
            except Exception:
                log.exception("webhook deliveries: could not claim or record")
                sent = 0
            if not sent:
                self._stopping.wait(self.config.poll_seconds)

    def deliver_due(self) -> int:
        """Send every delivery due now, one claim at a time; returns how many were attempted."""
        sent = 0
        while not self._stopping.is_set() and (claim := self.claim_next()) is not None:
            self.deliver(claim)
            sent += 1
        return sent

    def claim_next(self) -> Claim | None:
        """Claim the oldest due delivery; None when nothing is due. Safe when deliverers race."""
        with self.sessions() as session:
            while True:
                now = utcnow()
                due = session.execute(
                    select(WebhookDelivery.id, WebhookDelivery.next_attempt)
                    .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt <= now)
                    .order_by(WebhookDelivery.next_attempt)
                    .limit(1)
                ).first()
                if due is None:
                    return None
                until = now + timedelta(seconds=self.config.claim_seconds)
                won = session.execute(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.id == due.id,
                        WebhookDelivery.status == "pending",
                        WebhookDelivery.next_attempt == due.next_attempt,
                    )
                    .values(next_attempt=until)
                ).rowcount
                session.commit()
                if won == 1:
                    return Claim(due.id, until)

    def deliver(self, claim: Claim) -> None:
        """Send one claimed delivery and record how it went."""
        with self.sessions() as session:
            delivery = session.get(WebhookDelivery, claim.delivery_id)
            webhook = delivery and session.get(Webhook, delivery.webhook_id)
            if webhook is None:
                return  # the webhook was deleted meanwhile, and its deliveries with it
            secret = tenant_secret(session, delivery.tenant)
            attempts, event, payload, url = delivery.attempts, delivery.event, delivery.payload, webhook.url
        # No session is held while waiting on the receiver.
        outcome = self._send(url, event, claim.delivery_id, payload_bytes(payload), secret)
        self._record(claim, attempts + 1, outcome)

    def _send(self, url: str, event: str, delivery_id: str, body: bytes, secret: str) -> Outcome:
        parts = urlsplit(url)
        try:
            address = resolve(parts.hostname, self.config.allow_private_urls)
        except UrlNotAllowed as exc:
            return Outcome(None, str(exc))
        headers = {
            "Content-Type": "application/json",
            "Host": parts.netloc,
            EVENT_HEADER: event,
            DELIVERY_HEADER: delivery_id,
            SIGNATURE_HEADER: sign(secret, body, int(time.time())),
        }
        try:
            # Connect to the checked address (no second lookup a DNS rebinding could answer
            # differently); TLS still checks the certificate against the URL's host name.
            pinned, sni = _pinned(url, address), {"sni_hostname": parts.hostname}
            with self._client.stream("POST", pinned, content=body, headers=headers, extensions=sni) as response:
                status = response.status_code
        except httpx.TimeoutException:
            return Outcome(None, f"No answer within {self.config.timeout_seconds:g} s.")
        except httpx.ConnectError as exc:
            return Outcome(None, f"Could not connect: {exc}"[:MAX_ERROR_CHARS])
        except httpx.HTTPError as exc:
            return Outcome(None, f"Request failed: {exc}"[:MAX_ERROR_CHARS])
        if 200 <= status < 300:
            return Outcome(status, None)
        if 300 <= status < 400:
            return Outcome(status, f"HTTP {status}: redirects are not followed.")
        return Outcome(status, f"HTTP {status}")

    def _record(self, claim: Claim, attempts: int, outcome: Outcome) -> None:
        now = utcnow()
        values: dict = {"attempts": attempts, "last_status": outcome.status, "last_error": outcome.error}
        if outcome.error is None:
            values.update(status="delivered", delivered=now)
        elif attempts >= self.config.max_attempts:
            values.update(status="failed")
        else:
            values.update(next_attempt=now + timedelta(seconds=backoff(attempts, self.config.retry_base_seconds)))
        with self.sessions() as session:
            session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == claim.delivery_id,
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt == claim.until,
                )
                .values(**values)
            )
            session.commit()
        log.info("webhook delivery %s: attempt %d: %s", claim.delivery_id, attempts, outcome.error or "delivered")


def _pinned(url: str, address: str) -> str:
    """`url` with its host replaced by `address` (the port, path and query kept)."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))
