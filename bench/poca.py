"""Escape, the cooperative scene: POCA against independent PPO at the same step budget.

    .venv/bin/python bench/poca.py [--seeds 0 1 2] [--steps N] [--groups 400] [--out FILE]

Each seed trains ``unity-nb train Escape`` as a user would (the scene's defaults: POCA) and the same with
``poca: false`` (independent PPO: one policy, each agent's own return), side by side on one runtime, then plays
each final policy on ``--groups`` group episodes of the scene, greedy and sampled, and counts the groups that
escape (a group's return: the group reward is +1 on escaping, nothing else). Random play is measured the same
way. Written to ``--out`` (default bench/poca.md) with the commit; nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def escape_rate(act, groups: int, seed: int) -> float:
    """The share of ``groups`` group episodes (16 areas at once) that escape, with ``act(observations)``."""
    from unity_nb.envs.scenes import ActionBatch, Escape

    scene = Escape(num_areas=16, seed=seed)
    batch = scene.reset()["Escape"]
    ended = escaped = 0
    while ended < groups:
        deciding = batch.select(np.flatnonzero(~batch.done))
        actions = np.asarray(act(deciding.observations[0]), np.int32).reshape(-1, 1)
        batch = scene.step({"Escape": ActionBatch(discrete=actions)})["Escape"]
        won = batch.done & (batch.group_reward > 0)
        ended += len(set(batch.group_id[won | batch.max_step_reached].tolist()))
        escaped += len(set(batch.group_id[won].tolist()))
    return escaped / ended


def rates(run, groups: int) -> dict:
    import torch

    from unity_nb.evaluate.policy import load_policies

    (policy,) = load_policies(run.latest_checkpoint()).values()
    torch.manual_seed(123)
    return {"greedy": escape_rate(policy.act, groups, 123),
            "sampled": escape_rate(lambda o: policy.act(o, None, sampled=True), groups, 123)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="agent steps per run (default: the scene's)")
    parser.add_argument("--groups", type=int, default=400)
    parser.add_argument("--out", default=str(HERE / "poca.md"))
    args = parser.parse_args()

    import unity_nb.train as ut

    rng = np.random.default_rng(0)
    random_rate = escape_rate(lambda o: rng.integers(0, 5, len(o)), args.groups, 123)
    rows = []
    with tempfile.TemporaryDirectory() as runs_dir:
        for seed in args.seeds:
            extra = {"steps": args.steps} if args.steps else {}
            launched = time.time()
            runs = {"POCA": ut.train("Escape", runs_dir=runs_dir, seed=seed, **extra),
                    "PPO": ut.train("Escape", runs_dir=runs_dir, seed=seed, poca=False, **extra)}
            for name, run in runs.items():
                run.wait(timeout=3 * 3600)
                last = [e for e in run.events() if e["event"] == "iteration"][-1]
                rows.append({"seed": seed, "trainer": name, "state": run.state, "steps": last["env_steps"],
                             "train_s": last["time_s"], "agent_return": last["episode_return_mean"],
                             **rates(run, args.groups)})
                print(rows[-1], f"({time.time() - launched:.0f} s since launch)", flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip()
    lines = ["# Escape: POCA against independent PPO at the same budget", "",
             f"`bench/poca.py --seeds {' '.join(map(str, args.seeds))}` at {commit}: each seed trains the scene's "
             "default (POCA) and the same with `poca: false` side by side on one runtime (2 cores), then plays each "
             f"final policy on {args.groups} group episodes (16 areas at once) and counts the groups that escape. "
             f"Random play escapes in {random_rate:.3f} of them.", "",
             "| seed | trainer | agent steps | training s | last 100-episode agent return | escape rate, greedy | "
             "escape rate, sampled |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['trainer']} | {r['steps']:,} | {r['train_s']:.0f} | "
                     f"{r['agent_return']:.2f} | {r['greedy']:.3f} | {r['sampled']:.3f} |")
    for name in ("POCA", "PPO"):
        mine = [r for r in rows if r["trainer"] == name]
        for play in ("greedy", "sampled"):
            values = [r[play] for r in mine]
            spread = f" (min {min(values):.3f}, max {max(values):.3f})" if len(values) > 1 else ""
            lines.append(f"\n{name}, {play}: mean escape rate {statistics.mean(values):.3f}{spread} over "
                         f"{len(values)} seeds.")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
