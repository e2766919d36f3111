#!/usr/bin/env bash
# Installs everything (scripts/setup.sh, and Debian's chromium for the browser test) and runs
# the whole test suite: tests/ and the notebooks (nbval).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ ! -x /usr/bin/chromium ]; then
  # the JupyterLab browser test drives Debian's chromium (never a downloaded browser)
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "unity-nb: installing Debian's chromium for the browser test"
  $SUDO apt-get install -y -q chromium >/dev/null 2>&1 || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium >/dev/null; }
fi
exec .venv/bin/python -m pytest "$@"
