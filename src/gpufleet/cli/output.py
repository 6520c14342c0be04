"""How the CLI shows results and errors: Rich tables, JSON on request, exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from gpufleet.domain import errors

console = Console()
err_console = Console(stderr=True)

EXIT_CODES: dict[type[errors.GpufleetError], int] = {
    errors.InvalidInput: 2,
    errors.PayloadTooLarge: 2,
    errors.NotAuthenticated: 3,
    errors.Forbidden: 3,
    errors.NotFound: 4,
    errors.Conflict: 5,
    errors.Unavailable: 6,
}


def exit_code(error: errors.GpufleetError) -> int:
    for kind in type(error).__mro__:
        if kind in EXIT_CODES:
            return EXIT_CODES[kind]
    return 1


def report_error(error: errors.GpufleetError, as_json: bool) -> int:
    if as_json:
        issues = [{"path": i.path, "message": i.message} for i in error.issues]
        body = {"error": {"code": error.code, "message": error.message, "issues": issues}}
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
    else:
        err_console.print(f"[bold red]error:[/] {error.message}", highlight=False)
        for issue in error.issues:
            err_console.print(f"  {issue}", highlight=False, markup=False)
    return exit_code(error)


def emit_json(value: Any) -> None:
    sys.stdout.write(json_text(value))


def json_text(value: Any) -> str:
    """What --json prints: indented JSON, one trailing newline."""
    if isinstance(value, BaseModel):
        text = value.model_dump_json(indent=2, by_alias=True)
    elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
        text = json.dumps([v.model_dump(mode="json", by_alias=True) for v in value], indent=2)
    else:
        text = json.dumps(value, indent=2, default=str)
    return text + "\n"


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    grid = Table(title=title, title_justify="left", header_style="bold")
    for name in columns:
        numeric = name.endswith(("GPUs", "nodes", "count", "USD", "$/GPU-h", "#"))
        grid.add_column(name, justify="right" if numeric else "left")
    for row in rows:
        grid.add_row(*(fmt(cell) for cell in row))
    console.print(grid)


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if hasattr(value, "isoformat"):
        text: str = value.isoformat()
        return text.replace("T00:00:00+00:00", "").replace("+00:00", "Z")
    return str(value)
