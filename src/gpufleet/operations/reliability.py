"""How often nodes fail and how long repairs take.

The failure rate is Llama 3's: 419 unexpected interruptions in 54 days of pre-training on
16,384 H100 GPUs (Dubey et al., "The Llama 3 Herd of Models", 2024, section 3.3.4), i.e.
about 1.97e-5 per GPU-hour, one interruption every ~3 hours on that job. A node fails at the
per-GPU rate times its GPUs (an 8-GPU node about every 264 days), as a Poisson process.

Repair time is not in that report. The default is lognormal with a median of 12 hours and
σ = 1 (mean ≈ 20 h, 95th percentile ≈ 2.2 days): most faults are a reboot or a swapped part
within the shift, a few wait days for hardware. Both are settings, not facts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gpufleet.domain.errors import InvalidInput
from gpufleet.placement import HOUR

LLAMA3_FAILURES_PER_GPU_HOUR = 419 / (54 * 24 * 16_384)


@dataclass(frozen=True, slots=True)
class Reliability:
    failures_per_gpu_hour: float = LLAMA3_FAILURES_PER_GPU_HOUR
    repair_median_hours: float = 12.0
    repair_sigma: float = 1.0  # of the natural log of the repair time

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.failures_per_gpu_hour < 1.0 or math.isnan(self.failures_per_gpu_hour):
            problems.append("failures_per_gpu_hour must be in [0, 1)")
        if not 0.0 < self.repair_median_hours <= 24 * 365:
            problems.append("repair_median_hours must be in (0, 8760]")
        if not 0.0 <= self.repair_sigma <= 5.0:
            problems.append("repair_sigma must be in [0, 5]")
        if problems:
            raise InvalidInput("reliability: " + "; ".join(problems))

    def node_failures_per_hour(self, gpus_per_node: int) -> float:
        return self.failures_per_gpu_hour * gpus_per_node

    def repair_seconds(self, rng: np.random.Generator) -> int:
        """One repair time, whole seconds (at least one)."""
        hours = self.repair_median_hours * math.exp(self.repair_sigma * rng.standard_normal())
        return max(1, round(hours * HOUR))
