"""Hourly metering of leases from the engine's ledger: for every lease and clock hour that is
over, promised / delivered / shortfall GPU-seconds (promised = delivered + shortfall).

Delivered and shortfall are step functions of time (GPUs on nodes, GPUs missing); their
integrals at the hour boundaries come from the breakpoints in integer arithmetic, so a lease
of thousands of nodes over weeks costs one sort, not nodes × hours.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from gpufleet.operations.records import HourUsage
from gpufleet.placement import HOUR, HoldKind, Placer

I64 = npt.NDArray[np.int64]


def floor_hour(t: int) -> int:
    return t - t % HOUR


def ceil_hour(t: int) -> int:
    return -(-t // HOUR) * HOUR


def hourly_usage(placer: Placer, since: int, until: int,
                 holders: Iterable[str] | None = None) -> list[HourUsage]:  # fmt: skip
    """Rows for every lease hold (of `holders`, default all) and every whole hour
    [h, h + 1 h) with since ≤ h and h + 1 h ≤ until, where the lease promised anything."""
    lo, hi = ceil_hour(since), floor_hour(until)
    rows: list[HourUsage] = []
    if hi <= lo:
        return rows
    for holder in placer.holders() if holders is None else holders:
        hold = placer.hold(holder)
        r = hold.request
        if r.kind != HoldKind.LEASE:
            continue
        first, last = max(lo, floor_hour(r.start)), min(hi, ceil_hour(hold.end))
        if last <= first:
            continue
        bounds = np.arange(first, last + 1, HOUR, dtype=np.int64)
        promised = np.diff(_integral([(r.start, hold.end, r.gpus)], bounds))
        delivered = np.diff(_integral([(e.start, e.end, e.gpus) for e in hold.entries], bounds))
        short = [(a, min(b, hold.end), g) for a, b, g in hold.shortfalls if a < hold.end]
        shortfall = np.diff(_integral(short, bounds))
        for i in np.flatnonzero(promised | delivered | shortfall).tolist():
            hour, p_, d, s_ = int(bounds[i]), int(promised[i]), int(delivered[i]), int(shortfall[i])
            rows.append(HourUsage(holder, r.tenant, r.gpu_model, hour, p_, d, s_))
    return rows


def _integral(segments: list[tuple[int, int, int]], at: I64) -> I64:
    """∫ from -∞ to each time in `at` of the sum of `gpus` over the [start, end) segments."""
    segs = [(s, e, g) for s, e, g in segments if e > s]
    if not segs:
        return np.zeros(len(at), dtype=np.int64)
    arr = np.array(segs, dtype=np.int64)
    times = np.concatenate([arr[:, 0], arr[:, 1]])
    steps = np.concatenate([arr[:, 2], -arr[:, 2]])
    order = np.argsort(times, kind="stable")
    times, steps = times[order], steps[order]
    rate = np.cumsum(steps)  # GPUs from times[k] until times[k + 1]
    area = np.concatenate([[0], np.cumsum(rate[:-1] * np.diff(times))])  # integral at times[k]
    k = np.searchsorted(times, at, side="right") - 1
    inside = k >= 0
    kk = np.where(inside, k, 0)
    out: I64 = np.where(inside, area[kk] + rate[kk] * (at - times[kk]), 0).astype(np.int64)
    return out


def busy_gpu_seconds(placer: Placer, holders: Iterable[str], start: int, end: int) -> int:
    """GPU-seconds held (GPUs of the nodes' masks, whole nodes count whole) over [start, end)."""
    total = 0
    for holder in holders:
        for e in placer.hold(holder).entries:
            overlap = min(e.end, end) - max(e.start, start)
            if overlap > 0:
                total += e.mask.bit_count() * overlap
    return total
