"""Shapes every endpoint shares: errors and cursor pages."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict

T = TypeVar("T")


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Free text from a request: PostgreSQL cannot store NUL, so it is refused as bad input.
Text = Annotated[str, AfterValidator(_no_nul)]


class ApiModel(BaseModel):
    """Requests refuse unknown fields; responses are plain data."""

    model_config = ConfigDict(extra="forbid")


class IssueOut(ApiModel):
    path: str
    message: str


class ErrorBody(ApiModel):
    code: str
    message: str
    issues: list[IssueOut] = []


class ErrorOut(ApiModel):
    error: ErrorBody


class Page(ApiModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next (None: the end)."""

    items: list[T]
    next_cursor: str | None = None
