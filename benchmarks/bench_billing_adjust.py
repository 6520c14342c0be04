"""Adjusting a closed month at scale (ADR 0013): the month of bench_billing (10,000 leases,
a million hourly rows, 100,000 token rows) closed, then late rows for 1% of the leases and
1% more requests, then `billing adjust`. No target in the issue; the figures show what a
routine adjust costs with nothing late (it still sums the month) and with late rows.
Usage: python -m benchmarks.bench_billing_adjust [--postgres URL] [--leases N] [--tenants T]
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import text

from benchmarks.bench_billing import MONTH, _series, arguments, count, make_data
from benchmarks.common import machine, scratch_database
from gpufleet.adapters.db.tables_billing import invoices
from gpufleet.bootstrap import open_database
from gpufleet.services import access, billing, billing_adjust, billing_queries
from gpufleet.services.database import Database

T = TypeVar("T")


def add_late_rows(db: Database, leases: int, hours: int, token_rows: int) -> int:
    """Ten more hours for every 100th lease (hours bench_billing did not write) and 1% more
    requests, all in the closed month; returns the usage rows added."""
    pg = db.engine.dialect.name == "postgresql"
    hour = "TIMESTAMPTZ '2026-01-01 00:00:00+00' + h.n * INTERVAL '1 hour'" if pg else \
        "datetime('2026-01-01 00:00:00', '+' || h.n || ' hours') || '.000000'"  # fmt: skip
    minute = "TIMESTAMPTZ '2026-01-20 00:00:00+00' + r.n * INTERVAL '1 second'" if pg else \
        "datetime('2026-01-20 00:00:00', '+' || r.n || ' seconds') || '.000000'"  # fmt: skip
    late_leases = leases // 100
    with db.write() as conn:
        conn.execute(text(f"""INSERT INTO lease_usage_hours (lease_id, hour_start, tenant_id,
            gpu_model, promised_gpu_seconds, delivered_gpu_seconds, shortfall_gpu_seconds)
            SELECT 'lease-' || (l.n * 100), {hour}, 1 + (l.n * 100) % (SELECT count(*) FROM
                   tenants), 'H100', 28800, 25200, 3600
            FROM {_series(db, "l", late_leases)} CROSS JOIN {_series(db, "h", hours + 10)}
            WHERE h.n > {hours}"""))  # fmt: skip
        conn.execute(text(f"""INSERT INTO token_usage (request_id, at, tenant_id, key_id, model,
            deployment, input_tokens, output_tokens, input_price_micros, output_price_micros)
            SELECT 'late-' || r.n, {minute}, 1 + r.n % (SELECT count(*) FROM tenants),
                   'key_bench', 'llama', 'd', 700, 70, 150000, 600000
            FROM {_series(db, "r", token_rows // 100)}"""))  # fmt: skip
    return late_leases * 10


def timed(action: Callable[[], T]) -> tuple[T, float]:
    began = time.perf_counter()
    result = action()
    return result, round(time.perf_counter() - began, 2)


def main() -> None:
    args = arguments()
    with scratch_database(args.postgres) as database_url:
        db = open_database(database_url)
        operator = access.authenticate(db, access.init_admin(db, another=True).token)
        make_data(db, args.tenants, args.leases, args.hours, args.tokens)
        _, close_s = timed(lambda: billing.close_month(db, operator, MONTH))
        idle, idle_s = timed(lambda: billing_adjust.adjust_month(db, operator, MONTH))
        late_rows = add_late_rows(db, args.leases, args.hours, args.tokens)
        result, adjust_s = timed(lambda: billing_adjust.adjust_month(db, operator, MONTH))
        again, again_s = timed(lambda: billing_adjust.adjust_month(db, operator, MONTH))
        report = billing_queries.reconcile(db, operator)
        figures = {
            "benchmark": "adjust a closed month",
            "database": db.engine.dialect.name,
            "tenants": args.tenants,
            "leases": args.leases,
            "usage_rows": count(db, text("lease_usage_hours")),
            "close_s": close_s,
            "adjust_with_nothing_late_s": idle_s,
            "nothing_late_wrote": len(idle.invoice_ids),
            "late_usage_rows": late_rows,
            "late_token_rows": args.tokens // 100,
            "adjust_s": adjust_s,
            "adjustment_invoices": len(result.invoice_ids),
            "second_adjust_s": again_s,
            "second_adjust_wrote": len(again.invoice_ids),
            "ledger_matches_invoices": report.ledger_matches_invoices,
            "invoices_in_db": count(db, invoices),
            "machine": machine(),
        }
        db.engine.dispose()
    json.dump(figures, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
