"""Property: whatever stream of requests is accepted (or refused) through the database, no
GPU is in two overlapping assignments, tenants never share a block at overlapping times,
leases get whole nodes and contiguous leases one pod, and a cold load sees exactly what the
writer's engine holds."""

from __future__ import annotations

import tempfile
from dataclasses import astuple
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from gpufleet.adapters.db.engine import make_engine
from gpufleet.adapters.db.migrate import upgrade
from gpufleet.adapters.db.repos import access as tenants_repo
from gpufleet.adapters.db.repos import fleet as fleet_repo
from gpufleet.adapters.db.repos import rentals as rentals_repo
from gpufleet.domain.access import Principal, Role, TenantKind
from gpufleet.domain.errors import Conflict
from gpufleet.domain.rentals import Rental
from gpufleet.planning.scenario import Cluster, GpuModel
from gpufleet.services import rentals
from gpufleet.services.database import Database
from gpufleet.services.placement import PlacementCache, read_placer

NOW = datetime(2027, 1, 4, tzinfo=UTC)
OPERATOR = Principal(Role.OPERATOR, "key_test")
CLUSTERS = [
    Cluster(name="hgx", gpu_model="H100", gpus_per_node=8, nodes_per_block=1,
            blocks_per_pod=6, pods=3),
    Cluster(name="nvl", gpu_model="GB200", gpus_per_node=4, nodes_per_block=4,
            blocks_per_pod=3, pods=2),
]  # fmt: skip

requests = st.lists(
    st.tuples(
        st.integers(0, 3),  # tenant
        st.sampled_from(["H100", "GB200"]),
        st.integers(1, 60),  # GPUs
        st.integers(0, 6),  # start, days from now
        st.integers(1, 6),  # length, days
        st.booleans(),  # contiguous
        st.booleans(),  # interruptible
    ),
    min_size=1,
    max_size=14,
)


def _database(folder: str, stream: list[tuple[Any, ...]]) -> tuple[Database, list[str]]:
    db = Database(make_engine(f"sqlite:///{folder}/p.db"), clock=lambda: NOW)
    upgrade(db.engine)
    with db.write() as conn:
        fleet_repo.add_models(conn, [GpuModel(name="H100", relative_throughput=1.0),
                                     GpuModel(name="GB200", relative_throughput=2.5)])  # fmt: skip
        for c in CLUSTERS:
            fleet_repo.add_cluster(conn, c, NOW, lambda _n: None)
        ids = [tenants_repo.add_tenant(conn, f"t{i}", TenantKind.EXTERNAL, NOW).id
               for i in range(4)]  # fmt: skip
        made = []
        for k, (tenant, model, gpus, start, days, contiguous, spot) in enumerate(stream):
            begin = NOW + timedelta(days=start)
            made.append(Rental(
                f"r{k:02d}", ids[tenant], f"t{tenant}", model, gpus, begin,
                begin + timedelta(days=days), 2_000_000, "interruptible" if spot else "reserved",
                4 if spot else 0, contiguous, "pending", NOW,
            ))  # fmt: skip
        rentals_repo.add(conn, "request", made)
    return db, [r.id for r in made]


def _check_rows(db: Database) -> None:
    with db.read() as conn:
        overlaps = conn.execute(
            text("""
            SELECT count(*) FROM node_assignments a JOIN node_assignments b
              ON a.node_id = b.node_id AND a.id < b.id AND a.start < b."end"
             AND b.start < a."end" AND (a.gpu_mask & b.gpu_mask) <> 0""")
        ).scalar_one()
        shared_blocks = conn.execute(
            text("""
            SELECT count(*) FROM node_assignments a
              JOIN placement_holds ha ON ha.holder = a.holder
              JOIN nodes na ON na.id = a.node_id
              JOIN node_assignments b ON a.id < b.id AND a.start < b."end" AND b.start < a."end"
              JOIN placement_holds hb ON hb.holder = b.holder
              JOIN nodes nb ON nb.id = b.node_id
             WHERE na.block_id = nb.block_id
               AND COALESCE(ha.tenant_id, 0) <> COALESCE(hb.tenant_id, 0)""")
        ).scalar_one()
        partial_nodes = conn.execute(
            text("""
            SELECT count(*) FROM node_assignments a JOIN nodes n ON n.id = a.node_id
             WHERE a.gpu_mask <> (1 << n.gpus) - 1""")
        ).scalar_one()
        split_pods = conn.execute(
            text("""
            SELECT count(*) FROM (
              SELECT h.holder FROM placement_holds h
                JOIN node_assignments a ON a.holder = h.holder JOIN nodes n ON n.id = a.node_id
               WHERE h.contiguous GROUP BY h.holder HAVING count(DISTINCT n.pod_id) > 1) x
        """)
        ).scalar_one()
        short = conn.execute(
            text("""
            SELECT count(*) FROM (
              SELECT h.holder FROM placement_holds h JOIN node_assignments a
                ON a.holder = h.holder GROUP BY h.holder, h.gpus
              HAVING sum(a.gpus) <> h.gpus) x""")
        ).scalar_one()
    assert overlaps == 0, "a GPU is in two overlapping assignments"
    assert shared_blocks == 0, "two tenants share a block at overlapping times"
    assert partial_nodes == 0, "a lease holds part of a node"
    assert split_pods == 0, "a contiguous lease spans pods"
    assert short == 0, "a lease's assignments do not add up to its GPUs"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=requests)
def test_random_accepts_keep_every_rule_in_the_stored_rows(stream: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db, ids = _database(folder, stream)
        writer = PlacementCache()
        accepted, refusals = 0, []
        for request_id in ids:
            try:
                rentals.accept_request(db, OPERATOR, request_id, writer)
                accepted += 1
            except Conflict as refused:
                refusals.append(refused.message)
        assert all("cannot be placed" in m for m in refusals), refusals
        _check_rows(db)
        with db.read() as conn:
            leases = conn.execute(text("SELECT count(*) FROM leases")).scalar_one()
            notices = conn.execute(
                text("SELECT count(*) FROM leases WHERE reclaim_at IS NOT NULL")
            ).scalar_one()
        assert leases == accepted
        assert notices <= accepted
        mine, cold = read_placer(db, writer), read_placer(db, PlacementCache())
        assert _holds(cold) == _holds(mine)
        db.engine.dispose()


def _holds(placer: Any) -> dict[str, Any]:
    return {
        h: (sorted(map(astuple, placer.assignments(h))), placer.hold(h).end)
        for h in placer.holders()
    }
