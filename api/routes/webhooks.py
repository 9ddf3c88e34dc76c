"""/v1/webhooks: a tenant's subscriptions, its signing secret, and the delivery log.

`POST /v1/webhooks {url, events}` subscribes a URL (201); `GET` lists them, `DELETE /{id}`
removes one (and its deliveries). `GET /v1/webhooks/secret` returns the tenant's signing secret,
created on first use; `POST /v1/webhooks/secret/rotate` replaces it (the old one stops working at
once, including for retries). `GET /v1/webhooks/deliveries?limit=` is the delivery log, newest
first: what was sent where, how often, and how the receiver answered. Another tenant's webhook
is a 404. How requests are signed and verified: assets/webhooks.py and the README.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from assets import webhooks
from assets.models import Webhook

from ..deps import AdminTenantDep, SessionDep, SettingsDep
from ..errors import ApiError, not_found
from ..openapi import error_responses
from ..schemas import (
    WebhookCreate,
    WebhookDeliveryList,
    WebhookDeliveryOut,
    WebhookList,
    WebhookOut,
    WebhookSecret,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post("", status_code=201, response_model=WebhookOut, responses=error_responses(409))
def create_webhook(
    body: WebhookCreate, tenant: AdminTenantDep, session: SessionDep, settings: SettingsDep
) -> WebhookOut:
    try:
        webhooks.check_url(body.url, settings.webhook_allow_private_urls)
    except webhooks.UrlNotAllowed as exc:
        raise ApiError(422, "WEBHOOK_URL_NOT_ALLOWED", str(exc)) from None
    if len(webhooks.list_webhooks(session, tenant)) >= webhooks.MAX_WEBHOOKS_PER_TENANT:
        raise ApiError(409, "TOO_MANY_WEBHOOKS", f"A tenant has at most {webhooks.MAX_WEBHOOKS_PER_TENANT} webhooks.")
    webhook = webhooks.create_webhook(session, tenant, body.url, body.events)
    session.commit()
    return _webhook_out(webhook)


@router.get("", response_model=WebhookList)
def list_webhooks(tenant: AdminTenantDep, session: SessionDep) -> WebhookList:
    return WebhookList(webhooks=[_webhook_out(w) for w in webhooks.list_webhooks(session, tenant)])


@router.get("/secret", response_model=WebhookSecret)
def get_secret(tenant: AdminTenantDep, session: SessionDep) -> WebhookSecret:
    return WebhookSecret(secret=webhooks.tenant_secret(session, tenant))


@router.post("/secret/rotate", response_model=WebhookSecret)
def rotate_secret(tenant: AdminTenantDep, session: SessionDep) -> WebhookSecret:
    return WebhookSecret(secret=webhooks.rotate_secret(session, tenant))


@router.get("/deliveries", response_model=WebhookDeliveryList, response_model_exclude_none=True)
def list_deliveries(
    tenant: AdminTenantDep, session: SessionDep, limit: int = Query(50, ge=1, le=500)
) -> WebhookDeliveryList:
    rows = webhooks.list_deliveries(session, tenant, limit)
    return WebhookDeliveryList(
        deliveries=[
            WebhookDeliveryOut(
                id=d.id,
                webhook_id=d.webhook_id,
                event=d.event,
                url=url,
                status=d.status,
                attempts=d.attempts,
                last_status=d.last_status,
                last_error=d.last_error,
                next_attempt=d.next_attempt if d.status == "pending" else None,
                created=d.created,
                delivered=d.delivered,
            )
            for d, url in rows
        ]
    )


@router.delete("/{webhook_id}", status_code=204)
def delete_webhook(webhook_id: str, tenant: AdminTenantDep, session: SessionDep) -> Response:
    webhook = webhooks.get_webhook(session, tenant, webhook_id)
    if webhook is None:
        raise not_found("Webhook")
    session.delete(webhook)
    session.commit()
    return Response(status_code=204)


def _webhook_out(webhook: Webhook) -> WebhookOut:
    return WebhookOut(id=webhook.id, url=webhook.url, events=webhook.events, created=webhook.created)
