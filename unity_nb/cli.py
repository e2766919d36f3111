"""The ``unity-nb`` command: the kit's verbs from a terminal."""

from __future__ import annotations

import argparse
import os
import sys
import time

from . import __version__
from .train.flags import add_config_flags, config_overrides, positive_int


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unity-nb",
        description="Train and try reinforcement-learning agents for Unity ML-Agents environments.",
    )
    parser.add_argument("--version", action="version", version=f"unity-nb {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("scenes", help="list the built-in scenes", description="List the built-in scenes.")

    p = sub.add_parser(
        "player-file",
        help="print the path of a launchable 'Unity build' of a built-in scene",
        description="Print the path of an executable that runs a built-in scene exactly like a Unity Linux "
        "build (give it to UnityEnvironment(file_name=...) or any ML-Agents client).",
    )
    p.add_argument("scene", help="built-in scene name, e.g. 3DBall")

    p = sub.add_parser(
        "play",
        help="play episodes with random actions and print their returns",
        description="Open a scene (built-in, a Unity build path, or 'editor') through the real ML-Agents "
        "client and play episodes with random actions, printing each episode's return.",
    )
    p.add_argument("scene", nargs="?", default="Basic", help="built-in scene, path to a Unity build, or 'editor' (default: Basic)")
    p.add_argument("--episodes", type=positive_int, default=5, help="episodes to play (default: 5)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--mode", choices=["player", "inprocess"], default="player",
                   help="player: through the Unity player stand-in (default); inprocess: faster, same trajectories")
    p.add_argument("--connect-timeout", type=float, default=30.0, help="seconds to wait for Unity to connect (default: 30)")
    p = sub.add_parser(
        "train",
        help="train an agent (RLlib PPO by default) and show progress",
        description="Train an agent for a built-in scene or your Unity build, on this machine or a Ray cluster. "
        "Settings come from the scene's defaults, then --config, then the flags given here.",
    )
    p.add_argument("scene", nargs="?", default=None, help="built-in scene (Basic, 3DBall) or path to a Unity build (default: Basic)")
    p.add_argument("--config", metavar="FILE", help="YAML settings: unity-nb format or Unity's mlagents-learn trainer YAML")
    add_config_flags(p)
    p.add_argument("--runs-dir", help="where run folders go (default: ./runs or $UNITY_NB_RUNS)")
    p.add_argument("--eval-episodes", type=int, default=100, help="deterministic episodes to evaluate at the end (0: skip)")

    p = sub.add_parser("runs", help="list training runs", description="List the runs in the run store.")
    p.add_argument("--runs-dir", help="run store folder (default: ./runs or $UNITY_NB_RUNS)")

    p = sub.add_parser("stop", help="stop a run (it checkpoints first)", description="Ask a run to checkpoint and stop.")
    p.add_argument("run_id", help="the run's id, as `unity-nb runs` shows it")
    p.add_argument("--runs-dir", help="run store folder (default: ./runs or $UNITY_NB_RUNS)")

    p = sub.add_parser("resume", help="continue a run from its last checkpoint",
                       description="Continue a stopped or finished run from its last checkpoint; the step count goes on.")
    p.add_argument("run_id", help="the run's id")
    p.add_argument("--steps", type=positive_int, help="new total step budget")
    p.add_argument("--runs-dir", help="run store folder (default: ./runs or $UNITY_NB_RUNS)")
    return parser


def _scenes() -> int:
    from .envs import SCENES

    for name, cls in SCENES.items():
        print(f"{name:10s} {cls.agents_per_area:3d} agent(s)  benchmark {cls.benchmark_return}  {cls.description}")
    return 0


def _play(args) -> int:
    import numpy as np

    from .envs import multi_agent

    started = time.perf_counter()
    env = multi_agent.UnityMultiAgentEnv(
        {"scene": args.scene, "mode": args.mode, "seed": args.seed, "connect_timeout": args.connect_timeout}
    )
    print(f"unity-nb: {env.source.name} ready in {time.perf_counter() - started:.1f} s "
          f"(behaviors: {', '.join(env.behaviors)}; agents: {len(env.reset()[0])})", flush=True)
    for space in env.action_spaces.values():
        space.seed(args.seed)
    returns: list[float] = []
    try:
        obs, _ = env.reset()
        while len(returns) < args.episodes:
            actions = {k: env.get_action_space(k).sample() for k in obs}
            obs, _, _, _, infos = env.step(actions)
            for key, info in infos.items():
                if "episode_return" in info and len(returns) < args.episodes:
                    returns.append(info["episode_return"])
                    print(f"episode {len(returns):3d}  agent {key:14s} return {info['episode_return']:8.3f}  "
                          f"length {info['episode_length']}", flush=True)
            if not obs:
                obs, _ = env.reset()
    finally:
        env.close()
    print(f"mean return over {len(returns)} episodes: {np.mean(returns):.3f} (random actions; "
          f"elapsed {time.perf_counter() - started:.1f} s)")
    return 0


def _progress(run, steps: int) -> dict:
    """Print progress until the run ends: a bar on a terminal, a line every few seconds otherwise."""
    tty = sys.stdout.isatty()
    last_line, last = 0.0, {}
    for event in run.follow():
        if event.get("event") == "log":
            print(f"  {event['message']}", flush=True)
        if event.get("event") != "iteration":
            continue
        last = event
        done = min(event["env_steps"] / steps, 1.0)
        ret = event.get("episode_return_mean")
        line = (f"[{'#' * int(done * 30):30s}] {event['env_steps']:>8d}/{steps} steps  "
                f"return {'-' if ret is None else f'{ret:.3f}'}  {event['steps_per_s']:.0f} steps/s  "
                f"ETA {event['eta_s']:.0f} s")
        if event.get("player_restarts"):
            line += f"  player restarts {event['player_restarts']}"
        if tty:
            print("\r" + line, end="", flush=True)
        elif time.monotonic() - last_line > 5:
            print(line, flush=True)
            last_line = time.monotonic()
    if tty:
        print()
    return last


def _train(args) -> int:
    from .train import train
    from .train.local import backend

    backend().keep_warm = False  # one run per command: no standby for a next one
    run = train(args.scene, config=args.config, runs_dir=args.runs_dir, **config_overrides(args))
    config = run.config
    print(f"unity-nb: run {run.id} ({config.algorithm} on {config.scene}, {config.steps} steps) -> {run.path}", flush=True)
    print(f"unity-nb: settings: {config.describe()}", flush=True)
    try:
        last = _progress(run, config.steps)
    except KeyboardInterrupt:
        print("\nunity-nb: stopping (checkpointing first)...", flush=True)
        run.stop()
        last = run.last()
    status = run.status
    ret = last.get("episode_return_mean")
    window = "-" if ret is None else f"{ret:.3f} over the last {last.get('episodes_window')} episodes"
    print(f"unity-nb: run {run.id} {status['state']} after {last.get('env_steps', 0)} steps in "
          f"{last.get('time_s', 0):.1f} s; mean return {window}")
    if config.target is not None:
        check = status.get("confirmation")
        if status.get("target_reached"):
            print(f"unity-nb: target {config.target} reached and confirmed: {check['episodes']} deterministic "
                  f"episodes, mean {check['mean']:.3f} (at {check['env_steps']} steps)")
        elif check:
            print(f"unity-nb: target {config.target} not reached: the last check ({check['episodes']} deterministic "
                  f"episodes at {check['env_steps']} steps) gave mean {check['mean']:.3f}")
        else:
            print(f"unity-nb: target {config.target} not reached within {config.steps} steps")
    if status["state"] == "failed":
        print(f"unity-nb: error: {status.get('error')} (log: {run.path / 'logs'})", file=sys.stderr)
        return 1
    checkpoint = run.latest_checkpoint()
    print(f"unity-nb: checkpoint {checkpoint}")
    if args.eval_episodes > 0 and checkpoint is not None:
        from .envs import SCENES

        result = run.evaluate(episodes=args.eval_episodes)
        bench = SCENES[config.scene_name].benchmark_return if config.scene_name else None
        for name, table in result.rows().items():
            if name == "all" and len(result.rows()) > 1:
                continue
            verdict = "" if bench is None else f" (benchmark {bench}: {'reached' if table['mean'] >= bench - 1e-6 else 'not reached'})"
            who = "" if name == "all" else f"{name}: "
            print(f"unity-nb: {who}{table['episodes']} deterministic episodes: mean {table['mean']:.3f}, "
                  f"min {table['min']:.3f}, max {table['max']:.3f}, std {table['std']:.3f}{verdict}")
    return 0


def _runs(args) -> int:
    from .train import runs

    found = runs(args.runs_dir)
    if not found:
        print("no runs yet (unity-nb train Basic starts one)")
        return 0
    print(f"{'id':34s} {'state':9s} {'scene':10s} {'steps':>8s} {'return':>8s} {'(episodes)':>10s}  target")
    for run in found:
        s = run.summary()
        ret = "-" if s["return_mean"] is None else f"{s['return_mean']:.3f}"
        target = "off" if s["target"] is None else (
            f"{s['target']:g} " + ("confirmed" if s["target_reached"] else "not reached"))
        print(f"{s['id']:34s} {s['state']:9s} {os.path.basename(str(s['scene'])):10s} {s['env_steps']:>8d} {ret:>8s} "
              f"{'(' + str(s['episodes_window'] or 0) + ')':>10s}  {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return 0
    from .envs import UnityNbError, UnknownSceneError

    try:
        if args.command == "scenes":
            return _scenes()
        if args.command == "player-file":
            from .envs import player_file

            print(player_file(args.scene))
            return 0
        if args.command == "play":
            return _play(args)
        if args.command == "train":
            return _train(args)
        if args.command == "runs":
            return _runs(args)
        if args.command == "stop":
            from .train import stop

            run = stop(args.run_id, args.runs_dir)
            print(f"unity-nb: run {run.id} {run.state}; last checkpoint {run.latest_checkpoint()}")
            return 0
        if args.command == "resume":
            from .train import get_run, resume

            if args.steps:
                _set_steps(get_run(args.run_id, args.runs_dir), args.steps)
            run = resume(args.run_id, args.runs_dir)
            last = _progress(run, run.config.steps)
            print(f"unity-nb: run {run.id} {run.state} at {last.get('env_steps')} steps")
            return 0 if run.state != "failed" else 1
    except (UnityNbError, UnknownSceneError, ValueError, KeyError, RuntimeError, PermissionError, ConnectionError,
            FileNotFoundError) as err:
        print(f"unity-nb {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("unity-nb: interrupted", file=sys.stderr)
        return 130
    return 0


def _set_steps(run, steps: int) -> None:
    config = run.config.replace(steps=steps)
    (run.path / "config.yaml").write_text(config.to_yaml())


if __name__ == "__main__":
    sys.exit(main())
