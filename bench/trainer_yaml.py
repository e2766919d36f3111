"""Unity's own trainer YAML, two trainers: unity-nb against mlagents-learn on the same stand-in.

    bash bench/mlagents_peer.sh                  # once: Unity's mlagents-learn 0.28 in .venv-mlagents
    .venv/bin/python bench/trainer_yaml.py [--scene 3DBall|Basic] [--seeds 2]

Both trainers read Unity's published config (config/ppo/3DBall.yaml, Basic.yaml;
Basic with its mlagents-learn default of one area) and train through the kit's
player stand-in, launched as a Unity build, one after the other in the same
process tree. mlagents-learn stops when its own summary ("Mean Reward" of the
episodes that ended in the last summary_freq steps) reaches the target; the kit
runs until its own early stop (a full 100-episode window at the target,
confirmed by 100 deterministic episodes) or the step budget.

Printed per run, each figure measuring exactly what its label says:
- "period mean >= target": the first step count at which the mean return of the
  episodes that ended in the last summary_freq steps reached the target. This is
  mlagents-learn's own measure; for the kit it is computed the same way from the
  returns each iteration recorded (same summary_freq).
- "window >= target": the first step count at which the mean over the last 100
  finished episodes reached it (the kit only; mlagents-learn does not report it).
- "confirmed": the step count at which the kit stopped, with the deterministic
  evaluation's mean.
Ratios are the kit's steps and seconds over mlagents-learn's, period mean to
period mean (lower is better). Nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from mlagents_peer import CONFIGS as UNITY_CONFIGS  # noqa: E402  (Unity's published files)
from mlagents_peer import run_mlagents  # noqa: E402

# target, mlagents-learn's summary period (and the kit's, for the period mean). Both keep the file's
# max_steps (500000): with learning_rate_schedule linear it is also the decay horizon.
SETTINGS = {"3DBall": (100.0, 12_000), "Basic": (0.9, 1_000)}
MAX_STEPS = 500_000


def run_kit(scene: str, seed: int, runs_dir: str) -> dict:
    """The kit on Unity's file, through the player stand-in; figures read back from its run folder."""
    import unity_nb.train as ut

    target, period = SETTINGS[scene]
    path = Path(runs_dir) / f"{scene}.yaml"
    path.write_text(UNITY_CONFIGS[scene])
    started = time.perf_counter()
    run = ut.train(config=str(path), runs_dir=runs_dir, seed=seed, mode="player")
    run.wait(timeout=3600)
    wall = time.perf_counter() - started
    events = run.events()
    iterations = [e for e in events if e["event"] == "iteration"]
    period_at = window_at = None
    bucket: list[float] = []
    edge = period
    for e in iterations:  # the mean of the episodes that ended in each summary period, as mlagents-learn prints it
        bucket += e["iteration_returns"]
        if e["env_steps"] >= edge:
            if period_at is None and bucket and statistics.mean(bucket) >= target - 1e-6:
                period_at = (e["env_steps"], e["time_s"])
            bucket, edge = [], (e["env_steps"] // period + 1) * period
        if window_at is None and e["episodes_window"] == 100 and e["episode_return_mean"] >= target - 1e-6:
            window_at = (e["env_steps"], e["time_s"])
    if period_at is None and bucket and statistics.mean(bucket) >= target - 1e-6:
        period_at = (iterations[-1]["env_steps"], iterations[-1]["time_s"])  # the last period, cut by the stop
    status = run.status
    check = status.get("confirmation") or {}
    return {"state": status["state"], "steps": iterations[-1]["env_steps"] if iterations else 0,
            "train_s": iterations[-1]["time_s"] if iterations else None, "wall_s": round(wall, 1),
            "period_steps": period_at and period_at[0], "period_s": period_at and period_at[1],
            "window_steps": window_at and window_at[0], "confirmed": bool(status.get("target_reached")),
            "confirmed_mean": min((t["mean"] for p, t in check.items() if p in ("deterministic", "sampled")), default=None),
            "confirmed_steps": check.get("env_steps")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scene", choices=list(UNITY_CONFIGS), action="append",
                        help="scene(s) to run (default: both)")
    parser.add_argument("--seeds", type=int, default=2, help="paired runs per scene (default 2)")
    args = parser.parse_args()
    runs_dir = tempfile.mkdtemp(prefix="unity-nb-bench-yaml-")
    rows = []
    for scene in args.scene or ["Basic", "3DBall"]:
        target, period = SETTINGS[scene]
        for seed in range(1, args.seeds + 1):
            kit = run_kit(scene, seed, runs_dir)
            peer = run_mlagents(UNITY_CONFIGS[scene], scene, num_areas=1, seed=seed, max_steps=MAX_STEPS,
                                summary_freq=period, target=target, timeout_s=1800)
            row = {"scene": scene, "seed": seed, "kit": kit,
                   "mlagents": {k: peer.get(k) for k in ("available", "reason", "steps_to_target", "seconds_to_target")}}
            rows.append(row)
            print(f"{scene} seed {seed}: unity-nb period mean >= {target:g} at {kit['period_steps']} steps "
                  f"({kit['period_s']} s of training); window >= target at {kit['window_steps']}; "
                  f"{'confirmed' if kit['confirmed'] else 'NOT confirmed'} at {kit['confirmed_steps']} steps "
                  f"(deterministic mean {kit['confirmed_mean']}); stopped at {kit['steps']}, {kit['wall_s']} s in all",
                  flush=True)
            if peer.get("available"):
                print(f"{scene} seed {seed}: mlagents-learn period mean >= {target:g} at {peer['steps_to_target']} "
                      f"steps ({peer['seconds_to_target']} s)", flush=True)
                if kit["period_steps"] and peer["steps_to_target"]:
                    print(f"  ratio unity-nb / mlagents-learn: steps {kit['period_steps'] / peer['steps_to_target']:.2f}, "
                          f"seconds {kit['period_s'] / peer['seconds_to_target']:.2f}", flush=True)
            else:
                print(f"  mlagents-learn not run: {peer.get('reason')}", flush=True)
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
