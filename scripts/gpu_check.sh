#!/usr/bin/env bash
# GPU path check: a fresh venv with the vllm extra, then the vLLM engine's contract test
# and the generation benchmark. Run on a GPU machine from the repository root:
#   bash scripts/gpu_check.sh [venv dir]
# vLLM brings its own CUDA torch, so it gets its own venv (never the CPU one of setup.sh).
set -euo pipefail
VENV=${1:-.venv-gpu}
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q -e ".[vllm,test]"
nvidia-smi --query-gpu=name,memory.total --format=csv
export TOKENIZERS_PARALLELISM=false
"$VENV/bin/python" -m pytest tests/test_vllm_engine.py -q -p no:cacheprovider
"$VENV/bin/python" benchmarks/bench_generate.py --json runs/gpu-bench-generate.json
