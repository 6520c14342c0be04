"""Capacity C[m,t] of design/SCENARIO.md, and the same as steps for display.

C[m,t] = floor((1 − unavailable_fraction) × installed GPUs of model m online in period t).
A cluster is online in period t when t starts on or after `online_from` and before
`offline_from`. The fraction is applied exactly, as the decimal it was written as (a
fraction of integers, never rounded), so that (1 − 0.07) × 1000 is 930, not 929.99… floored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from gpufleet.planning.scenario.model import Cluster, Horizon


def is_online(cluster: Cluster, period_start: datetime) -> bool:
    if cluster.online_from is not None and period_start < cluster.online_from:
        return False
    return cluster.offline_from is None or period_start < cluster.offline_from


def usable(installed: int, unavailable_fraction: float) -> int:
    # Fraction, not Decimal: Decimal's 28 digits would round 1 − 1e-30 up to 1.
    share = 1 - Fraction(str(unavailable_fraction))
    return math.floor(share * installed)


def capacity_by_period(
    clusters: Sequence[Cluster], horizon: Horizon, unavailable_fraction: float
) -> dict[str, list[int]]:
    """Model name → capacity in each period of the horizon (GPUs, after unavailability)."""
    models = sorted({c.gpu_model for c in clusters})
    installed = {m: [0] * horizon.periods for m in models}
    for t in range(horizon.periods):
        start = horizon.period_start(t)
        for cluster in clusters:
            if is_online(cluster, start):
                installed[cluster.gpu_model][t] += cluster.installed_gpus
    return {m: [usable(g, unavailable_fraction) for g in gpus] for m, gpus in installed.items()}


@dataclass(frozen=True)
class CapacityStep:
    """From period `first_period` (starting `start`) on, `gpu_model` has `capacity` GPUs."""

    first_period: int
    start: datetime
    gpu_model: str
    capacity: int


def capacity_steps(
    clusters: Sequence[Cluster], horizon: Horizon, unavailable_fraction: float
) -> list[CapacityStep]:
    """The periods where capacity of a model changes: a short answer to 'what comes online'."""
    steps: list[CapacityStep] = []
    for model, series in capacity_by_period(clusters, horizon, unavailable_fraction).items():
        previous = None
        for t, value in enumerate(series):
            if value != previous:
                steps.append(CapacityStep(t, horizon.period_start(t), model, value))
                previous = value
    return sorted(steps, key=lambda s: (s.first_period, s.gpu_model))
