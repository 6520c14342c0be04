"""The simulated cluster on the database: advance the clock in chunks, each one placement
session (one transaction), and keep the operator's node changes going through the engine.

    advance(db, operator, AdvanceOptions(until, seed=7))   # synchronous; resumable
        # (both first place the leases recorded from a scenario, `place_recorded_leases`)
    start_advance(...) then run_advance(...)                # the API's background run
    status(db, operator)

Each chunk ends on a fixed grid (`chunk_hours` from the epoch) and draws its randomness from
(seed, chunk start), so a run cut short (a crash, a restart) goes on from the stored clock
and gives what one uninterrupted run would have. A chunk writes, in its transaction: the
holds it changed (the placement service's `save`), node states, events at their simulated
time, lease states, the lease hours that are over (`lease_usage_hours`, for billing), and
`ops_state`; the engine's clock moves with it. `until` is taken down to a whole hour so that
every hour of a lease is metered before the lease leaves the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from gpufleet.adapters.db.repos import billing as billing_repo
from gpufleet.adapters.db.repos import events as events_repo
from gpufleet.adapters.db.repos import fleet as fleet_repo
from gpufleet.adapters.db.repos import lease_placement as leases_repo
from gpufleet.adapters.db.repos import operations as repo
from gpufleet.adapters.db.repos import placement as placement_repo
from gpufleet.adapters.db.repos.placement import at
from gpufleet.domain.access import Principal
from gpufleet.domain.errors import Conflict, InvalidInput
from gpufleet.domain.events import NewEvent
from gpufleet.domain.fleet import NodeState
from gpufleet.domain.timeutil import parse_instant, to_utc
from gpufleet.operations import (
    Chunk,
    ExperimentSettings,
    ExperimentStream,
    Queued,
    Reliability,
    SimEvent,
    SimState,
    Simulator,
    Totals,
    busiest_model,
    experiment_trace,
    floor_hour,
    hourly_usage,
    online_windows,
)
from gpufleet.operations.healing import heal_with
from gpufleet.operations.tell import failure_events, healed_event, iso
from gpufleet.placement import HOUR, HoldKind, seconds, set_node_state
from gpufleet.services.database import Database
from gpufleet.services.leasing import place_recorded_leases
from gpufleet.services.placement import PlacementSession, placement_session
from gpufleet.services.placement_programs import retry_short_programs

MAX_SPAN = 400 * 24 * HOUR  # one run covers at most this much simulated time
STALE_RUN = timedelta(minutes=10)  # a 'running' row not touched for this long was abandoned
LEASE_STATES = {"lease.started": "active", "lease.ended": "ended", "lease.preempted": "preempted"}
Progress = Callable[["OpsStatus"], None]


@dataclass(frozen=True)
class AdvanceOptions:
    until: datetime
    seed: int = 0
    reliability: Reliability = field(default_factory=Reliability)
    experiments: bool = True
    experiment_copies: int = 1
    chunk_hours: int = 24

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.seed < 2**63:
            problems.append("seed must be in [0, 2^63)")
        if not 1 <= self.experiment_copies <= 64:
            problems.append("experiment_copies must be in [1, 64]")
        if not 1 <= self.chunk_hours <= 24 * 28:
            problems.append("chunk_hours must be in [1, 672]")
        if problems:
            raise InvalidInput("; ".join(problems))


@dataclass(frozen=True)
class OpsStatus:
    clock: datetime
    metered_until: datetime
    run_status: str
    run_until: datetime | None
    run_error: str | None
    totals: dict[str, Any]
    pending_repairs: int
    queued_experiments: int
    experiment_model: str | None
    experiment_trace: str | None  # the trace the runs replayed, as its label


def status(db: Database, caller: Principal) -> OpsStatus:
    """A plain read: never the placement lock (it would wait behind accepts and a running
    chunk) and never a write. Before the first run there is no `ops_state` row yet; the
    answer is then the not-started status, and the first write that needs the row makes it."""
    caller.require_operator()
    with db.read() as conn:
        state = placement_repo.read_state(conn)  # the engine's clock is the simulated one
        clock = state.clock if state.clock is not None else seconds(db.clock())
        return _status_of(clock, repo.read(conn) or _not_started(clock, db.clock(), None))


def advance(
    db: Database, caller: Principal, options: AdvanceOptions, progress: Progress | None = None
) -> OpsStatus:
    """Runs the simulation to `options.until` now, in this thread."""
    start_advance(db, caller, options)
    return run_advance(db, options, progress)


def start_advance(db: Database, caller: Principal, options: AdvanceOptions) -> OpsStatus:
    """Marks a run to `until` as started (Conflict if one is running); run it with
    `run_advance`."""
    caller.require_operator()
    with placement_session(db) as s:
        row = _row(s)
        fresh = s.now - row.updated_at < STALE_RUN
        if row.run_status == "running" and fresh:
            raise Conflict(
                f"a run to {row.run_until} is going on; wait for it (GET /v1/ops/status)"
            )
        until = to_utc(options.until)
        if floor_hour(seconds(until)) < s.clock:
            clock = at(s.clock).isoformat()
            raise InvalidInput(f"until ({until.isoformat()}) is before the simulated clock "
                               f"({clock}); the clock only moves forward")  # fmt: skip
        if floor_hour(seconds(until)) - s.clock > MAX_SPAN:
            days, clock = MAX_SPAN // (24 * HOUR), at(s.clock).isoformat()
            raise InvalidInput(f"until is more than {days} days after the simulated clock "
                               f"({clock}); advance in steps")  # fmt: skip
        # Leases recorded from a scenario are placed first, or the run would not see them;
        # one that does not fit is named in a `lease.unplaced` event and not retried here.
        place_recorded_leases(s, retry_refused=False)
        repo.change(s.conn, run_status="running", run_until=until, run_seed=options.seed,
                    run_error=None, updated_at=s.now)  # fmt: skip
        return _status(s, _row(s))


def run_advance(
    db: Database, options: AdvanceOptions, progress: Progress | None = None
) -> OpsStatus:
    until = floor_hour(seconds(to_utc(options.until)))
    step = options.chunk_hours * HOUR
    try:
        while True:
            with placement_session(db) as s:
                row = _row(s)
                if s.clock >= until:
                    repo.change(s.conn, run_status="idle", updated_at=s.now)
                    done = _status(s, _row(s))
                    break
                end = min(until, (s.clock // step + 1) * step)
                _run_chunk(s, row, options, end)
                current = _status(s, _row(s))
            if progress is not None:
                progress(current)
    except Exception as error:
        with db.write() as conn:
            repo.change(conn, run_status="failed", run_error=str(error)[:2000])
        raise
    if progress is not None:
        progress(done)
    return done


# -- one chunk --------------------------------------------------------------------------------
def _run_chunk(s: PlacementSession, row: repo.OpsRow, options: AdvanceOptions, end: int) -> None:
    conn, placer = s.conn, s.placer
    # A chunk that starts on the grid first asks again for the programs' short GPUs (only
    # there: a run cut short and resumed mid-chunk retries exactly when one run would).
    started = s.clock
    retried = retry_short_programs(s) if s.clock % (options.chunk_hours * HOUR) == 0 else None
    specs = fleet_repo.cluster_specs(conn)
    experiments, trace = None, None
    model, origin = row.experiment_model, seconds(row.experiments_origin)
    if options.experiments and model is None and specs:  # the fleet came after the first run
        model, origin = busiest_model(placer.topology, specs, s.clock), s.clock
        repo.change(conn, experiment_model=model, experiments_origin=at(origin))
    if options.experiments and model is not None:
        trace = experiment_trace()
        stream = ExperimentStream(trace.jobs, origin, copies=options.experiment_copies,
                                  seed=options.seed, period=trace.period)  # fmt: skip
        experiments = ExperimentSettings(stream, model)
        repo.change(conn, experiment_copies=options.experiment_copies)
    sim = Simulator(placer, seed=options.seed, reliability=options.reliability,
                    experiments=experiments, state=_sim_state(s, row.sim_state),
                    online=online_windows(placer.topology, specs))  # fmt: skip
    chunk = sim.run(end)
    recovered = {r.holder for r in retried.recovered} if retried else set()
    s.save(sorted(chunk.touched | recovered))
    if retried is not None and retried.recovered:
        news = [NewEvent("plan.programs_retried", str(retried.plan_id), None, retried.summary())]
        events_repo.append(conn, news, at(started))
    for node, state, when, reason in chunk.node_changes:
        fleet_repo.set_node_state(conn, s.node_id(node), state, reason, at(when))
    complete_preemptions(conn, chunk.events)
    append_events(conn, chunk.events)
    _lease_states(s, chunk)
    metered = seconds(row.metered_until)
    rows = [{"lease_id": u.holder, "hour_start": at(u.hour_start), "tenant_id": u.tenant,
             "gpu_model": u.gpu_model, "promised_gpu_seconds": u.promised,
             "delivered_gpu_seconds": u.delivered, "shortfall_gpu_seconds": u.shortfall}
            for u in hourly_usage(placer, metered, end)]  # fmt: skip
    billing_repo.add_metered_hours(conn, rows)  # an hour stored before stays as billed
    totals = Totals.from_dict(row.totals)
    totals.merge(chunk.totals)
    totals.program_gpus_recovered += retried.gpus if retried else 0
    repo.change(conn, metered_until=at(max(metered, floor_hour(end))), totals=totals.to_dict(),
                sim_state=_sim_state_json(s, sim.state, trace.label if trace else
                                          row.sim_state.get("trace")),
                updated_at=s.now)  # fmt: skip


def append_events(conn: Connection, news: Iterable[SimEvent]) -> None:
    """Simulation events at their simulated time; the lab's (tenant 0) are the operator's."""
    batch: list[NewEvent] = []
    when: int | None = None
    for e in news:
        if when is not None and e.at != when:
            events_repo.append(conn, batch, at(when))
            batch = []
        when = e.at
        batch.append(NewEvent(e.kind, e.subject, e.tenant or None, e.data))
    if batch and when is not None:
        events_repo.append(conn, batch, at(when))


def complete_preemptions(conn: Connection, news: list[SimEvent]) -> None:
    """Every `lease.preempted` says when its notice was given and how many hours before:
    the simulation knows the notices it gave itself; a notice from an accept or from the
    operator is read back from its `lease.preemption_notice` event, written at notice."""
    preempted = [e for e in news if e.kind == "lease.preempted"]
    missing = [e.subject for e in preempted if not e.data.get("notice_at")]
    recorded = leases_repo.first_notices(conn, missing)
    for e in preempted:
        text = e.data.get("notice_at") or recorded.get(e.subject)
        if text is None:
            e.data["notice_given_hours"] = None
            continue
        notice = seconds(parse_instant(str(text)))
        e.data["notice_at"] = iso(notice)  # one form, whichever wrote it
        e.data["notice_given_hours"] = round((e.at - notice) / HOUR, 3)


def _lease_states(s: PlacementSession, chunk: Chunk) -> None:
    for e in chunk.events:
        if (
            e.tenant is None
            or e.tenant == 0
            or s.placer.hold(e.subject).request.kind != HoldKind.LEASE
        ):
            continue
        if e.kind in LEASE_STATES:
            leases_repo.set_lease_state(s.conn, e.subject, state=LEASE_STATES[e.kind])
        _record_reclaim(s.conn, e)


def _record_reclaim(conn: Connection, e: SimEvent) -> None:
    """A lease's preemption notice sets its `reclaim_at`."""
    if e.kind == "lease.preemption_notice":
        reclaim = parse_instant(str(e.data["reclaim_at"]))
        leases_repo.set_lease_state(conn, e.subject, reclaim_at=reclaim)


# -- the ops_state row ------------------------------------------------------------------------
def _row(s: PlacementSession) -> repo.OpsRow:
    """The row, made by the first writer that needs it (inside its placement session)."""
    row = repo.read(s.conn)
    if row is not None:
        return row
    specs = fleet_repo.cluster_specs(s.conn)
    model = busiest_model(s.placer.topology, specs, s.clock) if specs else None
    row = _not_started(s.clock, s.now, model)
    repo.create(s.conn, row)
    return row


def _not_started(clock: int, now: datetime, model: str | None) -> repo.OpsRow:
    return repo.OpsRow(
        metered_until=at(floor_hour(clock)), experiments_origin=at(clock),
        experiment_model=model, experiment_copies=1, sim_state={}, totals=Totals().to_dict(),
        run_status="idle", run_until=None, run_seed=None, run_error=None, updated_at=now,
    )  # fmt: skip


def _sim_state(s: PlacementSession, data: dict[str, Any]) -> SimState:
    return SimState(
        repairs={s.node(int(node_id)): int(t) for node_id, t in data.get("repairs", {}).items()},
        queue=[
            Queued(str(q[0]), int(q[1]), int(q[2]), int(q[3]), int(q[4]))
            for q in data.get("queue", [])
        ],
        notices={str(k): int(v) for k, v in data.get("notices", {}).items()},
        short={str(h) for h in data.get("short", [])},
    )


def _sim_state_json(s: PlacementSession, state: SimState, trace: str | None) -> dict[str, Any]:
    return {
        "trace": trace,  # which experiment trace the runs replayed (its label)
        "repairs": {str(s.node_id(node)): t for node, t in state.repairs.items()},
        "queue": [[q.name, q.duration, q.gpus, q.since, q.tries] for q in state.queue],
        "notices": state.notices,
        "short": sorted(state.short),
    }


def operator_node_state(
    s: PlacementSession, node_id: int, state: NodeState, reason: str | None
) -> list[SimEvent]:
    """The operator's word on a node, through the engine at the simulated clock: DOWN and
    MAINTENANCE move its holds exactly as a failure does (replacement, notice or shortfall);
    UP gives the node to a hold still short of one, as a repair does. Written with their
    events; the simulation will no longer repair the node on its own. The caller writes
    `nodes.state` (and its own `node.state_changed` event)."""
    node = s.node(node_id)
    b = s.placer.bookings
    held = list(dict.fromkeys(b.hold_of(e).request.holder for e in b.calendar.entries(node)))
    outcome = set_node_state(s.placer, node, state, s.clock)
    row = _row(s)
    sim_state = dict(row.sim_state)
    short = set(sim_state.get("short", []))
    news: list[SimEvent] = []
    if state in (NodeState.DOWN, NodeState.MAINTENANCE):
        why = f"operator: {state.value}" + (f" ({reason})" if reason else "")
        news = failure_events(s.placer, outcome, None, held, why)[1:]  # node.state_changed says it
        short.update(x.holder for x in outcome.shortfalls)
    elif state is NodeState.UP:
        healed = heal_with(s.placer, node, s.clock, short)
        if healed is not None:
            held.append(healed.holder)
            news = [healed_event(s.placer, healed)] if healed.tenant else []
    s.save([*held, *(n.victim for n in outcome.notices)])
    append_events(s.conn, news)
    for e in news:
        _record_reclaim(s.conn, e)
    # The operator took the node over: the simulation will not repair it on its own.
    sim_state["repairs"] = {k: v for k, v in sim_state.get("repairs", {}).items()
                            if k != str(node_id)}  # fmt: skip
    sim_state["short"] = sorted(short)
    repo.change(s.conn, sim_state=sim_state)
    return news


def _status(s: PlacementSession, row: repo.OpsRow) -> OpsStatus:
    return _status_of(s.clock, row)


def _status_of(clock: int, row: repo.OpsRow) -> OpsStatus:
    return OpsStatus(
        clock=at(clock), metered_until=row.metered_until, run_status=row.run_status,
        run_until=row.run_until, run_error=row.run_error, totals=row.totals,
        pending_repairs=len(row.sim_state.get("repairs", {})),
        queued_experiments=len(row.sim_state.get("queue", [])),
        experiment_model=row.experiment_model, experiment_trace=row.sim_state.get("trace"),
    )  # fmt: skip
