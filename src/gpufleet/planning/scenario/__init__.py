"""Scenario files (design/SCENARIO.md): the model, its validation and derived quantities."""

from gpufleet.planning.scenario.loader import (
    load_scenario_file,
    parse_scenario,
    read_scenario_text,
)
from gpufleet.planning.scenario.model import (
    Cluster,
    GpuModel,
    Horizon,
    InferenceProgram,
    Rental,
    RentalTerms,
    Scenario,
    TrainingProgram,
)

__all__ = [
    "Cluster",
    "GpuModel",
    "Horizon",
    "InferenceProgram",
    "Rental",
    "RentalTerms",
    "Scenario",
    "TrainingProgram",
    "load_scenario_file",
    "parse_scenario",
    "read_scenario_text",
]
