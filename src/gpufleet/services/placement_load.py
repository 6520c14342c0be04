"""Building the placement engine from the database: the fleet's topology with the map between
database node ids and engine node numbers, then every live hold restored as it was stored;
or, for an engine a few writes behind, only the holds those writes changed (`catch_up`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

from gpufleet.adapters.db.repos import fleet as fleet_repo
from gpufleet.adapters.db.repos import placement as repo
from gpufleet.adapters.db.tables_placement import hold_shortfalls, node_assignments
from gpufleet.domain.errors import InvalidInput
from gpufleet.domain.fleet import NodeState
from gpufleet.domain.timeutil import to_utc
from gpufleet.placement import INTERNAL, Assignment, HoldKind, Placer, Request, Topology, seconds

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class FleetMap:
    """The topology and both directions of the node map. Node ids are database ids."""

    fingerprint: tuple[tuple[Any, ...], ...]
    topology: Topology
    node_ids: I64  # engine node number → database node id
    sorted_ids: I64  # database ids, ascending …
    sorted_nodes: I64  # … and the engine node of each

    def node_id(self, node: int) -> int:
        return int(self.node_ids[node])

    def node(self, node_id: int) -> int:
        """The engine node number of a database node id (InvalidInput if none)."""
        return int(self.nodes(np.array([node_id], dtype=np.int64))[0])

    def nodes(self, node_ids: I64) -> I64:
        """Engine node numbers of many database node ids at once."""
        i = np.searchsorted(self.sorted_ids, node_ids)
        inside = i < len(self.sorted_ids)
        found = inside & (self.sorted_ids[np.where(inside, i, 0)] == node_ids)
        if not found.all():
            raise InvalidInput(f"no node with id {int(node_ids[~found][0])}")
        result: I64 = self.sorted_nodes[i]
        return result


def load_fleet(conn: Connection) -> FleetMap:
    """Topology from the stored clusters, and the node map from every node's position."""
    fingerprint = repo.fleet_fingerprint(conn)
    specs = fleet_repo.cluster_specs(conn)
    topology = Topology(specs)
    positions = repo.node_positions(conn)
    node_ids = np.full(topology.nodes, -1, dtype=np.int64)
    if positions:
        ids = np.fromiter((p[0] for p in positions), np.int64, len(positions))
        pod = np.fromiter((p[2] for p in positions), np.int64, len(positions))
        block = np.fromiter((p[3] for p in positions), np.int64, len(positions))
        index = np.fromiter((p[4] for p in positions), np.int64, len(positions))
        engine = np.empty(len(positions), dtype=np.int64)
        cluster_of = np.array([p[1] for p in positions])
        for spec in specs:
            mine = cluster_of == spec.name
            # A cluster's nodes are one contiguous range of the engine, pod by block by node.
            first = topology.find_node(spec.name, 0, 0, 0)
            flat = (pod[mine] * spec.blocks_per_pod + block[mine]) * spec.nodes_per_block
            engine[mine] = first + flat + index[mine]
        node_ids[engine] = ids
    if (node_ids < 0).any():
        raise InvalidInput("the stored fleet has clusters whose nodes are missing")
    order = np.argsort(node_ids)
    return FleetMap(fingerprint, topology, node_ids, node_ids[order],
                    order.astype(np.int64))  # fmt: skip


def request_of(hold: repo.StoredHold) -> Request:
    tenant = hold.tenant_id if hold.tenant_id is not None else INTERNAL
    return Request(
        holder=hold.holder, tenant=tenant, kind=HoldKind(hold.kind), gpu_model=hold.gpu_model,
        gpus=hold.gpus, start=hold.start, end=hold.end, interruptible=hold.interruptible,
        notice_hours=hold.notice_hours, contiguous=hold.contiguous,
    )  # fmt: skip


def build_placer(conn: Connection, fleet: FleetMap, state: repo.State, clock: int) -> Placer:
    """An engine at `clock` holding every stored hold that is not over by then."""
    placer = Placer(fleet.topology, spare_share=state.spare_share, clock=clock)
    live = repo.live_holds(conn, clock)
    rows = repo.hold_rows(conn, node_assignments, clock)
    short = repo.hold_rows(conn, hold_shortfalls, clock)
    restore_holds(placer, fleet, live, rows, short)
    return placer


def restore_holds(
    placer: Placer,
    fleet: FleetMap,
    holds: list[repo.StoredHold],
    rows: dict[str, list[Any]],
    short: dict[str, list[Any]],
) -> None:
    """Puts each stored hold into the engine exactly as stored: its assignments (those over
    by the clock as history), its shortfalls and the end of its promise."""
    for hold in holds:
        mine = rows.get(hold.holder, [])
        ids = np.fromiter((r.node_id for r in mine), np.int64, len(mine))
        assignments = tuple(
            Assignment(node, r.gpus, r.gpu_mask, _s(r.start), _s(r.end))
            for node, r in zip(fleet.nodes(ids).tolist(), mine, strict=True)
        )
        shortfalls = tuple((_s(r.start), _s(r.end), r.gpus) for r in short.get(hold.holder, ()))
        placer.restore(request_of(hold), assignments, shortfalls)
        if hold.ends_at < hold.end:  # released or preempted: the promise ends sooner
            placer.bookings.end_hold(placer.hold(hold.holder), hold.ends_at)


def catch_up(
    conn: Connection, fleet: FleetMap, placer: Placer, since: int, clock: int, max_share: float
) -> bool:
    """Brings an engine loaded at version `since` to the stored state at `clock` by
    reloading only the holds that later writes changed (`placement_holds.version`): the
    clock moves first, then every changed hold leaves the engine and those still live come
    back as stored. False, having changed nothing, when the stored assignments of the
    changed holds exceed `max_share` of the engine's live entries: a full rebuild is then
    cheaper. An error half-way leaves the engine unusable: the caller rebuilds it."""
    holders = repo.changed_holders(conn, since)
    holds = repo.holds_named(conn, holders, clock)
    live = [h.holder for h in holds]
    rows = repo.rows_of(conn, node_assignments, live)
    if sum(map(len, rows.values())) > max_share * int(placer.bookings.calendar.nlive.sum()):
        return False
    short = repo.rows_of(conn, hold_shortfalls, live)
    placer.advance(clock)
    _replace(placer, fleet, holders, holds, rows, short)
    return True


def reload_holds(conn: Connection, fleet: FleetMap, placer: Placer, holders: list[str]) -> None:
    """Puts `holders` back into the engine as this transaction reads them: how an operation
    that changed them in the engine only, and then gave up, is undone without a rebuild."""
    holds = repo.holds_named(conn, holders, placer.clock)
    live = [h.holder for h in holds]
    rows = repo.rows_of(conn, node_assignments, live)
    short = repo.rows_of(conn, hold_shortfalls, live)
    _replace(placer, fleet, holders, holds, rows, short)


def _replace(
    placer: Placer,
    fleet: FleetMap,
    holders: list[str],
    holds: list[repo.StoredHold],
    rows: dict[str, list[Any]],
    short: dict[str, list[Any]],
) -> None:
    known = placer.bookings.holds
    for holder in holders:  # all out first: a changed hold may now use another's old GPUs
        if holder in known:
            placer.remove(holder)
    restore_holds(placer, fleet, holds, rows, short)


def sync_node_states(
    conn: Connection, fleet: FleetMap, placer: Placer, known: dict[int, NodeState]
) -> dict[int, NodeState]:
    """Gives the engine the stored state of every node whose state differs from `known`
    (engine node → state, up nodes absent); returns the new map. A node's holds are not
    moved here: whoever marks a node down moves them (`fail_node`) in the same transaction."""
    stored = {fleet.node(i): NodeState(s) for i, s in repo.node_states(conn).items()}
    for node in set(stored) | set(known):
        state = stored.get(node, NodeState.UP)
        if known.get(node, NodeState.UP) != state:
            placer.bookings.set_state(node, state)
    return stored


@functools.lru_cache(maxsize=65536)
def _s(value: datetime) -> int:
    """Epoch seconds of a stored time (cached: a lease's rows share a few distinct times)."""
    return seconds(to_utc(value))
