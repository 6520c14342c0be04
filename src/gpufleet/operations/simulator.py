"""A seeded, event-driven simulation of the cluster over a `Placer`.

    sim = Simulator(placer, seed=7, experiments=ExperimentSettings(stream, "H100"))
    chunk = sim.run(until)            # events, node changes, changed holders, totals
    rows = hourly_usage(placer, since, until)

`run` works through one agenda in time order (ties: repairs, lease starts, failures,
arrivals, queue retries), moving the engine's clock to each item first so that holds that
ended on the way are told (`lease.ended`, `lease.preempted` exactly at `reclaim_at`):

- failures: a Poisson process per node (`Reliability`), drawn fleet-wide and thinned by the
  node's GPUs, its state (up or draining) and its cluster being online; `fail_node` gives
  every hold on it a replacement, a preemption notice or a shortfall; a repair is scheduled;
- repairs bring the node back up (unless the operator changed its state since);
- the lab's experiments arrive from their stream and take idle capacity; refused ones wait in
  a queue retried when capacity frees; preempted ones (reclaimed with notice 0) requeue.

Everything random comes from `numpy.random.default_rng([seed, start of the run])`: the same
state, seed and window give the same chunk, so a service can run a long window in chunks on
a fixed grid and resume after a crash. `state` (pending repairs, the queue) is what a chunk
leaves for the next.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from gpufleet.domain.errors import InvalidInput
from gpufleet.domain.fleet import NodeState
from gpufleet.operations.experiments import Arrival, ExperimentStream
from gpufleet.operations.healing import heal_with
from gpufleet.operations.metering import busy_gpu_seconds
from gpufleet.operations.records import OPERATOR_ONLY, SimEvent, Totals
from gpufleet.operations.reliability import Reliability
from gpufleet.operations.tell import failure_events, healed_event, iso, lifecycle_event, told
from gpufleet.placement import (
    HOUR,
    FailureOutcome,
    HoldKind,
    Placer,
    Refusal,
    RefusalReason,
    Request,
    fail_node,
    set_node_state,
)

REPAIR, START, FAIL, ARRIVE, RETRY = range(5)
RETRY_EVERY = 300  # seconds: the queue is retried at most this often
RETRY_MISSES = 3  # consecutive refusals that end one pass over the queue
HEAL_TRIES = 64  # nodes of an ended hold offered to holds with shortfall
FRAGMENTED = {RefusalReason.FRAGMENTED, RefusalReason.NO_CONTIGUOUS_POD}
Progress = Callable[[int], None]  # the simulation clock reached


@dataclass(frozen=True, slots=True)
class ExperimentSettings:
    stream: ExperimentStream
    gpu_model: str
    max_wait: int = 7 * 24 * HOUR  # a job waiting longer is abandoned
    queue_limit: int = 20_000


@dataclass(slots=True)
class Queued:
    name: str
    duration: int
    gpus: int
    since: int
    tries: int = 0


@dataclass(slots=True)
class SimState:
    """What one chunk leaves for the next: repairs due (node → time) and waiting experiments."""

    repairs: dict[int, int] = field(default_factory=dict)
    queue: list[Queued] = field(default_factory=list)
    notices: dict[str, int] = field(default_factory=dict)  # lease → its first notice
    short: set[str] = field(default_factory=set)  # holds with shortfall still to come


@dataclass(frozen=True, slots=True)
class Online:
    """Nodes [lo, hi) are online over [since, until) (None: always)."""

    lo: int
    hi: int
    since: int | None = None
    until: int | None = None

    def at(self, t: int) -> bool:
        return (self.since is None or t >= self.since) and (self.until is None or t < self.until)

    def seconds(self, start: int, end: int) -> int:
        lo = start if self.since is None else max(start, self.since)
        hi = end if self.until is None else min(end, self.until)
        return max(0, hi - lo)


@dataclass(slots=True)
class Failure:
    """A failure as it happened, with the holds it hit (for checks and reports)."""

    outcome: FailureOutcome
    affected: list[str]
    lost: dict[str, int]  # GPU-seconds each hold had left on the node when it failed


@dataclass(slots=True)
class Chunk:
    start: int
    end: int
    events: list[SimEvent] = field(default_factory=list)
    node_changes: list[tuple[int, NodeState, int, str]] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)  # holders to save
    failures: list[Failure] = field(default_factory=list)
    totals: Totals = field(default_factory=Totals)


class Simulator:
    def __init__(
        self,
        placer: Placer,
        *,
        seed: int,
        reliability: Reliability | None = None,
        experiments: ExperimentSettings | None = None,
        state: SimState | None = None,
        online: Sequence[Online] | None = None,
    ) -> None:
        self.placer = placer
        self.seed = seed
        self.reliability = reliability or Reliability()
        self.experiments = experiments
        self.state = state or SimState()
        t = placer.topology
        self.online = list(online) if online is not None else [Online(0, t.nodes)]
        self.gpn = np.zeros(t.nodes, dtype=np.int64)
        for m in t.models:
            self.gpn[m.node_lo : m.node_hi] = m.gpus_per_node
        self.totals = Totals()
        if experiments is not None and t.model(experiments.gpu_model) is None:
            raise InvalidInput(f"the fleet has no {experiments.gpu_model} GPUs for experiments")

    # -- the agenda -------------------------------------------------------------------------
    def run(self, until: int, progress: Progress | None = None) -> Chunk:
        p = self.placer
        start = p.clock
        if until < start:
            raise InvalidInput(f"cannot run back from {iso(start)} to {iso(until)}")
        rng = np.random.default_rng([self.seed, start])
        chunk = Chunk(start, until)
        agenda: list[tuple[int, int, int, object]] = []
        seq = iter(range(1 << 62))

        def push(at: int, kind: int, what: object) -> None:
            if at < until:  # later items belong to the next run
                heapq.heappush(agenda, (at, kind, next(seq), what))

        for node, at in self.state.repairs.items():
            push(max(at, start), REPAIR, node)
        active = []
        for holder in p.holders():
            hold = p.hold(holder)
            if hold.end > start and hold.request.start < until:
                active.append(holder)
                r = hold.request
                if r.kind != HoldKind.EXPERIMENT and start <= r.start < min(until, hold.end):
                    push(r.start, START, holder)
        for at in self._failure_times(rng, start, until):
            push(at, FAIL, None)
        if self.experiments is not None:
            for arrival in self.experiments.stream.between(start, until):
                push(arrival.at, ARRIVE, arrival)
            if self.state.queue:
                push(start, RETRY, None)
        self._down_since = dict.fromkeys(np.flatnonzero(p.bookings.state >= 2).tolist(), start)
        self._down_seconds = 0
        self._retry_due: int | None = start if self.state.queue else None
        self._placed: list[str] = []
        next_report = start
        while agenda:
            at, kind, _, what = heapq.heappop(agenda)
            self._advance(at, chunk, push)
            if kind == REPAIR:
                self._repair(int(what), at, chunk, push)  # type: ignore[call-overload]
            elif kind == START:
                chunk.events.append(lifecycle_event(p, str(what), "lease.started", at))
                chunk.totals.leases_started += 1
            elif kind == FAIL:
                self._fail(rng, at, chunk, push)
            elif kind == ARRIVE:
                assert isinstance(what, Arrival)
                self._arrive(what, chunk, push)
            elif kind == RETRY:
                self._retry_due = None
                self._retry(at, chunk, push)
            if progress is not None and at >= next_report:
                progress(at)
                next_report = at + HOUR
        self._advance(until, chunk, push)
        self._account(chunk, active + self._placed, start, until)
        self.totals.merge(chunk.totals)
        if progress is not None:
            progress(until)
        return chunk

    def _failure_times(self, rng: np.random.Generator, start: int, end: int) -> list[int]:
        """Candidate failure times of the fleet-wide process (thinned when they happen)."""
        rate = self.reliability.node_failures_per_hour(int(self.gpn.max(initial=0)))
        expected = rate * len(self.gpn) * (end - start) / HOUR
        count = int(rng.poisson(expected)) if expected > 0 else 0
        return sorted(rng.integers(start, end, count).tolist()) if count else []

    def _advance(self, to: int, chunk: Chunk, push: Callable[[int, int, object], None]) -> None:
        p = self.placer
        freed = False
        for holder in p.advance(to):
            hold = p.hold(holder)
            r = hold.request
            cut_short = hold.end < r.end
            if self.state.short:  # its nodes may end someone's shortfall
                ended = {e.node for e in hold.entries if e.end == hold.end}
                for node in sorted(ended)[:HEAL_TRIES]:
                    self._heal(node, to, chunk, "freed")
            if r.kind == HoldKind.EXPERIMENT:
                freed = True
                if cut_short:
                    chunk.totals.experiments_preempted += 1
                    base = r.holder.split("~")[0]
                    self._enqueue(Queued(base, r.end - r.start, r.gpus, hold.end, 1), chunk)
                continue
            freed = True
            if cut_short:
                notice = self.state.notices.pop(holder, None)
                chunk.events.append(lifecycle_event(p, holder, "lease.preempted", hold.end,
                                                    notice))  # fmt: skip
                chunk.totals.preemptions += 1
            else:
                chunk.events.append(lifecycle_event(p, holder, "lease.ended", hold.end))
                chunk.totals.leases_ended += 1
        if freed:
            self._want_retry(to, push)

    # -- failures and repairs ---------------------------------------------------------------
    def _fail(self, rng: np.random.Generator, at: int, chunk: Chunk,
              push: Callable[[int, int, object], None]) -> None:  # fmt: skip
        p, b = self.placer, self.placer.bookings
        node = int(rng.integers(0, len(self.gpn)))
        keep = rng.random() * self.gpn.max() < self.gpn[node]
        if not keep or b.state[node] >= 2 or not self._is_online(node, at):
            return
        lost: dict[str, int] = {}
        for e in b.calendar.entries(node):
            hold = b.hold_of(e)
            left = e.gpus * max(0, min(e.end, hold.end) - max(at, e.start))
            lost[hold.request.holder] = lost.get(hold.request.holder, 0) + left
        affected = list(lost)
        outcome = fail_node(p, node, at)
        repair_at = at + self.reliability.repair_seconds(rng)
        self.state.repairs[node] = repair_at
        push(repair_at, REPAIR, node)
        self._down_since[node] = at
        reason = f"simulated failure (seed {self.seed})"
        chunk.node_changes.append((node, NodeState.DOWN, at, reason))
        chunk.events += failure_events(p, outcome, repair_at, affected, reason)
        chunk.touched.update(affected, (n.victim for n in outcome.notices))
        chunk.failures.append(Failure(outcome, affected, lost))
        t = chunk.totals
        t.failures += 1
        t.replacements += len(outcome.replaced)
        t.notices += len(outcome.notices)
        for s in outcome.shortfalls:
            t.shortfalls += 1
            t.shortfall_gpu_seconds += s.gpus * (s.end - s.start)
            self.state.short.add(s.holder)
        for n in outcome.notices:
            if told(p, n.victim):
                self.state.notices.setdefault(n.victim, n.notice_at)

    def _repair(self, node: int, at: int, chunk: Chunk,
                push: Callable[[int, int, object], None]) -> None:  # fmt: skip
        if self.state.repairs.get(node) is None:
            return
        del self.state.repairs[node]
        if self.placer.node_state(node) is not NodeState.DOWN:
            return  # the operator took the node over: the simulation leaves it alone
        set_node_state(self.placer, node, NodeState.UP, at)
        since = self._down_since.pop(node, at)
        self._down_seconds += int(self.gpn[node]) * (at - since)
        name = self.placer.topology.node_name(node)
        chunk.node_changes.append((node, NodeState.UP, at, "repaired"))
        data = {"node": name, "down_hours": round((at - since) / HOUR, 3)}
        chunk.events.append(SimEvent(at, "node.repaired", name, OPERATOR_ONLY, data))
        chunk.totals.repairs += 1
        self._heal(node, at, chunk)
        self._want_retry(at, push)

    def _heal(self, node: int, at: int, chunk: Chunk, source: str = "repaired") -> None:
        if not self.state.short:
            return
        healed = heal_with(self.placer, node, at, self.state.short, source)
        if healed is not None:
            chunk.touched.add(healed.holder)
            chunk.totals.shortfall_gpu_seconds -= healed.gpus * (healed.end - healed.start)
            chunk.totals.healed += 1
            if told(self.placer, healed.holder):
                chunk.events.append(healed_event(self.placer, healed))

    def _is_online(self, node: int, at: int) -> bool:
        return any(o.lo <= node < o.hi and o.at(at) for o in self.online)

    # -- experiments ------------------------------------------------------------------------
    def _arrive(self, arrival: Arrival, chunk: Chunk,
                push: Callable[[int, int, object], None]) -> None:  # fmt: skip
        chunk.totals.experiments_submitted += 1
        job = Queued(arrival.name, arrival.duration, arrival.gpus, arrival.at)
        refusal = self._try(job, arrival.at, chunk)
        if refusal is not None:
            chunk.totals.experiments_refused += 1
            if refusal.reason in FRAGMENTED:
                chunk.totals.experiments_refused_fragmented += 1
            if refusal.reason != RefusalReason.UNKNOWN_MODEL:
                self._enqueue(job, chunk)

    def _try(self, job: Queued, at: int, chunk: Chunk) -> Refusal | None:
        assert self.experiments is not None
        holder = job.name if not job.tries else f"{job.name}~{job.tries}"
        while holder in self.placer.bookings.holds:  # a restart after a preemption
            job.tries += 1
            holder = f"{job.name}~{job.tries}"
        job.tries += 1
        request = Request.experiment(holder, self.experiments.gpu_model, job.gpus, at,
                                     at + job.duration)  # fmt: skip
        result = self.placer.place(request)
        if isinstance(result, Refusal):
            return result
        self._placed.append(holder)
        chunk.touched.add(holder)
        chunk.totals.experiments_placed += 1
        return None

    def _enqueue(self, job: Queued, chunk: Chunk) -> None:
        assert self.experiments is not None
        if len(self.state.queue) >= self.experiments.queue_limit:
            chunk.totals.experiments_abandoned += 1
        else:
            self.state.queue.append(job)

    def _want_retry(self, at: int, push: Callable[[int, int, object], None]) -> None:
        if self.state.queue and self._retry_due is None:
            self._retry_due = at
            push(at, RETRY, None)

    def _retry(self, at: int, chunk: Chunk, push: Callable[[int, int, object], None]) -> None:
        assert self.experiments is not None
        waiting, misses = [], 0
        for job in self.state.queue:
            if at - job.since > self.experiments.max_wait:
                chunk.totals.experiments_abandoned += 1
                continue
            if misses < RETRY_MISSES:
                if self._try(job, at, chunk) is None:
                    misses = 0
                    continue
                misses += 1
            waiting.append(job)
        self.state.queue = waiting
        if waiting:  # try again a little later even if nothing frees (experiments end)
            self._retry_due = at + RETRY_EVERY
            push(at + RETRY_EVERY, RETRY, None)

    # -- figures ----------------------------------------------------------------------------
    def _account(self, chunk: Chunk, holders: list[str], start: int, end: int) -> None:
        for node, since in self._down_since.items():
            self._down_seconds += int(self.gpn[node]) * (end - max(since, start))
        online = sum(int(self.gpn[o.lo : o.hi].sum()) * o.seconds(start, end) for o in self.online)
        chunk.totals.online_gpu_seconds = max(0, online - self._down_seconds)
        chunk.totals.busy_gpu_seconds = busy_gpu_seconds(self.placer, holders, start, end)
