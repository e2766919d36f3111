"""An 8-trial Basic sweep (lr x epochs) with ASHA, against the same 8 settings trained as lone runs back to back.

    .venv/bin/python bench/sweep_asha.py [--trials 8] [--rounds 2] [--steps 20000]

Each round: `unity-nb sweep Basic --lr 'loguniform(3e-4, 3e-3)' --num-epochs 'choice(1, 2, 4)' --trials N
--scheduler asha` as one command (the whole time, from a shell), then the settings its trials drew, each as
`unity-nb train Basic --lr X --num-epochs Y --eval-episodes 0`, one after another (the whole time of the
commands back to back). Both with the scene's other defaults (target 0.9 with its confirmation, the step
budget), on this machine's runtime, in the same process tree, sweep then lone runs, alternating nothing else.
Printed per round: both times and their ratio, the trials ASHA stopped early, the best return each found and
the agent steps each spent. Run from a worktree of a commit (the editable install runs the working tree).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

UNITY_NB = [sys.executable, "-m", "unity_nb.cli"]


def _timed(args: list[str], env: dict) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run([*UNITY_NB, *args], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return time.perf_counter() - started, out.stdout


def one_round(trials: int, steps: int, runs: Path) -> dict:
    env = {**os.environ, "UNITY_NB_RUNS": str(runs)}
    sweep_s, _ = _timed(["sweep", "Basic", "--lr", "loguniform(3e-4, 3e-3)", "--num-epochs", "choice(1, 2, 4)",
                         "--trials", str(trials), "--scheduler", "asha", "--steps", str(steps)], env)
    folder = max(runs.glob("sweep-*"), key=lambda p: p.stat().st_mtime)
    records: dict[str, dict] = {}
    for line in (folder / "trials.jsonl").read_text().splitlines():
        record = json.loads(line)
        records.setdefault(record["trial"], {}).update(record)
    sweep_runs = [_last(runs / r["run"]) for r in records.values()]
    lone_s, lone_runs = 0.0, []
    for record in records.values():
        s = record["settings"]
        took, _ = _timed(["train", "Basic", "--lr", repr(s["lr"]), "--num-epochs", str(s["num_epochs"]),
                          "--steps", str(steps), "--eval-episodes", "0"], env)
        lone_s += took
        lone_runs.append(_last(max((p for p in runs.iterdir() if (p / "config.yaml").exists()),
                                   key=lambda p: p.stat().st_mtime)))
    return {"sweep_s": sweep_s, "lone_s": lone_s, "ratio": sweep_s / lone_s,
            "stopped_early": sum(bool(r.get("stopped_early")) for r in records.values()),
            "sweep_best": max(r["return"] for r in sweep_runs), "lone_best": max(r["return"] for r in lone_runs),
            "sweep_steps": sum(r["steps"] for r in sweep_runs), "lone_steps": sum(r["steps"] for r in lone_runs)}


def _last(run: Path) -> dict:
    last = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "iteration":
            last = event
    return {"return": last.get("episode_return_mean") or float("-inf"), "steps": last.get("env_steps", 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20_000)
    args = parser.parse_args()
    subprocess.run([*UNITY_NB, "up", "--wait"], check=True, capture_output=True)  # both sides find it warm
    rows = []
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory() as runs:
            row = one_round(args.trials, args.steps, Path(runs))
        rows.append(row)
        print(f"round {round_ + 1}: sweep {row['sweep_s']:.1f} s, {args.trials} lone runs {row['lone_s']:.1f} s, "
              f"ratio {row['ratio']:.2f}; ASHA stopped {row['stopped_early']} of {args.trials} early; best return "
              f"sweep {row['sweep_best']:.3f}, lone {row['lone_best']:.3f}; agent steps sweep {row['sweep_steps']:,}, "
              f"lone {row['lone_steps']:,}", flush=True)
    ratios = [r["ratio"] for r in rows]
    print(f"sweep / lone runs back to back: median {statistics.median(ratios):.2f} (min {min(ratios):.2f}, "
          f"max {max(ratios):.2f}) over {len(rows)} rounds of {args.trials} trials")


if __name__ == "__main__":
    main()
