"""`report.html`: one self-contained page for a plan (and, when given, its frontier).

    write_report(Path("out"), scenario, result, frontier_points=points)  # → out/report.html

The page embeds its plots as PNG data URIs, so it can be mailed or archived as one file; the
same PNGs are written next to it (capacity.png, work.png, bid_prices.png, frontier.png) for
slides. Every text taken from the scenario or the result is escaped.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from gpufleet.adapters.report.plots import (
    bid_price_plot,
    capacity_plot,
    days_text,
    factor_text,
    frontier_plot,
    work_plot,
)
from gpufleet.domain.money import format_usd
from gpufleet.planning.frontier import FrontierPoint
from gpufleet.planning.result import PlanResult, date_text
from gpufleet.planning.scenario.model import Rental, Scenario, TrainingProgram

REPORT_NAME = "report.html"
SCROLL_ROWS = 30  # longer tables scroll inside a box, under a header that stays in view


@dataclass(frozen=True)
class Plot:
    file: str
    title: str
    caption: str


CAPACITY = Plot(
    "capacity.png",
    "Capacity by use",
    "One panel per GPU model; the black line is the usable capacity (installed GPUs less the "
    "unavailable share). Blue is sold capacity (dark: signed leases, light: rentals this plan "
    "accepts), the other colours are the lab's own programs and grey is idle. Look for grey "
    "(capacity nobody uses: it could still be rented out) and for periods where a training "
    "program's band narrows as rentals widen: there the rentals are paid for in roadmap time. "
    "GPUs left with a training program after it has finished are drawn as idle.",
)
WORK = Plot(
    "work.png",
    "Training progress",
    "Each training program's cumulative work in H100-equivalent GPU-hours against the work it "
    "needs (dashed). It finishes where the line meets the dashed level (the dot); the dotted "
    "vertical line is its due date. A dot to the right of the due date is slip, charged at "
    "the program's delay cost per day; a flat stretch is a period the program gets no GPUs.",
)
BID_PRICES = Plot(
    "bid_prices.png",
    "Bid prices",
    "What one more GPU-hour of each model would be worth to this plan, per period. Zero means "
    "the model has spare capacity then; a positive price means capacity is scarce and using "
    "it costs a program time. A request is worth its capacity when its price beats the bid "
    "prices of the periods it occupies: that sum is the opportunity cost in the requests table.",
)
FRONTIER = Plot(
    "frontier.png",
    "Revenue against roadmap slip",
    "Each point is the best plan when every program's delay cost is multiplied by the factor "
    "in its label: ×0 ignores delay (the most revenue there is), the largest factor makes any "
    "slip prohibitive (the least slip there is). Moving left buys roadmap days with revenue; "
    "the slope between neighbouring points is what a day of slip is worth there. The star is "
    "the plan for the delay costs as written.",
)


def write_report(
    directory: Path,
    scenario: Scenario,
    result: PlanResult,
    frontier_points: Sequence[FrontierPoint] | None = None,
) -> Path:
    """Write `report.html` and its PNGs into `directory` (created if missing); return the
    page's path. `result` is the plan of `scenario`; `frontier_points` from
    `gpufleet.planning.frontier.frontier`, or None to leave the frontier out."""
    directory.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[Plot, Path]] = []
    for plot, path in (
        (CAPACITY, capacity_plot(result, directory / CAPACITY.file)),
        (WORK, work_plot(scenario, result, directory / WORK.file)),
        (BID_PRICES, bid_price_plot(result, directory / BID_PRICES.file)),
        (FRONTIER, frontier_plot(frontier_points or [], directory / FRONTIER.file)),
    ):
        if path is not None:
            figures.append((plot, path))
    page = render(scenario, result, figures, frontier_points)
    target = directory / REPORT_NAME
    target.write_text(page, encoding="utf-8")
    return target


def render(
    scenario: Scenario,
    result: PlanResult,
    figures: Sequence[tuple[Plot, Path]],
    frontier_points: Sequence[FrontierPoint] | None = None,
) -> str:
    """The page as text, with the PNGs in `figures` embedded."""
    horizon = scenario.horizon
    unit = "week" if horizon.period == "week" else "day"
    plural = "" if horizon.periods == 1 else "s"
    subtitle = (
        f"Horizon {date_text(horizon.start)} to {date_text(horizon.end)} "
        f"({horizon.periods} {unit}{plural}) · {len(scenario.rental_requests)} rental "
        f"requests · {len(scenario.programs)} programs · written "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M')} UTC by gpufleet"
    )
    parts = [
        _HEAD.replace("{title}", escape(f"gpufleet plan: {scenario.name}")),
        f"<h1>Plan for scenario <q>{escape(scenario.name)}</q></h1>",
        f'<p class="sub">{escape(subtitle)}</p>',
        _headline(result),
    ]
    feasible = result.status != "infeasible"
    parts.append(_programs(scenario, result) if feasible else _reasons(result))
    for plot, path in figures:  # the long request table comes last, after the pictures
        parts.append(_figure(plot, path))
        if plot.file == FRONTIER.file and frontier_points:
            parts.append(_frontier_table(frontier_points))
    if frontier_points and not any(plot.file == FRONTIER.file for plot, _ in figures):
        parts.append(_frontier_table(frontier_points))
    if feasible:
        parts.append(_decisions(scenario, result))
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def _headline(result: PlanResult) -> str:
    bound = format_usd(result.bound) if math.isfinite(result.bound) else "none proven"
    gap = f"{result.gap:.3%}" if math.isfinite(result.gap) else "unknown"
    cards = [
        ("Objective", format_usd(result.objective), "revenue − delay cost"),
        ("Revenue", format_usd(result.revenue), f"{len(result.accepted_ids)} requests accepted"),
        ("Delay cost", format_usd(result.delay_cost), _slip_summary(result)),
        ("Gap", gap, f"proven bound {bound}"),
        ("Solve time", f"{result.solve_seconds:.1f} s", f"status {result.status}"),
        ("Signed leases", format_usd(result.committed_revenue), "committed, kept in any plan"),
    ]
    if result.status == "infeasible":  # no plan: nothing to add up
        cards = [("Status", "infeasible", "no plan fits the commitments"), *cards[-2:]]
    items = "".join(
        f'<div class="card"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(value)}</div><div class="note">{escape(note)}</div></div>'
        for label, value, note in cards
    )
    return f'<section class="cards" id="headline">{items}</section>'


def _slip_summary(result: PlanResult) -> str:
    training = [p for p in result.programs if p.kind == "training"]
    if not training:
        return "no training programs"
    late = [p for p in training if p.slip_days > 0]
    if not late:
        return "every training program on time"
    days = sum(p.slip_days for p in late)
    return f"{len(late)} of {len(training)} programs late, {days_text(days)} in all"


def _reasons(result: PlanResult) -> str:
    items = "".join(f"<li>{escape(r.message)}</li>" for r in result.reasons)
    return (
        "<h2>Infeasible</h2><p>The signed leases and inference needs alone do not fit the "
        f"fleet:</p><ul>{items}</ul>"
    )


def _programs(scenario: Scenario, result: PlanResult) -> str:
    specs = {p.name: p for p in scenario.programs}
    rows = []
    for outcome in result.programs:
        spec = specs.get(outcome.name)
        if outcome.kind == "training" and isinstance(spec, TrainingProgram):
            rows.append(
                [
                    outcome.name,
                    "training",
                    date_text(spec.due),
                    date_text(outcome.finish) if outcome.finish else "—",
                    days_text(outcome.slip_days),
                    format_usd(float(spec.delay_cost_per_day)),
                    format_usd(outcome.delay_cost),
                    outcome.status,
                ]
            )
        else:
            rows.append([outcome.name, outcome.kind, "—", "—", "—", "—", "—", outcome.status])
    return "<h2>Programs</h2>" + _table(
        ["program", "kind", "due", "finish", "slip", "delay cost per day", "delay cost",
         "status"],
        rows,
        numeric={4, 5, 6},
        row_classes=[_late_class(o.slip_days) for o in result.programs],
    )  # fmt: skip


def _late_class(slip: float) -> str:
    return "late" if slip > 0 else ""


def _decisions(scenario: Scenario, result: PlanResult) -> str:
    requests: dict[str, Rental] = {r.id: r for r in scenario.rental_requests}
    ordered = sorted(result.decisions, key=lambda d: (not d.accepted, -d.revenue))
    rows, classes = [], []
    for d in ordered:
        r = requests.get(d.id)
        decision = ("accept" if d.accepted else "decline") + (" (forced)" if d.forced else "")
        rows.append(
            [
                d.id + (" †" if d.beyond_horizon else ""),
                r.customer if r else "—",
                r.gpu_model if r else "—",
                f"{r.gpus:,}" if r else "—",
                date_text(r.start) if r else "—",
                date_text(r.end) if r else "—",
                f"${r.price_per_gpu_hour:,.2f}" if r else "—",
                format_usd(d.revenue),
                format_usd(d.opportunity_cost),
                decision,
            ]
        )
        classes.append("accepted" if d.accepted else "declined")
    accepted = len(result.accepted_ids)
    note = (
        '<p class="note">† runs past the horizon: only the part inside it is counted as '
        "revenue here.</p>"
        if any(d.beyond_horizon for d in result.decisions)
        else ""
    )
    title = f"Rental requests: {accepted} of {len(result.decisions)} accepted"
    return (
        f"<h2>{escape(title)}</h2>"
        + _table(
            ["request", "customer", "model", "GPUs", "start", "end", "price per GPU-hour",
             "revenue", "opportunity cost", "decision"],
            rows,
            numeric={3, 6, 7, 8},
            row_classes=classes,
        )
        + note
    )  # fmt: skip


def _frontier_table(points: Sequence[FrontierPoint]) -> str:
    rows = [
        [
            ", ".join(f"×{factor_text(f)}" for f in p.factors or (p.factor,)),
            format_usd(p.revenue),
            days_text(p.total_slip_days) + (" (unfinished)" if p.unfinished else ""),
            f"{p.accepted:,}",
            format_usd(p.true_delay_cost),
            format_usd(p.objective),
            "as written" if p.actual else "",
        ]
        for p in points
    ]
    return (
        "<h3>Frontier points</h3>"
        + _table(
            ["delay-cost factor", "revenue", "total slip", "accepted", "delay cost as written",
             "objective as written", ""],
            rows,
            numeric={1, 2, 3, 4, 5},
            row_classes=["actual" if p.actual else "" for p in points],
        )
        + '<p class="note">Several factors in one row found the same plan. "As written" '
        "values judge every plan by the scenario's own delay costs.</p>"
    )  # fmt: skip


def _figure(plot: Plot, path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<section class="plot" id="{escape(path.stem)}"><h2>{escape(plot.title)}</h2>'
        f'<figure><img src="data:image/png;base64,{data}" alt="{escape(plot.title)}">'
        f'<figcaption>{escape(plot.caption)} <span class="file">'
        f"({escape(path.name)})</span></figcaption></figure></section>"
    )


def _table(
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    numeric: set[int],
    row_classes: Sequence[str] = (),
) -> str:
    def cell(tag: str, i: int, text: str) -> str:
        css = ' class="num"' if i in numeric else ""
        return f"<{tag}{css}>{escape(text)}</{tag}>"

    head = "".join(cell("th", i, c) for i, c in enumerate(columns))
    body = []
    for n, row in enumerate(rows):
        css = row_classes[n] if n < len(row_classes) else ""
        attr = f' class="{escape(css)}"' if css else ""
        body.append(f"<tr{attr}>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>")
    grid = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f'<div class="scroll">{grid}</div>' if len(body) > SCROLL_ROWS else grid


_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
:root { --ink: #1d1d1f; --muted: #5b5b60; --rule: #dcdce0; --stripe: #f6f6f8;
        --accent: #0072B2; --late: #D55E00; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 28px 32px 64px; }
h1 { font-size: 28px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px;
     border-bottom: 1px solid var(--rule); }
h3 { font-size: 16px; margin: 24px 0 8px; }
q { quotes: "\\201C" "\\201D"; }
.sub, .note, figcaption { color: var(--muted); }
.note { font-size: 13px; margin: 6px 0 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr));
         gap: 12px; margin: 20px 0 8px; }
.card { border: 1px solid var(--rule); border-radius: 8px; padding: 12px 14px;
        border-top: 4px solid var(--accent); }
.card .label { font-size: 12px; text-transform: uppercase; letter-spacing: .05em;
               color: var(--muted); }
.card .value { font-size: 24px; font-weight: 650; margin: 2px 0;
               font-variant-numeric: tabular-nums; }
.card .note { margin: 0; font-size: 12.5px; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px;
        font-variant-numeric: tabular-nums; }
th, td { padding: 5px 10px; text-align: left; border-bottom: 1px solid var(--rule);
         white-space: nowrap; }
th { background: #eef0f4; font-weight: 600; position: sticky; top: 0; }
td.num, th.num { text-align: right; }
tbody tr:nth-child(even) { background: var(--stripe); }
tr.declined td { color: var(--muted); }
tr.accepted td:last-child { color: #00704F; font-weight: 600; }
tr.late td:nth-child(5), tr.late td:nth-child(7) { color: var(--late); font-weight: 600; }
tr.actual td { font-weight: 650; }
tr.actual td:last-child { color: var(--late); }
figure { margin: 0; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--rule);
             border-radius: 6px; }
figcaption { font-size: 14px; margin: 8px 2px 0; max-width: 1000px; }
.scroll { max-height: 640px; overflow: auto; border: 1px solid var(--rule);
          border-radius: 6px; }
@media print { .scroll { max-height: none; overflow: visible; } }
.file { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; }
</style></head><body><main>"""
