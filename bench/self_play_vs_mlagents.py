"""Pong by self-play, the kit against Unity's own trainer, side by side: wall time to the same score against
Pong's scripted player.

    MLAGENTS_VENV=.venv-mlagents .venv/bin/python bench/self_play_vs_mlagents.py [--seed 0] [--steps N]
        [--checkpoints K] [--games G] [--target 0.6] [--out FILE]

Both train Pong through the player stand-in (the real ML-Agents protocol) from one Unity trainer file with a
``self_play`` block (``YAML`` below): ``unity-nb train --config`` and ``mlagents-learn`` (0.28, its ghost trainer;
``bench/mlagents_peer.sh`` makes its venv). Each saves ``--checkpoints`` checkpoints over the budget; afterwards
every checkpoint plays ``--games`` greedy games a side against the scripted player (the kit's checkpoints with
``run.evaluate``, mlagents-learn's exported ``.onnx`` files through the kit's ONNX handler, the same
evaluation code) and scores them as ELO does (win 1, draw 0.5, loss 0; the mean over both sides). Reported: each
checkpoint's score, steps and seconds since launch, and the first checkpoint of each at ``--target`` or above.

How each counts steps: the kit counts every agent's steps (both teams'); mlagents-learn's ghost trainer counts
the learning team's only. ``--steps`` is the kit's count; mlagents-learn gets half as its ``max_steps``, so both
play the same number of agent steps. The budget is the same; the batch is not quite: the kit's
``train_batch_size`` (the file's ``buffer_size``) counts both teams' steps of which the learning team's half is
trained, mlagents-learn's buffer holds the learning team's only. Nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

YAML = """behaviors:
  Pong:
    trainer_type: ppo
    hyperparameters: {{batch_size: 256, buffer_size: {buffer}, learning_rate: 1.0e-3, beta: 0.01, epsilon: 0.2,
                      lambd: 0.95, num_epoch: 4, learning_rate_schedule: constant}}
    network_settings: {{normalize: false, hidden_units: 64, num_layers: 2}}
    reward_signals: {{extrinsic: {{gamma: 0.99, strength: 1.0}}}}
    max_steps: {max_steps}
    time_horizon: 64
    summary_freq: {summary}
    checkpoint_interval: {interval}
    keep_checkpoints: {keep}
    self_play: {{save_steps: 20000, team_change: 100000, swap_steps: 2000, window: 10,
                 play_against_latest_model_ratio: 0.5, initial_elo: 1200.0}}
env_settings: {{num_areas: 8}}
"""


class OnnxPlayer:
    """An exported policy (Unity's model contract) playing where the evaluation expects a trained policy."""

    def __init__(self, path: Path):
        from unity_nb.deploy.handler import PolicyHandler

        self.handler = PolicyHandler(path)

    def act(self, observations, action_mask=None, sampled=False):
        obs = [np.asarray(observations, dtype=np.float32)]
        mask = None if action_mask is None else np.asarray(action_mask, dtype=np.float32)
        actions = np.asarray(self.handler.act(obs, mask, deterministic=not sampled))
        return actions[:, 0] if actions.ndim == 2 and actions.shape[1] == 1 else actions


def score(rows: dict) -> float:
    """ELO's score over both sides: (wins + draws / 2) / games."""
    teams = [r for t, r in rows.items() if t != "all"]
    games = sum(r["episodes"] for r in teams)
    return (sum(r["won"] for r in teams) + 0.5 * sum(r["drawn"] for r in teams)) / games


def kit(args, text: str, runs_dir: str) -> list[tuple]:
    import unity_nb.train as ut
    from unity_nb.evaluate.rollout import evaluate
    from unity_nb.train.store import RunFolder

    launched = time.time()
    path = Path(runs_dir) / "pong.yaml"
    path.write_text(text)
    run = ut.train(config=str(path), runs_dir=runs_dir, seed=args.seed, steps=args.steps, target_return="off")
    run.wait(timeout=4 * 3600)
    if run.state != "finished":
        raise SystemExit(f"the kit's run {run.state}: {run.status.get('error')}")
    points = []
    for checkpoint in run.checkpoints():
        progress = RunFolder.progress(checkpoint)
        played = evaluate(checkpoint, "Pong", episodes=args.games, play="deterministic", opponent="scripted")
        points.append((progress["env_steps"], checkpoint.stat().st_mtime - launched, score(played.rows())))
    return points


def mlagents(args, text: str, base: str) -> tuple[list[tuple], dict]:
    from mlagents_peer import run_mlagents

    from unity_nb.evaluate.rollout import evaluate

    launched = time.time()
    result = run_mlagents(text, "Pong", num_areas=8, max_steps=args.steps // 2, summary_freq=args.steps // 20,
                          timeout_s=4 * 3600, target=None, seed=args.seed, stop_at_target=False, results_dir=base)
    if not result["available"]:
        raise SystemExit(f"mlagents-learn is not available: {result['reason']}")
    points = []
    for onnx in sorted(Path(result["results_dir"]).glob("Pong/Pong-*.onnx"), key=lambda p: int(p.stem.split("-")[1])):
        player = OnnxPlayer(onnx)
        played = evaluate(None, "Pong", episodes=args.games, play="deterministic", opponent="scripted",
                          policies={"Pong?team=0": player, "Pong?team=1": player})
        points.append((2 * int(onnx.stem.split("-")[1]), onnx.stat().st_mtime - launched, score(played.rows())))
    return points, result


def first_at(points: list[tuple], target: float) -> str:
    hit = next((p for p in points if p[2] >= target), None)
    return "not reached" if hit is None else f"{hit[0]:,} agent steps, {hit[1]:.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=800_000, help="agent steps (both teams') per run")
    parser.add_argument("--checkpoints", type=int, default=8)
    parser.add_argument("--games", type=int, default=100, help="greedy games a side per checkpoint")
    parser.add_argument("--target", type=float, default=0.6, help="score against the scripted player to reach")
    parser.add_argument("--buffer", type=int, default=32_768, help="the file's buffer_size")
    parser.add_argument("--out", type=Path, default=HERE / "self_play_vs_mlagents.md")
    args = parser.parse_args()
    interval = args.steps // args.checkpoints
    kit_text = YAML.format(buffer=args.buffer, max_steps=args.steps, summary=interval, interval=interval,
                           keep=args.checkpoints + 2)
    ml_text = YAML.format(buffer=args.buffer, max_steps=args.steps // 2, summary=interval // 2,
                          interval=interval // 2, keep=args.checkpoints + 2)
    with tempfile.TemporaryDirectory() as runs_dir:
        ours = kit(args, kit_text, runs_dir)
        theirs, result = mlagents(args, ml_text, runs_dir)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True).stdout.strip()
    lines = [f"# Pong by self-play: unity-nb against mlagents-learn (commit {commit}, {time.strftime('%Y-%m-%d')}, "
             f"{os.cpu_count()} cores)", "",
             f"Written by `bench/self_play_vs_mlagents.py --seed {args.seed} --steps {args.steps} --checkpoints "
             f"{args.checkpoints} --games {args.games} --target {args.target}`, one after the other on this machine. "
             "Score: (wins + draws / 2) / games against Pong's scripted player, greedy, both sides.", "",
             "| trainer | agent steps (both teams) | s since launch | score |", "|---|---|---|---|"]
    lines += [f"| unity-nb | {s:,} | {t:.0f} | {v:.3f} |" for s, t, v in ours]
    lines += [f"| mlagents-learn | {s:,} | {t:.0f} | {v:.3f} |" for s, t, v in theirs]
    lines += ["", f"First checkpoint at score >= {args.target}: unity-nb {first_at(ours, args.target)}; "
              f"mlagents-learn {first_at(theirs, args.target)}.", "",
              f"mlagents-learn: `{result['command']}`; wall {result['wall_seconds']} s; last summaries: "
              + "; ".join(f"{s:,} steps: mean reward {m}" for s, m, _ in result["curve"][-3:]), ""]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
