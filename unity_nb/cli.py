"""The ``unity-nb`` command: the kit's verbs from a terminal."""

from __future__ import annotations

import argparse
import sys
import time

from . import __version__


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
    p.add_argument("--episodes", type=_positive_int, default=5, help="episodes to play (default: 5)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--mode", choices=["player", "inprocess"], default="player",
                   help="player: through the Unity player stand-in (default); inprocess: faster, same trajectories")
    p.add_argument("--connect-timeout", type=float, default=30.0, help="seconds to wait for Unity to connect (default: 30)")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


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
    except (UnityNbError, UnknownSceneError, ValueError) as err:
        print(f"unity-nb {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("unity-nb: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
