"""A curriculum run's lesson timeline: 3DBall from low gravity to Earth's, moved on by reward.

    .venv/bin/python bench/curriculum.py [--seed 0] [--steps 300000] [--mode player|inprocess] [--baseline]

3DBall through the player stand-in (the kit's 3DBall defaults), with ML-Agents' curriculum on the
scene's ``gravity`` (a ball rolls off a tilted platform more slowly under low gravity: a random policy
keeps it 10.5 on average at g=2, 2.8 at Earth's 9.81):

    Moon  g=2.0   until the smoothed mean reward of the last 100 episodes > 30
    Mars  g=5.0   until it is > 60
    Earth g=9.81  (the last lesson: the task itself)

for a fixed budget (``--steps``, no early stop). Printed: each lesson as the run folder's ``lesson``
events record it (agent steps, training seconds, seconds since launch, the measured reward that ended
the lesson before, the window's mean return then), how the run ended, and 48 deterministic episodes of
the final policy, played at the last lesson (Earth's gravity; ``run.evaluate`` plays a curriculum's last
lesson). ``--baseline`` also trains the same settings at Earth's gravity from the start, for the same
budget, and plays it the same way (one seed each: read it as a direction, not a result). Nothing here
is asserted by the tests.
"""

from __future__ import annotations

import argparse
import tempfile
import time

GRAVITY = {"curriculum": [
    {"name": "Moon", "completion_criteria": {"behavior": "3DBall", "measure": "reward", "threshold": 30.0,
                                             "min_lesson_length": 100, "signal_smoothing": True}, "value": 2.0},
    {"name": "Mars", "completion_criteria": {"behavior": "3DBall", "measure": "reward", "threshold": 60.0,
                                             "min_lesson_length": 100, "signal_smoothing": True}, "value": 5.0},
    {"name": "Earth", "value": 9.81},
]}


def train(runs_dir: str, seed: int, mode: str, steps: int, env_params: dict) -> tuple:
    import unity_nb.train as ut

    launched = time.time()
    run = ut.train("3DBall", runs_dir=runs_dir, seed=seed, mode=mode, steps=steps, target_return="off",
                   env_params=env_params)
    run.wait(timeout=3600)
    return run, launched


def ending(run) -> str:
    status, last = run.status, run.last()
    played = run.evaluate(episodes=48, mode="inprocess")  # at the last lesson: Earth's gravity
    return (f"{status['state']} at {last.get('env_steps', 0):,} steps, {last.get('time_s', 0):.1f} s of training; "
            f"window mean {last.get('episode_return_mean')}; 48 deterministic episodes at g=9.81: mean "
            f"{played.mean:.1f}, min {min(played.returns):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=300_000, help="agent steps per run (default 300000)")
    parser.add_argument("--mode", choices=("player", "inprocess"), default="player")
    parser.add_argument("--baseline", action="store_true", help="also train at Earth's gravity from the start")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="unity-nb-bench-curriculum-") as runs_dir:
        run, launched = train(runs_dir, args.seed, args.mode, args.steps, {"gravity": GRAVITY})
        events = run.events()
        iterations = [e for e in events if e["event"] == "iteration"]
        print(f"3DBall, gravity curriculum, seed {args.seed}, {args.mode} mode: {run.config.describe()}\n")
        print(f"{'lesson':<14}{'gravity':>8}{'agent steps':>13}{'train s':>9}{'wall s':>8}"
              f"{'measured':>10}{'window mean':>13}  reason")
        for e in (e for e in events if e["event"] == "lesson"):
            window = next((i["episode_return_mean"] for i in iterations if i["iteration"] == e["iteration"]), None)
            print(f"{e['lesson']} {e['name']:<12}{e['value']:>8g}{e['env_steps']:>13,}{e['time_s']:>9.1f}"
                  f"{e['t'] - launched:>8.1f}{'' if e['measured'] is None else format(e['measured'], '.1f'):>10}"
                  f"{'' if window is None else format(window, '.1f'):>13}  {e['reason']}")
        print(f"\nend: {ending(run)}")
        print(f"wall {time.time() - launched:.1f} s from launch (Ray start-up included)")
        if args.baseline:
            base, _ = train(runs_dir, args.seed, args.mode, args.steps, {"gravity": 9.81})
            print(f"\nbaseline (Earth's gravity throughout): {ending(base)}")


if __name__ == "__main__":
    main()
