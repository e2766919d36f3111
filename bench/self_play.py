"""Pong by self-play: ELO over steps, and the final policy against the scripted opponent.

    .venv/bin/python bench/self_play.py [--seeds 0 1] [--steps N] [--independent] [--episodes 200] [--out FILE]

Each seed trains ``unity-nb train Pong --self-play`` as a user would (the scene's defaults, mlagents-learn's
self_play defaults, through the player stand-in), then plays the final policy greedily against Pong's scripted
player on each side (``run.evaluate(opponent="scripted")``, ``--episodes`` games a side), and against the
oldest snapshot still in its window. ``--independent`` also trains the scene's default (a policy per team, both
learning at once, no ghosts) for the same budget and seeds, and plays it the same way: what self-play buys at
the same budget. Written to ``--out`` (default bench/self_play.md) with the commit; nothing here is asserted by
the tests. ELO is relative to the run's own snapshots (it starts at 1200): compare its shape across seeds, not
its value across games.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
AREAS = 20  # courts played at once in the evaluations: the same number of games, sooner


def train(runs_dir: str, seed: int, steps: int | None, self_play: bool):
    import unity_nb.train as ut

    launched = time.time()
    kwargs = {"self_play": True} if self_play else {}
    if steps:
        kwargs["steps"] = steps
    run = ut.train("Pong", runs_dir=runs_dir, seed=seed, **kwargs)
    run.wait(timeout=4 * 3600)
    return run, time.time() - launched


def record(run, episodes: int) -> dict:
    """What the run reached: its ELO curve (self-play), and greedy games against the scripted player per team."""
    iterations = [e for e in run.events() if e["event"] == "iteration"]
    scripted = run.evaluate(episodes=episodes, play="deterministic", opponent="scripted", num_areas=AREAS).rows()
    out = {"state": run.state, "steps": iterations[-1]["env_steps"], "train_s": iterations[-1]["time_s"],
           "scripted": {team: (r["won"], r["drawn"], r["lost"]) for team, r in scripted.items() if team != "all"}}
    if "elo" in iterations[-1]:
        out["elo"] = [(e["env_steps"], e["elo"]) for e in iterations]
        out["team_changes"] = sum(e["event"] == "self_play" and e["what"] == "team_change" for e in run.events())
        oldest = min(range(len(_window(run))), key=lambda i: _window(run)[i]["env_steps"])
        against = run.evaluate(episodes=episodes, play="deterministic", opponent=f"snapshot:{oldest}",
                               num_areas=AREAS)
        out["oldest"] = (against.opponent, {t: (r["won"], r["drawn"], r["lost"]) for t, r in against.rows().items()
                                            if t != "all"})
    return out


def _window(run) -> list:
    import pickle

    with open(run.latest_checkpoint() / "self_play.pkl", "rb") as f:
        return next(iter(pickle.load(f).values()))


def elo_at(curve: list, fraction: float) -> float:
    """The rating at the first iteration past ``fraction`` of the run's steps."""
    end = curve[-1][0]
    return next(elo for steps, elo in curve if steps >= fraction * end)


def wdl(counts: tuple) -> str:
    return "{}/{}/{}".format(*counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=None, help="agent steps per run (default: Pong's)")
    parser.add_argument("--episodes", type=int, default=200, help="games per side against each opponent")
    parser.add_argument("--independent", action="store_true", help="also train a policy per team, no self-play")
    parser.add_argument("--out", type=Path, default=HERE / "self_play.md")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True).stdout.strip()
    rows, curves = [], []
    for kind in (["self-play"] + (["independent"] if args.independent else [])):
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as runs_dir:
                run, wall = train(runs_dir, seed, args.steps, kind == "self-play")
                got = record(run, args.episodes)
            print(kind, seed, got, flush=True)
            team0, team1 = got["scripted"].get("Pong?team=0"), got["scripted"].get("Pong?team=1")
            elo = got.get("elo")
            rows.append(f"| {kind} | {seed} | {got['state']} | {got['steps']:,} | {got['train_s']:.0f} | {wall:.0f} | "
                        f"{wdl(team0)} | {wdl(team1)} | "
                        + (f"{elo_at(elo, 0.25):.1f} / {elo_at(elo, 0.5):.1f} / {elo_at(elo, 0.75):.1f} / {elo[-1][1]:.1f}"
                           f" | {got['team_changes']} | {got['oldest'][0]}: "
                           + ", ".join(f"{t[-1]} {wdl(c)}" for t, c in got["oldest"][1].items()) if elo else "— | — | —")
                        + " |")
            if elo:
                curves.append((seed, elo))
    lines = [f"# Pong by self-play (commit {commit}, {time.strftime('%Y-%m-%d')}, {subprocess.getoutput('nproc')} cores)",
             "", f"Written by `bench/self_play.py --seeds {' '.join(map(str, args.seeds))}"
             + (f" --steps {args.steps}" if args.steps else "") + (" --independent" if args.independent else "")
             + f"`. Games against the scripted player: {args.episodes} a side, greedy, won/drawn/lost.", "",
             "| training | seed | state | agent steps | training s | whole run s | team 0 vs scripted | "
             "team 1 vs scripted | ELO at 25/50/75/100 % | team changes | against its oldest snapshot (team: W/D/L) |",
             "|---|---|---|---|---|---|---|---|---|---|---|", *rows, ""]
    for seed, elo in curves:
        step = max(1, len(elo) // 12)
        lines.append(f"ELO over agent steps, seed {seed}: "
                     + ", ".join(f"{s:,}: {r:.1f}" for s, r in elo[::step] + ([elo[-1]] if len(elo) % step != 1 else [])))
        lines.append("")
    if len(curves) > 1:
        finals = [elo[-1][1] for _, elo in curves]
        lines.append(f"Final ELO over {len(finals)} seeds: median {statistics.median(finals):.1f} "
                     f"(min {min(finals):.1f}, max {max(finals):.1f}).")
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
