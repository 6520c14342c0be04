"""Operations over time: a seeded, event-driven simulation of the cluster around the placement
engine. Pure Python and numpy, no database: `gpufleet.services.operations` loads the engine,
runs a chunk, and stores what it returns.

    placer = Placer(Topology(clusters), spare_share=0.02, clock=seconds(start))
    stream = ExperimentStream(load_trace(), origin=seconds(start), copies=2, seed=7)
    sim = Simulator(placer, seed=7, reliability=Reliability(),
                    experiments=ExperimentSettings(stream, "H100"),
                    online=online_windows(placer.topology, clusters))
    chunk = sim.run(seconds(start + timedelta(weeks=2)))
    chunk.events        # lease.started/ended, node.failed/repaired, lease.node_replaced, …
    hourly_usage(placer, since, until)  # promised = delivered + shortfall per lease and hour
    sim.totals.utilisation, sim.totals.fragmentation

- Failures: Llama 3's rate per GPU-hour × GPUs per node, Poisson; repairs lognormal
  (`Reliability`, both configurable).
- Leases start and end at their window; preemptions happen exactly at `reclaim_at`.
- The lab's experiments: the Philly trace (Jeon et al., USENIX ATC'19, CC-BY-4.0) replayed
  as the lowest priority stream (`experiments`); accepts reclaim them first
  (`gpufleet.services.preemption`).
"""

from gpufleet.operations.experiments import (
    TRACE_PERIOD,
    Arrival,
    ExperimentStream,
    TraceJob,
    load_trace,
)
from gpufleet.operations.fleet_online import busiest_model, online_windows
from gpufleet.operations.metering import busy_gpu_seconds, ceil_hour, floor_hour, hourly_usage
from gpufleet.operations.records import HourUsage, SimEvent, Totals
from gpufleet.operations.reliability import LLAMA3_FAILURES_PER_GPU_HOUR, Reliability
from gpufleet.operations.simulator import (
    Chunk,
    ExperimentSettings,
    Failure,
    Online,
    Queued,
    SimState,
    Simulator,
)

__all__ = [
    "LLAMA3_FAILURES_PER_GPU_HOUR",
    "TRACE_PERIOD",
    "Arrival",
    "Chunk",
    "ExperimentSettings",
    "ExperimentStream",
    "Failure",
    "HourUsage",
    "Online",
    "Queued",
    "Reliability",
    "SimEvent",
    "SimState",
    "Simulator",
    "Totals",
    "TraceJob",
    "busiest_model",
    "busy_gpu_seconds",
    "ceil_hour",
    "floor_hour",
    "hourly_usage",
    "load_trace",
    "online_windows",
]
