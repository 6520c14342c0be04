"""Billing the usage the operations simulator metered: the simulated cluster (with node
failures) writes lease_usage_hours, the close turns them into invoices that equal a
recomputation from those rows, and the demo's billing act prints them."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

from gpufleet.cli.demo_billing import run_billing_demo, show_billing
from gpufleet.cli.output import console
from gpufleet.operations import Reliability, Simulator, hourly_usage
from gpufleet.placement import Placer, Request, Topology, seconds
from gpufleet.planning.scenario import load_scenario_file
from gpufleet.services import billing, billing_queries, fleet, rentals
from gpufleet.services.database import Database
from gpufleet.services.operations import AdvanceOptions, advance
from tests.conftest import EXAMPLES, Actor
from tests.integration.billing_helpers import DEFAULT, expected_totals, half_down, stored_usage

START = datetime(2027, 1, 4, tzinfo=UTC)
FEB = datetime(2027, 2, 1, tzinfo=UTC)
# Failing often and repaired slowly, so that spares run out and leases fall short.
FLAKY = Reliability(failures_per_gpu_hour=0.005, repair_median_hours=72.0)


def test_simulated_weeks_become_the_first_months_invoices(db: Database, operator: Actor) -> None:
    db.clock = lambda: START  # type: ignore[method-assign]
    fleet.import_scenario(db, operator.principal, load_scenario_file(EXAMPLES / "small.yaml"))
    rentals.accept_request(db, operator.principal, "rfq-2")  # interruptible from 01-11
    weeks = AdvanceOptions(
        datetime(2027, 2, 2, tzinfo=UTC), seed=3, reliability=FLAKY, experiments=False
    )
    advance(db, operator.principal, weeks)

    with console.capture() as printed:
        demo = run_billing_demo(db, operator.principal)
        show_billing(demo)
    assert demo.month == "2027-01"
    assert demo.invoices
    assert "2027-01 closed" in printed.get()

    hours, leases = stored_usage(db)
    assert any(h.delivered < h.promised for h in hours), "failures should cost some GPU-hours"
    want = expected_totals(hours, [], leases, (2027, 1))
    got = {i.id: (i.charges_micros, i.credits_micros) for i in demo.invoices}
    assert sorted(got.values()) == sorted(want.values())
    billed = {line.lease_id for i in demo.invoices for line in i.lines}
    assert billed == {h.lease_id for h in hours if h.hour_start < FEB}


def test_a_reserved_lease_short_of_gpus_gets_its_credit(db: Database, operator: Actor) -> None:
    db.clock = lambda: START  # type: ignore[method-assign]
    fleet.import_scenario(db, operator.principal, load_scenario_file(EXAMPLES / "small.yaml"))
    for request_id in ("rfq-2", "rfq-1"):  # interruptible from 01-11, reserved from 02-01
        rentals.accept_request(db, operator.principal, request_id)
    end = datetime(2027, 3, 1, tzinfo=UTC)
    advance(
        db, operator.principal, AdvanceOptions(end, seed=11, reliability=FLAKY, experiments=False)
    )
    db.clock = lambda: end  # type: ignore[method-assign]
    closed = billing.close_month(db, operator.principal, "2027-02")

    hours, leases = stored_usage(db)
    want = expected_totals(hours, [], leases, (2027, 2))
    invoices = [billing_queries.get_invoice(db, operator.principal, i) for i in closed.invoice_ids]
    assert {
        i.tenant_id: (i.totals.charges_micros, i.totals.credits_micros) for i in invoices
    } == want
    credits = [line for i in invoices for line in i.lines if line.kind == "sla_credit"]
    assert [line.lease_id for line in credits] == [
        line.lease_id for i in invoices for line in i.lines if line.kind == "gpu_reserved"
    ]  # rfq-1's lease lost GPUs to failures all month: it earns its credit


def test_the_demo_bills_usage_simulated_in_memory(db: Database, operator: Actor) -> None:
    """As `gpufleet demo` does: the contracts simulated in memory (no server), the plan's
    accepted request signed through the real service, their hourly usage handed to billing."""
    scenario = load_scenario_file(EXAMPLES / "small.yaml")
    db.clock = lambda: START  # type: ignore[method-assign]
    fleet.import_scenario(db, operator.principal, scenario)
    placer = Placer(Topology(scenario.clusters), spare_share=0.02, clock=seconds(START))
    contracts = [*scenario.leases, next(r for r in scenario.rental_requests if r.id == "rfq-2")]
    for k, contract in enumerate(contracts):
        placer.place(Request.lease(contract.id, k + 1, contract))
    begin, end = (
        seconds(datetime(2027, 1, 18, tzinfo=UTC)),
        seconds(datetime(2027, 2, 1, tzinfo=UTC)),
    )
    placer.advance(begin)
    Simulator(placer, seed=4, reliability=FLAKY).run(end)
    usage = hourly_usage(placer, begin, end)
    assert {u.holder for u in usage} == {"lease-1", "rfq-2"}

    demo = run_billing_demo(db, operator.principal, usage, ["rfq-2", "rfq-gone"])

    assert demo.month == "2027-01"
    assert "1 accepted requests signed here, 1 not placeable" in demo.note
    assert "no lease here" not in demo.note
    by_tenant = {i.tenant: i for i in demo.invoices}
    assert set(by_tenant) == {"acme-ai", "beta-labs"}  # lease-1, and rfq-2 signed as a lease
    assert [line.kind for line in by_tenant["beta-labs"].lines] == ["gpu_interruptible"]
    beta_hours = [u for u in usage if u.holder == "rfq-2"]
    beta_price = next(r for r in scenario.rental_requests if r.id == "rfq-2").price_per_gpu_hour
    assert by_tenant["beta-labs"].charges_micros == half_down(
        sum(u.delivered for u in beta_hours) * Fraction(str(beta_price)) * 10**6 / 3600
    )
    invoice = by_tenant["acme-ai"]
    assert [line.lease_id for line in invoice.lines if line.kind == "gpu_reserved"] == ["lease-1"]
    lease_hours = [u for u in usage if u.holder == "lease-1"]
    promised = sum(u.promised for u in lease_hours)
    delivered = sum(u.delivered for u in lease_hours)
    price = next(c for c in scenario.leases if c.id == "lease-1").price_per_gpu_hour
    charge = half_down(Fraction(promised) * Fraction(str(price)) * 10**6 / 3600)
    credit = half_down(charge * tier_share(Fraction(delivered, promised)))
    assert (invoice.charges_micros, invoice.credits_micros) == (charge, credit)
    again = run_billing_demo(db, operator.principal, usage)  # the rows and the month, once
    assert [i.model_dump() for i in again.invoices] == [i.model_dump() for i in demo.invoices]


def tier_share(availability: Fraction) -> Fraction:
    for below, share in sorted(DEFAULT):
        if availability < below:
            return share
    return Fraction(0)
