"""The OpenAPI document declares every answer the API gives, its errors included.

FastAPI documents a route's success and, for routes with parameters, a 422 in its own
`{"detail": [...]}` shape, which this API never sends. `install_openapi` makes every 422 the one
error envelope (`ErrorOut`) and adds the errors that come from shared parts rather than from the
route itself: 401, 403 and 429 wherever an API key is read (api/deps.py), 404 wherever an object
is named in the path, and 503 when the catalog database is busy (api/errors.py). Errors particular
to a route (409 SKU_EXISTS, 413 UPLOAD_TOO_LARGE...) are declared on it with `error_responses`.
A 400 is declared wherever a request body is read: one that cannot be decoded at all (not UTF-8
JSON, a broken multipart) is refused before any field is checked.
A client generated from the document, and schemathesis (tests/security/test_openapi_fuzz.py),
can then rely on every status it may receive being described.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from .schemas import ErrorOut

ERROR_REF = {"$ref": f"#/components/schemas/{ErrorOut.__name__}"}
# The components FastAPI adds for its own 422 body, unused once every 422 is the envelope.
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
KEY_ERRORS = (401, 403, 429)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for a route's own errors, each answered with the envelope."""
    return {status: {"model": ErrorOut, "description": HTTPStatus(status).phrase} for status in statuses}


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` (and /openapi.json, /docs) declare the errors shared by many routes."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            declare_shared_errors(generate())  # FastAPI caches the document it returns; edited in place
        return app.openapi_schema

    app.openapi = openapi


def declare_shared_errors(document: dict[str, Any]) -> None:
    """Declare, in place, the envelope's schema and each operation's shared errors (sorted by status)."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for name in FASTAPI_VALIDATION_SCHEMAS:
        components.pop(name, None)
    _, definitions = models_json_schema([(ErrorOut, "serialization")], ref_template="#/components/schemas/{model}")
    for name, definition in definitions["$defs"].items():
        components.setdefault(name, definition)
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status in _shared_errors(path, operation):
                declared = responses.setdefault(str(status), {"description": HTTPStatus(status).phrase})
                if status == 422 or "content" not in declared:
                    declared["content"] = {"application/json": {"schema": ERROR_REF}}
            operation["responses"] = dict(sorted(responses.items()))


def _shared_errors(path: str, operation: dict[str, Any]) -> list[int]:
    statuses = [503]
    if operation.get("requestBody"):
        statuses.append(400)  # a body that cannot be read at all: not UTF-8, a broken multipart
    if "422" in operation["responses"] or operation.get("parameters") or operation.get("requestBody"):
        statuses.append(422)
    if operation.get("security"):
        statuses += KEY_ERRORS
    if "{" in path:
        statuses.append(404)
    return statuses
