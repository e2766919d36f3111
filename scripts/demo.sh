#!/usr/bin/env bash
# Installs everything (scripts/setup.sh) and runs the main job on the built-in default:
# Basic through the Unity player stand-in and the real mlagents-envs client.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/unity-nb play Basic --episodes 5 "$@"
