"""Shared by the benchmarks: the machine they ran on, percentiles, scratch databases."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Table, create_engine, func, select, text
from sqlalchemy.engine import make_url

from gpufleet.services.database import Database

COLOSSUS = Path(__file__).parents[1] / "src" / "gpufleet" / "examples" / "colossus.yaml"


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(p99, 3),
        "max_ms": round(ordered[-1], 3),
        "samples": len(ordered),
    }


@contextmanager
def scratch_database(postgres_url: str | None) -> Iterator[str]:
    """A new empty database: a temporary SQLite file, or a fresh PostgreSQL database on the
    server of `postgres_url` (dropped afterwards)."""
    if postgres_url is None:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    base = make_url(postgres_url).set(drivername="postgresql+psycopg")
    name = f"gf_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def count_rows(db: Database, table: Table) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def print_on_both_databases(
    benchmark: str, run: Callable[[str], dict[str, Any]], postgres_url: str | None
) -> None:
    """Runs `run` on a scratch SQLite database, then (given a URL) on a scratch PostgreSQL
    one, and prints the figures with the machine and the peak resident memory as JSON."""
    result: dict[str, Any] = {"benchmark": benchmark, "machine": machine()}
    with scratch_database(None) as url:
        result["sqlite"] = run(url)
    if postgres_url:
        with scratch_database(postgres_url) as url:
            result["postgresql"] = run(url)
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result, indent=2))
