"""`gpufleet demo`: the story on the embedded default, end to end, in-process."""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from gpufleet.api.schemas.programs import ProgramOut
from gpufleet.api.schemas.rentals import RentalOut
from gpufleet.bootstrap import open_database
from gpufleet.cli import views
from gpufleet.cli.demo_billing import run_billing_demo, show_billing
from gpufleet.cli.demo_hosting import run_hosting_demo, show_hosting
from gpufleet.cli.demo_operations import show_operations, simulate_weeks
from gpufleet.cli.output import console, emit_json, json_text
from gpufleet.cli.plan import show_plan, solving
from gpufleet.config import home
from gpufleet.domain.money import format_usd as usd
from gpufleet.planning.compare import Comparison, compare
from gpufleet.planning.planner import Planner
from gpufleet.planning.result import PlanResult
from gpufleet.planning.scenario import Scenario, load_scenario_file
from gpufleet.services import access, fleet, programs, rentals
from gpufleet.services.fleet_summary import fleet_summary


def default_scenario() -> Path:
    return Path(str(resources.files("gpufleet") / "examples" / "colossus.yaml"))


def fresh_demo_database_url() -> str:
    path = home() / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def run_demo(file: Path | None, as_json: bool, save_json: Path | None = None) -> None:
    source = file or default_scenario()
    scenario = load_scenario_file(source)
    db = open_database(fresh_demo_database_url())
    operator = access.authenticate(db, access.init_admin(db, "demo").token)

    began = time.perf_counter()
    with Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console, transient=True, disable=as_json,
    ) as bar:  # fmt: skip
        task = bar.add_task("importing nodes", total=sum(c.nodes for c in scenario.clusters))
        result = fleet.import_scenario(
            db, operator, scenario, lambda done, total: bar.update(task, completed=done)
        )
    seconds = time.perf_counter() - began
    summary = fleet_summary(db, operator)
    program_list = [ProgramOut.of(p) for p in programs.list_programs(db, operator)]
    pending = [
        RentalOut.of(r)
        for r in rentals.list_rentals(db, operator, "request", "pending", None, 10_000)
    ]
    leases = [
        RentalOut.of(r) for r in rentals.list_rentals(db, operator, "lease", None, None, 1000)
    ]
    story = answer_the_story(scenario, max(pending, key=lambda r: r.value_usd), as_json)
    hosted = run_hosting_demo(db, operator)
    operations = simulate_weeks(scenario, story.free.accepted_ids, quiet=as_json, whole_month=True)
    # Signed in the order the simulation placed them (by start), so both find the same room.
    starts = {r.id: r.start for r in scenario.rental_requests}
    in_order = sorted(story.free.accepted_ids, key=lambda i: (starts[i], i))
    billed = run_billing_demo(db, operator, operations.usage, in_order)
    document = {
        "hosting": hosted.to_dict(),
        "plan": story.free.to_dict(),
        "story": story.to_dict(),
        "import": result.model_dump(mode="json"),
        "fleet": summary.model_dump(mode="json"),
        "programs": [p.model_dump(mode="json") for p in program_list],
        "pending_requests": [r.model_dump(mode="json", by_alias=True) for r in pending],
        "leases": [r.model_dump(mode="json", by_alias=True) for r in leases],
        "operations": operations.to_dict(),
        "billing": billed.to_dict(),
    }
    if save_json is not None:
        save_json.write_text(json_text(document), encoding="utf-8")
    if as_json:
        emit_json(document)
        return

    console.rule(f"gpufleet demo — {scenario.name}")
    console.print(
        f"Imported {source.name} into {db.engine.url.database}: {result.nodes:,} nodes in "
        f"{result.blocks:,} blocks and {result.pods:,} pods, {result.rental_requests} requests, "
        f"{result.leases} leases, {result.programs} programs in {seconds:.1f} s.\n",
        highlight=False,
    )
    views.show_fleet(summary)
    views.show_programs(program_list)
    views.show_rentals("Signed leases", leases)
    views.show_demand(pending)
    views.show_rentals("The ten largest pending requests by value", pending, limit=10)
    asked = sum(r.value_usd for r in pending)
    console.print(f"\n{len(pending)} requests ask for {usd(asked)} in all.", highlight=False)
    console.rule("The plan: which to sign, and what it costs the roadmap")
    show_story(scenario, story)
    show_hosting(hosted)
    show_operations(operations)
    show_billing(billed)
    console.print(
        "Next: 'gpufleet serve' for the API (docs at /docs), 'gpufleet admin init' for a key.",
        highlight=False,
    )


@dataclass(frozen=True)
class StoryAnswer:
    """The plan, and the same plan with the largest deal decided the other way."""

    deal: RentalOut
    free: PlanResult
    signed: bool
    change: Comparison  # signing the deal compared with declining it
    revenue_inside_horizon: float

    def to_dict(self) -> dict[str, object]:
        shifts = {p.name: p.slip_days for p in self.change.programs}
        return {
            "deal": self.deal.id,
            "value_usd": self.deal.value_usd,
            "revenue_inside_horizon_usd": self.revenue_inside_horizon,
            "optimal_plan_signs_it": self.signed,
            "signing_changes_objective_by_usd": self.change.objective,
            "signing_changes_revenue_by_usd": self.change.revenue,
            "signing_moves_finish_by_days": shifts,
            "summary": self.change.sentences(),
        }


def answer_the_story(scenario: Scenario, deal: RentalOut, quiet: bool) -> StoryAnswer:
    """Plan freely, then with the largest deal forced the other way: what it earns and what
    it costs each training program in days."""
    planner = Planner(scenario)
    with solving(quiet, "planning") as progress:
        free = planner.plan(gap=1e-3, progress=progress)
    signed = deal.id in free.accepted_ids
    flipped = "declined" if signed else "signed"
    with solving(quiet, f"planning with {deal.id} {flipped}") as progress:
        other = planner.plan(
            gap=1e-3,
            force_reject=[deal.id] if signed else [],
            force_accept=[] if signed else [deal.id],
            progress=progress,
        )
    with_deal, without = (free, other) if signed else (other, free)
    inside = next(d.revenue for d in with_deal.decisions if d.id == deal.id)
    return StoryAnswer(deal, free, signed, compare(without, with_deal), inside)


def show_story(scenario: Scenario, answer: StoryAnswer) -> None:
    show_plan(scenario, answer.free)
    deal = answer.deal
    console.print(
        f"\n[bold]The question of the story[/]: {deal.id}, {deal.gpus:,} {deal.gpu_model} for "
        f"{deal.tenant} at ${deal.price_per_gpu_hour:.2f}/GPU-h from {deal.start.date()} to "
        f"{deal.end.date()}, {usd(deal.value_usd)} over its term "
        f"({usd(answer.revenue_inside_horizon)} inside the horizon). The optimal plan "
        f"{'signs' if answer.signed else 'declines'} it. Signing it instead of declining it:",
        highlight=False,
    )
    for line in answer.change.sentences():
        console.print(f"  {line}", highlight=False)
