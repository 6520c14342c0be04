"""Time points are timezone-aware UTC datetimes everywhere inside gpufleet."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_instant(text: str) -> datetime:
    """`YYYY-MM-DD` (00:00 UTC) or an ISO datetime with a zone; returns aware UTC."""
    if _DATE_ONLY.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a calendar date") from exc
        return datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError("must be a date YYYY-MM-DD or an ISO datetime with a zone") from exc
    if parsed.tzinfo is None:
        raise ValueError("datetime must have a time zone (for example 2027-01-04T00:00:00Z)")
    return parsed.astimezone(UTC)


def to_utc(value: datetime) -> datetime:
    """Aware UTC from a datetime that may come back naive from a database (SQLite)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_instant(value: datetime) -> str:
    """Midnight instants print as dates; others as ISO with `Z`."""
    value = to_utc(value)
    if value.hour == value.minute == value.second == value.microsecond == 0:
        return value.date().isoformat()
    return value.isoformat().replace("+00:00", "Z")


def utcnow() -> datetime:
    return datetime.now(UTC)
