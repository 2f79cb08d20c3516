#!/usr/bin/env bash
# bash scripts/nightly.sh [extra stylegen generate options]
# Sets up .venv if needed, then runs the nightly generation job on the sample brand and
# catalog with the default model (SmolLM2-135M-Instruct) and the shipped adapter.
# The run directory is runs/nightly-<date>; running the script again resumes it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# The sample run covers the first 100 catalog rows (about a minute of generation on 2 CPU
# cores); STYLEGEN_LIMIT=all runs the whole 1,200-row catalog, as a real night would.
LIMIT=${STYLEGEN_LIMIT:-100}
limit_opt=(--limit "$LIMIT")
[ "$LIMIT" = all ] && limit_opt=()
exec .venv/bin/stylegen generate --brand brand --catalog catalog/sample_catalog.csv \
  --out "runs/nightly-$(date +%F)" "${limit_opt[@]}" "$@"
