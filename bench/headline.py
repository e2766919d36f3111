"""The headline figures, re-measured: every default run solved for every seed, and the ratios to the peers.

    .venv/bin/pip install -e '.[bench]'     # stable-baselines3, once
    bash bench/mlagents_peer.sh             # Unity's mlagents-learn in its own venv, once (optional)
    .venv/bin/python bench/headline.py [--basic-seeds 20] [--ball-seeds 5] [--rounds 3]

Each figure is a whole command typed in a shell, run one after another in this process tree:

1. ``unity-nb train Basic --seed S`` for seeds 0..N-1, the runtime up (the first run starts it): steps and
   seconds to a *confirmed* 0.9 (a full window of 100 episodes at 0.9, then 100 episodes played greedily
   and 100 sampled, each at 0.9), and the confirmation's two means.
2. ``unity-nb train 3DBall --seed S`` for seeds 0..M-1, the same way, to a confirmed 100.
3. Ratios, in alternating rounds: a cold ``unity-nb train Basic`` against Stable-Baselines3's PPO script
   (bench/train_basic.py's, to its own 0.9 over 100 episodes); a cold ``unity-nb train 3DBall`` against
   ``mlagents-learn`` with Unity's 3DBall.yaml on the same stand-in, to its first summary at 100.

The table is printed and written, with the commit, to ``bench/headline.md`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from cold_command import timed  # noqa: E402
from train_basic import SB3  # noqa: E402

PY = sys.executable
UNITY_NB = [str(Path(PY).with_name("unity-nb"))]


def kit_train(scene: str, seed: int, env: dict, work: str) -> dict:
    """One ``unity-nb train SCENE --seed S`` command, read from what it printed."""
    out = timed(UNITY_NB + ["train", scene, "--seed", str(seed), "--eval-episodes", "0"], env, work)
    text = "\n".join(out["lines"])
    steps = re.search(r"(?:finished|stopped|failed) after (\d+) steps in ([\d.]+) s", text)
    plays = dict(re.findall(r"100 (deterministic|sampled) episodes: mean ([-\d.]+)", text.split("reached and confirmed")[-1]))
    return {"scene": scene, "seed": seed, "confirmed": "reached and confirmed" in text, "wall_s": out["wall_s"],
            "steps": int(steps.group(1)) if steps else None, "train_s": float(steps.group(2)) if steps else None,
            "deterministic": float(plays["deterministic"]) if "deterministic" in plays else None,
            "sampled": float(plays["sampled"]) if "sampled" in plays else None,
            "tail": out["lines"][-3:]}


def seeds_table(rows: list[dict]) -> list[str]:
    lines = ["| scene | seed | confirmed | steps | training s | whole command s | deterministic | sampled |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['scene']} | {r['seed']} | {'yes' if r['confirmed'] else 'NO'} | {r['steps']} | "
                     f"{r['train_s']} | {r['wall_s']:.1f} | {r['deterministic']} | {r['sampled']} |")
    return lines


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.1f} (min {min(values):.1f}, max {max(values):.1f}, n {len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--basic-seeds", type=int, default=20)
    parser.add_argument("--ball-seeds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds for each ratio")
    parser.add_argument("--out", type=Path, default=HERE / "headline.md")
    args = parser.parse_args()
    from mlagents_peer import CONFIGS, run_mlagents

    work = tempfile.mkdtemp(prefix="unb-headline-")
    env = {**os.environ, "UNITY_NB_RUNTIME_DIR": tempfile.mkdtemp(prefix="unb-rt-", dir="/tmp")}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "unity_nb"], cwd=HERE, capture_output=True,
                           text=True).stdout.strip()
    rows = []
    for scene, count in (("Basic", args.basic_seeds), ("3DBall", args.ball_seeds)):
        for seed in range(count):
            rows.append(kit_train(scene, seed, env, work))
            r = rows[-1]
            print(f"{scene} seed {seed}: {'confirmed' if r['confirmed'] else 'NOT confirmed'} at {r['steps']} steps, "
                  f"{r['train_s']} s training, {r['wall_s']:.1f} s command; deterministic {r['deterministic']}, "
                  f"sampled {r['sampled']}" + ("" if r["confirmed"] else f" {r['tail']}"), flush=True)

    ratios: dict[str, list[float]] = {}
    missing_peer = None  # why the mlagents-learn ratio is absent, said in the file too
    has_sb3 = subprocess.run([PY, "-c", "import stable_baselines3"], capture_output=True).returncode == 0
    for round_ in range(args.rounds):
        subprocess.run(UNITY_NB + ["down", "--force"], env=env, capture_output=True)
        ratios.setdefault("unity-nb train Basic, cold", []).append(
            timed(UNITY_NB + ["train", "Basic", "--eval-episodes", "0"], env, work)["wall_s"])
        if has_sb3:
            ratios.setdefault("SB3 PPO script, Basic", []).append(timed([PY, "-c", SB3], env, work)["wall_s"])
        subprocess.run(UNITY_NB + ["down", "--force"], env=env, capture_output=True)
        ball = kit_train("3DBall", 0, env, work)
        ratios.setdefault("unity-nb train 3DBall, cold (confirmed 100)", []).append(
            ball["wall_s"] if ball["confirmed"] else float("nan"))
        ml = run_mlagents(CONFIGS["3DBall"], "3DBall", num_areas=1, max_steps=500_000, summary_freq=1000,
                          timeout_s=600)
        if ml["available"] and ml["stopped_at_target"]:
            ratios.setdefault("mlagents-learn 3DBall.yaml (first summary >= 100)", []).append(ml["wall_seconds"])
        elif round_ == 0:
            missing_peer = f"mlagents-learn: {ml.get('reason') or 'did not reach 100'}"
            print(missing_peer)
        print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in ratios.items()), flush=True)
    subprocess.run(UNITY_NB + ["down", "--force"], env=env, capture_output=True)

    lines = [f"# Headline figures (commit {commit}{' + uncommitted changes' if dirty else ''}, "
             f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores)", "",
             "Written by `bench/headline.py`; each figure is a whole command from a shell.", "",
             "## Every seed to a confirmed target", ""]
    lines += seeds_table(rows)
    for scene in ("Basic", "3DBall"):
        mine = [r for r in rows if r["scene"] == scene]
        if mine:
            done = [r for r in mine if r["confirmed"]]
            lines.append("")
            lines.append(f"{scene}: {len(done)} of {len(mine)} seeds confirmed" + (
                f"; steps {spread([r['steps'] for r in done])}; whole command s {spread([r['wall_s'] for r in done])}"
                if done else ""))
    lines += ["", "## Ratios (alternating rounds)", "", "| command | whole command s |", "|---|---|"]
    lines += [f"| {k} | {spread(v)} |" for k, v in ratios.items()]
    med = {k: statistics.median(v) for k, v in ratios.items() if v}
    lines.append("")
    if "SB3 PPO script, Basic" in med:
        lines.append(f"- cold Basic / SB3: {med['unity-nb train Basic, cold'] / med['SB3 PPO script, Basic']:.2f}")
    elif "unity-nb train Basic, cold" in med:
        lines.append("- no ratio to the SB3 peer: stable-baselines3 is not installed in this venv "
                     "(`.venv/bin/pip install -e '.[bench]'`)")
    key = "mlagents-learn 3DBall.yaml (first summary >= 100)"
    if key in med:
        lines.append(f"- cold 3DBall confirmed / mlagents-learn: "
                     f"{med['unity-nb train 3DBall, cold (confirmed 100)'] / med[key]:.2f} (the issue's target: <= 0.5)")
    elif missing_peer:
        lines.append(f"- no ratio to {missing_peer}")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    args.out.write_text(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
