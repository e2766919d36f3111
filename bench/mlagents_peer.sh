#!/usr/bin/env bash
# Sets up Unity's own trainer, `mlagents-learn` (mlagents 0.28.0), as a benchmark peer that
# trains the kit's built-in scenes through the Unity player stand-in.
#
#   bash bench/mlagents_peer.sh                 # creates/updates ${MLAGENTS_VENV:-.venv-mlagents}
#   python bench/mlagents_peer.py 3DBall        # then: a run, its curve and steps/seconds to target
#
# It lives in its own venv (never the project's .venv): mlagents 0.28 declares torch<1.9 (no
# Python 3.11 wheels), numpy<2 and cattrs<1.7 (both older than the kit's stack and Python 3.11
# support). So mlagents goes in with
# --no-deps next to current releases, and a few lines of it are patched (idempotent; see
# PATCHES below). Safe to run again: pip skips what is there, patches already applied are kept.
# Only the package registries are used.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${MLAGENTS_VENV:-$ROOT/.venv-mlagents}"
PY="${PYTHON:-python3.11}"

pip_install() {
  # this machine's pip config lists local indexes that lack most names; drop that noise only
  # (stdlib distutils: else setuptools' _distutils_hack warns at every pip start)
  SETUPTOOLS_USE_DISTUTILS=stdlib "$VENV/bin/python" -m pip install -q "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}

start=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
  echo "mlagents_peer: creating $VENV with $("$PY" --version)"
  "$PY" -m venv "$VENV"
fi
pip_install --upgrade pip
# torch CPU 2.13.0 lies on this machine's disk; an unpinned torch would pull a multi-GB CUDA build.
pip_install "torch==2.13.0"
# The kit itself: mlagents-envs 0.28.0 (pinned by the kit), grpcio, protobuf, numpy 2, and the
# protobuf import hook unity_nb.envs._protobuf_compat that lets mlagents-envs load on protobuf >= 4.
pip_install -e "$ROOT"
# mlagents' own runtime deps, unpinned (its metadata's pins are what cannot install here):
# attrs/cattrs (settings), tensorboard (summaries), h5py (demo buffers), pyyaml (configs),
# onnx (torch's exporter needs it to write the .onnx model at each checkpoint).
pip_install attrs cattrs tensorboard h5py pyyaml pillow grpcio onnx
# Last and without its declared deps (see the top; the patches below cover their newer
# releases, and the kit's hook covers protobuf 7). `pip check` complains about them: expected.
pip_install --no-deps "mlagents==0.28.0"

"$VENV/bin/python" - <<'EOF'
"""Minimal patches so mlagents 0.28.0 runs on numpy 2, cattrs >= 22, torch 2.13, setuptools >= 81.

Each patch is (file, old text, new text); one already applied is skipped, and a file whose
text matches neither stops the script (a different mlagents release needs a look first).
"""
import pathlib
import sys

import mlagents
import mlagents_envs

ML = pathlib.Path(mlagents.__file__).parent
ENVS = pathlib.Path(mlagents_envs.__file__).parent
NOTE = "  # unity-nb peer patch"
PATCHES = [
    # setuptools >= 81 has no pkg_resources; the torch version check only needs metadata.
    (ML / "torch_utils/torch.py", "import pkg_resources\n", f"import importlib.metadata{NOTE}: no pkg_resources\n"),
    (ML / "torch_utils/torch.py",
     '        torch_pkg = pkg_resources.get_distribution("torch")\n'
     "    except pkg_resources.DistributionNotFound:\n",
     '        torch_pkg = importlib.metadata.distribution("torch")\n'
     "    except importlib.metadata.PackageNotFoundError:\n"),
    # numpy 2 removed the np.float alias (used here in an annotation, evaluated at import).
    (ML / "trainers/buffer.py", "pad_value: np.float = 0", "pad_value: float = 0"),
    # cattrs >= 22 registers hooks for generic aliases (Dict[K, V]) only through a predicate.
    (ML / "trainers/settings.py", "import cattr\n",
     "import cattr\n\n\n"
     f"def _register_generic_structure_hook(t, hook):{NOTE}: cattrs >= 22 dispatches generic\n"
     "    cattr.register_structure_hook_func(lambda x: x == t, hook)  # aliases by predicate only\n"),
    (ML / "trainers/settings.py",
     "    cattr.register_structure_hook(\n        Dict[RewardSignalType, RewardSignalSettings],",
     "    _register_generic_structure_hook(\n        Dict[RewardSignalType, RewardSignalSettings],"),
    (ML / "trainers/settings.py",
     "    cattr.register_structure_hook(\n        Dict[str, EnvironmentParameterSettings],",
     "    _register_generic_structure_hook(\n        Dict[str, EnvironmentParameterSettings],"),
    # numpy 2 (NEP 50) keeps float32 rewards float32; the checkpoint list is written as JSON.
    (ML / "trainers/trainer/rl_trainer.py",
     "            return sum(rewards) / len(rewards)\n",
     f"            return float(sum(rewards) / len(rewards)){NOTE}: numpy 2 float32 -> json\n"),
    # torch >= 2.9 exports with dynamo (needs onnxscript) unless told otherwise; the legacy
    # exporter writes ML-Agents' opset 9 model as before.
    (ML / "trainers/torch/model_serialization.py",
     "                dynamic_axes=self.dynamic_axes,\n            )",
     f"                dynamic_axes=self.dynamic_axes,\n                dynamo=False,{NOTE}: legacy exporter\n            )"),
    # The trainer's gRPC server binds every interface ("[::]"); players connect to localhost.
    (ENVS / "rpc_communicator.py",
     'self.server.add_insecure_port("[::]:" + str(self.port))',
     f'self.server.add_insecure_port("127.0.0.1:" + str(self.port)){NOTE}: loopback only'),
]
applied = 0
for path, old, new in PATCHES:
    text = path.read_text()
    if new in text:
        continue
    if text.count(old) != 1:
        sys.exit(f"mlagents_peer: cannot patch {path}: expected text not found once: {old!r}")
    path.write_text(text.replace(old, new, 1))
    applied += 1
print(f"mlagents_peer: {applied} patch(es) applied, {len(PATCHES) - applied} already in place")
EOF

# mlagents imports mlagents_envs before anything of the kit: install unity-nb's protobuf import
# hook at interpreter start (a .pth line runs at startup), in this venv only.
SITE=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
cat > "$SITE/unity_nb_peer_hook.py" <<'EOF'
# unity-nb mlagents peer (written by bench/mlagents_peer.sh): install unity-nb's protobuf import
# hook before anything imports mlagents_envs, so its old generated *_pb2 modules load.
try:
    from unity_nb.envs import _protobuf_compat

    _protobuf_compat.install()
except Exception as e:  # never break interpreter startup
    import sys

    print(f"unity_nb_peer_hook: protobuf hook not installed: {e!r}", file=sys.stderr)
EOF
echo "import unity_nb_peer_hook" > "$SITE/unity_nb_peer_hook.pth"

# Smoke check: the CLI starts, and Unity's 3DBall.yaml parses through the patched settings.
PYTHONWARNINGS=ignore "$VENV/bin/mlagents-learn" --help >/dev/null
PYTHONWARNINGS=ignore "$VENV/bin/python" - <<'EOF'
import yaml
from mlagents.trainers.settings import RunOptions

cfg = yaml.safe_load("""
behaviors:
  3DBall:
    trainer_type: ppo
    hyperparameters: {batch_size: 64, buffer_size: 12000, learning_rate: 0.0003, beta: 0.001,
                      epsilon: 0.2, lambd: 0.99, num_epoch: 3, learning_rate_schedule: linear}
    network_settings: {normalize: true, hidden_units: 128, num_layers: 2, vis_encode_type: simple}
    reward_signals: {extrinsic: {gamma: 0.99, strength: 1.0}}
    max_steps: 500000
""")
opts = RunOptions.from_dict(cfg)
b = opts.behaviors["3DBall"]
assert b.hyperparameters.batch_size == 64 and b.network_settings.normalize, b
assert list(b.reward_signals)[0].value == "extrinsic", b.reward_signals
EOF
echo "mlagents_peer: ready in $(( $(date +%s) - start )) s: $VENV/bin/mlagents-learn ($(PYTHONWARNINGS=ignore "$VENV/bin/python" -c 'import importlib.metadata as m; print("mlagents", m.version("mlagents"), "torch", m.version("torch"), "numpy", m.version("numpy"), "cattrs", m.version("cattrs"), "protobuf", m.version("protobuf"))'))"
