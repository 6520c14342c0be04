"""Operations over time: a seeded, event-driven simulation of the cluster around the placement
engine. Pure Python and numpy, no database: `gpufleet.services.operations` loads the engine,
runs a chunk, and stores what it returns.

    placer = Placer(Topology(clusters), spare_share=0.02, clock=seconds(start))
    trace = experiment_trace()      # the Philly table where it lives, else a packaged excerpt
    stream = ExperimentStream(trace.jobs, origin=seconds(start), copies=2, seed=7,
                              period=trace.period)    # trace.label: say which one was used
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
- The lab's experiments: the Philly trace (Jeon et al., USENIX ATC'19, CC-BY-4.0), read from
  where it lives (`philly.experiment_trace`, else a packaged one-day excerpt), replayed
  as the lowest priority stream (`experiments`); accepts reclaim them first
  (`gpufleet.services.preemption`).
"""

from gpufleet.operations.experiments import Arrival, ExperimentStream, TraceJob
from gpufleet.operations.fleet_online import busiest_model, online_windows
from gpufleet.operations.metering import busy_gpu_seconds, ceil_hour, floor_hour, hourly_usage
from gpufleet.operations.philly import TraceSource, experiment_trace, load_trace
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
    "TraceSource",
    "busiest_model",
    "busy_gpu_seconds",
    "ceil_hour",
    "experiment_trace",
    "floor_hour",
    "hourly_usage",
    "load_trace",
    "online_windows",
]
