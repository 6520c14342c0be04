# Developer tasks. `make check` must pass before every commit.
PY ?= .venv/bin/python
BIN := $(dir $(PY))

.PHONY: check fmt test demo bench
check:  ## format, lint and types
	$(BIN)ruff format --check src tests benchmarks scripts
	$(BIN)ruff check src tests benchmarks scripts
	$(BIN)mypy src

fmt:
	$(BIN)ruff format src tests benchmarks scripts
	$(BIN)ruff check --fix src tests benchmarks scripts

test:
	bash scripts/test.sh

demo:
	$(BIN)gpufleet demo

bench:
	$(PY) -m benchmarks.bench_import
	$(PY) -m benchmarks.bench_fleet_summary
	$(PY) -m benchmarks.bench_planner
