"""Applying a plan books the internal programs' allocations, best effort, on both databases:
gang-placed in whole blocks, what does not fit reported short, re-applying keeps the holds,
a newer plan's programs replace an earlier plan's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from gpufleet.adapters.db.tables import events
from gpufleet.adapters.db.tables_placement import node_assignments, placement_holds
from gpufleet.api.schemas.operations import OpsStatusOut
from gpufleet.domain.errors import InvalidInput
from gpufleet.operations import Reliability
from gpufleet.placement import INTERNAL, HoldKind
from gpufleet.planning.scenario import load_scenario_file, parse_scenario
from gpufleet.services import fleet, operations, plans
from gpufleet.services.database import Database
from gpufleet.services.operations import AdvanceOptions, advance
from gpufleet.services.placement import read_placer
from tests.conftest import EXAMPLES, Actor

NOW = datetime(2027, 1, 4, tzinfo=UTC)
TEN_WEEKS = timedelta(weeks=10)


def _planned(db: Database, operator: Actor, **options: Any) -> str:
    job = plans.submit_plan(db, operator.principal, {"gap": 0.0, **options})
    plans.run_plan(db, job.id)
    return job.id


def _small(db: Database, operator: Actor) -> str:
    db.clock = lambda: NOW  # type: ignore[method-assign]
    fleet.import_scenario(db, operator.principal, load_scenario_file(EXAMPLES / "small.yaml"))
    return _planned(db, operator, force_reject=["rfq-3"])  # 1,152 GB200 in one pod: no room


def _tiny(db: Database, operator: Actor, lease_end: str) -> None:
    """Four H100 nodes (one kept spare), a program wanting 16 GPUs and a 16-GPU lease from
    the horizon's start to `lease_end`: the program gets 8 GPUs while the lease runs."""
    db.clock = lambda: NOW  # type: ignore[method-assign]
    scenario = parse_scenario({
        "version": 1, "name": "tiny", "horizon": {"start": "2027-01-04", "period": "week",
                                                  "periods": 4},
        "gpu_models": [{"name": "H100"}],
        "clusters": [{"name": "t", "gpu_model": "H100", "gpus_per_node": 8,
                      "nodes_per_block": 1, "blocks_per_pod": 4, "pods": 1}],
        "programs": [{"name": "serve", "kind": "inference", "gpu_models": ["H100"],
                      "gpus": 16}],
        "rental_requests": [{"id": "rfq-a", "customer": "a", "gpu_model": "H100", "gpus": 16,
                             "start": "2027-01-04", "end": lease_end,
                             "price_per_gpu_hour": 3.0}],
    })  # fmt: skip
    fleet.import_scenario(db, operator.principal, scenario)


def _rows(db: Database, query: Any) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(query))


def test_apply_books_each_programs_allocation_as_whole_blocks_and_reports_the_rest(
    db: Database, operator: Actor
) -> None:
    plan_id = _small(db, operator)

    applied = plans.apply_plan(db, operator.principal, plan_id, program_lookahead=TEN_WEEKS)

    holds = {h.program: h for h in applied.programs.holds}
    assert set(holds) == {"chat-api", "model-v2"}  # inference and training alike
    chat, train = holds["chat-api"], holds["model-v2"]
    assert (chat.wanted, chat.placed, chat.first_period) == (1024, 1024, 0)  # steady: one hold
    assert chat.end - chat.start == TEN_WEEKS
    assert train.first_period == 4
    assert train.start == datetime(2027, 2, 1, tzinfo=UTC)
    # The planner counts every GB200 GPU; the engine keeps one rack of each pod spare.
    assert 0 < train.placed < train.wanted
    assert train.placed % 72 == 0  # whole NVL72 blocks
    assert train.reason is not None
    assert "free" in train.reason
    assert applied.programs.later_periods > 0  # periods after the ten weeks wait

    placer = read_placer(db)
    for h in (chat, train):
        hold = placer.hold(h.holder)
        assert hold.request.tenant == INTERNAL
        assert hold.request.kind == HoldKind.TRAINING
        assert sum(a.gpus for a in hold.assignments()) == h.placed
    blocks = {placer.topology.block_of(a.node) for a in placer.hold(train.holder).assignments()}
    assert len(blocks) * 72 == train.placed  # gang-placed in whole blocks, nothing shared
    stored = _rows(db, select(node_assignments.c.gpus).where(
        node_assignments.c.holder == train.holder))  # fmt: skip
    assert sum(g for (g,) in stored) == train.placed
    [told] = _rows(db, select(events.c.data, events.c.tenant_id).where(
        events.c.kind == "plan.programs_placed"))  # fmt: skip
    assert told.tenant_id is None  # the operator's
    assert told.data["placed_gpus"] == chat.placed + train.placed
    assert [(s["program"], s["short_gpus"]) for s in told.data["short"]] == [
        ("model-v2", train.wanted - train.placed)]  # fmt: skip

    again = plans.apply_plan(db, operator.principal, plan_id, program_lookahead=TEN_WEEKS)
    assert [(h.holder, h.placed) for h in again.programs.holds] == [
        (h.holder, h.placed) for h in applied.programs.holds]  # fmt: skip
    assert len(_rows(db, select(placement_holds.c.holder))) == len(applied.accepted) + 2


def test_a_newer_plans_programs_replace_the_earlier_plans(db: Database, operator: Actor) -> None:
    first = _small(db, operator)
    booked = plans.apply_plan(db, operator.principal, first, program_lookahead=TEN_WEEKS)
    second = _planned(db, operator)

    applied = plans.apply_plan(db, operator.principal, second, program_lookahead=TEN_WEEKS)

    old = {h.holder for h in booked.programs.holds if h.placed}
    assert set(applied.programs.released) == old
    placer = read_placer(db)
    now = int(NOW.timestamp())
    for holder in old:
        hold = placer.hold(holder)
        assert hold.end == max(hold.request.start, now)  # nothing of it from now on
        assert all(a.end <= hold.end for a in hold.assignments())
    assert {h.program for h in applied.programs.holds if h.placed} == {"chat-api", "model-v2"}

    back = plans.apply_plan(db, operator.principal, first, program_lookahead=TEN_WEEKS)
    newer = {h.holder for h in applied.programs.holds if h.placed}
    assert set(back.programs.released) == newer  # the first plan is the latest applied again
    rebooked = {h.holder for h in back.programs.holds if h.placed}
    assert rebooked == {f"{holder}~2" for holder in old}  # its released holds stay as history
    assert sum(h.placed for h in back.programs.holds) == sum(
        h.placed for h in booked.programs.holds)  # fmt: skip

    same = plans.apply_plan(db, operator.principal, first, program_lookahead=TEN_WEEKS)
    kept = [(h.holder, h.placed) for h in same.programs.holds]
    assert kept == [(h.holder, h.placed) for h in back.programs.holds]  # the ~2s, not a ~3
    assert same.programs.released == []  # the second plan's holds were released already


def test_applying_again_with_more_program_days_books_each_run_once(
    db: Database, operator: Actor
) -> None:
    plan_id = _small(db, operator)
    short = plans.apply_plan(db, operator.principal, plan_id, program_lookahead=timedelta(days=14))
    [chat] = short.programs.holds  # chat-api's first two weeks

    longer = plans.apply_plan(db, operator.principal, plan_id, program_lookahead=TEN_WEEKS)

    assert chat.holder in longer.programs.released  # its two weeks are booked anew, longer
    [again] = [h for h in longer.programs.holds if h.program == "chat-api"]
    assert (again.holder, again.placed) == (f"{chat.holder}~2", chat.wanted)
    placer = read_placer(db)
    now = int(NOW.timestamp())
    held = [hold.request.gpus for holder, hold in placer.bookings.holds.items()
            if holder.startswith(chat.holder) and hold.end > now]  # fmt: skip
    assert held == [chat.wanted]  # one booking of the program, not two side by side


def test_programs_that_do_not_fit_are_short_and_the_contracts_still_placed(
    db: Database, operator: Actor
) -> None:
    _tiny(db, operator, lease_end="2027-02-01")
    plan_id = _planned(db, operator)

    applied = plans.apply_plan(db, operator.principal, plan_id)

    assert [a.request_id for a in applied.accepted] == ["rfq-a"]  # contracts first, all of them
    [serve] = applied.programs.holds  # 32 GPUs, one node spare, 16 leased: 8 left of 16
    assert (serve.wanted, serve.placed, serve.short) == (16, 8, 8)
    assert serve.reason is not None
    with pytest.raises(InvalidInput) as bad:
        plans.apply_plan(db, operator.principal, plan_id, program_lookahead=timedelta(days=-1))
    assert [i.path for i in bad.value.issues] == ["program_days"]


def test_the_simulation_keeps_the_programs_holds_through_failures(
    db: Database, operator: Actor
) -> None:
    plan_id = _small(db, operator)
    applied = plans.apply_plan(db, operator.principal, plan_id)
    [chat] = [h for h in applied.programs.holds if h.placed]  # model-v2 starts in February
    flaky = Reliability(failures_per_gpu_hour=0.002, repair_median_hours=6.0)

    options = AdvanceOptions(NOW + timedelta(days=3), seed=3, reliability=flaky,
                             experiments=False)  # fmt: skip
    done = advance(db, operator.principal, options)

    assert done.totals["failures"] > 50
    hold = read_placer(db).hold(chat.holder)
    hit = {a.node for a in hold.assignments() if a.end < hold.end}
    assert hit  # some of its nodes failed and were replaced (or it is short)
    d = hold.delivery()
    assert d.promised == d.delivered + d.shortfall
    told = _rows(db, select(events.c.kind, events.c.tenant_id).where(
        events.c.subject == chat.holder))  # fmt: skip
    assert told
    assert all(tenant is None for _, tenant in told)  # the lab's holds: the operator's events


def _quiet_until(until: datetime) -> AdvanceOptions:
    return AdvanceOptions(until, seed=1, reliability=Reliability(0.0), experiments=False)


def test_the_daily_chunks_book_a_short_program_as_capacity_frees(
    db: Database, operator: Actor
) -> None:
    _tiny(db, operator, lease_end="2027-01-18")
    applied = plans.apply_plan(db, operator.principal, _planned(db, operator))
    [serve] = applied.programs.holds  # 32 GPUs, one node spare, 16 leased to the 18th
    assert (serve.placed, serve.short) == (8, 8)
    booked_end = serve.end

    early = advance(db, operator.principal, _quiet_until(datetime(2027, 1, 10, tzinfo=UTC)))
    assert early.totals["program_gpus_recovered"] == 0  # the lease holds the rest until the 18th
    done = advance(db, operator.principal, _quiet_until(datetime(2027, 1, 20, tzinfo=UTC)))

    assert done.totals["program_gpus_recovered"] == 8
    placer = read_placer(db)
    extra = placer.hold(f"{serve.holder}+1")
    assert extra.request.gpus == 8
    assert extra.request.kind == HoldKind.TRAINING
    assert extra.request.start == int(datetime(2027, 1, 18, tzinfo=UTC).timestamp())
    assert extra.request.end == int(booked_end.timestamp())  # within the window booked
    [told] = _rows(db, select(events.c.subject, events.c.data, events.c.at).where(
        events.c.kind == "plan.programs_retried"))  # fmt: skip
    assert told.subject == applied.plan_id
    assert told.data["recovered_gpus"] == 8
    assert told.data["still_short_gpus"] == 0
    again = advance(db, operator.principal, _quiet_until(datetime(2027, 1, 25, tzinfo=UTC)))
    assert again.totals["program_gpus_recovered"] == 8  # found once, not asked again
    shown = OpsStatusOut.of(operations.status(db, operator.principal))  # what the API answers
    assert shown.totals.program_gpus_recovered == 8


def test_reapplying_a_plan_later_keeps_its_holds_and_counts_the_retried_parts(
    db: Database, operator: Actor
) -> None:
    _tiny(db, operator, lease_end="2027-01-18")
    plan_id = _planned(db, operator)
    [serve] = plans.apply_plan(db, operator.principal, plan_id).programs.holds
    advance(db, operator.principal, _quiet_until(datetime(2027, 1, 20, tzinfo=UTC)))  # +8 GPUs

    # The first two weeks are over: the same run (periods 0-3) is kept, not booked again
    # as a new run of periods 2-3, and what the retry found counts as placed.
    [kept] = plans.apply_plan(db, operator.principal, plan_id).programs.holds
    assert (kept.holder, kept.first_period, kept.placed, kept.short) == (serve.holder, 0, 16, 0)
    placer = read_placer(db)
    ours = {h for h, hold in placer.bookings.holds.items() if h.startswith(plan_id)}
    assert ours == {serve.holder, f"{serve.holder}+1"}
    later = advance(db, operator.principal, _quiet_until(datetime(2027, 1, 22, tzinfo=UTC)))
    assert later.totals["program_gpus_recovered"] == 8  # nothing asked again
