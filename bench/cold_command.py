"""The whole `unity-nb train Basic` command, cold and with the runtime up, beside its peers.

    .venv/bin/pip install -e '.[bench]'      # stable-baselines3, once
    bash bench/mlagents_peer.sh              # Unity's mlagents-learn in its own venv, once (optional)
    .venv/bin/python bench/cold_command.py [--rounds 3]

Each round runs, one after another in the same process tree on the same scene through the
same player stand-in, each as a fresh command from a shell:

- ``unity-nb train Basic`` with no training runtime up (``unity-nb down`` first, not timed):
  what a new user's first command costs;
- ``unity-nb train Basic`` again with the runtime the previous command left up (its ready
  driver prepared: "a second command within a few minutes");
- a Stable-Baselines3 PPO script on an in-process Basic (8 envs), to mean 0.9 over 100 episodes;
- ``mlagents-learn`` with Unity's Basic.yaml on the stand-in with 8 areas, stopped at its first
  summary at 0.9 (only if ``bench/mlagents_peer.sh`` made its venv).

Printed: medians of whole-command wall time, the time from the last line printed to the
process's exit, the kit's own "ready" line, and the targets the issues set (cold <= 8 s and <= 3x SB3,
cold <= mlagents-learn, runtime up <= 3 s, exit within 0.5 s of the last line).
The kit's runtime folder is a private one for the bench (UNITY_NB_RUNTIME_DIR).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from train_basic import SB3  # noqa: E402  (the same SB3 PPO script the solve-time bench runs)

PY = sys.executable

def timed(command: list[str], env: dict, cwd: str) -> dict:
    """Wall time of a whole command, and how long it took to exit after its last line."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd)
    lines, last_line_at = [], started
    for line in process.stdout:
        lines.append(line.rstrip())
        last_line_at = time.perf_counter()
    process.wait()
    ended = time.perf_counter()
    return {"wall_s": ended - started, "exit_after_last_line_s": ended - last_line_at, "ok": process.returncode == 0,
            "lines": lines}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians are printed)")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="unb-cold-")
    env = {**os.environ, "UNITY_NB_RUNTIME_DIR": tempfile.mkdtemp(prefix="unb-rt-", dir="/tmp")}
    unity_nb = [str(Path(PY).with_name("unity-nb"))]
    has_sb3 = subprocess.run([PY, "-c", "import stable_baselines3"], capture_output=True).returncode == 0
    from mlagents_peer import CONFIGS, run_mlagents

    rows: dict[str, list[dict]] = {}
    for round_ in range(args.rounds):
        subprocess.run(unity_nb + ["down", "--force"], env=env, capture_output=True)
        rows.setdefault("unity-nb train Basic, cold", []).append(timed(unity_nb + ["train", "Basic"], env, work))
        time.sleep(8)  # the runtime prepares its next driver, as between two commands a user types
        rows.setdefault("unity-nb train Basic, runtime up", []).append(timed(unity_nb + ["train", "Basic"], env, work))
        if has_sb3:
            rows.setdefault("SB3 PPO script", []).append(timed([PY, "-c", SB3], env, work))
        ml = run_mlagents(CONFIGS["Basic"], "Basic", num_areas=8, max_steps=500_000, summary_freq=1000, timeout_s=300)
        if ml["available"]:
            rows.setdefault("mlagents-learn Basic.yaml", []).append(
                {"wall_s": ml["wall_seconds"], "ok": ml["stopped_at_target"], "exit_after_last_line_s": float("nan"),
                 "lines": []})
        elif round_ == 0:
            print(f"mlagents-learn: not run ({ml['reason']})")
        print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]['wall_s']:.1f} s" for k, v in rows.items()), flush=True)
    subprocess.run(unity_nb + ["down", "--force"], env=env, capture_output=True)

    median = {k: statistics.median(r["wall_s"] for r in v) for k, v in rows.items()}
    print(f"\n{'command':34s} {'median s':>9s} {'exit after last line s':>23s}  all ok")
    for k, v in rows.items():
        gap = statistics.median(r["exit_after_last_line_s"] for r in v)
        print(f"{k:34s} {median[k]:9.2f} {gap:23.2f}  {all(r['ok'] for r in v)}")
    cold, warm = median["unity-nb train Basic, cold"], median["unity-nb train Basic, runtime up"]
    print("\nthe kit's own account of the wait (last round):")
    for key in ("unity-nb train Basic, cold", "unity-nb train Basic, runtime up"):
        ready = [line.strip() for line in rows[key][-1]["lines"] if line.strip().startswith("ready")]
        print(f"  {key}: {ready[0] if ready else '?'}")
    print("\ntargets:")
    print(f"  cold whole command <= 8 s: {cold:.2f} s")
    print(f"  runtime up, whole command <= 3 s: {warm:.2f} s")
    if "SB3 PPO script" in median:
        print(f"  cold / SB3 script <= 3: {cold / median['SB3 PPO script']:.2f}")
    if "mlagents-learn Basic.yaml" in median:
        print(f"  cold / mlagents-learn <= 1: {cold / median['mlagents-learn Basic.yaml']:.2f}")


if __name__ == "__main__":
    main()
