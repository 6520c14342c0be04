"""Placement rows: the version/lock row, holds, node assignments and shortfalls.

Times cross this module as whole epoch seconds (the engine's unit) and are stored as UTC
datetimes. Node numbers here are database node ids; the service maps them to the engine's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, delete, insert, select, update

from gpufleet.adapters.db.tables import blocks, clusters, nodes, pods
from gpufleet.adapters.db.tables_placement import (
    hold_shortfalls,
    node_assignments,
    placement_holds,
    placement_state,
)
from gpufleet.domain.timeutil import to_utc
from gpufleet.placement import seconds

T = TypeVar("T")
Row = tuple[int, int, int, int, int]  # node id, GPUs, GPU mask, start, end
StoredRow = tuple[int, int, int, int, int, int]  # row id, then as Row


def at(instant: int) -> datetime:
    return datetime.fromtimestamp(instant, UTC)


@dataclass(frozen=True)
class State:
    version: int
    clock: int | None
    spare_share: float


@dataclass(frozen=True)
class StoredHold:
    """A placement_holds row. `tenant_id` None is the lab; `ends_at` the promise's end."""

    holder: str
    kind: str
    tenant_id: int | None
    gpu_model: str
    gpus: int
    start: int
    end: int
    ends_at: int
    interruptible: bool
    notice_hours: int
    contiguous: bool


def _state(row: Any) -> State:
    clock = seconds(to_utc(row.clock)) if row.clock is not None else None
    return State(int(row.version), clock, float(row.spare_share))


def lock_state(conn: Connection) -> State:
    """The placement row, locked until the transaction ends: every placement writer calls
    this first. PostgreSQL: SELECT … FOR UPDATE; SQLite: the write transaction already holds
    the database's one write lock (BEGIN IMMEDIATE)."""
    query = select(placement_state).where(placement_state.c.id == 1)
    if conn.dialect.name != "sqlite":
        query = query.with_for_update()
    return _state(conn.execute(query).one())


def read_state(conn: Connection) -> State:
    return _state(conn.execute(select(placement_state).where(placement_state.c.id == 1)).one())


def bump(conn: Connection, state: State, clock: int, now: datetime) -> int:
    """Records a placement write: version + 1 and the engine's clock. Returns the version."""
    version = state.version + 1
    conn.execute(
        update(placement_state)
        .where(placement_state.c.id == 1)
        .values(version=version, clock=at(clock), updated_at=now)
    )
    return version


def fleet_fingerprint(conn: Connection) -> tuple[tuple[Any, ...], ...]:
    """Changes whenever a cluster is added or changed (then the topology is rebuilt)."""
    rows = conn.execute(select(clusters.c.id, clusters.c.name, clusters.c.pods).order_by("id"))
    return tuple(tuple(r) for r in rows)


def node_positions(conn: Connection) -> list[tuple[int, str, int, int, int]]:
    """(node id, cluster name, pod index, block index, node index) of every node."""
    query = (
        select(nodes.c.id, clusters.c.name, pods.c.index, blocks.c.index, nodes.c.index)
        .join(clusters, clusters.c.id == nodes.c.cluster_id)
        .join(pods, pods.c.id == nodes.c.pod_id)
        .join(blocks, blocks.c.id == nodes.c.block_id)
    )
    return [(r[0], r[1], r[2], r[3], r[4]) for r in conn.execute(query)]


def node_states(conn: Connection) -> dict[int, str]:
    """Node id → state of every node that is not up (the state index makes this short)."""
    query = select(nodes.c.id, nodes.c.state).where(nodes.c.state != "up")
    return {int(i): s for i, s in conn.execute(query)}


def _hold(row: Any) -> StoredHold:
    return StoredHold(
        row.holder, row.kind, row.tenant_id, row.gpu_model, row.gpus,
        seconds(to_utc(row.start)), seconds(to_utc(row.end)), seconds(to_utc(row.ends_at)),
        bool(row.interruptible), row.notice_hours, bool(row.contiguous),
    )  # fmt: skip


def live_holds(conn: Connection, clock: int | None) -> list[StoredHold]:
    """Holds whose promise is not over at `clock` (all of them when None)."""
    query = select(placement_holds).order_by(placement_holds.c.created_at, "holder")
    if clock is not None:
        query = query.where(placement_holds.c.ends_at > at(clock))
    return [_hold(r) for r in conn.execute(query)]


def changed_holders(conn: Connection, since: int) -> list[str]:
    """Holders that a placement write after version `since` changed, oldest hold first."""
    t = placement_holds
    query = select(t.c.holder).where(t.c.version > since).order_by(t.c.created_at, t.c.holder)
    return list(conn.execute(query).scalars())


def holds_named(conn: Connection, holders: Sequence[str], clock: int) -> list[StoredHold]:
    """Those of `holders` whose promise is not over at `clock`, oldest first."""
    t = placement_holds
    found: list[Any] = []
    for chunk in _chunks(list(holders)):
        query = select(t).where(t.c.holder.in_(chunk), t.c.ends_at > at(clock))
        found += conn.execute(query)
    found.sort(key=lambda r: (to_utc(r.created_at), r.holder))
    return [_hold(r) for r in found]


def rows_of(conn: Connection, table: Any, holders: Sequence[str]) -> dict[str, list[Any]]:
    """Assignments or shortfalls of `holders`, by holder, in row order."""
    found: dict[str, list[Any]] = {}
    for chunk in _chunks(list(holders)):
        for r in conn.execute(select(table).where(table.c.holder.in_(chunk))):
            found.setdefault(r.holder, []).append(r)
    for rows in found.values():
        rows.sort(key=lambda r: r.id)
    return found


def hold_rows(conn: Connection, table: Any, clock: int | None) -> dict[str, list[Any]]:
    """Assignments or shortfalls of the live holds, by holder."""
    query = select(table).order_by(table.c.id)
    if clock is not None:
        live = select(placement_holds.c.holder).where(placement_holds.c.ends_at > at(clock))
        query = query.where(table.c.holder.in_(live))
    found: dict[str, list[Any]] = {}
    for r in conn.execute(query):
        found.setdefault(r.holder, []).append(r)
    return found


def assignments_of(conn: Connection, holders: Sequence[str]) -> dict[str, list[StoredRow]]:
    """The stored rows of each holder, with their row ids."""
    found: dict[str, list[StoredRow]] = {h: [] for h in holders}
    if holders:
        table = node_assignments
        for r in conn.execute(select(table).where(table.c.holder.in_(holders))):
            found[r.holder].append(_row(r))
    return found


def known_holders(conn: Connection, holders: Sequence[str]) -> list[str]:
    table = placement_holds
    return list(conn.execute(select(table.c.holder).where(table.c.holder.in_(holders))).scalars())


def _row(r: Any) -> StoredRow:
    start, end = seconds(to_utc(r.start)), seconds(to_utc(r.end))
    return (r.id, r.node_id, r.gpus, r.gpu_mask, start, end)


def save_hold(
    conn: Connection, hold: StoredHold, now: datetime, exists: bool, version: int
) -> None:
    """Inserts or updates the hold's row, marked as changed by the write of `version`."""
    values = {
        "version": version,
        "kind": hold.kind, "tenant_id": hold.tenant_id, "gpu_model": hold.gpu_model,
        "gpus": hold.gpus, "start": at(hold.start), "end": at(hold.end),
        "ends_at": at(hold.ends_at), "interruptible": hold.interruptible,
        "notice_hours": hold.notice_hours, "contiguous": hold.contiguous,
    }  # fmt: skip
    if exists:
        table = placement_holds
        conn.execute(update(table).where(table.c.holder == hold.holder).values(**values))
        return
    lease_id = hold.holder if hold.kind == "lease" else None
    conn.execute(
        insert(placement_holds).values(
            holder=hold.holder, lease_id=lease_id, created_at=now, **values
        )
    )


def sync_assignments(
    conn: Connection, holder: str, old: Iterable[StoredRow], new: Iterable[Row]
) -> int:
    """Makes the holder's rows equal `new` with the fewest changes: a row whose (node, start,
    mask) stays gets its end and GPUs updated (a cut), others are inserted or deleted, in
    bulk. Returns the number of rows written."""
    table = node_assignments
    before = {(n, s, m): (i, g, e) for i, n, g, m, s, e in old}
    after = {(n, s, m): (g, e) for n, g, m, s, e in new}
    gone = [before[k][0] for k in before if k not in after]
    changed: dict[tuple[int, int], list[int]] = {}  # (GPUs, end) → row ids
    for k, (g, e) in after.items():
        if k in before and before[k][1:] != (g, e):
            changed.setdefault((g, e), []).append(before[k][0])
    added = [k for k in after if k not in before]
    for chunk in _chunks(gone):
        conn.execute(delete(table).where(table.c.id.in_(chunk)))
    for (g, e), ids in changed.items():
        for chunk in _chunks(ids):
            conn.execute(update(table).where(table.c.id.in_(chunk)).values(gpus=g, end=at(e)))
    if added:
        rows = [
            {"holder": holder, "node_id": n, "gpus": after[(n, s, m)][0], "gpu_mask": m,
             "start": at(s), "end": at(after[(n, s, m)][1])}
            for n, s, m in added
        ]  # fmt: skip
        conn.execute(insert(table), rows)
    return len(gone) + sum(map(len, changed.values())) + len(added)


def _chunks(ids: list[T], size: int = 5000) -> Iterator[list[T]]:
    """Id lists small enough for one IN (SQLite allows 32,766 parameters)."""
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def replace_shortfalls(
    conn: Connection, holder: str, shortfalls: Sequence[tuple[int, int, int]]
) -> None:
    """The holder's shortfall segments become exactly `shortfalls` (start, end, GPUs)."""
    conn.execute(delete(hold_shortfalls).where(hold_shortfalls.c.holder == holder))
    if shortfalls:
        rows = [{"holder": holder, "gpus": g, "start": at(s), "end": at(e)}
                for s, e, g in shortfalls]  # fmt: skip
        conn.execute(insert(hold_shortfalls), rows)
