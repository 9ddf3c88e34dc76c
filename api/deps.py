"""What routes receive from the app: settings, a DB session, storage, and the caller's tenant.

Everything is read from `app.state` (set once by `create_app`), so tests build an app with their
own settings and nothing leaks between apps. The tenant comes from `Authorization: Bearer <key>`
(never from a query string); a missing, unknown or revoked key is a 401.
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


def _tenant(session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise ApiError(401, "UNAUTHENTICATED", "Send an API key as 'Authorization: Bearer <key>'.", challenge)
    tenant = catalog.tenant_for_key(session, credentials.credentials)
    if tenant is None:
        raise ApiError(401, "INVALID_API_KEY", "The API key is unknown or revoked.", challenge)
    return tenant


TenantDep = Annotated[str, Depends(_tenant)]


def public_base_url(request: Request, settings: SettingsDep) -> str:
    """Base of the absolute URLs the API hands out, without a trailing slash."""
    # With S3, public_base_url is where the bucket's objects are read from (a CDN), not this API.
    own = settings.public_base_url if settings.storage_url.startswith("file:") else None
    return (own or str(request.base_url)).rstrip("/")


BaseUrlDep = Annotated[str, Depends(public_base_url)]
