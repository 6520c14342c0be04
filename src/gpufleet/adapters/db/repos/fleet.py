"""Fleet topology: bulk creation of clusters, pods, blocks and nodes; state and summaries."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from gpufleet.adapters.db.tables import (
    blocks,
    clusters,
    fleet_settings,
    gpu_models,
    nodes,
    pods,
)
from gpufleet.domain.fleet import Node, NodeState, node_name
from gpufleet.domain.timeutil import to_utc
from gpufleet.planning.scenario import Cluster, GpuModel, Horizon

NODE_CHUNK = 20_000
MAX_NODE_ID = 2**63 - 1
Progress = Callable[[int], None]  # called with the number of nodes just written


@dataclass(frozen=True)
class FleetSettings:
    name: str
    horizon: Horizon
    unavailable_fraction: float


def settings(conn: Connection) -> FleetSettings | None:
    row = conn.execute(select(fleet_settings)).first()
    if row is None:
        return None
    horizon = Horizon(start=to_utc(row.horizon_start), period=row.period, periods=row.periods)
    return FleetSettings(row.name, horizon, row.unavailable_fraction)


def save_settings(conn: Connection, new: FleetSettings) -> None:
    values = {
        "name": new.name,
        "horizon_start": new.horizon.start,
        "period": new.horizon.period,
        "periods": new.horizon.periods,
        "unavailable_fraction": new.unavailable_fraction,
    }
    if conn.execute(update(fleet_settings).values(**values)).rowcount == 0:
        conn.execute(insert(fleet_settings).values(id=1, **values))


def models(conn: Connection) -> dict[str, float]:
    rows = conn.execute(select(gpu_models.c.name, gpu_models.c.relative_throughput))
    return {name: float(throughput) for name, throughput in rows}


def add_models(conn: Connection, new: Sequence[GpuModel]) -> None:
    if new:
        rows = [{"name": m.name, "relative_throughput": m.relative_throughput} for m in new]
        conn.execute(insert(gpu_models), rows)


def cluster_specs(conn: Connection) -> list[Cluster]:
    rows = conn.execute(select(clusters).order_by(clusters.c.id))
    return [
        Cluster(
            name=r.name,
            gpu_model=r.gpu_model,
            gpus_per_node=r.gpus_per_node,
            nodes_per_block=r.nodes_per_block,
            blocks_per_pod=r.blocks_per_pod,
            pods=r.pods,
            online_from=to_utc(r.online_from) if r.online_from else None,
            offline_from=to_utc(r.offline_from) if r.offline_from else None,
        )
        for r in rows
    ]


def add_cluster(conn: Connection, spec: Cluster, now: datetime, progress: Progress) -> int:
    """Create a cluster and every pod, block and node of it in bulk; returns its node count."""
    values = spec.model_dump(exclude_none=False) | {"created_at": now}
    cluster_id = conn.execute(
        insert(clusters).values(**values).returning(clusters.c.id)
    ).scalar_one()
    conn.execute(insert(pods), [{"cluster_id": cluster_id, "index": p} for p in range(spec.pods)])
    pod_ids = dict(
        conn.execute(select(pods.c.index, pods.c.id).where(pods.c.cluster_id == cluster_id)).all()
    )
    conn.execute(
        insert(blocks),
        [
            {"pod_id": pod_ids[p], "index": b}
            for p in range(spec.pods)
            for b in range(spec.blocks_per_pod)
        ],
    )
    block_rows = conn.execute(
        select(pods.c.index, blocks.c.index, blocks.c.id, blocks.c.pod_id)
        .join(pods, pods.c.id == blocks.c.pod_id)
        .where(pods.c.cluster_id == cluster_id)
        .order_by(pods.c.index, blocks.c.index)
    ).all()
    written = 0
    for chunk in _chunks(_node_rows(spec, cluster_id, block_rows), NODE_CHUNK):
        conn.execute(insert(nodes), chunk)
        written += len(chunk)
        progress(len(chunk))
    return written


def _node_rows(
    spec: Cluster, cluster_id: int, block_rows: Sequence[Any]
) -> Iterator[dict[str, Any]]:
    for pod_index, block_index, block_id, pod_id in block_rows:
        for n in range(spec.nodes_per_block):
            yield {
                "name": node_name(spec.name, pod_index, block_index, n),
                "cluster_id": cluster_id,
                "pod_id": pod_id,
                "block_id": block_id,
                "index": n,
                "gpus": spec.gpus_per_node,
                "state": NodeState.UP.value,
            }


def _chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def cluster_names(conn: Connection) -> set[str]:
    return set(conn.execute(select(clusters.c.name)).scalars())


def nodes_not_up(conn: Connection) -> dict[str, dict[str, tuple[int, int]]]:
    """Cluster name → state → (nodes, GPUs), for every state but `up` (the index covers it)."""
    query = (
        select(clusters.c.name, nodes.c.state, func.count(), func.sum(nodes.c.gpus))
        .join(clusters, clusters.c.id == nodes.c.cluster_id)
        .where(nodes.c.state.in_([s.value for s in NodeState if s is not NodeState.UP]))
        .group_by(clusters.c.name, nodes.c.state)
    )
    result: dict[str, dict[str, tuple[int, int]]] = {}
    for name, state, count, gpus in conn.execute(query):
        result.setdefault(name, {})[state] = (int(count), int(gpus))
    return result


_NODE_SELECT = (
    select(
        nodes.c.id,
        nodes.c.name,
        clusters.c.name.label("cluster"),
        clusters.c.gpu_model,
        pods.c.index.label("pod"),
        blocks.c.index.label("block"),
        nodes.c.index,
        nodes.c.gpus,
        nodes.c.state,
        nodes.c.state_reason,
        nodes.c.state_changed_at,
    )
    .join(clusters, clusters.c.id == nodes.c.cluster_id)
    .join(pods, pods.c.id == nodes.c.pod_id)
    .join(blocks, blocks.c.id == nodes.c.block_id)
)


def _node(row: Any) -> Node:
    changed = to_utc(row.state_changed_at) if row.state_changed_at else None
    return Node(
        row.id, row.name, row.cluster, row.gpu_model, row.pod, row.block, row.index,
        row.gpus, NodeState(row.state), row.state_reason, changed,
    )  # fmt: skip


@dataclass(frozen=True)
class NodeFilter:
    cluster: str | None = None
    gpu_model: str | None = None
    state: NodeState | None = None
    pod: int | None = None
    block: int | None = None


def page_nodes(conn: Connection, where: NodeFilter, after: int, limit: int) -> list[Node]:
    query = _NODE_SELECT.where(nodes.c.id > after).order_by(nodes.c.id).limit(limit)
    if where.cluster is not None:
        query = query.where(clusters.c.name == where.cluster)
    if where.gpu_model is not None:
        query = query.where(clusters.c.gpu_model == where.gpu_model)
    if where.state is not None:
        query = query.where(nodes.c.state == where.state.value)
    if where.pod is not None:
        query = query.where(pods.c.index == where.pod)
    if where.block is not None:
        query = query.where(blocks.c.index == where.block)
    return [_node(row) for row in conn.execute(query)]


def get_node(conn: Connection, node_id: int) -> Node | None:
    if not 0 < node_id <= MAX_NODE_ID:  # no such node, and the database refuses the number
        return None
    row = conn.execute(_NODE_SELECT.where(nodes.c.id == node_id)).first()
    return _node(row) if row else None


def set_node_state(
    conn: Connection, node_id: int, state: NodeState, reason: str | None, now: datetime
) -> None:
    conn.execute(
        update(nodes)
        .where(nodes.c.id == node_id)
        .values(state=state.value, state_reason=reason, state_changed_at=now)
    )
