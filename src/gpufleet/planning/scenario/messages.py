"""Pydantic's error records turned into short messages at document paths."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from gpufleet.domain.errors import Issue


def join_path(base: str, loc: Sequence[int | str]) -> str:
    path = base
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else part
    return path


def _number(bound: Any) -> str:
    """A bound as a person writes it: 10000, not Decimal('10000') or 10000000000000.0."""
    if isinstance(bound, float) and bound.is_integer():
        return str(int(bound))
    text = str(bound)
    if text.startswith("Decimal('"):  # Pydantic gives a Decimal bound as its repr
        return text.removeprefix("Decimal('").removesuffix("')")
    return text


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    simple = {
        "missing": "is required",
        "extra_forbidden": "unknown key",
        "int_type": "must be an integer",
        "int_parsing": "must be an integer",
        "float_type": "must be a number",
        "bool_type": "must be true or false",
        "string_type": "must be a string",
        "list_type": "must be a list",
        "model_type": "must be a mapping",
        "dict_type": "must be a mapping",
        "model_attributes_type": "must be a mapping",
        "finite_number": "must be a finite number",
        "union_tag_not_found": "is required (one of: training, inference)",
    }
    if kind in simple:
        return simple[kind]
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        words = {
            "greater_than": "greater than",
            "greater_than_equal": "at least",
            "less_than": "less than",
            "less_than_equal": "at most",
        }[kind]
        bound = next(iter(ctx.values()))
        if kind == "greater_than" and bound == 0:
            return "must be positive"
        return f"must be {words} {_number(bound)}"
    if kind == "literal_error":
        return f"must be {ctx.get('expected', 'one of the allowed values')}"
    if kind == "union_tag_invalid":
        return f"must be one of: {ctx.get('expected_tags', '')}".replace("'", "")
    if kind == "too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else str(error["msg"])
    if kind == "string_pattern_mismatch":
        return "must start with a letter or digit and use only letters, digits, '.', '_', '-'"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return str(error["msg"])[:1].lower() + str(error["msg"])[1:]


def _clean_loc(loc: Sequence[int | str]) -> list[int | str]:
    # A union over int|list reports both branches ("gpus.int", "gpus.list[...]"); a
    # discriminated union adds the tag ("programs[0].training.due"). Neither is a document path.
    parts: list[int | str] = []
    for part in loc:
        if isinstance(part, str) and ("[" in part or part in {"training", "inference"}):
            continue
        parts.append(part)
    return parts


def issues_from(error: ValidationError, base: str) -> Iterable[Issue]:
    return issues_from_details(error.errors(include_url=False), base=base)


def issues_from_details(
    details: Iterable[Any], base: str = "", strip: Sequence[str] = ()
) -> Iterable[Issue]:
    """Issues from Pydantic error records; `strip` drops leading locations such as `body`."""
    seen: set[tuple[str, str]] = set()
    for detail in details:
        loc = list(detail["loc"])
        if loc and loc[0] in strip:
            loc = loc[1:]
        loc = _clean_loc(loc)
        if detail["type"].startswith("union_tag"):
            loc.append("kind")  # the discriminator of programs, absent or wrong
        issue = Issue(join_path(base, loc), _message(detail))
        if (issue.path, issue.message) not in seen:
            seen.add((issue.path, issue.message))
            yield issue
