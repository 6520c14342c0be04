"""The simulated cluster: advance its clock, read where it stands."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from gpufleet.api.schemas.common import ApiModel
from gpufleet.operations import LLAMA3_FAILURES_PER_GPU_HOUR, Reliability
from gpufleet.planning.scenario.fields import Instant
from gpufleet.services.leasing import Recorded
from gpufleet.services.operations import AdvanceOptions, OpsStatus


class AdvanceIn(ApiModel):
    until: Instant = Field(description="Run the simulated clock to here (whole hours, UTC)")
    seed: int = Field(default=0, ge=0, lt=2**63)
    failures_per_gpu_hour: float = Field(
        default=LLAMA3_FAILURES_PER_GPU_HOUR, ge=0.0, lt=1.0, allow_inf_nan=False,
        description="Node failures per GPU-hour (default: Llama 3, 419 in 54 days on 16,384 GPUs)",
    )  # fmt: skip
    repair_median_hours: float = Field(default=12.0, gt=0.0, le=8760.0, allow_inf_nan=False)
    repair_sigma: float = Field(default=1.0, ge=0.0, le=5.0, allow_inf_nan=False)
    experiments: bool = Field(default=True, description="Replay the lab's Philly experiments")
    experiment_copies: int = Field(default=1, ge=1, le=64)

    def options(self) -> AdvanceOptions:
        reliability = Reliability(self.failures_per_gpu_hour, self.repair_median_hours,
                                  self.repair_sigma)  # fmt: skip
        return AdvanceOptions(self.until, self.seed, reliability, self.experiments,
                              self.experiment_copies)  # fmt: skip


class OpsTotals(ApiModel):
    failures: int
    repairs: int
    replacements: int
    notices: int
    preemptions: int
    shortfalls: int
    shortfall_gpu_hours: float = Field(description="Still short: repaired nodes took some back")
    healed: int = Field(description="Shortfalls ended early by a repaired node")
    leases_started: int
    leases_ended: int
    experiments_submitted: int
    experiments_placed: int
    experiments_preempted: int
    experiments_abandoned: int
    experiments_refused: int
    experiments_refused_fragmented: int
    program_gpus_recovered: int = Field(
        default=0, description="GPUs of short program holds that later daily retries found"
    )
    busy_gpu_hours: float
    online_gpu_hours: float
    utilisation: float = Field(description="Busy GPU-hours / online GPU-hours")
    fragmentation: float = Field(
        description="Share of refused experiments that had enough GPUs free in total"
    )


class OpsStatusOut(ApiModel):
    clock: datetime
    metered_until: datetime = Field(description="Every lease hour before this is metered")
    run_status: Literal["idle", "running", "failed"]
    run_until: datetime | None
    run_error: str | None
    pending_repairs: int
    queued_experiments: int
    experiment_model: str | None
    experiment_trace: str | None = Field(
        default=None,
        description="The experiment trace the runs replayed: the Philly table's path, or the "
        "packaged one-day excerpt (replayed every day); null before the first run",
    )
    totals: OpsTotals

    @classmethod
    def of(cls, s: OpsStatus) -> OpsStatusOut:
        t = s.totals
        hours = 3600.0
        totals = OpsTotals(
            **{k: int(t.get(k, 0)) for k in OpsTotals.model_fields
               if k not in {"shortfall_gpu_hours", "busy_gpu_hours", "online_gpu_hours",
                            "utilisation", "fragmentation"}},
            shortfall_gpu_hours=round(int(t.get("shortfall_gpu_seconds", 0)) / hours, 3),
            busy_gpu_hours=round(int(t.get("busy_gpu_seconds", 0)) / hours, 3),
            online_gpu_hours=round(int(t.get("online_gpu_seconds", 0)) / hours, 3),
            utilisation=float(t.get("utilisation", 0.0)),
            fragmentation=float(t.get("fragmentation", 0.0)),
        )  # fmt: skip
        return cls(
            clock=s.clock, metered_until=s.metered_until,
            run_status=s.run_status,
            run_until=s.run_until, run_error=s.run_error, pending_repairs=s.pending_repairs,
            queued_experiments=s.queued_experiments, experiment_model=s.experiment_model,
            experiment_trace=s.experiment_trace, totals=totals,
        )  # fmt: skip


class RefusedLeaseOut(ApiModel):
    lease_id: str
    reason: str = Field(description="The engine's reason code, e.g. not_enough_capacity")
    message: str


class RecordedLeasesOut(ApiModel):
    """Leases recorded from a scenario, placed on concrete nodes (or not)."""

    placed: dict[str, int] = Field(description="Lease id → the nodes it was placed on")
    refused: list[RefusedLeaseOut] = Field(description="Leases that do not fit (state 'unplaced')")
    over: list[str] = Field(description="Leases whose window is over: nothing to place")

    @classmethod
    def of(cls, r: Recorded) -> RecordedLeasesOut:
        refused = [RefusedLeaseOut(lease_id=lease_id, reason=x.reason.value, message=x.message)
                   for lease_id, x in r.refused.items()]  # fmt: skip
        return cls(placed=dict(r.placed), refused=refused, over=list(r.over))
