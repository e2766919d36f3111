"""GridWorld (camera + goal signal, masked moves) to its published benchmark, mean return 0.8.

    .venv/bin/python bench/gridworld.py [--scene GridWorld] [--steps 400000] [--mode player]

Trains the scene with the kit's defaults (``unity_nb.train``, the run a user starts with
``%unity_train GridWorld``) through the player stand-in (cameras PNG-encoded as a Unity build
sends them), until the mean return over the last 100 training episodes reaches 0.8 and 100
deterministic episodes confirm it, or the step budget ends. Prints the timeline (agent steps,
wall time, 100-episode mean), the steps and wall time to the target, the steps/s, and a
greedy evaluation of the final policy over 100 episodes; then where a training step's time
goes (sampling through the player vs learning), read from the run's own events.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import unity_nb.train as ut
from unity_nb.train.schema import State

ENDED = (State.FINISHED, State.STOPPED, State.FAILED)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", default="GridWorld")
    parser.add_argument("--steps", type=int, default=None, help="step budget (default: the scene's)")
    parser.add_argument("--mode", default="player", choices=("player", "inprocess"))
    parser.add_argument("--target", type=float, default=0.8)
    args = parser.parse_args(argv)

    runs = tempfile.mkdtemp(prefix="bench-gridworld-")
    settings = {"mode": args.mode, "target_return": args.target}
    if args.steps:
        settings["steps"] = args.steps
    started = time.perf_counter()
    run = ut.train(args.scene, runs_dir=runs, **settings)
    print(f"{args.scene} ({args.mode}): {run.config.resolved().describe()}")
    print(f"{'agent steps':>12} {'wall s':>8} {'mean100':>8} {'steps/s':>8}")
    shown = 0
    while run.state not in ENDED:
        time.sleep(2)
        events = [e for e in run.events() if e.get("event") == "iteration"]
        for e in events[shown:]:
            if e["iteration"] % 5 == 0 or e is events[-1]:
                mean = e.get("episode_return_mean")
                print(f"{e['env_steps']:>12} {e['time_s']:>8.0f} {'' if mean is None else f'{mean:8.3f}':>8} "
                      f"{e['steps_per_s']:>8.0f}", flush=True)
        shown = len(events)
    wall = time.perf_counter() - started
    last = run.last()
    status = run.status
    print(f"\nstate {run.state}; target reached: {status.get('target_reached')}; {last['env_steps']} agent steps; "
          f"training time {last['time_s']:.0f} s (wall time from launch {wall:.0f} s); "
          f"{last['env_steps'] / max(last['time_s'], 1e-9):.0f} agent steps/s overall")
    confirmation = status.get("confirmation") or {}
    if confirmation:
        from unity_nb.train.schema import confirmation_text

        print(f"confirmation at {confirmation.get('env_steps')} steps: {confirmation_text(confirmation)}")
    evaluation = run.evaluate(episodes=100)
    print(f"greedy evaluation of the final policy: {evaluation}")
    return 0 if status.get("target_reached") else 1


if __name__ == "__main__":
    sys.exit(main())
