#!/usr/bin/env bash
# bash scripts/lint.sh
# Lint (ruff, pyproject.toml [tool.ruff]) and the package's layers (import-linter, setup.cfg
# [importlinter]: a stage imports only from the stages below it). CI fails on either.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check stylegen tests benchmarks scripts
.venv/bin/lint-imports
