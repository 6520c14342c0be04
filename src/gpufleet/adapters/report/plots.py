"""PNG plots of a plan: capacity by use, training progress, bid prices, and the frontier.

Figures are built with Matplotlib's object API (`matplotlib.figure.Figure`) and rendered by
the Agg canvas: no pyplot, no GUI backend and no global state, so plotting is safe in a
server or a worker thread and never changes the backend of the process that imports this.
Colours are the Okabe-Ito palette, then Paul Tol's "muted" (both readable with the common
colour-vision deficiencies); past those, colours repeat with a hatch so that areas stay
distinguishable.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter

from gpufleet.planning.frontier import FrontierPoint
from gpufleet.planning.periods import FloatArray
from gpufleet.planning.result import PlanResult, date_text
from gpufleet.planning.scenario.model import Scenario, TrainingProgram

OKABE_ITO = {
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
}
TOL_MUTED = ["#332288", "#117733", "#882255", "#44AA99", "#999933", "#AA4499", "#DDCC77"]
LEASES = OKABE_ITO["blue"]
RENTALS = OKABE_ITO["sky"]
IDLE = "#E4E4E4"
PROGRAM_COLOURS = [
    OKABE_ITO[name] for name in ("vermillion", "green", "purple", "yellow", "orange")
] + TOL_MUTED
MODEL_COLOURS = [OKABE_ITO[n] for n in ("blue", "vermillion", "green", "purple", "orange")] + [
    OKABE_ITO["sky"],
    *TOL_MUTED,
]
HATCHES = ["", "//", "..", "xx", "\\\\", "oo"]
SLIP_TICKS = [0, 7, 14, 30, 60, 100, 200, 300, 500, 1000, 2000, 5000, 10000, 20000, 50000]
DPI = 110
WIDTH = 11.0  # inches: 1,210 px at DPI, sharp on a laptop screen and in print
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#D0D0D0",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}


def capacity_plot(result: PlanResult, path: Path) -> Path | None:
    """One panel per GPU model: capacity per period stacked by use. None without allocation.

    GPUs the plan leaves with a training program after the period it finishes in do no work
    that counts (the bid-price LP may park spare capacity there); they are drawn as idle."""
    if not result.allocation:
        return None
    models = list(result.models)
    periods = len(result.period_starts)
    names = _program_names(result)
    shape = (len(models), periods)
    leases, rentals, idle = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    capacity = np.zeros(shape)
    programs = {name: np.zeros(shape) for name in names}
    index = {model: m for m, model in enumerate(models)}
    for row in result.allocation:
        m, t = index[row.gpu_model], row.period
        leases[m, t], rentals[m, t], idle[m, t] = row.leases, row.rentals, row.idle
        capacity[m, t] = row.capacity
        for name, gpus in row.programs.items():
            programs[name][m, t] = gpus
    for outcome in result.programs:  # after its finish a training program has no use for GPUs
        if outcome.kind == "training" and outcome.finish_period is not None:
            after = slice(outcome.finish_period + 1, None)
            idle[:, after] += programs[outcome.name][:, after]
            programs[outcome.name][:, after] = 0.0
    layers: dict[str, np.ndarray] = {
        "signed leases": leases,
        "accepted rentals": rentals,
        **programs,
        "idle": idle,
    }
    colours = _layer_styles(names)
    shown = [m for m in range(len(models)) if capacity[m].any()] or list(range(len(models)))
    edges = _edges(result)
    with _style():
        fig = Figure(figsize=(WIDTH, 1.2 + 2.5 * len(shown)), dpi=DPI, layout="constrained")
        axes = fig.subplots(len(shown), 1, sharex=True, squeeze=False)[:, 0]
        used: dict[str, tuple[str, str]] = {}
        for ax, m in zip(axes, shown, strict=True):
            bottom = np.zeros(periods)
            for label, values in layers.items():
                if not values[m].any():
                    continue
                colour, hatch = colours[label]
                top = bottom + values[m]
                ax.fill_between(edges, _post(bottom), _post(top), step="post", facecolor=colour,
                                hatch=hatch, edgecolor="white", linewidth=0.0)  # fmt: skip
                used[label] = colours[label]
                bottom = top
            ax.step(edges, _post(capacity[m]), where="post", color="black", linewidth=1.2)
            ax.set_title(f"{models[m]}: up to {int(capacity[m].max()):,} GPUs", loc="left")
            ax.set_ylabel("GPUs")
            ax.set_ylim(0, max(1.0, float(capacity[m].max())) * 1.04)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _count(v)))
            ax.grid(axis="x", visible=False)
        _date_axis(axes[-1], edges)
        order = [label for label in layers if label in used]
        handles: list[Artist] = [_patch(*used[label]) for label in order]
        handles.append(_line("black"))
        fig.legend(handles, [*order, "capacity"], loc="outside upper center",
                   ncol=min(len(handles), 5), frameon=False)  # fmt: skip
        return _save(fig, path)


def work_plot(scenario: Scenario, result: PlanResult, path: Path) -> Path | None:
    """One panel per training program: cumulative work against the work it needs, its due
    date and its finish. None when there is no training program or no plan."""
    arrays = result.arrays
    training = [p for p in scenario.programs if isinstance(p, TrainingProgram)]
    if arrays is None or not training:
        return None
    edges = _edges(result)
    outcomes = {p.name: p for p in result.programs}
    with _style():
        fig = Figure(figsize=(WIDTH, 0.8 + 2.6 * len(training)), dpi=DPI, layout="constrained")
        axes = fig.subplots(len(training), 1, sharex=True, squeeze=False)[:, 0]
        for j, (ax, program) in enumerate(zip(axes, training, strict=True)):
            colour = PROGRAM_COLOURS[j % len(PROGRAM_COLOURS)]
            need = program.work_gpu_hours
            # GPUs a finished program keeps add no work that matters: the line stops at need.
            work = np.minimum(np.concatenate([[0.0], arrays.cumulative_work[j]]), need)
            ax.plot(edges, work, color=colour, linewidth=2.2, label="work done")
            ax.axhline(need, color="black", linestyle="--", linewidth=1.2,
                       label=f"work needed: {_count(need)} GPU-h")  # fmt: skip
            ax.axvline(_x(program.due), color="#555555", linestyle=":", linewidth=1.6,
                       label=f"due {date_text(program.due)}")  # fmt: skip
            outcome = outcomes[program.name]
            if outcome.finish is not None:
                late = outcome.slip_days
                when = f"{days_text(late)} late" if late > 0 else "on time"
                ax.plot([_x(outcome.finish)], [need], marker="o", markersize=9, color=colour,
                        markeredgecolor="black", linestyle="none",
                        label=f"finish {date_text(outcome.finish)} ({when})")  # fmt: skip
                title = f"{program.name}: finishes {date_text(outcome.finish)}, {when}"
            else:
                share = float(work[-1]) / need
                title = (f"{program.name}: unfinished at the horizon's end "
                         f"({share:.0%} of the work done)")  # fmt: skip
            ax.set_title(title, loc="left")
            ax.set_ylabel("H100-equiv. GPU-h")
            ax.set_ylim(0, max(need, float(work.max())) * 1.1)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _count(v)))
            ax.legend(loc="best", frameon=True, framealpha=0.9)
        _date_axis(axes[-1], edges)
        return _save(fig, path)


def bid_price_plot(result: PlanResult, path: Path) -> Path | None:
    """Bid price per GPU model and period (USD per GPU-hour). None without a plan."""
    arrays = result.arrays
    if arrays is None or not result.models:
        return None
    edges = _edges(result)
    prices = arrays.bid_price
    with _style():
        fig = Figure(figsize=(WIDTH, 4.2), dpi=DPI, layout="constrained")
        ax = fig.subplots()
        for m, model in enumerate(result.models):
            colour = MODEL_COLOURS[m % len(MODEL_COLOURS)]
            style = ["-", "--", "-.", ":"][(m // len(MODEL_COLOURS)) % 4]
            ax.step(edges, _post(prices[m]), where="post", color=colour, linestyle=style,
                    linewidth=2.0,
                    label=model if prices[m].any() else f"{model} (zero throughout)")  # fmt: skip
        top = float(prices.max()) if prices.size else 0.0
        ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)
        if top <= 0:
            ax.text(0.5, 0.5, "every bid price is zero: no capacity is scarce at the margin",
                    transform=ax.transAxes, ha="center", va="center", color="#555555")  # fmt: skip
        ax.set_title("Bid price per GPU model (what one more GPU-hour is worth to the plan)",
                     loc="left")  # fmt: skip
        ax.set_ylabel("USD per GPU-hour")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"${v:,.2f}"))
        ax.legend(loc="upper right", ncol=min(len(result.models), 6), frameon=True,
                  framealpha=0.9)  # fmt: skip
        _date_axis(ax, edges)
        return _save(fig, path)


def frontier_plot(points: Sequence[FrontierPoint], path: Path) -> Path | None:
    """Revenue against total slip days, one marker per distinct plan, labelled with its
    delay-cost factor; the plan for the costs as written is a star. None without points."""
    if not points:
        return None
    slip = np.array([p.total_slip_days for p in points])
    revenue = np.array([p.revenue for p in points])
    spread = float(slip.max()) if slip.size else 0.0
    second = float(np.sort(slip)[-2]) if slip.size > 1 else spread
    broken = spread > 4 * max(second, 7.0)  # one far point (delay ignored) squashes the rest
    with _style():
        fig = Figure(figsize=(WIDTH, 5.4), dpi=DPI, layout="constrained")
        ax = fig.subplots()
        ax.plot(slip, revenue, color=OKABE_ITO["blue"], linewidth=1.5, zorder=2)
        ordinary = [i for i, p in enumerate(points) if not p.actual]
        ax.plot(slip[ordinary], revenue[ordinary], linestyle="none", marker="o", markersize=8,
                color=OKABE_ITO["blue"], zorder=3, label="plan at a scaled delay cost")  # fmt: skip
        for i, point in enumerate(points):
            if point.actual:
                ax.plot([slip[i]], [revenue[i]], linestyle="none", marker="*", markersize=20,
                        color=OKABE_ITO["vermillion"], markeredgecolor="black", zorder=4,
                        label="delay costs as written (×1)")  # fmt: skip
            ax.annotate(_factor_label(point), (slip[i], revenue[i]), xytext=(8, 8),
                        textcoords="offset points", fontsize=10,
                        color=OKABE_ITO["vermillion"] if point.actual else "#333333",
                        fontweight="bold" if point.actual else "normal")  # fmt: skip
        if broken:
            ax.set_xscale("symlog", linthresh=max(7.0, second / 2), linscale=1.5)
            ticks = [t for t in SLIP_TICKS if t <= spread * 1.2]
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_minor_locator(FixedLocator([]))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.set_xlim(left=-0.03 * max(spread, 1.0) if not broken else -1.0,
                    right=(spread * (1.6 if broken else 1.12)) or 1.0)  # fmt: skip
        low, high = float(revenue.min()), float(revenue.max())
        pad = max((high - low) * 0.12, abs(high) * 0.01, 1.0)
        ax.set_ylim(low - pad, high + pad)
        ax.set_xlabel("total slip of training programs (days)"
                      + (" — symmetric log scale" if broken else ""))  # fmt: skip
        ax.set_ylabel("revenue from accepted requests")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _money(v)))
        ax.set_title("Revenue against roadmap slip as delay costs are scaled (label: factor)",
                     loc="left")  # fmt: skip
        ax.legend(loc="lower right", frameon=True, framealpha=0.9)
        return _save(fig, path)


def _factor_label(point: FrontierPoint) -> str:
    if point.factor == 0:
        return "×0 (delay ignored)"
    return f"×{factor_text(point.factor)}"


def factor_text(factor: float) -> str:
    """0.193387 → 0.193; 1000.0 → 1,000: three significant digits, never in e-notation."""
    if factor >= 100:
        return f"{factor:,.0f}"
    return f"{factor:.3g}"


def _program_names(result: PlanResult) -> list[str]:
    names = [p.name for p in result.programs]
    extra = {name for row in result.allocation for name in row.programs} - set(names)
    return names + sorted(extra)


def _layer_styles(programs: list[str]) -> dict[str, tuple[str, str]]:
    styles = {"signed leases": (LEASES, ""), "accepted rentals": (RENTALS, ""), "idle": (IDLE, "")}
    for i, name in enumerate(programs):
        colour = PROGRAM_COLOURS[i % len(PROGRAM_COLOURS)]
        styles[name] = (colour, HATCHES[(i // len(PROGRAM_COLOURS)) % len(HATCHES)])
    return styles


def _edges(result: PlanResult) -> FloatArray:
    """Period starts and the end of the last period, as Matplotlib dates: the x values of
    step plots."""
    starts = list(result.period_starts)
    step = starts[1] - starts[0] if len(starts) > 1 else timedelta(days=7)
    return np.array([_x(moment) for moment in [*starts, starts[-1] + step]] if starts else [])


def _x(moment: datetime) -> float:
    return float(mdates.date2num(moment))  # type: ignore[no-untyped-call]


def _post(values: np.ndarray) -> np.ndarray:
    """A per-period series with its last value repeated for the closing edge."""
    return np.concatenate([values, values[-1:]])


def _date_axis(ax: Axes, edges: FloatArray) -> None:
    locator = mdates.AutoDateLocator(minticks=5, maxticks=12)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)
    if edges.size:
        ax.set_xlim(float(edges[0]), float(edges[-1]))


def _patch(colour: str, hatch: str) -> Patch:
    return Patch(facecolor=colour, hatch=hatch, edgecolor="white" if hatch else colour)


def _line(colour: str) -> Line2D:
    return Line2D([], [], color=colour, linewidth=1.2)


def _count(value: float) -> str:
    """12,000 → 12k; 3.6e9 → 3.6B: axis ticks that read at a glance."""
    size = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            return f"{value / limit:,.3g}{suffix}"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.3g}"


def _money(value: float) -> str:
    sign = "−" if value < 0 else ""
    size = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            return f"{sign}${size / limit:,.4g}{suffix}"
    return f"{sign}${size:,.0f}"


def days_text(days: float) -> str:
    whole = math.isclose(days, round(days), abs_tol=1e-9)
    text = f"{round(days):,}" if whole else f"{days:,.1f}"
    return f"{text} day" + ("" if text == "1" else "s")


@contextmanager
def _style() -> Iterator[None]:
    with mpl.rc_context(cast(Any, STYLE)):  # rcParams' keys are typed as literals
        yield


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, format="png", dpi=DPI)
    return path
