"""Shopper events and the AR engagement stats built from them.

`POST /v1/events` is the beacon the viewer page, the embed page and pasted snippets call
(viewer/static/events.js): `{tenant?, sku, type}` and nothing else — no visitor id, no cookie,
no user agent or address is stored; each event only adds one to a counter per product, UTC day
and type. The body may come as text/plain, which is what `navigator.sendBeacon` sends across
origins without a preflight. Clients are rate-limited per address (api/rate_limit.py).

`GET /v1/products/{sku}/stats` (API key) returns the counts per day for the e-commerce manager,
with totals and the AR launch rate (AR launches per view that showed the AR button).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError

from assets import catalog

from ..deps import SessionDep, TenantDep
from ..errors import ApiError, not_found
from ..openapi import error_responses
from ..schemas import SKU_PATTERN, TENANT_PATTERN
from .products import engagement

router = APIRouter(tags=["events"])

EventType = Literal[
    "view",
    "model_loaded",
    "ar_button_shown",
    "ar_launched",
    "ar_session_started",
    "ar_object_placed",
    "ar_failed",
    "quick_look_cta_tapped",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
MAX_EVENT_BYTES = 1024
CORS = {"Access-Control-Allow-Origin": "*"}


class EventIn(BaseModel):
    model_config = {"extra": "forbid"}

    tenant: str = Field(catalog.DEFAULT_TENANT, pattern=TENANT_PATTERN)
    sku: str = Field(pattern=SKU_PATTERN)
    type: EventType


class DayCounts(BaseModel):
    date: date
    counts: dict[str, int]


class Stats(BaseModel):
    sku: str
    days: list[DayCounts] = Field(description="Oldest first; every day of the range, zeros included.")
    totals: dict[str, int]
    ar_launch_rate: float | None = Field(description="AR launches per view that showed the AR button.")


@router.post(
    "/v1/events",
    status_code=204,
    responses=error_responses(404, 413, 429),
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": EventIn.model_json_schema()}}}},
)
async def post_event(request: Request, session: SessionDep) -> Response:
    """Count one shopper event (public; JSON body, also accepted as text/plain)."""
    limiter = request.app.state.event_limiter
    if not limiter.allow(request.client.host if request.client else "unknown"):
        headers = {**CORS, "Retry-After": str(limiter.retry_after())}
        raise ApiError(429, "RATE_LIMITED", "Too many events from this address; try again later.", headers)
    event = _parse(await _read_small_body(request))
    product = catalog.published_product(session, event.tenant, event.sku)
    if product is None:
        raise ApiError(404, "NOT_FOUND", "Published product not found.", CORS)
    catalog.count_event(session, product.id, event.type, datetime.now(UTC).date().isoformat())
    return Response(status_code=204, headers=CORS)


async def _read_small_body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_EVENT_BYTES:
            raise ApiError(413, "EVENT_TOO_LARGE", f"An event is at most {MAX_EVENT_BYTES} bytes.", CORS)
    return body


def _parse(body: bytes) -> EventIn:
    try:
        data = json.loads(body)
    except ValueError:  # UnicodeDecodeError included
        raise ApiError(400, "INVALID_JSON", "The event must be a JSON object.", CORS) from None
    try:
        return EventIn.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


@router.get("/v1/products/{sku}/stats", response_model=Stats)
def product_stats(
    sku: str,
    tenant: TenantDep,
    session: SessionDep,
    days: Annotated[int, Query(ge=1, le=366, description="How many days, ending today (UTC).")] = 30,
) -> Stats:
    product = catalog.get_product(session, tenant, sku)
    if product is None:
        raise not_found("Product")
    today = datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    by_day: dict[str, dict[str, int]] = {
        (first + timedelta(days=n)).isoformat(): dict.fromkeys(EVENT_TYPES, 0) for n in range(days)
    }
    for day, kind, count in catalog.event_counts(session, product.id, first.isoformat()):
        if day in by_day and kind in EVENT_TYPES:
            by_day[day][kind] = count
    totals = {kind: sum(counts[kind] for counts in by_day.values()) for kind in EVENT_TYPES}
    return Stats(
        sku=product.sku,
        days=[DayCounts(date=date.fromisoformat(day), counts=counts) for day, counts in by_day.items()],
        totals=totals,
        ar_launch_rate=engagement(totals).ar_launch_rate,
    )
