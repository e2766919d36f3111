"""Behavioural cloning: agent steps to a confirmed target from scratch, and with 10 demonstrated episodes.

    .venv/bin/python bench/cloning.py [--scenes Basic 3DBall] [--seeds 0 1 2] [--episodes 10] [--out FILE]

Basic's demonstration is its best play (always right, return 0.93), recorded with ``record_demo``; 3DBall's is
the greedy play of a policy the bench trains first (the scene's defaults, seed 100). Each seed then trains the
scene twice side by side on one runtime: from scratch, and with ``behavioral_cloning: {demo_path, strength,
steps}`` (``--strength``, ``--decay-steps``; ML-Agents' defaults: strength 1, no decay). Cloning reads raw observations, so both 3DBall arms train with
``normalize: false`` (the scene's default is true). A run stops at its target once confirmed (the scene's
rules); the figure is its agent steps then. Written to ``--out`` (default bench/cloning.md) with the commit;
nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def demonstration(scene: str, folder: Path, episodes: int, runs_dir: str, sampled: bool) -> tuple[Path, str]:
    """A .demo of ``episodes`` episodes of good play of ``scene``, and who played it."""
    import unity_nb.train as ut
    from unity_nb.evaluate.demos import record_demo

    path = folder / f"{scene}.demo"
    if scene == "Basic":
        record_demo(lambda obs: np.full((len(obs[0]), 1), 2, np.int32), scene, path, episodes=episodes)
        return path, "always right (return 0.93)"
    teacher = ut.train(scene, runs_dir=runs_dir, seed=100)
    teacher.wait(timeout=3 * 3600)
    teacher.record_demo(path, episodes=episodes, sampled=sampled)
    return path, (f"the {'sampled' if sampled else 'greedy'} policy of a default run (seed 100, "
                  f"{teacher.last()['env_steps']:,} agent steps)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", nargs="+", default=["Basic", "3DBall"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--strength", type=float, default=1.0, help="the block's strength (ML-Agents' default 1)")
    parser.add_argument("--decay-steps", type=int, default=0, help="the block's steps: decay to 0 over them (0: none)")
    parser.add_argument("--sampled", action="store_true", help="3DBall's teacher plays sampled (default: greedy)")
    parser.add_argument("--out", default=str(HERE / "cloning.md"))
    args = parser.parse_args()

    import unity_nb.train as ut
    from unity_nb.envs.demo import load_demo

    lines = []
    with tempfile.TemporaryDirectory() as runs_dir:
        for scene in args.scenes:
            demo, player = demonstration(scene, Path(runs_dir), args.episodes, runs_dir, args.sampled)
            steps = load_demo(demo).summary()
            extra = {"normalize": False} if scene == "3DBall" else {}
            rows = []
            for seed in args.seeds:
                runs = {"scratch": ut.train(scene, runs_dir=runs_dir, seed=seed, **extra),
                        "cloning": ut.train(scene, runs_dir=runs_dir, seed=seed, **extra,
                                            behavioral_cloning={"demo_path": str(demo), "strength": args.strength,
                                                                "steps": args.decay_steps})}
                for arm, run in runs.items():
                    run.wait(timeout=3 * 3600)
                    summary = run.summary()
                    rows.append({"seed": seed, "arm": arm, "steps": summary["env_steps"],
                                 "reached": bool(summary["target_reached"]), "s": summary["elapsed_s"]})
                    print(scene, rows[-1], flush=True)
            lines += [f"## {scene}", "", f"Demonstration: {args.episodes} episodes ({steps['steps']} records, mean "
                      f"return {steps['mean_return']:.3f}) played by {player}." + (
                          " Both arms `normalize: false`." if extra else ""), "",
                      "| seed | arm | agent steps | target confirmed | training s |", "|---|---|---|---|---|"]
            lines += [f"| {r['seed']} | {r['arm']} | {r['steps']:,} | {'yes' if r['reached'] else 'no'} | {r['s']:.0f} |"
                      for r in rows]
            by_arm = {arm: [r["steps"] for r in rows if r["arm"] == arm] for arm in ("scratch", "cloning")}
            ratios = [c / s for c, s in zip(by_arm["cloning"], by_arm["scratch"])]
            lines += ["", f"Agent steps, cloning / scratch, per seed: {', '.join(f'{x:.2f}' for x in ratios)} "
                      f"(median {statistics.median(ratios):.2f}); every run confirmed its target: "
                      f"{'yes' if all(r['reached'] for r in rows) else 'no'}.", ""]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip()
    head = ["# Behavioural cloning: steps to a confirmed target from scratch and with demonstrations", "",
            f"`bench/cloning.py --scenes {' '.join(args.scenes)} --seeds {' '.join(map(str, args.seeds))} --strength "
            f"{args.strength:g} --decay-steps {args.decay_steps}{' --sampled' if args.sampled else ''}` at "
            f"{commit}: each seed trains the scene from scratch and with `behavioral_cloning` side by side on one "
            "runtime (2 cores); a run stops once its target is confirmed (the scene's rules).", ""]
    Path(args.out).write_text("\n".join(head + lines) + "\n")
    print("\n".join(head + lines))


if __name__ == "__main__":
    main()
