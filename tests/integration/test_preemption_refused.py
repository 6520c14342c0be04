"""A firm request that reclaiming every eligible interruptible hold would not place: refused
with the engine's reason, nothing written, and the process keeps its engine exactly as
stored (the victims the attempt released in memory are put back) instead of dropping it and
rebuilding it for the next decision, which takes seconds on a large fleet."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gpufleet.adapters.db.tables import events as events_table
from gpufleet.adapters.db.tables import leases
from gpufleet.domain.errors import Conflict
from gpufleet.placement import HOUR, Placement, Request, seconds
from gpufleet.planning.scenario import parse_scenario
from gpufleet.planning.scenario.model import RentalTerms
from gpufleet.services import fleet, rentals
from gpufleet.services.database import Database
from gpufleet.services.placement import PlacementCache, placement_session, read_placer
from tests.conftest import Actor, make_tenant
from tests.integration.test_placement_incremental_reload import NOW, SCENARIO, _snapshot
from tests.unit.test_placement_oracle import check_index, check_invariants


def _fill(db: Database, cache: PlacementCache) -> None:
    """Each H100 pod (4 blocks of 16 GPUs, one a spare): two blocks of firm training, and the
    third block's 16 GPUs under lab experiments, which any firm request may reclaim."""
    start = seconds(NOW)
    end = start + 30 * 24 * HOUR
    with placement_session(db, cache) as s:
        jobs = [Request.training(f"train-{i}", "H100", 32, start, end) for i in range(3)]
        jobs += [Request.experiment(f"exp-{i}", "H100", 8, start, end) for i in range(6)]
        for job in jobs:
            assert isinstance(s.placer.place(job), Placement)
        s.save([job.holder for job in jobs])


def _count(db: Database, query: object) -> int:
    with db.read() as conn:
        return int(conn.execute(query).scalar_one())  # type: ignore[call-overload]


def test_a_preemption_that_cannot_free_enough_keeps_the_engine(
    db: Database, operator: Actor
) -> None:
    db.clock = lambda: NOW
    fleet.import_scenario(db, operator.principal, parse_scenario(SCENARIO))
    cache = PlacementCache()
    _fill(db, cache)
    # 32 GPUs in one pod: the 48 reclaimable GPUs are enough in number, but 16 per pod.
    terms = RentalTerms.model_validate({
        "gpu_model": "H100", "gpus": 32, "start": "2027-01-10", "end": "2027-01-20",
        "price_per_gpu_hour": 3.0, "contiguous": True,
    })  # fmt: skip
    request = rentals.submit_request(db, make_tenant(db, operator, "acme").principal, terms)
    before = _snapshot(read_placer(db, cache))
    rebuilds, reloads = cache.rebuilds, cache.reloads

    with pytest.raises(Conflict) as refused:
        rentals.accept_request(db, operator.principal, request.id, cache)

    assert "reclaiming all 6 interruptible hold(s)" in refused.value.message
    assert request.id in refused.value.message
    assert [i.message for i in refused.value.issues] == ["not_enough_capacity"]
    assert cache.placer is not None  # kept: not dropped for a rebuild
    kept = read_placer(db, cache)
    assert (cache.rebuilds, cache.reloads) == (rebuilds, reloads)
    assert _snapshot(kept) == before == _snapshot(read_placer(db, PlacementCache()))
    check_index(kept)
    check_invariants(kept)
    assert _count(db, select(func.count()).select_from(leases)) == 0
    notices = select(func.count()).where(events_table.c.kind == "lease.preemption_notice")
    assert _count(db, notices) == 0
    got = rentals.get_rental(db, operator.principal, "request", request.id)
    assert got.status == "pending"
