"""threaded: on against off, each scene's default run to its confirmed target, seed by seed.

    .venv/bin/python bench/threaded.py [--scenes 3DBall Pyramids] [--seeds 0 1 2 3 4] [--out bench/threaded.md]

For each scene and seed, ``unity-nb train SCENE --seed N`` with and without ``--threaded``, one after the other
(the order alternates from seed to seed), on a training runtime that is already up. Reported per run: the
steps and the training seconds to the confirmed target (the run's own figure, from its first iteration to its
last), and the whole command's seconds (launch to exit: it includes building the algorithm, and for threaded
starting its learner process, since the runtime's prepared driver was built for the other variant).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
UNITY_NB = str(Path(sys.executable).with_name("unity-nb"))
FINISHED = re.compile(r"finished after (\d+) steps in ([\d.]+) s")


def one_run(scene: str, seed: int, threaded: bool) -> dict:
    with tempfile.TemporaryDirectory() as runs:
        args = [UNITY_NB, "train", scene, "--seed", str(seed), "--eval-episodes", "0", "--runs-dir", runs]
        started = time.perf_counter()
        out = subprocess.run(args + (["--threaded"] if threaded else []), capture_output=True, text=True)
        wall = time.perf_counter() - started
    found = FINISHED.search(out.stdout)
    confirmed = "reached and confirmed at" in out.stdout
    if out.returncode != 0 or found is None:
        raise SystemExit(f"{scene} seed {seed} threaded={threaded} failed:\n{out.stdout}\n{out.stderr}")
    return {"steps": int(found.group(1)), "train_s": float(found.group(2)), "wall_s": wall, "confirmed": confirmed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", nargs="+", default=["3DBall", "Pyramids"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", default=str(HERE / "threaded.md"))
    args = parser.parse_args()
    subprocess.run([UNITY_NB, "up"], check=True, capture_output=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip()
    lines = [f"# threaded on against off, each scene's defaults to a confirmed target (commit {commit}, "
             f"{time.strftime('%Y-%m-%d')}, 2 cores)", "",
             f"`.venv/bin/python bench/threaded.py --scenes {' '.join(args.scenes)} --seeds "
             f"{' '.join(map(str, args.seeds))}`, a training runtime already up, the order alternating by seed:", "",
             "| scene | seed | off: steps, training s, command s | threaded: steps, training s, command s |",
             "|---|---|---|---|"]
    summary = []
    for scene in args.scenes:
        results = {False: [], True: []}
        for i, seed in enumerate(args.seeds):
            for threaded in ((False, True) if i % 2 == 0 else (True, False)):
                results[threaded].append(one_run(scene, seed, threaded))
                r = results[threaded][-1]
                print(f"{scene} seed {seed} threaded={threaded}: {r}", flush=True)

            def cell(r):
                mark = "" if r["confirmed"] else " (not confirmed)"
                return f"{r['steps']:,}{mark}, {r['train_s']:.1f} s, {r['wall_s']:.1f} s"
            lines.append(f"| {scene} | {seed} | {cell(results[False][-1])} | {cell(results[True][-1])} |")
        med = {k: statistics.median(r["train_s"] for r in v) for k, v in results.items()}
        med_wall = {k: statistics.median(r["wall_s"] for r in v) for k, v in results.items()}
        rate = {k: sum(r["steps"] for r in v) / sum(r["train_s"] for r in v) for k, v in results.items()}
        confirmed = {k: sum(r["confirmed"] for r in v) for k, v in results.items()}
        summary.append(f"- {scene}: confirmed {confirmed[False]}/{len(args.seeds)} off, {confirmed[True]}/"
                       f"{len(args.seeds)} threaded; median training time {med[False]:.1f} s off, {med[True]:.1f} s "
                       f"threaded (**{med[True] / med[False]:.2f}**); median command {med_wall[False]:.1f} s off, "
                       f"{med_wall[True]:.1f} s threaded; steps a second {rate[False]:,.0f} off, {rate[True]:,.0f} "
                       f"threaded ({rate[True] / rate[False]:.2f}x)")
    lines += ["", *summary, ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
