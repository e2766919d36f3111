#!/usr/bin/env bash
# Installs everything (scripts/setup.sh dev, and Debian's chromium for the browser tests, which
# needs root or sudo) and runs the whole test suite: tests/ and the notebooks (nbval).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
if [ ! -x /usr/bin/chromium ]; then
  # the JupyterLab browser test drives Debian's chromium (never a downloaded browser)
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "unity-nb: installing Debian's chromium for the browser test"
  if ! { [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null; } || ! command -v apt-get >/dev/null; then
    echo "unity-nb: cannot install chromium here (needs apt-get, and root or sudo): the browser tests will be skipped"
  elif ! { $SUDO apt-get install -y -q chromium >/dev/null 2>&1 || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium >/dev/null; }; }; then
    echo "unity-nb: installing chromium failed: the browser tests will be skipped"
  fi
fi
exec .venv/bin/python -m pytest "$@"
