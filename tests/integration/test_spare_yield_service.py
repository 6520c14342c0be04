"""ADR 0011 on both databases: a signed firm lease that fits only on a pod's spare blocks is
placed there, and the operator hears of it (`pod.spares_reduced`); an interruptible one is not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from gpufleet.adapters.db.tables import events, leases
from gpufleet.planning.scenario import parse_scenario
from gpufleet.services import fleet, rentals
from gpufleet.services.database import Database
from tests.conftest import Actor

NOW = datetime(2027, 1, 4, tzinfo=UTC)


def _pod_sized_leases(db: Database, operator: Actor, rental_class: str) -> None:
    """One pod of four 8-GPU nodes, the last one a spare; a contiguous lease of all 32 GPUs."""
    db.clock = lambda: NOW  # type: ignore[method-assign]
    signed = {"id": "lease-pod", "customer": "cust-a", "gpu_model": "H100", "gpus": 32,
              "start": "2027-01-05", "end": "2027-02-01", "price_per_gpu_hour": 2.0,
              "contiguous": True, "rental_class": rental_class}  # fmt: skip
    if rental_class == "interruptible":
        signed["notice_hours"] = 2
    scenario = parse_scenario({
        "version": 1, "name": "tiny", "horizon": {"start": "2027-01-04", "period": "week",
                                                  "periods": 8},
        "gpu_models": [{"name": "H100"}],
        "clusters": [{"name": "t", "gpu_model": "H100", "gpus_per_node": 8,
                      "nodes_per_block": 1, "blocks_per_pod": 4, "pods": 1}],
        "leases": [signed],
    })  # fmt: skip
    fleet.import_scenario(db, operator.principal, scenario)


def _rows(db: Database, query: Any) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(query))


def test_a_pod_sized_firm_lease_takes_the_spares_and_the_operator_is_told(
    db: Database, operator: Actor
) -> None:
    _pod_sized_leases(db, operator, "reserved")

    done = rentals.place_recorded(db, operator.principal)

    assert done.placed == {"lease-pod": 4}
    assert dict(_rows(db, select(leases.c.id, leases.c.state))) == {"lease-pod": "scheduled"}
    told = _rows(db, select(events.c.subject, events.c.tenant_id, events.c.data)
                 .where(events.c.kind == "pod.spares_reduced"))  # fmt: skip
    assert [(t.subject, t.tenant_id) for t in told] == [("t-p000", None)]  # the operator's
    data = told[0].data
    assert (data["lease_id"], data["spare_blocks_taken"], data["spare_blocks"]) == (
        "lease-pod", 1, 1)  # fmt: skip
    assert data["from"].startswith("2027-01-05")
    assert data["until"].startswith("2027-02-01")


def test_an_interruptible_pod_sized_lease_stays_unplaced(db: Database, operator: Actor) -> None:
    _pod_sized_leases(db, operator, "interruptible")

    done = rentals.place_recorded(db, operator.principal)

    assert done.placed == {}
    assert list(done.refused) == ["lease-pod"]
    assert _rows(db, select(events.c.id).where(events.c.kind == "pod.spares_reduced")) == []
