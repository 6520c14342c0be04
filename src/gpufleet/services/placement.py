"""Placement on the database: the in-memory engine (`gpufleet.placement`) loaded from the
stored rows, cached per process, and every placement write serialised by one locked row.

    from gpufleet.services.placement import placement_session

    with placement_session(db) as s:           # ONE write transaction, placement row locked
        result = s.placer.place(request)        # the engine, exactly as stored (version v)
        fail_node(s.placer, s.node(node_id), at=s.clock)   # engine node numbers
        s.conn.execute(...)                     # other rows, same transaction
        s.save([request.holder, ...])          # write back every holder this changed
    # commit: version v+1 and the engine's clock are stored; the cache keeps the engine

Contract:
- `s.save(holders)` writes each holder's hold row, its node assignments (a cut moves a
  row's end, a replacement is a new row) and its shortfalls. Save EVERY holder the operation
  changed — placed, released, cut by a failure, replaced, preempted — or the stored state
  and the cached engine part ways (the next process to load would not see the change).
- Leases must exist in `leases` before their hold is saved (holder = lease id).
- `s.placer.advance(t)` moves the engine's clock; it is stored at commit. The clock is the
  operations' (simulated) clock; accepting a request does not move it.
- Node states are read from `nodes.state` at the start of each session: whoever changes a
  node's state writes `nodes.state` in the same transaction (and moves its holds with
  `fail_node`).
- Any exception rolls the transaction back and drops the cached engine (it may hold
  half an operation); the next session rebuilds it from the database.
- Holds over before the clock are not loaded (their rows stay, for history and billing).

Concurrency: one process lock around each session (the engine is not thread-safe), then the
database's lock (PostgreSQL `SELECT … FOR UPDATE` of `placement_state`; SQLite writers are
serialised by BEGIN IMMEDIATE). A process whose cached version is not the stored one
brings its engine up to date before it decides anything, so two processes never place on
stale data: every saved hold records the version of its write (`placement_holds.version`),
so the engine moves its clock and reloads only the holds changed since its version
(`placement_load.catch_up`); it is rebuilt from every stored hold instead when those
changes are large (`PlacementCache.reload_share`) or catching up is not safe.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine

from gpufleet.adapters.db.repos import placement as repo
from gpufleet.domain.errors import GpufleetError
from gpufleet.domain.fleet import NodeState
from gpufleet.placement import Placer, seconds
from gpufleet.placement.bookings import spare_blocks
from gpufleet.services.database import Database
from gpufleet.services.placement_load import (
    FleetMap,
    build_placer,
    catch_up,
    load_fleet,
    sync_node_states,
)


@dataclass
class PlacementCache:
    """One process's engine for one database. Tests make several to act as several servers."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    fleet: FleetMap | None = None
    placer: Placer | None = None
    version: int = -1
    states: dict[int, NodeState] = field(default_factory=dict)
    # Above this share of the engine's live entries in changed holds' rows, rebuild instead
    # of catching up. Conservative: on Colossus (SQLite) catching up with half the entries
    # changed took 1.2 s against 2.4 s for a rebuild (bench_placement_store); past it the
    # saving is small, and a rebuild also sheds the ended holds a long-lived engine keeps.
    reload_share: float = 0.5
    rebuilds: int = 0  # how often the engine was built from the database (for tests, benches)
    reloads: int = 0  # how often it caught up with other writers hold by hold

    def drop(self) -> None:
        self.placer, self.version, self.states = None, -1, {}


_CACHES: weakref.WeakKeyDictionary[Engine, PlacementCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def cache_for(db: Database) -> PlacementCache:
    with _CACHES_LOCK:
        cache = _CACHES.get(db.engine)
        if cache is None:
            cache = _CACHES[db.engine] = PlacementCache()
        return cache


@dataclass
class PlacementSession:
    conn: Connection
    placer: Placer
    fleet: FleetMap
    now: datetime  # the database's clock (wall time, or a test's)
    state: repo.State
    opened_at: int  # the engine's clock when the session began
    saved: set[str] = field(default_factory=set)

    @property
    def clock(self) -> int:
        """The engine's clock, whole epoch seconds."""
        return self.placer.clock

    def node(self, node_id: int) -> int:
        """Engine node number of a database node id."""
        return self.fleet.node(node_id)

    def node_id(self, node: int) -> int:
        """Database node id of an engine node number."""
        return self.fleet.node_id(node)

    def save(self, holders: Iterable[str]) -> None:
        """Writes back the engine's view of each holder (see the module docstring)."""
        names = list(dict.fromkeys(holders))
        if not names:
            return
        old = repo.assignments_of(self.conn, names)
        known = set(repo.known_holders(self.conn, names))
        for holder in names:
            hold = self.placer.hold(holder)
            r = hold.request
            stored = repo.StoredHold(
                holder, r.kind.value, r.tenant or None, r.gpu_model, r.gpus, r.start, r.end,
                hold.end, r.interruptible, r.notice_hours, r.contiguous,
            )  # fmt: skip
            version = self.state.version + 1  # the one this write commits
            repo.save_hold(self.conn, stored, self.now, exists=holder in known, version=version)
            new = [(self.node_id(a.node), a.gpus, a.gpu_mask, a.start, a.end)
                   for a in hold.assignments()]  # fmt: skip
            repo.sync_assignments(self.conn, holder, old[holder], new)
            repo.replace_shortfalls(self.conn, holder, hold.shortfalls)
        self.saved.update(names)


@contextmanager
def placement_session(
    db: Database, cache: PlacementCache | None = None
) -> Iterator[PlacementSession]:
    """The engine at the stored version inside one locked write transaction; see the module
    docstring. `cache` defaults to this process's cache for `db`."""
    cache = cache or cache_for(db)
    with cache.lock:
        try:
            with db.write() as conn:
                session = _open(conn, db, cache)
                yield session
                if session.saved or session.clock != session.opened_at:
                    cache.version = repo.bump(conn, session.state, session.clock, session.now)
        except BaseException:
            cache.drop()
            raise


def _open(conn: Connection, db: Database, cache: PlacementCache) -> PlacementSession:
    state = repo.lock_state(conn)
    _refresh(conn, db, cache, state)
    assert cache.placer is not None
    assert cache.fleet is not None
    placer = cache.placer
    return PlacementSession(conn, placer, cache.fleet, db.clock(), state, placer.clock)


def _refresh(conn: Connection, db: Database, cache: PlacementCache, state: repo.State) -> None:
    """Brings the cached engine to the stored version and node states: hold by hold when
    only a few holds changed since its version, else rebuilt from every stored hold."""
    if cache.fleet is None or cache.fleet.fingerprint != repo.fleet_fingerprint(conn):
        cache.fleet = load_fleet(conn)
        cache.drop()
    if cache.placer is None or cache.version != state.version:
        clock = state.clock if state.clock is not None else seconds(db.clock())
        if _caught_up(conn, cache, state, clock):
            cache.reloads += 1
        else:
            cache.drop()
            cache.placer = build_placer(conn, cache.fleet, state, clock)
            cache.rebuilds += 1
        cache.version = state.version
    assert cache.placer is not None
    cache.states = sync_node_states(conn, cache.fleet, cache.placer, cache.states)


def _caught_up(conn: Connection, cache: PlacementCache, state: repo.State, clock: int) -> bool:
    """Catches the cached engine up with the writes after its version, if that is safe:
    the store's versions only grow and its clock only moves forward, the spare share is the
    one the engine was built with, and the writes changed few holds (`catch_up`)."""
    placer, fleet = cache.placer, cache.fleet
    if placer is None or fleet is None or not 0 <= cache.version < state.version:
        return False
    spares = placer.bookings.spare_block
    if (
        clock < placer.clock
        or not (spares == spare_blocks(fleet.topology, state.spare_share)).all()
    ):
        return False
    try:
        return catch_up(conn, fleet, placer, cache.version, clock, cache.reload_share)
    except GpufleetError:  # DoubleBooking or a hold that no longer fits: rebuild it all
        return False


def read_placer(db: Database, cache: PlacementCache | None = None) -> Placer:
    """The engine at the stored version, for reading only: never change what it returns
    outside a `placement_session`."""
    cache = cache or cache_for(db)
    with cache.lock, db.read() as conn:
        _refresh(conn, db, cache, repo.read_state(conn))
        assert cache.placer is not None
        return cache.placer
