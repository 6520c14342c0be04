"""The importer of metered lease usage on both databases: checked whole, stored once, the
lease deciding tenant and model, and hours of a closed month named for `billing adjust`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from gpufleet.adapters.db.tables_operations import lease_usage_hours
from gpufleet.domain.errors import Forbidden, InvalidInput
from gpufleet.services import billing, billing_adjust
from gpufleet.services.billing_usage import MeteredHour, import_lease_usage
from gpufleet.services.database import Database
from tests.conftest import Actor, make_tenant
from tests.integration.billing_helpers import add_lease, ensure_gpu_model

JAN = datetime(2026, 1, 1, tzinfo=UTC)


def _rows(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(lease_usage_hours)).scalar_one())


@pytest.fixture
def acme(db: Database, operator: Actor) -> Actor:
    ensure_gpu_model(db)
    tenant = make_tenant(db, operator, "acme")
    assert tenant.principal.tenant_id is not None
    add_lease(db, tenant.principal.tenant_id, "acme", "acme-r1", gpus=8)
    return tenant


def test_hours_are_stored_once_and_unknown_holders_named(
    db: Database, operator: Actor, acme: Actor
) -> None:
    hours = [
        MeteredHour("acme-r1", JAN + timedelta(hours=h), 28_800, 28_000, 800) for h in range(3)
    ]
    hours.append(MeteredHour("rfq-nobody", JAN, 3600, 3600, 0))
    first = import_lease_usage(db, operator.principal, hours)
    assert (first.written, first.already_stored, first.unknown_holders) == (3, 0, ["rfq-nobody"])
    assert first.closed_months == []
    again = import_lease_usage(db, operator.principal, hours[:2])
    assert (again.written, again.already_stored) == (0, 2)
    with db.read() as conn:
        stored = conn.execute(select(lease_usage_hours)).all()
    assert {(r.tenant_id, r.gpu_model) for r in stored} == {(acme.principal.tenant_id, "H100")}
    assert sum(r.shortfall_gpu_seconds for r in stored) == 3 * 800


def test_bad_hours_are_refused_whole_naming_each(
    db: Database, operator: Actor, acme: Actor
) -> None:
    hours = [
        MeteredHour("acme-r1", JAN, 3600, 3600, 0),
        MeteredHour("acme-r1", JAN + timedelta(minutes=30), 3600, 3600, 0),
        MeteredHour("acme-r1", datetime(2026, 1, 2), 3600, 3600, 0),
        MeteredHour("acme-r1", JAN + timedelta(hours=5), 3600, 3000, 0),
        MeteredHour("acme-r1", JAN + timedelta(hours=6), 3600, 4000, -400),
    ]
    with pytest.raises(InvalidInput) as refused:
        import_lease_usage(db, operator.principal, hours)
    assert [i.path for i in refused.value.issues] == [
        "hours[1].hour_start",
        "hours[2].hour_start",
        "hours[3]",
        "hours[4]",
    ]
    assert _rows(db) == 0  # nothing half-written
    with pytest.raises(Forbidden):
        import_lease_usage(db, acme.principal, hours[:1])


def test_hours_of_a_closed_month_are_named_and_adjust_bills_them(
    db: Database, operator: Actor, acme: Actor
) -> None:
    import_lease_usage(db, operator.principal, [MeteredHour("acme-r1", JAN, 28_800, 28_800, 0)])
    billing.close_month(db, operator.principal, "2026-01")
    late = import_lease_usage(
        db,
        operator.principal,
        [MeteredHour("acme-r1", JAN + timedelta(hours=1), 28_800, 0, 28_800)],
    )
    assert late.closed_months == ["2026-01"]
    adjusted = billing_adjust.adjust_month(db, operator.principal, "2026-01")
    # The month now has 2 hours at 50% availability: 100% credit of both hours' charge, of
    # which the first (2.5 $/GPU-h × 8 GPU-h = $20) was billed without one.
    assert adjusted.total_micros == 20_000_000 - 40_000_000
