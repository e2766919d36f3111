""".demo round trip: files the kit writes, read by mlagents-learn's own demonstration loader.

    MLAGENTS_VENV=.venv-mlagents .venv/bin/python bench/demo_roundtrip.py [--episodes 5] [--out FILE]

For each built-in scene a scripted or random player's play is recorded with ``record_demo`` (one agent, Unity's
format), then ``mlagents.trainers.demo_loader`` (``load_demonstration`` and ``demo_to_buffer``, the functions
``behavioral_cloning`` and GAIL use) reads it in the peer venv (``bench/mlagents_peer.sh`` makes it). Reported
per scene: the spec mlagents-learn sees, its record count against the kit's, and the experiences its buffer holds
(one fewer than records: the loader drops the last). Written to ``--out`` (default bench/demo_roundtrip.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

READ = """
import json, sys
from mlagents.trainers.demo_loader import demo_to_buffer, load_demonstration
spec, pairs, expected = load_demonstration(sys.argv[1])
_, buffer = demo_to_buffer(sys.argv[1], 1, None)
print(json.dumps({"observations": [list(o.shape) for o in spec.observation_specs],
                  "continuous": spec.action_spec.continuous_size,
                  "discrete": list(spec.action_spec.discrete_branches), "records": len(pairs),
                  "expected": expected, "experiences": buffer.num_experiences}))
"""


def players():
    """A player per scene: Pong's scripted one, else random actions of the scene's spec."""
    from unity_nb.envs.scenes import SCENES

    rng = np.random.default_rng(0)
    for name, scene in SCENES.items():
        if hasattr(scene, "heuristic"):
            yield name, scene.heuristic
            continue
        b = scene.behavior

        def act(obs, b=b):
            n = len(obs[0])
            if b.continuous_size:
                return rng.uniform(-1, 1, (n, b.continuous_size))
            return np.stack([rng.integers(0, k, n) for k in b.discrete_branches], axis=1)

        yield name, act


def main() -> None:
    import unity_nb.envs  # noqa: F401  (the protobuf hook)
    from mlagents_peer import check_available, venv_dir
    from unity_nb.evaluate.demos import record_demo

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "demo_roundtrip.md")
    args = parser.parse_args()
    ok, why = check_available()
    if not ok:
        raise SystemExit(f"mlagents-learn's venv is not available: {why}")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, player in players():
            path = Path(folder) / f"{name}.demo"
            ours = record_demo(player, name, path, episodes=args.episodes)
            env = dict(os.environ, PYTHONPATH="")
            out = subprocess.run([str(venv_dir() / "bin" / "python"), "-c", READ, str(path)], capture_output=True,
                                 text=True, env=env)
            if out.returncode:
                rows.append(f"| {name} | {ours.number_steps} | mlagents-learn failed: {out.stderr.strip().splitlines()[-1]} | | |")
                continue
            got = json.loads(out.stdout.strip().splitlines()[-1])
            same = (got["records"] == ours.number_steps and got["continuous"] == ours.spec.action_spec.continuous_size
                    and tuple(got["discrete"]) == tuple(ours.spec.action_spec.discrete_branches)
                    and [tuple(s) for s in got["observations"]] == [tuple(o.shape) for o in ours.spec.observation_specs])
            rows.append(f"| {name} | {ours.number_steps} | {got['records']} | {got['experiences']} | "
                        f"{got['observations']}, {got['continuous']} continuous, discrete {got['discrete']} | "
                        f"{'yes' if same else 'NO'} |")
            print(rows[-1], flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True).stdout.strip()
    lines = [f"# .demo round trip (commit {commit}, {time.strftime('%Y-%m-%d')})", "",
             f"Written by `bench/demo_roundtrip.py --episodes {args.episodes}`: the kit records, mlagents-learn 0.28's "
             "`demo_loader` reads.", "",
             "| scene | records the kit wrote | records mlagents-learn read | its experiences | spec it read | "
             "spec and count as written |", "|---|---|---|---|---|---|", *rows, ""]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
