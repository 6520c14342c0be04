"""Random usage, closed month after month: every invoice equals the recomputation from the
rows (hypothesis chooses leases, classes, prices, hours, shortfalls, tokens and tiers)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpufleet.adapters.db.repos import access as access_repo
from gpufleet.adapters.db.repos import billing as repo
from gpufleet.billing import CreditTier
from gpufleet.services import billing, billing_queries
from gpufleet.services.database import Database
from tests.conftest import Actor, make_operator, make_tenant
from tests.integration.billing_helpers import (
    Hour,
    Tokens,
    add_hours,
    add_lease,
    add_tokens,
    ensure_gpu_model,
    expected_totals,
)

_months = itertools.count()
_ids = itertools.count()

lease_strategy = st.fixed_dictionaries(
    {
        "tenant": st.integers(0, 2),
        "reserved": st.booleans(),
        "price": st.integers(1, 20_000_000),
        "gpus": st.integers(1, 4096),
        "hours": st.lists(
            st.tuples(st.integers(0, 671), st.integers(0, 10**6)),
            max_size=30,
            unique_by=lambda h: h[0],
        ),
        "tiers": st.none()
        | st.lists(
            st.tuples(st.integers(1, 1_000_000), st.integers(0, 1_000_000)),
            min_size=1,
            max_size=3,
            unique_by=lambda t: t[0],
        ),
    }
)
token_strategy = st.tuples(
    st.integers(0, 2),
    st.integers(0, 10**7),
    st.integers(0, 10**7),
    st.sampled_from([100_000, 150_001, 3_000_000]),
    st.integers(0, 10**4),
)


def _tenants(db: Database, operator: Actor) -> list[int]:
    """Three tenants, made by the first example (the database lives for all of them)."""
    with db.read() as conn:
        found = [access_repo.tenant_by_name(conn, f"tenant-{t}") for t in range(3)]
    if any(t is None for t in found):
        ensure_gpu_model(db)
        return [make_tenant(db, operator, f"tenant-{t}").principal.tenant_id or 0 for t in range(3)]
    return [t.id for t in found if t is not None]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(lease_strategy, min_size=1, max_size=6), st.lists(token_strategy, max_size=10))
def test_random_months_bill_exactly_what_the_rows_say(
    sqlite_db: Database, leases: list[dict[str, Any]], tokens: list[tuple[int, ...]]
) -> None:
    db = sqlite_db
    k = next(_months)
    year, month = 2000 + k // 12, k % 12 + 1
    start = datetime(year, month, 1, tzinfo=UTC)
    operator = make_operator(db)
    tenant_ids = _tenants(db, operator)
    rows, records, contract = [], {}, {}
    for spec in leases:
        lease_id = f"lease-{next(_ids)}"
        tenant_id = tenant_ids[spec["tenant"]]
        records[lease_id] = add_lease(
            db,
            tenant_id,
            f"tenant-{spec['tenant']}",
            lease_id,
            rental_class="reserved" if spec["reserved"] else "interruptible",
            price_micros=spec["price"],
            gpus=spec["gpus"],
            start=start,
        )
        promised = spec["gpus"] * 3600
        rows += [
            Hour(
                lease_id,
                tenant_id,
                start + timedelta(hours=h),
                promised,
                promised - min(lost, promised),
            )
            for h, lost in spec["hours"]
        ]
        tiers = [CreditTier(b, c) for b, c in spec["tiers"] or []]
        if tiers and spec["reserved"]:
            tiers = sorted(tiers, reverse=True)
            tiers = [
                CreditTier(t.below_ppm, max(u.credit_ppm for u in tiers[: i + 1]))
                for i, t in enumerate(tiers)
            ]  # a usable (monotone) list
            billing_queries.set_tiers(db, operator.principal, lease_id, tiers)
            contract[lease_id] = [
                (Fraction(t.below_ppm, 10**6), Fraction(t.credit_ppm, 10**6)) for t in tiers
            ]
    requests = [
        Tokens(tenant_ids[t], "m", i, o, p, 2 * p, start + timedelta(minutes=m))
        for t, i, o, p, m in tokens
    ]
    add_hours(db, rows)
    add_tokens(db, requests)

    billing.close_month(db, operator.principal, f"{year:04d}-{month:02d}")

    want = expected_totals(rows, requests, records, (year, month), contract)
    with db.read() as conn:
        found = repo.invoice_page(
            conn, tenant_id=None, month=f"{year:04d}-{month:02d}", after=None, limit=10
        )
    assert {i.tenant_id: (i.totals.charges_micros, i.totals.credits_micros) for i in found} == want
