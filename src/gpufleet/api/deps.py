"""Dependencies: the database and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gpufleet.domain.access import Principal
from gpufleet.domain.errors import InvalidInput, Issue
from gpufleet.services import access
from gpufleet.services.database import Database

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer gf_…`")


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def principal(
    db: Annotated[Database, Depends(database)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    return access.authenticate(db, credentials.credentials if credentials else None)


Db = Annotated[Database, Depends(database)]
Caller = Annotated[Principal, Depends(principal)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page (at most 1000)")]
Cursor = Annotated[
    str | None, Query(max_length=200, description="`next_cursor` from the previous page")
]


MAX_ID = 2**63 - 1  # ids are 64-bit; a bigger number is no id, and the database refuses it


def int_cursor(cursor: str | None) -> int:
    """Pages of numbered things pass the last id back as the cursor."""
    if cursor is None:
        return 0
    # str.isdigit() also accepts '²' and other digits int() refuses.
    if not (cursor.isascii() and cursor.isdigit()) or int(cursor) > MAX_ID:
        raise InvalidInput("bad cursor", [Issue("cursor", "must be a next_cursor from a page")])
    return int(cursor)


def no_nul_characters(request: Request) -> None:
    """No id or filter contains NUL, and PostgreSQL cannot even compare text holding one:
    refuse it in the path or query as bad input instead of failing in the database."""
    params = [*request.path_params.items(), *request.query_params.multi_items()]
    issues = [Issue(name, "must not contain NUL characters") for name, value in params
              if isinstance(value, str) and "\x00" in value]  # fmt: skip
    if issues:
        raise InvalidInput("request is invalid", issues)
