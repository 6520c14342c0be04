"""The billing commands as a user runs them, against `gpufleet serve`."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import httpx

from gpufleet.adapters.db.engine import make_engine
from gpufleet.adapters.db.repos import access as access_repo
from gpufleet.services.database import Database
from tests.e2e.conftest import Cli
from tests.integration.billing_helpers import (
    Hour,
    add_hours,
    add_lease,
    ensure_gpu_model,
    month_hours,
)


def test_close_a_month_and_read_the_invoice(cli: Cli, server: str, db_url: str) -> None:
    admin = cli.run("admin", "init", "--json").json()["api_key"]
    cli.run("tenants", "create", "acme", key=admin)
    tenant_key = cli.run("keys", "create", "acme", "--json", key=admin).json()["api_key"]
    db = Database(make_engine(db_url))
    with db.read() as conn:
        acme = access_repo.tenant_by_name(conn, "acme")
    assert acme is not None
    ensure_gpu_model(db)
    add_lease(db, acme.id, "acme", "acme-lease", price_micros=2_500_000)
    add_hours(
        db, month_hours("acme-lease", acme.id, 2026, 1, 8, dict.fromkeys(range(30), 8 * 3600))
    )
    db.engine.dispose()

    closed = cli.run("billing", "close-month", "2026-01", "--json", key=admin).json()
    assert closed["invoices_written"] == 1
    assert "was closed before" in cli.run("billing", "close-month", "2026-01", key=admin).out
    (invoice_id,) = closed["invoice_ids"]

    listed = cli.run("invoices", "list", "--json", key=tenant_key).json()["items"]
    assert [i["id"] for i in listed] == [invoice_id]
    shown = cli.run("invoices", "show", invoice_id, "--json", key=tenant_key).json()
    assert [line["kind"] for line in shown["lines"]] == ["gpu_reserved", "sla_credit"]
    as_csv = cli.run("invoices", "show", invoice_id, "--format", "csv", key=tenant_key).out
    rows = list(csv.DictReader(io.StringIO(as_csv)))
    total = next(r for r in rows if r["kind"] == "total")["amount_usd"]
    assert round(float(total) * 10**6) == shown["total_micros"]
    html = cli.run("invoices", "show", invoice_id, "--format", "html", key=tenant_key).out
    assert html.startswith("<!doctype html>")
    # The CLI prints the server's own documents, byte for byte (one renderer: the server's).
    headers = {"Authorization": f"Bearer {tenant_key}"}
    served = {f: httpx.get(f"{server}/v1/invoices/{invoice_id}", params={"format": f},
                           headers=headers).text for f in ("csv", "html")}  # fmt: skip
    assert served == {"csv": as_csv, "html": html}
    assert "total" in cli.run("invoices", "show", invoice_id, key=tenant_key).out

    usage = cli.run("usage", "--from", "2026-01-01", "--to", "2026-02-01", "--json",
                    key=tenant_key).json()  # fmt: skip
    assert usage["leases"][0]["shortfall_gpu_hours"] == 240
    assert "acme-lease" in cli.run("usage", "--from", "2026-01-01", key=tenant_key).out

    # A meter flushes late: an hour of January after the close, named by reconcile (the
    # ledger still agrees with the invoices) and billed by an adjustment.
    db = Database(make_engine(db_url))
    add_lease(db, acme.id, "acme", "acme-late", price_micros=2_500_000)
    add_hours(
        db, [Hour("acme-late", acme.id, datetime(2026, 1, 15, tzinfo=UTC), 8 * 3600, 8 * 3600)]
    )
    db.engine.dispose()
    reconciled = cli.run("billing", "reconcile", key=admin).out
    assert "agree" in reconciled
    assert "gpufleet billing adjust 2026-01" in reconciled
    adjusted = cli.run("billing", "adjust", "2026-01", "--json", key=admin).json()
    assert adjusted["months"][0]["invoice_ids"] == [f"{invoice_id}-A1"]
    assert "nothing late to bill" in cli.run("billing", "adjust", key=admin).out
    page = cli.run("invoices", "show", f"{invoice_id}-A1", "--format", "html", key=tenant_key).out
    assert f"Adjustment 1</b> of invoice <code>{invoice_id}</code>" in page

    tiers = cli.run("billing", "credit-tiers", "acme-lease", "--tier", "99.9:50", "--json",
                    key=admin).json()  # fmt: skip
    assert tiers["tiers"] == [{"below_percent": 99.9, "credit_percent": 50.0}]
    refused = cli.run("billing", "credit-tiers", "acme-lease", "--tier", "99:5", key=tenant_key,
                      check=3)  # fmt: skip
    assert "operator" in refused.err
    bad = cli.run("billing", "close-month", "2026-13", key=admin, check=2)
    assert "YYYY-MM" in bad.err
    assert "Traceback" not in bad.err
    missing = cli.run("invoices", "show", "inv-000000-000000000000", "--format", "csv",
                      key=tenant_key, check=4)  # fmt: skip
    assert "not found" in missing.err
    assert "Traceback" not in missing.err
    cli.run("billing", "credit-tiers", "acme-lease", "--tier", "lots", key=admin, check=2)
