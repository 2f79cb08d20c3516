#!/usr/bin/env bash
# bash scripts/test.sh [pytest args]
# Sets up .venv if needed (scripts/setup.sh), then runs the whole test suite offline
# (sockets disabled by pytest-socket; see setup.cfg [tool:pytest]).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec .venv/bin/python -m pytest "$@"
