"""The story colossus.yaml tells, computed from its parsed `Scenario` and checked.

Installed GPUs, the frontier run's work and why the megadeal makes it slip, the megadeal's
price and value, demand against free capacity. `colossus_story` raises CheckError where the
scenario no longer tells that story.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass

from gpufleet.planning.scenario import Horizon, Rental, Scenario, TrainingProgram

from .colossus_data import FRONTIER_SLACK, MEGADEAL_ID, MEGADEAL_VALUE, REQUEST_MODELS
from .story import (
    CheckError,
    capacity,
    finish_period,
    first_period,
    fmt_int,
    hours_inside,
    inference_needs,
    installed_by_model,
    occupied,
    rental_load,
    throughput,
)

FRONTIER = "frontier-pretrain"
REASONING = "reasoning-model"
HOPPER = ("H100", "H200")  # where inference goes first; it spills over to GB200
GB = ("GB200", "GB300")


def megadeal_price(gpus: int, hours: int) -> float:
    """USD per GPU-hour that makes the megadeal worth MEGADEAL_VALUE, to the cent."""
    return round(MEGADEAL_VALUE / (gpus * hours), 2)


@dataclass(frozen=True)
class Fleet:
    """Capacity, leases and inference per period: what training and rentals compete for."""

    hz: Horizon
    rt: dict[str, float]
    cap: dict[str, list[int]]
    lease: dict[str, list[int]]
    total_inf: list[int]  # H100-equivalent GPUs of all inference programs
    h_free_eq: list[float]  # H100-equivalents of H100 + H200 left after leases

    @classmethod
    def of(cls, scn: Scenario) -> Fleet:
        hz, rt, cap = scn.horizon, throughput(scn), capacity(scn)
        lease = rental_load(scn, scn.leases)
        need = inference_needs(scn)
        periods = range(hz.periods)
        return cls(
            hz=hz,
            rt=rt,
            cap=cap,
            lease=lease,
            total_inf=[sum(v[t] for v in need.values()) for t in periods],
            h_free_eq=[sum((cap[m][t] - lease[m][t]) * rt[m] for m in HOPPER) for t in periods],
        )

    def gb_free_for_training(self) -> list[float]:
        """H100-equivalent GB200+GB300 GPUs per period left for training after leases and the
        inference spill-over that H100/H200 cannot carry (spill goes to GB200, the only GB model
        product-inference may use)."""
        cap, lease, rt = self.cap, self.lease, self.rt
        out = []
        for t in range(self.hz.periods):
            spill_eq = max(0.0, self.total_inf[t] - self.h_free_eq[t])
            gb200 = cap["GB200"][t] - lease["GB200"][t] - spill_eq / rt["GB200"]
            gb300 = cap["GB300"][t] - lease["GB300"][t]
            out.append(gb200 * rt["GB200"] + gb300 * rt["GB300"])
        return out

    def most_work_by(self, due: dt.date) -> tuple[int, float]:
        """(last period ending by `due`, the most H100-hours all free GB capacity does by then)."""
        due_t = first_period(self.hz, due) - 1
        return due_t, sum(self.gb_free_for_training()[: due_t + 1]) * self.hz.period_hours


def frontier_work(scn: Scenario, due: dt.date) -> int:
    """work_gpu_hours of the frontier run: FRONTIER_SLACK less than the most that all GB
    capacity left after leases and inference can do by `due`, in whole 10M H100-hours."""
    _, most = Fleet.of(scn).most_work_by(due)
    return math.floor(most * (1 - FRONTIER_SLACK) / 1e7) * 10_000_000


@dataclass(frozen=True)
class ColossusStory:
    lines: list[str]  # the printout
    max_by_due: float  # H100-hours the frontier run could do by its due date
    fin0: dt.date  # when the frontier run finishes without the megadeal
    fin1: dt.date  # ... and with it
    slip1: int  # days late with the megadeal
    fleet_day: float  # USD a day the free GB capacity would earn at mid-range prices
    mega_price: float
    mega_total: float  # USD over the whole contract
    mega_in: float  # USD inside the horizon


def _training(scn: Scenario, name: str) -> TrainingProgram:
    for p in scn.programs:
        if isinstance(p, TrainingProgram) and p.name == name:
            return p
    raise CheckError(f"programs: no training program {name}")


def _megadeal(scn: Scenario) -> Rental:
    for r in scn.rental_requests:
        if r.id == MEGADEAL_ID:
            return r
    raise CheckError(f"rental_requests: no {MEGADEAL_ID}")


def colossus_story(scn: Scenario) -> ColossusStory:
    fl = Fleet.of(scn)
    hz, rt, cap, lease = fl.hz, fl.rt, fl.cap, fl.lease
    lines: list[str] = []
    say = lines.append

    # ---- installed GPUs -------------------------------------------------------------------
    say("== colossus.yaml ==")
    say(
        f"Installed GPUs (capacity C after {scn.reliability.unavailable_fraction:.0%} unavailable):"
    )
    for c in scn.clusters:
        on = c.online_from or hz.start
        say(
            f"  {c.name:<20} {c.gpu_model:<6} {fmt_int(c.installed_gpus):>9}  online "
            f"{on.date()} (period {first_period(hz, on)})"
        )
    by_model = installed_by_model(scn)
    say(
        "  per model: "
        + ", ".join(f"{m} {fmt_int(n)}" for m, n in by_model.items())
        + f"; total {fmt_int(sum(by_model.values()))} (H100/H200 "
        f"{fmt_int(sum(by_model[m] for m in HOPPER))},"
        f" GB200/GB300 {fmt_int(sum(by_model[m] for m in GB))})"
    )
    say(
        "  capacity C at t=0 / t=38 / t=103: "
        + ", ".join(f"{m} {cap[m][0]}/{cap[m][38]}/{cap[m][103]}" for m in cap)
    )

    # ---- frontier pre-training: sized to fit by its due date with FRONTIER_SLACK to spare --
    run = _training(scn, FRONTIER)
    due, work, delay = run.due.date(), run.work_gpu_hours, int(run.delay_cost_per_day)
    due_t, max_by_due = fl.most_work_by(due)
    if work != math.floor(max_by_due * (1 - FRONTIER_SLACK) / 1e7) * 10_000_000:
        raise CheckError(f"frontier sizing: {FRONTIER}.work_gpu_hours is not sized as intended")
    gb_rate = fl.gb_free_for_training()
    mega = _megadeal(scn)
    mega_t = occupied(hz, mega.start, mega.end)
    mega_eq = mega.gpus * rt[mega.gpu_model]
    rate_mega = [r - (mega_eq if t in mega_t else 0.0) for t, r in enumerate(gb_rate)]
    f0 = finish_period(work, gb_rate, hz.period_hours)
    f1 = finish_period(work, rate_mega, hz.period_hours)
    if f0 is None or f1 is None:
        raise CheckError(f"frontier sizing: {FRONTIER} does not finish within the horizon")
    fin0 = hz.period_start(f0 + 1).date()
    fin1 = hz.period_start(f1 + 1).date()
    slip1 = max(0, (fin1 - due).days)
    lost = sum(mega_eq for t in mega_t if t <= due_t) * hz.period_hours
    say("")
    say(
        f"{FRONTIER} (GB200 x{rt['GB200']}, GB300 x{rt['GB300']} H100-equivalents; all GB "
        "capacity left after leases and inference spill-over):"
    )
    say(
        f"  due {due} = end of period {due_t}; GB H100-eq GPUs available: "
        f"t=0 {fmt_int(gb_rate[0])}, t=8 {fmt_int(gb_rate[8])}, t=22 {fmt_int(gb_rate[22])}, "
        f"t=38 {fmt_int(gb_rate[38])}"
    )
    say(
        f"  most work doable by due date = sum_t<= {due_t} avail x {hz.period_hours} h = "
        f"{fmt_int(max_by_due)} H100-hours"
    )
    say(
        f"  work_gpu_hours = that x (1 - {FRONTIER_SLACK}) rounded down = {fmt_int(work)} "
        f"(~{work / 30.8e6:.0f}x Llama 3.1 405B's 30.8M H100-hours)"
    )
    say(
        f"  without the megadeal and with no GB rental: finishes end of period {f0} = {fin0} "
        f"(slack {fmt_int(max_by_due - work)} H100-hours = "
        f"{(max_by_due - work) / (gb_rate[due_t] * hz.period_hours):.1f} weeks at the "
        f"t={due_t} rate)"
    )
    say(
        f"  the megadeal takes {mega.gpus} {mega.gpu_model} x {rt[mega.gpu_model]} = "
        f"{fmt_int(mega_eq)} H100-eq from period {mega_t.start} "
        f"({hz.period_start(mega_t.start).date()}): "
        f"{fmt_int(lost)} H100-hours before the due date, > the slack"
    )
    say(
        f"  with the megadeal: finishes end of period {f1} = {fin1}: slip {slip1} days, delay "
        f"cost {slip1} x ${delay:,} = ${slip1 * delay:,}"
    )
    if not (f0 <= due_t < f1):
        raise CheckError("frontier sizing: the megadeal must be what makes the run slip")

    med = {m: (REQUEST_MODELS[m][2] + REQUEST_MODELS[m][3]) / 2 for m in GB}
    fleet_day = sum((cap[m][due_t] - lease[m][due_t]) * med[m] * 24 for m in med)
    say(
        f"  delay cost ${delay:,}/day vs the GB capacity free at t={due_t} rented at "
        f"mid-range prices (GB200 ${med['GB200']:.2f}, GB300 ${med['GB300']:.2f}): "
        f"${fleet_day:,.0f}/day"
    )
    # reasoning-model check: doable after frontier, on GB at max_gpus
    nxt = _training(scn, REASONING)
    if nxt.max_gpus is None or nxt.earliest_start is None:
        raise CheckError(f"{REASONING}: needs max_gpus and earliest_start")
    say("")
    say(
        f"{REASONING}: {fmt_int(nxt.work_gpu_hours)} H100-hours, max {nxt.max_gpus} GPUs, "
        f"{nxt.earliest_start.date()} .. {nxt.due.date()}: at max_gpus on GB300 = "
        f"{nxt.work_gpu_hours / (nxt.max_gpus * rt['GB300'] * hz.period_hours):.1f} weeks, on "
        f"GB200 = {nxt.work_gpu_hours / (nxt.max_gpus * rt['GB200'] * hz.period_hours):.1f} "
        f"weeks; window {(nxt.due - nxt.earliest_start).days // 7} weeks"
    )

    # ---- the megadeal ---------------------------------------------------------------------
    mega_hours = int(mega.hours)
    mega_price = float(mega.price_per_gpu_hour)
    if mega_price != megadeal_price(mega.gpus, mega_hours):
        raise CheckError(f"{MEGADEAL_ID}: price is not ${MEGADEAL_VALUE:,.0f} over its GPU-hours")
    mega_total = mega.gpus * mega_hours * mega_price
    inside = hours_inside(hz, mega.start, mega.end)
    mega_in = mega.gpus * inside * mega_price
    start = mega.start.date()
    say("")
    say(
        f"{MEGADEAL_ID}: {mega.gpus} {mega.gpu_model} ({mega.gpus // 72} NVL72 racks), "
        f"{start} .. {mega.end.date()} = {mega_hours} h; price = "
        f"${MEGADEAL_VALUE / 1e9:.1f}B / ({mega.gpus} x {mega_hours}) = "
        f"{MEGADEAL_VALUE / (mega.gpus * mega_hours):.4f} -> ${mega_price:.2f}/GPU-hour"
    )
    say(
        f"  total contract value {mega.gpus} x {mega_hours} x {mega_price:.2f} = "
        f"${mega_total:,.2f}; inside the horizon ({inside} h) ${mega_in:,.2f}"
    )
    at_start = cap[mega.gpu_model][mega_t.start]
    say(
        f"  {mega.gpu_model} capacity at {start} (period {mega_t.start}): {at_start} >= {mega.gpus}"
    )
    if at_start < mega.gpus:
        raise CheckError(f"megadeal: not enough {mega.gpu_model} online at its start")

    lines += _demand(scn, fl, work, nxt.work_gpu_hours)
    return ColossusStory(
        lines=lines,
        max_by_due=max_by_due,
        fin0=fin0,
        fin1=fin1,
        slip1=slip1,
        fleet_day=fleet_day,
        mega_price=mega_price,
        mega_total=mega_total,
        mega_in=mega_in,
    )


def _demand(scn: Scenario, fl: Fleet, frontier: float, reasoning: float) -> list[str]:
    """Requested GPUs against what is free after leases and inference (and training work)."""
    hz, rt, cap, lease, total_inf = fl.hz, fl.rt, fl.cap, fl.lease, fl.total_inf
    requests = scn.rental_requests
    req = rental_load(scn, requests)
    lines: list[str] = []
    say = lines.append
    say("")
    say(
        f"rental_requests: {len(requests)} from {len({r.customer for r in requests})} "
        f"customers; leases: {len(scn.leases)}"
    )
    cnt = Counter((r.gpu_model, r.rental_class) for r in requests)
    for m in rt:
        rs = [r for r in requests if r.gpu_model == m]
        prices = [r.price_per_gpu_hour for r in rs if r.rental_class == "reserved"]
        sizes = [r.gpus for r in rs]
        say(
            f"  {m:<6} reserved {cnt[(m, 'reserved')]:>3}, interruptible "
            f"{cnt[(m, 'interruptible')]:>2}, contiguous "
            f"{sum(r.contiguous for r in rs):>2}; GPUs {min(sizes)}..{max(sizes)}; "
            f"reserved price {min(prices):.2f}..{max(prices):.2f}"
        )
    past = sum(r.end > hz.end for r in requests)
    say(f"  {past} requests end past the horizon ({hz.end.date()})")
    # free for rentals = C - leases - internal use; internal use of H = inference (placed on
    # H first), of GB = inference spill-over; training is left out (it is what the planner
    # trades against), so this is an upper bound of what rentals could get.
    say("  requested vs free (C - leases - inference, training not counted), GPUs:")
    for m in rt:
        free: list[float] = []
        for t in range(hz.periods):
            f: float = cap[m][t] - lease[m][t]
            if m in HOPPER:
                # inference fills H100 first then H200, proportionally to effective capacity
                share = ((cap[m][t] - lease[m][t]) * rt[m]) / fl.h_free_eq[t]
                f -= min(total_inf[t], fl.h_free_eq[t]) * share / rt[m]
            elif m == "GB200":
                f -= max(0.0, total_inf[t] - fl.h_free_eq[t]) / rt[m]
            free.append(f)
        busy = [t for t in range(hz.periods) if cap[m][t] > 0]
        peak = max(busy, key=lambda t: req[m][t] / max(1.0, free[t]))
        over = sum(req[m][t] > free[t] for t in busy)
        gh_req = sum(
            r.gpus * hours_inside(hz, r.start, r.end) for r in requests if r.gpu_model == m
        )
        gh_free = sum(max(0.0, f) for f in free) * hz.period_hours
        say(
            f"    {m:<6} requests exceed free in {over:>3}/{len(busy)} periods; peak t={peak} "
            f"requested {fmt_int(req[m][peak])} vs free {fmt_int(free[peak])}; GPU-hours in "
            f"horizon requested {gh_req / 1e9:.2f}B vs free {gh_free / 1e9:.2f}B"
        )
    gh_req_all = sum(r.gpus * hours_inside(hz, r.start, r.end) for r in requests)
    cap_all = sum(sum(v) for v in cap.values()) * hz.period_hours
    lease_all = sum(sum(v) for v in lease.values()) * hz.period_hours
    gb_eq_free = (
        sum((cap[m][t] - lease[m][t]) * rt[m] for m in GB for t in range(hz.periods))
        * hz.period_hours
    )
    gb_eq_req = sum(
        r.gpus * hours_inside(hz, r.start, r.end) * rt[r.gpu_model]
        for r in requests
        if r.gpu_model in GB
    )
    say(
        f"  GB200+GB300 in H100-eq-hours: capacity after leases {gb_eq_free / 1e9:.2f}B, "
        f"training needs {(frontier + reasoning) / 1e9:.2f}B, leaving "
        f"{(gb_eq_free - frontier - reasoning) / 1e9:.2f}B; GB requests ask "
        f"{gb_eq_req / 1e9:.2f}B (x{gb_eq_req / (gb_eq_free - frontier - reasoning):.2f})"
    )
    say(
        f"  all models: requested {gh_req_all / 1e9:.2f}B GPU-hours in the horizon; capacity "
        f"{cap_all / 1e9:.2f}B, leases {lease_all / 1e9:.2f}B, inference "
        f"{sum(total_inf) * hz.period_hours / 1e9:.2f}B H100-eq, frontier {frontier / 1e9:.2f}B"
        f" + reasoning {reasoning / 1e9:.2f}B H100-eq"
    )
    return lines
