"""Invoices and usage over real HTTP: JSON, CSV and HTML; each tenant only its own."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import httpx
import pytest

from gpufleet.adapters.db.repos import access as access_repo
from tests.conftest import Actor, LiveServer, make_tenant
from tests.integration.billing_helpers import (
    Tokens,
    add_hours,
    add_lease,
    add_tokens,
    ensure_gpu_model,
    month_hours,
)
from tests.integration.support import error_of, expect, issue_paths


@pytest.fixture
def billed(live_server: LiveServer, operator: Actor) -> dict[str, httpx.Client]:
    db = live_server.db
    ensure_gpu_model(db)
    clients = {"operator": live_server.client(operator)}
    for k, name in enumerate(("acme", "beta")):
        tenant = make_tenant(db, operator, name)
        tenant_id = tenant.principal.tenant_id
        assert tenant_id is not None
        add_lease(db, tenant_id, name, f"{name}-lease", price_micros=2_000_000 + k)
        add_hours(
            db,
            month_hours(
                f"{name}-lease", tenant_id, 2026, 1, 8, dict.fromkeys(range(10 * (k + 1)), 8 * 3600)
            ),
        )
        add_tokens(db, [Tokens(tenant_id, "llama", 10**6, 10**5, 150_000, 600_000,
                               datetime(2026, 1, 9, tzinfo=UTC))])  # fmt: skip
        clients[name] = live_server.client(tenant)
    closed = expect(
        clients["operator"].post("/v1/billing/close-month", json={"month": "2026-01"}), 200
    )
    assert closed["invoices_written"] == 2
    return clients


def test_each_tenant_sees_only_its_own_invoices_and_usage(billed: dict[str, httpx.Client]) -> None:
    op, acme, beta = billed["operator"], billed["acme"], billed["beta"]
    everyone = expect(op.get("/v1/invoices"), 200)["items"]
    assert {i["tenant"] for i in everyone} == {"acme", "beta"}
    mine = expect(acme.get("/v1/invoices", params={"month": "2026-01"}), 200)["items"]
    assert [i["tenant"] for i in mine] == ["acme"]
    assert (
        expect(op.get("/v1/invoices", params={"tenant": "beta"}), 200)["items"][0]["tenant"]
        == "beta"
    )
    assert error_of(acme.get("/v1/invoices", params={"tenant": "beta"}), 404)["code"] == "not_found"

    acme_id = mine[0]["id"]
    foreign = beta.get(f"/v1/invoices/{acme_id}")
    missing = beta.get("/v1/invoices/inv-202601-000000000000")
    assert error_of(foreign, 404)["message"].replace(acme_id, "X") == error_of(
        missing, 404)["message"].replace("inv-202601-000000000000", "X")  # fmt: skip
    assert beta.get(f"/v1/invoices/{acme_id}", params={"format": "csv"}).status_code == 404

    window = {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}
    usage = expect(acme.get("/v1/usage", params=window), 200)
    assert [u["lease_id"] for u in usage["leases"]] == ["acme-lease"]
    assert usage["leases"][0]["shortfall_gpu_seconds"] == 10 * 8 * 3600
    assert usage["leases"][0]["promised_gpu_hours"] == 8 * 744
    assert [t["tenant"] for t in usage["tokens"]] == ["acme"]
    assert {u["tenant"] for u in expect(op.get("/v1/usage", params=window), 200)["leases"]} == {
        "acme", "beta"}  # fmt: skip
    only_beta = expect(op.get("/v1/usage", params={**window, "tenant": "beta"}), 200)
    assert {u["tenant"] for u in only_beta["leases"]} == {"beta"}
    assert error_of(beta.get("/v1/usage", params={**window, "tenant": "acme"}), 404)
    # Dates without a zone are UTC; `to` defaults to the end of `from`'s month.
    by_date = expect(acme.get("/v1/usage", params={"from": "2026-01-01"}), 200)
    assert by_date["leases"] == usage["leases"]
    assert by_date["to"].startswith("2026-02-01T00:00:00")


def test_an_invoice_as_json_csv_and_html(billed: dict[str, httpx.Client]) -> None:
    acme = billed["acme"]
    invoice_id = expect(acme.get("/v1/invoices"), 200)["items"][0]["id"]
    invoice = expect(acme.get(f"/v1/invoices/{invoice_id}"), 200)
    assert invoice["total_micros"] == sum(line["amount_micros"] for line in invoice["lines"])
    assert invoice["total_micros"] == invoice["charges_micros"] - invoice["credits_micros"]
    kinds = [line["kind"] for line in invoice["lines"]]
    assert kinds == ["gpu_reserved", "sla_credit", "tokens"]  # 80 GPU-hours short of 5,952: 30%
    assert invoice["lines"][0]["usage"] == {
        "table": "lease_usage_hours", "lease_id": "acme-lease", "from": "2026-01-01T00:00:00+00:00",
        "to": "2026-02-01T00:00:00+00:00", "rows": 744}  # fmt: skip
    assert all(line["ledger_key"].startswith("2026-01:") for line in invoice["lines"])

    for response in (acme.get(f"/v1/invoices/{invoice_id}", headers={"Accept": "text/csv"}),
                     acme.get(f"/v1/invoices/{invoice_id}", params={"format": "csv"})):  # fmt: skip
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert [r["kind"] for r in rows if r["line"]] == kinds
        total = next(r for r in rows if r["kind"] == "total")["amount_usd"]
        assert round(float(total) * 10**6) == invoice["total_micros"]

    page = acme.get(f"/v1/invoices/{invoice_id}", params={"format": "html"})
    assert page.headers["content-type"].startswith("text/html")
    assert f"Invoice {invoice_id}" in page.text
    assert "acme-lease" in page.text


def test_operator_sets_credit_tiers_and_reconciles(billed: dict[str, httpx.Client]) -> None:
    op, acme = billed["operator"], billed["acme"]
    default = expect(acme.get("/v1/leases/acme-lease/credit-tiers"), 200)
    assert default["default"] is True
    assert [t["below_percent"] for t in default["tiers"]] == [99.5, 99.0, 95.0]
    body = {"tiers": [{"below_percent": 99.95, "credit_percent": 25}]}
    error_of(acme.put("/v1/leases/acme-lease/credit-tiers", json=body), 403)
    own = expect(op.put("/v1/leases/acme-lease/credit-tiers", json=body), 200)
    assert own == {"lease_id": "acme-lease", "default": False,
                   "tiers": [{"below_percent": 99.95, "credit_percent": 25.0}]}  # fmt: skip
    assert expect(acme.get("/v1/leases/acme-lease/credit-tiers"), 200) == own
    restored = expect(op.put("/v1/leases/acme-lease/credit-tiers", json={"tiers": None}), 200)
    assert restored["default"] is True

    report = expect(op.get("/v1/billing/reconcile"), 200)
    assert report["ledger_matches_invoices"] is True
    assert [m["month"] for m in report["months"]] == ["2026-01"]
    error_of(acme.get("/v1/billing/reconcile"), 403)


def test_bad_billing_input_is_a_422_naming_the_field(billed: dict[str, httpx.Client]) -> None:
    op = billed["operator"]
    assert issue_paths(op.post("/v1/billing/close-month", json={"month": "2026-13"})) == ["month"]
    assert issue_paths(op.post("/v1/billing/close-month", json={"month": "2999-01"})) == ["month"]
    assert issue_paths(op.post("/v1/billing/close-month", json={})) == ["month"]
    backwards = {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    assert issue_paths(op.get("/v1/usage", params=backwards)) == ["to"]
    assert issue_paths(op.get("/v1/invoices", params={"month": "January"})) == ["month"]
    fine = {"tiers": [{"below_percent": 99.12345, "credit_percent": 10}]}
    assert issue_paths(op.put("/v1/leases/acme-lease/credit-tiers", json=fine)) == [
        "tiers[0].below_percent"]  # fmt: skip
    above = {"tiers": [{"below_percent": 101, "credit_percent": 10}]}
    assert op.put("/v1/leases/acme-lease/credit-tiers", json=above).status_code == 422
    error_of(op.put("/v1/leases/nope/credit-tiers", json={"tiers": []}), 404)
    again = expect(op.post("/v1/billing/close-month", json={"month": "2026-01"}), 200)
    assert again["already_closed"] is True


def test_late_usage_is_adjusted_over_http_and_each_tenant_sees_its_own(
    live_server: LiveServer, billed: dict[str, httpx.Client]
) -> None:
    op, acme, beta = billed["operator"], billed["acme"], billed["beta"]
    mine = expect(acme.get("/v1/invoices"), 200)["items"]
    (base,) = [i["id"] for i in mine]
    assert error_of(acme.post("/v1/billing/adjust", params={"month": "2026-01"}), 403)
    assert error_of(op.post("/v1/billing/adjust", params={"month": "2026-02"}), 409)
    assert issue_paths(op.post("/v1/billing/adjust", params={"month": "26-1"})) == ["month"]
    # A gateway meter flushes late: one more request of acme's in January.
    acme_id = _tenant_id(live_server, "acme")
    add_tokens(live_server.db, [Tokens(acme_id, "llama", 1000, 10, 150_000, 600_000,
                                       datetime(2026, 1, 30, tzinfo=UTC))])  # fmt: skip
    done = expect(op.post("/v1/billing/adjust", params={"month": "2026-01"}), 200)["months"]
    assert done[0]["invoice_ids"] == [f"{base}-A1"]
    assert done[0]["total_micros"] == (1000 * 150_000 + 10 * 600_000) // 10**6  # 156, exact
    assert expect(op.post("/v1/billing/adjust"), 200)["months"][0]["invoice_ids"] == []
    adjustment = expect(acme.get(f"/v1/invoices/{base}-A1"), 200)
    assert (adjustment["adjustment"], adjustment["adjusts"]) == (1, base)
    assert adjustment["lines"][0]["usage"]["rows"] == 1
    assert [i["id"] for i in expect(acme.get("/v1/invoices"), 200)["items"]] == [base, f"{base}-A1"]
    assert [i["adjustment"] for i in expect(beta.get("/v1/invoices"), 200)["items"]] == [0]
    foreign = error_of(beta.get(f"/v1/invoices/{base}-A1"), 404)
    missing = error_of(beta.get(f"/v1/invoices/{base}-A9"), 404)
    assert foreign["message"].replace("A1", "A9") == missing["message"]


def _tenant_id(live_server: LiveServer, name: str) -> int:
    with live_server.db.read() as conn:
        found = access_repo.tenant_by_name(conn, name)
    assert found is not None
    return int(found.id)
