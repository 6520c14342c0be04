"""What the fleet is: GPUs per model and cluster, capacity over time, demand on it."""

from __future__ import annotations

from gpufleet.adapters.db.repos import fleet as repo
from gpufleet.adapters.db.repos import programs, rentals
from gpufleet.api.schemas.fleet import (
    CapacityStepOut,
    ClusterSummary,
    DemandSummary,
    FleetSummary,
    HorizonOut,
    ModelSummary,
    StateCounts,
)
from gpufleet.domain.access import Principal
from gpufleet.planning.capacity import capacity_steps
from gpufleet.services.database import Database


def fleet_summary(db: Database, caller: Principal) -> FleetSummary:
    """Counts come from the topology and the few nodes that are not up, never a full scan."""
    caller.require_operator()
    with db.read() as conn:
        settings = repo.settings(conn)
        specs = repo.cluster_specs(conn)
        throughputs = repo.models(conn)
        not_up = repo.nodes_not_up(conn)
        program_count = len(programs.names(conn))
        pending = rentals.totals(conn, "request", "pending")
        signed = rentals.totals(conn, "lease", None)

    clusters = []
    for spec in specs:
        states = not_up.get(spec.name, {})
        nodes = {state: count for state, (count, _) in states.items()}
        gpus = {state: count for state, (_, count) in states.items()}
        nodes["up"] = spec.nodes - sum(nodes.values())
        gpus["up"] = spec.installed_gpus - sum(gpus.values())
        clusters.append(
            ClusterSummary(
                **spec.model_dump(),
                nodes=spec.nodes,
                installed_gpus=spec.installed_gpus,
                nodes_by_state=StateCounts(**nodes),
                gpus_by_state=StateCounts(**gpus),
            )
        )
    models = [
        ModelSummary(
            name=name,
            relative_throughput=throughput,
            clusters=sum(1 for c in clusters if c.gpu_model == name),
            installed_gpus=sum(c.installed_gpus for c in clusters if c.gpu_model == name),
            gpus_up=sum(c.gpus_by_state.up for c in clusters if c.gpu_model == name),
        )
        for name, throughput in sorted(throughputs.items())
    ]
    steps = []
    if settings is not None:
        steps = [
            CapacityStepOut(
                period=s.first_period, start=s.start, gpu_model=s.gpu_model, capacity=s.capacity
            )
            for s in capacity_steps(specs, settings.horizon, settings.unavailable_fraction)
        ]
    return FleetSummary(
        name=settings.name if settings else None,
        horizon=HorizonOut(**settings.horizon.model_dump(), end=settings.horizon.end)
        if settings
        else None,
        unavailable_fraction=settings.unavailable_fraction if settings else None,
        installed_gpus=sum(c.installed_gpus for c in clusters),
        nodes=sum(c.nodes for c in clusters),
        gpu_models=models,
        clusters=clusters,
        capacity_over_time=steps,
        programs=program_count,
        pending_requests=[DemandSummary(gpu_model=m, count=n, gpus=g) for m, n, g in pending],
        signed_leases=[DemandSummary(gpu_model=m, count=n, gpus=g) for m, n, g in signed],
    )
