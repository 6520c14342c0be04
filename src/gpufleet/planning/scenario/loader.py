"""Load and validate a version-1 scenario, reporting every error at once with its path.

Each top-level section and each list item is validated on its own so that one bad request
does not hide the errors of the next; rules across items run on whatever parsed. Nothing is
returned unless everything is valid: a scenario is never half-loaded.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from gpufleet.domain.errors import Issue, ScenarioInvalid
from gpufleet.planning.scenario.fields import Name
from gpufleet.planning.scenario.messages import issues_from
from gpufleet.planning.scenario.model import (
    Cluster,
    GpuModel,
    Horizon,
    InferenceProgram,
    Program,
    Reliability,
    Rental,
    Scenario,
    ScenarioPart,
)

MAX_SCENARIO_BYTES = 32 * 1024 * 1024
_SECTIONS = {
    "version", "name", "horizon", "reliability", "gpu_models", "clusters",
    "programs", "rental_requests", "leases",
}  # fmt: skip
_REQUIRED = ("version", "horizon", "gpu_models", "clusters")
_LISTS: dict[str, Any] = {
    "gpu_models": GpuModel,
    "clusters": Cluster,
    "programs": TypeAdapter(Program),
    "rental_requests": Rental,
    "leases": Rental,
}
_NAME: TypeAdapter[str] = TypeAdapter(Name)


class _YamlLoader(yaml.SafeLoader):
    """Safe YAML that keeps timestamps as text, so files and JSON parse dates one way."""


# YAML 1.1 (PyYAML) reads `2.0e8` as text; SCENARIO.md writes numbers that way, so floats
# follow YAML 1.2: an exponent needs no sign and no decimal point.
_FLOAT_TAG = "tag:yaml.org,2002:float"
_FLOAT_12 = re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
    r"|\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_YamlLoader.yaml_implicit_resolvers = {
    first: [
        (tag, _FLOAT_12 if tag == _FLOAT_TAG else rx)
        for tag, rx in resolvers
        if tag != "tag:yaml.org,2002:timestamp"
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "0123456789":
    if not any(tag == _FLOAT_TAG for tag, _ in _YamlLoader.yaml_implicit_resolvers[_first]):
        _YamlLoader.yaml_implicit_resolvers[_first].append((_FLOAT_TAG, _FLOAT_12))


def read_scenario_text(text: str, source: str = "scenario") -> Any:
    try:
        return yaml.load(text, Loader=_YamlLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioInvalid([Issue("", f"{source} is not valid YAML{where}: {problem}")]) from exc


def load_scenario_file(path: str | Path) -> Scenario:
    file = Path(path)
    try:
        if file.stat().st_size > MAX_SCENARIO_BYTES:
            raise ScenarioInvalid([Issue("", f"{file} is larger than 32 MiB")])
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioInvalid([Issue("", f"cannot read {file}: {exc}")]) from exc
    return parse_scenario(read_scenario_text(text, str(file)))


def parse_scenario(data: Any) -> Scenario:
    """Validate a scenario document (parsed YAML or JSON) and return it, or raise
    `ScenarioInvalid` listing every problem as `path: message`."""
    if not isinstance(data, dict):
        raise ScenarioInvalid([Issue("", "a scenario must be a mapping of sections")])
    issues: list[Issue] = []
    issues += [Issue(str(key), "unknown key") for key in data if key not in _SECTIONS]
    issues += [Issue(key, "is required") for key in _REQUIRED if key not in data]
    # `type(...) is int`: neither True nor 1.0 is version 1.
    if "version" in data and (type(data["version"]) is not int or data["version"] != 1):
        issues.append(Issue("version", "must be 1 (the only version this gpufleet reads)"))
    if "name" in data:
        _check_name(data["name"], issues)

    horizon = _section(Horizon, data["horizon"], "horizon", issues) if "horizon" in data else None
    if "reliability" in data:
        _section(Reliability, data["reliability"], "reliability", issues)
    parsed = {key: _items(key, data.get(key, []), issues) for key in _LISTS}
    issues += _cross_item_issues(horizon, parsed, _declared_models(data.get("gpu_models")))
    if issues:
        raise ScenarioInvalid(issues)
    return Scenario.model_validate(data)


def _check_name(value: Any, issues: list[Issue]) -> None:
    try:
        _NAME.validate_python(value, strict=True)
    except ValidationError as exc:
        issues.extend(issues_from(exc, "name"))


def _section(model: type[ScenarioPart], value: Any, path: str, issues: list[Issue]) -> Any:
    item = _validate(model, value, path, issues)
    return item if item is not None and not issues_of(item, path, issues) else None


def _validate(validator: Any, value: Any, path: str, issues: list[Issue]) -> Any:
    try:
        if isinstance(validator, TypeAdapter):
            return validator.validate_python(value)
        return validator.model_validate(value)
    except ValidationError as exc:
        issues.extend(issues_from(exc, path))
        return None


def issues_of(item: ScenarioPart, path: str, issues: list[Issue]) -> bool:
    """Append the item's own cross-field rule violations; True when there were any."""
    found = [Issue(f"{path}.{field}", message) for field, message in item.rule_issues()]
    issues.extend(found)
    return bool(found)


def _items(key: str, value: Any, issues: list[Issue]) -> list[tuple[int, Any]]:
    if not isinstance(value, list):
        issues.append(Issue(key, "must be a list"))
        return []
    parsed: list[tuple[int, Any]] = []
    for index, raw in enumerate(value):
        path = f"{key}[{index}]"
        item = _validate(_LISTS[key], raw, path, issues)
        if item is not None:
            issues_of(item, path, issues)
            parsed.append((index, item))
    return parsed


def _duplicates(key: str, attr: str, items: Iterable[tuple[int, Any]]) -> list[Issue]:
    pairs = list(items)
    counts = Counter(getattr(item, attr) for _, item in pairs)
    return [
        Issue(f"{key}[{index}].{attr}", f"duplicate {attr} {getattr(item, attr)!r}")
        for index, item in pairs
        if counts[getattr(item, attr)] > 1
    ]


def _declared_models(value: Any) -> set[str] | None:
    """Names in `gpu_models`, also of entries that failed validation, so that one bad entry
    does not make every reference to its name an error too; None when there is no list."""
    if not isinstance(value, list):
        return None
    return {
        item["name"]
        for item in value
        if isinstance(item, dict) and isinstance(item.get("name"), str)
    }


def _cross_item_issues(
    horizon: Horizon | None, parsed: dict[str, Any], models: set[str] | None
) -> list[Issue]:
    issues: list[Issue] = []
    issues += _duplicates("gpu_models", "name", parsed["gpu_models"])
    issues += _duplicates("clusters", "name", parsed["clusters"])
    issues += _duplicates("programs", "name", parsed["programs"])
    rentals = [(f"rental_requests[{i}]", r) for i, r in parsed["rental_requests"]]
    rentals += [(f"leases[{i}]", r) for i, r in parsed["leases"]]
    id_counts = Counter(r.id for _, r in rentals)
    issues += [
        Issue(f"{path}.id", f"duplicate id {rental.id!r}")
        for path, rental in rentals
        if id_counts[rental.id] > 1
    ]

    def unknown_model(path: str, name: str) -> None:
        if models is not None and name not in models:
            known = ", ".join(sorted(models)) or "none declared"
            issues.append(Issue(path, f"unknown GPU model {name!r} (known: {known})"))

    for index, cluster in parsed["clusters"]:
        unknown_model(f"clusters[{index}].gpu_model", cluster.gpu_model)
    for index, program in parsed["programs"]:
        for k, name in enumerate(program.gpu_models):
            unknown_model(f"programs[{index}].gpu_models[{k}]", name)
        if (
            horizon is not None
            and isinstance(program, InferenceProgram)
            and isinstance(program.gpus, list)
            and len(program.gpus) != horizon.periods
        ):
            issues.append(
                Issue(
                    f"programs[{index}].gpus",
                    f"has {len(program.gpus)} entries; must have one per period "
                    f"({horizon.periods})",
                )
            )
    for path, rental in rentals:
        unknown_model(f"{path}.gpu_model", rental.gpu_model)
    return issues
