"""Shapes every endpoint shares: errors and cursor pages."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


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
