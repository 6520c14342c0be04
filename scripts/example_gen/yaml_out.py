"""Compact YAML emission: one flow mapping per list item, plain dates, prices with two decimals."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


class Price(float):
    """A money amount written with exactly two decimals."""


def scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, Price):
        return f"{v:.2f}"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        s = repr(v)
        if "e" in s or "inf" in s or "nan" in s:
            raise ValueError(f"refusing to write float {s} (PyYAML reads 1e9 as a string)")
        return s
    if isinstance(v, str):
        if _PLAIN.match(v) and v.lower() not in _RESERVED:
            return v
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(scalar(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {scalar(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def wrapped_list(values: Sequence[Any], indent: int, width: int = 96) -> list[str]:
    """A flow sequence spread over several lines, continuation lines indented by `indent`."""
    lines: list[str] = []
    cur = "["
    for i, v in enumerate(values):
        piece = scalar(v) + (", " if i < len(values) - 1 else "]")
        if len(cur) + len(piece.rstrip()) > width - indent and cur.strip() != "[":
            lines.append(cur.rstrip())
            cur = " " * indent + " "
        cur += piece
    lines.append(cur)
    return lines
