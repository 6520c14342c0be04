"""The sample in design/SCENARIO.md is the contract's own example: it must load as written."""

from __future__ import annotations

from pathlib import Path

from gpufleet.planning.scenario import TrainingProgram, load_scenario_file

SAMPLE = Path(__file__).parents[1] / "data" / "scenario_md_sample.yaml"


def test_scenario_md_sample_loads_with_yaml12_floats() -> None:
    scenario = load_scenario_file(SAMPLE)
    frontier = scenario.programs[0]
    assert isinstance(frontier, TrainingProgram)
    assert frontier.work_gpu_hours == 2.0e8  # written `2.0e8`, which YAML 1.1 reads as text
    assert [r.id for r in scenario.rental_requests] == ["rfq-1", "rfq-2"]
    assert scenario.rental_requests[1].rental_class == "interruptible"
    assert scenario.rental_requests[0].price_micros == 5_400_000
