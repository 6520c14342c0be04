"""Upper bounds the model can state up front: capacity left after leases, and the most
work a training program could do in a period if it had its models to itself."""

from __future__ import annotations

import numpy as np

from gpufleet.planning.periods import Derived, FloatArray, IntArray


def free_capacity(derived: Derived) -> IntArray:
    """C[m,t] minus leases: what requests and programs share."""
    models, periods = derived.capacity.shape
    return derived.capacity - derived.leases.load(models, periods)


def most_work_per_period(derived: Derived, free: IntArray) -> FloatArray:
    """[J, P] the most H100-equivalent GPUs each training program could run per period: its
    fastest models first, up to max_gpus, as if nothing else used the capacity."""
    training, rel = derived.training, derived.relative_throughput
    most = np.zeros((len(training), derived.periods))
    for j in range(len(training)):
        room = np.full(derived.periods, training.max_gpus[j])
        for m in np.argsort(-rel, kind="stable"):
            if training.allowed[j, m]:
                take = np.minimum(free[m], room)
                most[j] += take * rel[m]
                room = room - take
        most[j, : training.first_period[j]] = 0.0
    return most
