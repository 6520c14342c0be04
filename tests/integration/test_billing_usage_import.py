"""The importer of metered lease usage on both databases: checked whole, stored once, the
lease deciding tenant and model, and hours of a closed month named for `billing adjust`."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, select

from gpufleet.adapters.db.tables_operations import lease_usage_hours
from gpufleet.domain.errors import Forbidden, InvalidInput
from gpufleet.domain.timeutil import to_utc
from gpufleet.services import billing, billing_adjust
from gpufleet.services.billing_usage import MeteredHour, UsageImport, import_lease_usage
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


def test_an_hour_given_twice_is_refused_naming_both(
    db: Database, operator: Actor, acme: Actor
) -> None:
    # Two readings of one lease's hour: which one to bill is the meter's to say, not ours.
    hours = [
        MeteredHour("acme-r1", JAN, 28_800, 28_800, 0),
        MeteredHour("acme-r1", JAN + timedelta(hours=1), 28_800, 28_800, 0),
        MeteredHour("acme-r1", JAN, 28_800, 20_000, 8_800),
    ]
    with pytest.raises(InvalidInput) as refused:
        import_lease_usage(db, operator.principal, hours)
    (issue,) = refused.value.issues
    assert issue.path == "hours[2]"
    assert "hours[0]" in issue.message
    assert _rows(db) == 0  # nothing half-written


def test_an_hour_is_a_clock_hour_in_utc(db: Database, operator: Actor, acme: Actor) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    with pytest.raises(InvalidInput) as refused:  # 10:00 in India is 04:30 UTC
        import_lease_usage(
            db, operator.principal, [MeteredHour("acme-r1", datetime(2026, 1, 1, 10, tzinfo=india),
                                                 3600, 3600, 0)]
        )  # fmt: skip
    assert [i.path for i in refused.value.issues] == ["hours[0].hour_start"]
    paris = timezone(timedelta(hours=1))  # 01:00 in Paris is midnight UTC: a clock hour
    done = import_lease_usage(
        db, operator.principal, [MeteredHour("acme-r1", datetime(2026, 1, 1, 1, tzinfo=paris),
                                             3600, 3600, 0)]
    )  # fmt: skip
    assert done.written == 1
    with db.read() as conn:
        (stored,) = conn.execute(select(lease_usage_hours.c.hour_start)).scalars()
    assert to_utc(stored) == JAN


def test_a_concurrent_writer_of_the_same_hour_is_no_error(
    db: Database, operator: Actor, acme: Actor
) -> None:
    """Another writer holds the same (lease, hour) uncommitted: the importer waits for it and
    then counts the hour as stored, instead of failing on the key (a 500)."""
    assert acme.principal.tenant_id is not None
    results: list[object] = []

    def importer() -> None:
        try:
            results.append(import_lease_usage(db, operator.principal, [_HOUR]))
        except BaseException as exc:  # reported by the assertion below
            results.append(exc)

    thread = threading.Thread(target=importer)
    with db.write() as conn:
        conn.execute(insert(lease_usage_hours), [_row(acme.principal.tenant_id)])
        thread.start()
        time.sleep(0.5)  # the importer is waiting on this transaction's row (or lock)
    thread.join(30)
    (done,) = results
    assert isinstance(done, UsageImport), done
    assert (done.written, done.already_stored) == (0, 1)
    assert _rows(db) == 1


_HOUR = MeteredHour("acme-r1", JAN, 28_800, 28_800, 0)


def _row(tenant_id: int) -> dict[str, object]:
    return {"lease_id": "acme-r1", "hour_start": JAN, "tenant_id": tenant_id,
            "gpu_model": "H100", "promised_gpu_seconds": 28_800,
            "delivered_gpu_seconds": 28_800, "shortfall_gpu_seconds": 0}  # fmt: skip
