"""Closing a month at scale: 10,000 leases, a million hourly usage rows, on PostgreSQL.

Target (issue 5): ≤ 30 s for the close. The data are made by set-based INSERT … SELECT over
generate_series (SQLite: recursive CTE), the close is the real service. Prints JSON.
Usage: python -m benchmarks.bench_billing --postgres URL [--leases N] [--hours H] [--tenants T]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from sqlalchemy import func, select, text

from benchmarks.common import machine, scratch_database
from gpufleet.adapters.db.tables_billing import invoice_lines, invoices, ledger_entries
from gpufleet.bootstrap import open_database
from gpufleet.services import access, billing, billing_queries
from gpufleet.services.database import Database

MONTH = "2026-01"


def _series(db: Database, name: str, count: int) -> str:
    """A row source of n = 1..count in either database."""
    if db.engine.dialect.name == "postgresql":
        return f"generate_series(1, {count}) AS {name}(n)"
    return (f"(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {count})"
            f" SELECT n FROM s) AS {name}")  # fmt: skip


def make_data(db: Database, tenants: int, leases: int, hours: int, token_rows: int) -> None:
    pg = db.engine.dialect.name == "postgresql"
    hour = "TIMESTAMPTZ '2026-01-01 00:00:00+00' + h.n * INTERVAL '1 hour'" if pg else \
        "datetime('2026-01-01 00:00:00', '+' || h.n || ' hours') || '.000000'"  # fmt: skip
    start = "TIMESTAMPTZ '2025-12-01 00:00:00+00'" if pg else "'2025-12-01 00:00:00.000000'"
    end = "TIMESTAMPTZ '2027-01-01 00:00:00+00'" if pg else "'2027-01-01 00:00:00.000000'"
    minute = "TIMESTAMPTZ '2026-01-01 00:00:00+00' + r.n * INTERVAL '1 second'" if pg else \
        "datetime('2026-01-01 00:00:00', '+' || r.n || ' seconds') || '.000000'"  # fmt: skip
    statements = [
        "INSERT INTO gpu_models (name, relative_throughput) VALUES ('H100', 1.0)",
        f"INSERT INTO tenants (id, name, kind, created_at) SELECT t.n, 'tenant-' || t.n, "
        f"'external', {start} FROM {_series(db, 't', tenants)}",
        # Two in three leases reserved, one interruptible; prices differ by a micro-dollar.
        f"""INSERT INTO leases (id, tenant_id, gpu_model, gpus, start, "end", price_micros,
            rental_class, notice_hours, contiguous, status, created_at)
            SELECT 'lease-' || l.n, 1 + l.n % {tenants}, 'H100', 8, {start}, {end},
                   2000000 + l.n, CASE WHEN l.n % 3 = 0 THEN 'interruptible' ELSE 'reserved' END,
                   CASE WHEN l.n % 3 = 0 THEN 24 ELSE 0 END, false, 'signed', {start}
            FROM {_series(db, "l", leases)}""",
        # Shortfalls of 0–3 GPU-hours in about one hour in 97: some leases earn credits.
        f"""INSERT INTO lease_usage_hours (lease_id, hour_start, tenant_id, gpu_model,
            promised_gpu_seconds, delivered_gpu_seconds, shortfall_gpu_seconds)
            SELECT 'lease-' || l.n, {hour}, 1 + l.n % {tenants}, 'H100', 28800,
                   28800 - CASE WHEN (l.n * 31 + h.n) % 97 = 0 THEN 3600 * (l.n % 4) ELSE 0 END,
                   CASE WHEN (l.n * 31 + h.n) % 97 = 0 THEN 3600 * (l.n % 4) ELSE 0 END
            FROM {_series(db, "l", leases)} CROSS JOIN {_series(db, "h", hours)}""",
        f"""INSERT INTO token_usage (request_id, at, tenant_id, key_id, model, deployment,
            input_tokens, output_tokens, input_price_micros, output_price_micros)
            SELECT 'req-' || r.n, {minute}, 1 + r.n % {tenants}, 'key_bench',
                   CASE WHEN r.n % 2 = 0 THEN 'llama' ELSE 'qwen' END, 'd', 500 + r.n % 700,
                   r.n % 300, 150000, 600000
            FROM {_series(db, "r", token_rows)}""",
    ]
    with db.write() as conn:
        for statement in statements:
            conn.execute(text(statement))
    if pg:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))


def count(db: Database, table: object) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def arguments() -> argparse.Namespace:
    """The month's size and the database, shared with bench_billing_adjust."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="a PostgreSQL server URL; default: SQLite")
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--leases", type=int, default=10_000)
    parser.add_argument("--hours", type=int, default=100, help="usage rows per lease")
    parser.add_argument("--tokens", type=int, default=100_000, help="token usage rows")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    with scratch_database(args.postgres) as database_url:
        db = open_database(database_url)
        operator = access.authenticate(db, access.init_admin(db, another=True).token)
        began = time.perf_counter()
        make_data(db, args.tenants, args.leases, args.hours, args.tokens)
        setup_s = time.perf_counter() - began

        began = time.perf_counter()
        result = billing.close_month(db, operator, MONTH)
        close_s = time.perf_counter() - began
        began = time.perf_counter()
        again = billing.close_month(db, operator, MONTH)
        again_s = time.perf_counter() - began
        began = time.perf_counter()
        report = billing_queries.reconcile(db, operator)
        reconcile_s = time.perf_counter() - began
        figures = {
            "benchmark": "close a month",
            "database": db.engine.dialect.name,
            "tenants": args.tenants,
            "leases": args.leases,
            "usage_rows": count(db, text("lease_usage_hours")),
            "token_rows": args.tokens,
            "setup_s": round(setup_s, 2),
            "close_s": round(close_s, 2),
            "invoices": len(result.invoice_ids),
            "invoice_lines": count(db, invoice_lines),
            "ledger_entries": count(db, ledger_entries),
            "second_close_s": round(again_s, 3),
            "second_close_wrote": again.invoices_written,
            "reconcile_s": round(reconcile_s, 2),
            "ledger_matches_invoices": report.ledger_matches_invoices,
            "invoices_in_db": count(db, invoices),
            "target_close_s": 30.0,
            "meets_target": close_s <= 30.0,
            "machine": machine(),
        }
        db.engine.dispose()
    json.dump(figures, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
