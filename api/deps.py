"""What routes receive from the app: settings, a DB session, storage, and the caller's tenant.

Everything is read from `app.state` (set once by `create_app`), so tests build an app with their
own settings and nothing leaks between apps. The tenant comes from `Authorization: Bearer <key>`
(never from a query string); a missing, unknown or revoked key is a 401, a key without the scope
the call needs a 403 (`read` for GET, `write` for changes, `admin` for webhooks and embedding
settings), and a key over its request rate a 429 with Retry-After.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from assets import catalog
from assets.runner import Runner
from assets.storage import Storage

from .errors import ApiError
from .settings import AppSettings

_bearer = HTTPBearer(auto_error=False, description="An API key from `vitrine3d keys create`.")


def _settings(request: Request) -> AppSettings:
    return request.app.state.settings


def _session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


def _storage(request: Request) -> Storage:
    return request.app.state.storage


def _runner(request: Request) -> Runner:
    return request.app.state.runner


SettingsDep = Annotated[AppSettings, Depends(_settings)]
SessionDep = Annotated[Session, Depends(_session)]
StorageDep = Annotated[Storage, Depends(_storage)]
RunnerDep = Annotated[Runner, Depends(_runner)]


def caller_access(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> catalog.KeyAccess:
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise ApiError(401, "UNAUTHENTICATED", "Send an API key as 'Authorization: Bearer <key>'.", challenge)
    access = catalog.key_access(session, credentials.credentials)
    if access is None:
        raise ApiError(401, "INVALID_API_KEY", "The API key is unknown or revoked.", challenge)
    limiter = request.app.state.key_limiter
    if not limiter.allow(str(access.key_id)):
        retry = {"Retry-After": str(limiter.retry_after())}
        raise ApiError(429, "RATE_LIMITED", "Too many requests with this API key; retry after the delay.", retry)
    return access


CallerDep = Annotated[catalog.KeyAccess, Depends(caller_access)]
_READING = {"GET", "HEAD", "OPTIONS"}


def _require(access: catalog.KeyAccess, scope: str) -> str:
    if scope not in access.scopes:
        raise ApiError(403, "INSUFFICIENT_SCOPE", f"This API key lacks the '{scope}' scope needed here.")
    return access.tenant


def _tenant(request: Request, access: CallerDep) -> str:
    """The caller's tenant; reading needs the key's `read` scope, anything else its `write` scope."""
    return _require(access, "read" if request.method in _READING else "write")


def _admin_tenant(access: CallerDep) -> str:
    """The caller's tenant, for settings that change who gets what (webhooks, embedding origins)."""
    return _require(access, "admin")


TenantDep = Annotated[str, Depends(_tenant)]
AdminTenantDep = Annotated[str, Depends(_admin_tenant)]


def public_base_url(request: Request, settings: SettingsDep) -> str:
    """Base of the absolute URLs the API hands out, without a trailing slash."""
    # With S3, public_base_url is where the bucket's objects are read from (a CDN), not this API.
    own = settings.public_base_url if settings.storage_url.startswith("file:") else None
    return (own or str(request.base_url)).rstrip("/")


BaseUrlDep = Annotated[str, Depends(public_base_url)]
