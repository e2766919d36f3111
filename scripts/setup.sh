#!/usr/bin/env bash
# Creates .venv (once) and installs unity-nb; `setup.sh dev` adds what the tests need (the dev extras).
# Safe to run again: pip skips what is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "unity-nb: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch CPU 2.13.0 lies on this machine's disk; an unpinned torch would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
# the JupyterLab extension is built by the next step (only when its source changed), not by pip
EXTRAS=""
[ "${1:-}" = "dev" ] && EXTRAS="[dev]"
SKIP_JUPYTER_BUILDER=1 .venv/bin/python -m pip install -q -e ".$EXTRAS"
bash scripts/build_labextension.sh
