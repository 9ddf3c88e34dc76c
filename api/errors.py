"""Every error leaves the API in one envelope: `{"error": {"code": ..., "message": ..., ...}}`.

`code` is stable (clients switch on it), `message` is for people. Bodies never carry a traceback,
a server path or the client's input echoed back: validation errors list the fields and what is
wrong with them, not the values; unexpected exceptions are logged in full and answered with a
bare INTERNAL. A busy or unreachable database is a 503 with Retry-After, not a 500.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

MAX_FIELD_ERRORS = 20

# Codes for errors raised by the framework itself (unknown route, wrong method...).
CODES_BY_STATUS = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "UPLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
}


class ApiError(StarletteHTTPException):
    """An error the API answers on purpose, with its stable code."""

    def __init__(self, status_code: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(status_code, message, headers)
        self.code = code


def not_found(what: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{what} not found.")


def error_body(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = getattr(exc, "code", None) or CODES_BY_STATUS.get(exc.status_code, HTTPStatus(exc.status_code).name)
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return JSONResponse(error_body(code, message), exc.status_code, headers=exc.headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = [
        {"loc": [str(part) for part in err["loc"]], "message": err["msg"], "type": err["type"]}
        for err in exc.errors()[:MAX_FIELD_ERRORS]
    ]
    first = fields[0] if fields else {"loc": [], "message": "invalid request"}
    message = f"Invalid request: {'.'.join(first['loc'])}: {first['message']}"
    return JSONResponse(error_body("VALIDATION_ERROR", message, fields=fields), 422)


async def _database_unavailable(request: Request, exc: OperationalError) -> JSONResponse:
    log.error("database error on %s %s", request.method, request.url.path, exc_info=exc)
    body = error_body("UNAVAILABLE", "The service is busy; try again in a moment.")
    return JSONResponse(body, 503, headers={"Retry-After": "1"})


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("INTERNAL", "An internal error occurred; it has been logged."), 500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(Exception, _internal_error)
