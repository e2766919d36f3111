"""A 3DBall PBT sweep against 3DBall's default run: wall time from launch to a confirmed 100.

    .venv/bin/python bench/sweep_pbt.py [--rounds 2] [--trials 4]

Each round, on this machine's runtime (started once, warm for both), in the same process tree, alternating:
1. `unity-nb train 3DBall` (the scene's defaults: target 100, a full window of 100 finished episodes, then the
   confirmation greedy and sampled);
2. `unity-nb sweep 3DBall --lr 'loguniform(1e-4, 3e-3)' --trials N --scheduler pbt` (the same defaults per trial;
   PBT moves the worst quarter of the live trials onto a fork of the best one's run every eighth of the budget).
The time is from the command's launch to the first run of it whose status says finished with its target reached
(confirmed); the sweep is then stopped. Printed per round: both times, their ratio (sweep / default), the agent
steps of the run that confirmed, and how many trials PBT forked. Run from a worktree of a commit (the editable
install runs the working tree).
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
TIMEOUT_S = 1800


def _confirmed(runs: Path) -> Path | None:
    """The first run folder under ``runs`` that finished with its target reached and confirmed."""
    for folder in sorted(p for p in runs.iterdir() if (p / "config.yaml").is_file()):
        try:
            status = json.loads((folder / "status.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            continue
        if status.get("state") == "finished" and status.get("target_reached"):
            return folder
    return None


def _time_to_confirmed(args: list[str], runs: Path) -> tuple[float, Path, subprocess.Popen]:
    env = {**os.environ, "UNITY_NB_RUNS": str(runs)}
    started = time.perf_counter()
    process = subprocess.Popen([*UNITY_NB, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    while (found := _confirmed(runs)) is None:
        if process.poll() is not None and _confirmed(runs) is None:
            raise SystemExit(f"{' '.join(args)} ended without a confirmed run:\n{process.stdout.read()[-3000:]}")
        if time.perf_counter() - started > TIMEOUT_S:
            process.kill()
            raise SystemExit(f"{' '.join(args)}: no confirmed run in {TIMEOUT_S} s")
        time.sleep(0.2)
    return time.perf_counter() - started, found, process


def _steps(run: Path) -> int:
    steps = 0
    for line in (run / "metrics.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "iteration":
            steps = event.get("env_steps", steps)
    return steps


def one_round(trials: int, root: Path) -> dict:
    lone_runs, sweep_runs = root / "lone", root / "sweep"
    lone_runs.mkdir(), sweep_runs.mkdir()
    lone_s, lone_run, process = _time_to_confirmed(["train", "3DBall"], lone_runs)
    process.wait()
    sweep_s, sweep_run, process = _time_to_confirmed(
        ["sweep", "3DBall", "--lr", "loguniform(1e-4, 3e-3)", "--trials", str(trials), "--scheduler", "pbt"],
        sweep_runs)
    sweep = next(sweep_runs.glob("sweep-*"))
    subprocess.run([*UNITY_NB, "stop", sweep.name, "--runs-dir", str(sweep_runs)], capture_output=True)
    process.wait(timeout=600)
    forks = sum(1 for line in (sweep / "trials.jsonl").read_text().splitlines() if "forked_from" in line)
    return {"lone_s": lone_s, "sweep_s": sweep_s, "ratio": sweep_s / lone_s, "lone_steps": _steps(lone_run),
            "sweep_steps": _steps(sweep_run), "forks": forks, "sweep_run": sweep_run.name}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--trials", type=int, default=4)
    args = parser.parse_args()
    subprocess.run([*UNITY_NB, "up", "--wait"], check=True, capture_output=True)  # both sides find it warm
    rows = []
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory() as root:
            row = one_round(args.trials, Path(root))
        rows.append(row)
        print(f"round {round_ + 1}: default run confirmed in {row['lone_s']:.1f} s ({row['lone_steps']:,} steps); "
              f"PBT sweep of {args.trials}: first confirmed in {row['sweep_s']:.1f} s ({row['sweep_steps']:,} "
              f"steps, run {row['sweep_run']}), {row['forks']} fork(s); ratio {row['ratio']:.2f}", flush=True)
    ratios = [r["ratio"] for r in rows]
    print(f"PBT sweep / default run, time to a confirmed 100: median {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f}) over {len(rows)} rounds")


if __name__ == "__main__":
    main()
