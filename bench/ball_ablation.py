"""Why 3DBall's greedy policy falls behind its sampled one: train with some settings changed, and play
the policy both ways as it trains.

    .venv/bin/python bench/ball_ablation.py --seeds 0 1 2 --set entropy_coeff=0.001 --set lr_schedule=linear

Trains 3DBall in-process (the same trajectories as through the player, faster) with the scene's defaults
and the ``--set`` changes, target off, and every ``--every`` agent steps plays the current weights for
``--episodes`` episodes deterministically and sampled (one area per 12 agents, so every agent plays one
whole episode at once). Prints a line per check and, at the end, per seed: the first check where
both plays scored a perfect mean (100.0), and the final scores. The learned log-std (before ML-Agents'
/3) and the median |mean action| are shown, since a wide Gaussian whose mean saturates is what the
issue found.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np


def parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def log_std_and_action(algo, policy_obs: np.ndarray) -> tuple[float, float]:
    import torch

    module = algo.get_module("default_policy")
    with torch.no_grad():
        out = module.forward_inference({"obs": torch.as_tensor(policy_obs)})["action_dist_inputs"]
    mean, log_std = out.chunk(2, dim=-1)
    return float(log_std.mean()), float(mean.abs().median())


def run(seed: int, changes: dict, every: int, episodes: int, steps: int, scene: str = "3DBall",
        out=sys.stdout) -> list[dict]:
    from unity_nb.envs.source import EnvSource
    from unity_nb.evaluate.policy import live_policies
    from unity_nb.evaluate.rollout import evaluate
    from unity_nb.train import make_config
    from unity_nb.trainer.driver import join_ray
    from unity_nb.trainer.rllib_setup import algorithm_config

    from unity_nb.envs.scenes import SCENES

    import torch

    torch.set_num_threads(1)  # two of these side by side on 2 cores: torch's spinning threads would fight
    cfg = make_config(scene, mode="inprocess", seed=seed, steps=steps, target_return="off", **changes)
    behavior = SCENES[scene].behavior.name
    print(f"# seed {seed}: {cfg.describe()}", file=out, flush=True)
    join_ray(None)
    algo = algorithm_config(cfg, [behavior]).build_algo()
    probe = EnvSource(scene, mode="inprocess", seed=999, num_areas=1)
    probe.call("reset")
    decision, _ = probe.call("get_steps", behavior)
    probe_obs = np.asarray(decision.obs[0], np.float32)
    probe.close()
    areas = math.ceil(episodes / SCENES[scene].agents_per_area)
    continuous = bool(SCENES[scene].behavior.continuous_size)
    rows, next_check, started = [], every, time.perf_counter()
    while True:
        result = algo.train()
        done = int(result["env_runners"]["num_env_steps_sampled_lifetime"])
        if done < next_check and done < steps:
            continue
        next_check += every
        policies = live_policies(algo)
        scores = {play: evaluate(None, scene, episodes=episodes, seed=12345, num_areas=areas, mode="inprocess",
                                 policies=policies, play=play).table()
                  for play in ("deterministic", "sampled")}
        # the same greedy play over the run's own areas: episodes after the first start from a reset mid-run
        rounds = evaluate(None, scene, episodes=episodes, seed=12345, num_areas=cfg.num_areas, mode="inprocess",
                          policies=policies).table()
        log_std, action = log_std_and_action(algo, probe_obs) if continuous else (float("nan"), float("nan"))
        row = {"seed": seed, "steps": done, "train_s": round(time.perf_counter() - started, 1),
               "det_mean": scores["deterministic"]["mean"], "det_min": scores["deterministic"]["min"],
               "smp_mean": scores["sampled"]["mean"], "smp_min": scores["sampled"]["min"],
               "det_rounds_mean": rounds["mean"], "det_rounds_min": rounds["min"],
               "log_std": log_std, "abs_mean_action": action}
        rows.append(row)
        print(f"seed {seed} {done:>7} steps {row['train_s']:>6.1f}s  deterministic {row['det_mean']:7.2f} "
              f"(min {row['det_min']:6.2f})  sampled {row['smp_mean']:7.2f} (min {row['smp_min']:6.2f})  "
              f"log-std {log_std:+.2f}  |mean action| {action:.2f}", file=out, flush=True)
        if done >= steps:
            break
    algo.stop()
    return rows


def main() -> None:
    from unity_nb.envs.scenes import SCENES

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--scene", default="3DBall")
    parser.add_argument("--target", type=float, help="the score both plays must reach (default the benchmark)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a TrainConfig setting changed from 3DBall's defaults (repeatable)")
    parser.add_argument("--every", type=int, default=50_000, help="agent steps between checks")
    parser.add_argument("--episodes", type=int, default=100, help="episodes per play in each check")
    parser.add_argument("--steps", type=int, default=400_000)
    parser.add_argument("--json", help="append the rows to this JSON-lines file")
    args = parser.parse_args()
    changes = {}
    for item in args.set:
        key, _, value = item.partition("=")
        changes[key] = parse_value(value)
    for seed in args.seeds:
        rows = run(seed, changes, args.every, args.episodes, args.steps, args.scene)
        goal = args.target if args.target is not None else SCENES[args.scene].benchmark_return
        perfect = next((r for r in rows if r["det_mean"] >= goal - 1e-6 and r["smp_mean"] >= goal - 1e-6), None)
        last = rows[-1]
        print(f"RESULT seed {seed} {json.dumps(changes)}: both at the goal first at "
              f"{perfect['steps'] if perfect else 'never'}; final deterministic {last['det_mean']:.2f}, "
              f"sampled {last['smp_mean']:.2f}, log-std {last['log_std']:+.2f}", flush=True)
        if args.json:
            with open(args.json, "a") as f:
                for r in rows:
                    f.write(json.dumps({**r, "changes": changes}) + "\n")


if __name__ == "__main__":
    main()
