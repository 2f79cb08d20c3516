#!/usr/bin/env bash
# bash scripts/test.sh [pytest args]
# Sets up .venv if needed (scripts/setup.sh), then runs the whole test suite offline
# (sockets disabled by pytest-socket; see setup.cfg [tool:pytest]).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The review app's browser tests need Debian's chromium (Playwright drives /usr/bin/chromium;
# no browser is ever downloaded by Playwright).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec .venv/bin/python -m pytest "$@"
