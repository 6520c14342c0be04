"""The one place where errors become HTTP responses. Bad input is a 4xx, never a 500."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from gpufleet.api.schemas.common import ErrorBody, ErrorOut, IssueOut
from gpufleet.domain import errors
from gpufleet.domain.errors import Issue
from gpufleet.planning.scenario.messages import issues_from_details

log = logging.getLogger("gpufleet.api")

STATUS: dict[type[errors.GpufleetError], int] = {
    errors.InvalidInput: 422,
    errors.NotAuthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PayloadTooLarge: 413,
    errors.Unavailable: 503,
}
_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413:
               "payload_too_large", 415: "unsupported_media_type"}  # fmt: skip


def error_response(
    status: int, code: str, message: str, issues: Sequence[Issue] = ()
) -> JSONResponse:
    body = ErrorOut(
        error=ErrorBody(
            code=code,
            message=message,
            issues=[IssueOut(path=i.path, message=i.message) for i in issues],
        )
    )
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def status_of(error: errors.GpufleetError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.GpufleetError)
    async def _domain(_: Request, exc: errors.GpufleetError) -> JSONResponse:
        return error_response(status_of(exc), exc.code, exc.message, exc.issues)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = list(exc.errors())
        if any(d.get("type") == "json_invalid" for d in details):
            return error_response(400, "malformed_json", "request body is not valid JSON")
        issues = list(issues_from_details(details, strip=("body", "query", "path", "header")))
        return error_response(422, "invalid_input", "request is invalid", issues)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI's "error parsing the body" for bytes that are not even text.
            return error_response(400, "malformed_json", "request body is not valid JSON")
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal", "internal error; the operator can see the log")
