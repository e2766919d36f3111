"""Pyramids, the sparse scene: solved with RND and not without at the same budget, and the same scene with Unity's
own trainer and its RND settings, side by side.

    MLAGENTS_VENV=.venv-mlagents .venv/bin/python bench/sparse.py [--seeds 0 1 2 3 4] [--peer-seeds 0 1]
        [--steps N] [--out FILE]

Part 1, the kit alone: for each seed, ``unity-nb train Pyramids`` as a user would (the scene's defaults: RND)
and the same with ``rnd: false``, two runs at a time on one runtime. Reported: whether each reached and confirmed
its target (1.4 over 100 episodes, then 100 greedy and 100 sampled episodes), the agent steps it took, and
the greedy return of the final policy.

Part 2, side by side with ``mlagents-learn`` (0.28; ``bench/mlagents_peer.sh`` makes its venv): one Unity
trainer file (``YAML`` below: the kit's Pyramids settings and an ``rnd`` block, Unity's format) trained by
``unity-nb train --config`` and by ``mlagents-learn`` through the player stand-in (the real ML-Agents
protocol), one after the other, and ``mlagents-learn`` once more with the file's ``rnd`` block as Unity publishes
it (PyramidsRND.yaml: strength 0.01, no normalisation). mlagents-learn's measure is its first summary whose mean
reward is at or above the target; the kit's is a confirmed target. Wall seconds run from launch.

Written to ``--out`` (default bench/sparse.md) with the commit; nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

TARGET = 1.4
YAML = """behaviors:
  Pyramids:
    trainer_type: ppo
    hyperparameters: {{batch_size: 512, buffer_size: 4096, learning_rate: 1.0e-3, beta: 0.01, epsilon: 0.2,
                      lambd: 0.95, num_epoch: 4, learning_rate_schedule: constant}}
    network_settings: {{normalize: false, hidden_units: 64, num_layers: 2}}
    reward_signals:
      extrinsic: {{gamma: 0.99, strength: 1.0}}
      rnd: {{gamma: 0.99, strength: {strength}, learning_rate: 1.0e-4,
             network_settings: {{hidden_units: 64, num_layers: 3, normalize: {normalize}}}}}
    max_steps: {steps}
    time_horizon: 128
    summary_freq: 8192
env_settings: {{num_areas: 8}}
"""


def kit_row(run, label: str, seed: int, launched: float) -> dict:
    run.wait(timeout=3 * 3600)
    status, last = run.status, run.last()
    greedy = run.evaluate(episodes=100, play="deterministic").mean
    return {"trainer": label, "seed": seed, "state": run.state, "confirmed": bool(status.get("target_reached")),
            "steps": last["env_steps"], "wall_s": round(time.time() - launched, 1), "final_window": last[
                "episode_return_mean"], "greedy_100": round(float(greedy), 3)}


def part_one(seeds, steps, runs_dir) -> list[dict]:
    import unity_nb.train as ut

    rows = []
    extra = {"steps": steps} if steps else {}
    for seed in seeds:
        launched = time.time()
        runs = {"kit, RND (defaults)": ut.train("Pyramids", runs_dir=runs_dir, seed=seed, **extra),
                "kit, no RND": ut.train("Pyramids", runs_dir=runs_dir, seed=seed, rnd=False, **extra)}
        for label, run in runs.items():
            rows.append(kit_row(run, label, seed, launched))
            print(rows[-1], flush=True)
    return rows


def part_two(seeds, steps, runs_dir) -> list[dict]:
    import unity_nb.train as ut
    from mlagents_peer import run_mlagents

    rows = []
    for seed in seeds:
        for strength, normalize, who in ((0.1, "true", ("kit", "mlagents-learn")), (0.01, "false", ("mlagents-learn",))):
            text = YAML.format(strength=strength, normalize=normalize, steps=steps)
            label = f"RND strength {strength}, normalize {normalize}"
            if "kit" in who:
                path = Path(runs_dir) / f"pyramids-{seed}.yaml"
                path.write_text(text)
                launched = time.time()
                run = ut.train("Pyramids", config=str(path), runs_dir=runs_dir, seed=seed, target_return=TARGET)
                rows.append({**kit_row(run, f"unity-nb --config ({label})", seed, launched)})
                print(rows[-1], flush=True)
            result = run_mlagents(text, "Pyramids", num_areas=8, max_steps=steps, summary_freq=8192,
                                  timeout_s=3600, target=TARGET, seed=seed)
            if not result["available"]:
                rows.append({"trainer": "mlagents-learn", "seed": seed, "state": result["reason"]})
                continue
            curve = result["curve"]
            rows.append({"trainer": f"mlagents-learn ({label})", "seed": seed,
                         "state": "reached" if result["steps_to_target"] else "not reached",
                         "confirmed": None, "steps": result["steps_to_target"] or (curve[-1][0] if curve else None),
                         "wall_s": result["wall_seconds_to_target"] or result["wall_seconds"],
                         "final_window": curve[-1][1] if curve else None, "greedy_100": None})
            print(rows[-1], flush=True)
    return rows


def table(rows) -> str:
    lines = ["| trainer | seed | ended | confirmed | agent steps | wall s from launch | last mean | greedy, 100 ep |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| {trainer} | {seed} | {state} | {confirmed} | {steps} | {wall_s} | {final_window} | "
                     "{greedy_100} |".format(**{k: r.get(k, "") for k in ("trainer", "seed", "state", "confirmed",
                                                                          "steps", "wall_s", "final_window",
                                                                          "greedy_100")}))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--peer-seeds", type=int, nargs="*", default=[0, 1])
    parser.add_argument("--steps", type=int, default=300_000, help="agent steps per run (the scene's budget)")
    parser.add_argument("--out", default=str(HERE / "sparse.md"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as runs_dir:
        one = part_one(args.seeds, args.steps, runs_dir)
        two = part_two(args.peer_seeds, args.steps, runs_dir) if args.peer_seeds else []
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip()
    text = (f"# Pyramids: RND against the scene's reward alone, and against mlagents-learn\n\n"
            f"`bench/sparse.py` at {commit}, {time.strftime('%Y-%m-%d')}, 2 cores, budget {args.steps} agent steps, "
            f"target {TARGET} over 100 episodes.\n\n## The kit, with and without RND\n\n{table(one)}\n")
    if two:
        text += f"\n## One trainer file, the kit and mlagents-learn\n\n{table(two)}\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
