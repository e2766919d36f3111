#!/usr/bin/env bash
# Installs everything (scripts/setup.sh) and runs the main job on the built-in default:
# train PPO on Basic through the Unity player stand-in and the real mlagents-envs client,
# then evaluate the trained policy over 100 deterministic episodes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/unity-nb train Basic "$@"
