"""How many replicas a deployment wants, from its load: a pure rule the runtime applies.

Up at once to what the load needs; down one replica per decision, so a short lull does not
throw away a replica (and, for a large model, minutes of loading) that the next burst needs.
"""

from __future__ import annotations

import math

from gpufleet.hosting.catalog import ScaleMetric


def desired_replicas(
    metric: ScaleMetric, load: float, target: int, current: int, low: int, high: int
) -> int:
    """`load` is requests queued or running (queue_depth) or tokens generated per second
    (tokens_per_second); `target` is that load one replica should carry."""
    del metric  # both metrics scale the same way; the name says what `load` measures
    wanted = math.ceil(load / target) if target > 0 and load > 0 else 0
    wanted = max(low, min(high, wanted))
    if wanted < current:
        return max(low, current - 1)
    return wanted
