#!/usr/bin/env python3
"""Generate the example scenarios shipped with gpufleet (scenario format version 1).

Writes, deterministically (fixed seed, no clock, no environment):

* ``src/gpufleet/examples/colossus.yaml`` -- the real scale of the story: an AI lab that owns
  Colossus-class supercomputers (~200k H100/H200 plus ~550k GB200/GB300 coming online in
  stages), trains its own frontier model, serves its product and is offered ~200 rental
  requests over two years, among them a ~110k GB300 / ~$6.3B three-year "megadeal".
* ``src/gpufleet/examples/small.yaml`` -- a hand-readable scenario (three clusters, 26 weeks,
  two programs, seven requests, one lease) written from the literal text in
  ``scripts/examples/small.py``.

Both texts are read back with gpufleet's own loader (``read_scenario_text`` +
``parse_scenario``, i.e. the contract of ``shared/design/SCENARIO.md``) before anything is
written, and checked for what the examples are meant to show: the signed leases plus the
inference needs never exceed capacity C[m,t] (gpufleet's ``capacity_by_period``) in any period,
the frontier run is sized so that the megadeal is what makes it slip, and the megadeal's price
gives its ~$6.3B value. The script exits non-zero if any check fails.

It also prints the arithmetic behind the numbers (installed GPUs, the frontier run's work and
why the megadeal makes it slip, the megadeal's price and value, demand against free capacity).

Usage::

    .venv/bin/python scripts/make_examples.py            # write both files and print figures
    .venv/bin/python scripts/make_examples.py --check    # only re-check the files on disk

The pieces live in ``scripts/examples/``: ``colossus*.py`` (generator, story, text),
``small.py``, ``story.py`` (arithmetic on a parsed Scenario) and ``yaml_out.py``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from example_gen.colossus import build_colossus
from example_gen.colossus_story import colossus_story
from example_gen.small import SMALL_YAML, small_report
from example_gen.story import CheckError, check_leases_and_inference_fit, to_scenario

from gpufleet.planning.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "src" / "gpufleet" / "examples"
COLOSSUS_PATH = EXAMPLES / "colossus.yaml"
SMALL_PATH = EXAMPLES / "small.yaml"


def checked(path: Path, text: str, story: Callable[[Scenario], list[str]]) -> list[str]:
    """gpufleet's reading of `text` (meant for `path`), checked; returns the story's printout."""
    name = str(path.relative_to(ROOT))
    scn = to_scenario(text, name)
    try:
        check_leases_and_inference_fit(scn)
        return story(scn)
    except CheckError as e:
        raise CheckError(f"{name}: {e}") from None


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only check the files on disk")
    args = ap.parse_args(list(argv) if argv is not None else None)
    try:
        if args.check:
            texts = {p: p.read_text(encoding="utf-8") for p in (COLOSSUS_PATH, SMALL_PATH)}
        else:
            texts = {COLOSSUS_PATH: build_colossus(), SMALL_PATH: SMALL_YAML}
        report = checked(COLOSSUS_PATH, texts[COLOSSUS_PATH], lambda s: colossus_story(s).lines)
        report += checked(SMALL_PATH, texts[SMALL_PATH], small_report)
        if not args.check:
            EXAMPLES.mkdir(parents=True, exist_ok=True)
            for path, text in texts.items():
                path.write_text(text, encoding="utf-8")
            print("\n".join(report))
    except (CheckError, OSError) as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    print("\ngpufleet.planning.scenario.parse_scenario accepts both files")
    print(
        f"\nOK: {COLOSSUS_PATH.relative_to(ROOT)} and {SMALL_PATH.relative_to(ROOT)} "
        "pass the checks"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
