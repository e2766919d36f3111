"""The kit's verbs, each defined once: its arguments, its help, and a function that returns an object.

Two faces use them: the ``unity-nb`` command (``cli.py``) parses a command line with
a verb's parser and prints what the verb returns; the notebook magics
(``notebook/magics.py``) parse a magic's line with the same parser and display it.
So ``unity-nb eval --help`` and ``%unity_eval?`` say the same by construction.

A new verb is a ``Verb(...)`` in ``VERBS`` below, a printer in ``cli.py`` if plain
``print(result)`` is not enough, and a magic method in ``notebook/magics.py``.
This module imports nothing heavy at import time (no pandas, Ray or torch).
"""

from __future__ import annotations

import argparse
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import BadValue, MissingFile, UnityNbError
from .train.flags import add_config_flags, positive_int

CLI, MAGIC = "cli", "magic"  # the two faces: a verb may give one of them extra flags

# What each face shows as one line, no traceback: the kit's own errors (a person can fix them), and the
# machine's (a full disk, a folder not ours). Anything else is a bug of the kit's: its traceback shows.
USER_ERRORS = (UnityNbError, OSError)

RUN_ID_HELP = "a run id as `unity-nb runs` / %%unity_runs shows it (default: the latest run)"


class NoRunError(BadValue):
    """No run to act on (none yet, or none running)."""


@dataclass(frozen=True)
class Verb:
    """One thing a user can do, from a terminal (``unity-nb NAME``) or a cell (``%unity_NAME``)."""

    name: str  # the command's name; the magic is unity_<name> with '-' as '_'
    summary: str  # one line, for the command list
    description: str  # the paragraph at the top of the help
    arguments: Callable[[argparse.ArgumentParser, str], None]  # adds the flags (given the face)
    call: Callable[[argparse.Namespace], Any]  # does the work, returns an object
    aliases: tuple[str, ...] = ()  # other command names (``envs`` for ``scenes``)
    faces: tuple[str, ...] = (CLI, MAGIC)
    magic_name: str | None = None  # when the magic's name is not unity_<name>
    reports: bool = False  # ``call`` takes ``report=``: it hands each line on as soon as it is known

    @property
    def magic(self) -> str:
        return self.magic_name or "unity_" + self.name.replace("-", "_")

    def parser(self, face: str, parser_class=argparse.ArgumentParser, **kwargs) -> argparse.ArgumentParser:
        """A parser of this verb's flags for one face (``parser_class``: IPython's MagicArgumentParser)."""
        prog = self.magic if face == MAGIC else f"unity-nb {self.name}"
        parser = parser_class(prog=prog, description=self.description, **kwargs)
        self.arguments(parser, face)
        return parser

    def add_to(self, subparsers, face: str = CLI) -> argparse.ArgumentParser:
        """This verb as a sub-command of the ``unity-nb`` parser."""
        parser = subparsers.add_parser(self.name, aliases=list(self.aliases), help=self.summary,
                                       description=self.description)
        self.arguments(parser, face)
        return parser


# ---------------------------------------------------------------- shared arguments and look-ups
def _runs_dir(p) -> None:
    p.add_argument("--runs-dir", metavar="DIR", help="run store folder (default: ./runs or $UNITY_NB_RUNS)")


def _run_id(p, help_text: str = RUN_ID_HELP) -> None:
    p.add_argument("run_id", nargs="?", help=help_text)


def pick_run(run_id: str | None, runs_dir=None, *, running: bool = False):
    """The run named, or the latest one (the latest still running with ``running``)."""
    from .train import get_run, runs
    from .train.schema import ACTIVE

    if run_id:
        return get_run(run_id, runs_dir)
    found = runs(runs_dir)
    if running:
        found = [r for r in found if r.state in ACTIVE]
        if not found:
            raise NoRunError("no running run to stop")
    if not found:
        raise NoRunError("no runs yet: start one with `unity-nb train Basic` / %unity_train Basic (or give a run id)")
    return found[-1]


# ---------------------------------------------------------------- scenes
def _scenes_args(p, face):
    p.add_argument("--path", action="append", metavar="DIR",
                   help="folder to search for Unity builds (*.x86_64), repeatable (default: . and ./builds)")


def scenes(args):
    """The built-in scenes and the Unity builds found on disk, as a pandas DataFrame."""
    import pandas as pd

    from .envs.builds import find_builds
    from .envs.scenes import SCENES

    rows = []
    for name, cls in SCENES.items():
        behaviors = cls.behavior_list()
        spec = behaviors[0]
        actions = (f"{spec.continuous_size} continuous" if spec.continuous_size else
                   f"discrete {list(spec.discrete_branches)}")
        rows.append({"name": name, "kind": "built-in", "agents": cls.agents_per_area,
                     "behaviors": ", ".join(b.name for b in behaviors), "actions": actions,
                     "benchmark": cls.benchmark_return, "about": cls.description})
    for folder in args.path or [".", "builds"]:
        if not os.path.isdir(folder):
            if args.path:
                raise MissingFile(f"--path {folder!r}: no such folder")
            continue
        for build in find_builds(Path(folder)):
            rows.append({"name": build.stem, "kind": "Unity build", "agents": pd.NA, "behaviors": "",
                         "actions": "", "benchmark": None, "about": str(build)})
    table = pd.DataFrame(rows)
    table["agents"] = table["agents"].astype("Int64")  # a build's agent count is unknown until it runs
    return table


# ---------------------------------------------------------------- player-file
def _player_file_args(p, face):
    p.add_argument("scene", help="built-in scene name, e.g. 3DBall")


def player_file(args) -> str:
    from .envs import player_file as path_of

    return path_of(args.scene)


# ---------------------------------------------------------------- play
def _play_args(p, face):
    p.add_argument("scene", nargs="?", default="Basic",
                   help="built-in scene, path to a Unity build, or 'editor' (default: Basic)")
    p.add_argument("--episodes", type=positive_int, default=None, help="episodes to play (default: 5)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--mode", choices=["player", "inprocess"], default=None,
                   help="player: through the Unity player stand-in (default); inprocess: faster, same trajectories")
    p.add_argument("--connect-timeout", type=float, default=None,
                   help="seconds to wait for Unity to connect (default: 30)")
    yourself = p.add_argument_group("playing yourself (in a notebook)")
    yourself.add_argument("--yourself", action="store_true",
                          help="play the scene yourself with the keyboard, buttons and sliders (a widget); your "
                               "finished episodes are recorded as a .demo")
    yourself.add_argument("--opponent", metavar="RUN|scripted|idle",
                          help="--yourself: who plays the scene's other agents: a run's policies (run id or "
                               "checkpoint folder), the scene's scripted player (its default when it has one) or nobody (idle)")
    yourself.add_argument("--snapshot", type=int, metavar="N",
                          help="--yourself: play against snapshot N of the --opponent self-play run's window")
    yourself.add_argument("--demo", metavar="FILE.demo",
                          help="--yourself: where your episodes are recorded (default ./demos/<scene>-<time>.demo)")
    yourself.add_argument("--no-record", action="store_true", help="--yourself: do not record a .demo")
    yourself.add_argument("--key", action="append", metavar="KEY=ACTION", default=[],
                          help="--yourself: bind a key (browser names: ArrowLeft, a, ' '): KEY=2 (action 2 of the one "
                               "branch), KEY=B:A (branch B, action A), KEY=AXIS:VALUE for continuous actions "
                               "(j=0:-1.0), KEY=none to unbind; repeatable")
    yourself.add_argument("--fps", type=float, help="--yourself: decisions a second for scenes that move on their own")
    _runs_dir(p)


def play(args, report: Callable[[str], None] = lambda line: None):
    """Play episodes with random actions through the real ML-Agents client; returns the Played table. (``--yourself``
    is the notebook's: ``%unity_play`` shows the play widget with :func:`play_yourself_settings`.)"""
    if args.yourself:
        raise BadValue("--yourself: a person plays in a notebook, where the scene can be shown: "
                       f"%unity_play {args.scene} --yourself (after %load_ext unity_nb)")
    yours = [flag for flag, value in (("--opponent", args.opponent), ("--snapshot", args.snapshot), ("--demo", args.demo),
                                      ("--no-record", args.no_record), ("--key", args.key), ("--fps", args.fps))
             if value not in (None, False, [])]
    if yours:
        raise BadValue(f"{', '.join(yours)}: only --yourself takes them")
    from .envs.random_play import play_random

    return play_random(args.scene, episodes=args.episodes or 5, seed=args.seed, mode=args.mode or "player",
                       connect_timeout=30.0 if args.connect_timeout is None else args.connect_timeout, report=report)


def play_yourself_settings(args) -> dict:
    """``--yourself``'s flags as the play widget's keyword arguments (``unity_nb.notebook.play.PlayWidget``)."""
    given = [flag for flag, value in (("--episodes", args.episodes), ("--mode", args.mode),
                                      ("--connect-timeout", args.connect_timeout)) if value is not None]
    if given:
        raise BadValue(f"{', '.join(given)}: only random play takes them (--yourself plays until you stop)")
    if args.demo and args.no_record:
        raise BadValue("--demo and --no-record: give one of them")
    return dict(scene=args.scene, keys=parse_keys(args.key), opponent=args.opponent, snapshot=args.snapshot,
                demo=False if args.no_record else args.demo, fps=args.fps, seed=args.seed, runs_dir=args.runs_dir)


def parse_keys(given: list[str]) -> dict:
    """``--key`` values as a key map: ``KEY=A``, ``KEY=B:A``, ``KEY=AXIS:VALUE`` (a float), ``KEY=none``."""
    keys = {}
    for item in given:
        key, sep, action = item.rpartition("=")
        if not sep or not key:
            raise BadValue(f"--key {item!r}: write KEY=ACTION, e.g. ArrowLeft=1, j=0:2 or j=0:-1.0")
        action = action.strip()
        try:
            if action.lower() == "none":
                keys[key] = None
            elif ":" in action:
                first, second = action.split(":", 1)
                keys[key] = (int(first), float(second) if "." in second else int(second))
            else:
                keys[key] = int(action)
        except ValueError:
            raise BadValue(f"--key {item!r}: the action is a whole number (2), branch:action (0:2) or "
                           f"axis:value (0:-1.0), got {action!r}") from None
    return keys


# ---------------------------------------------------------------- train
def _train_args(p, face):
    p.add_argument("scene", nargs="?", default=None,
                   help="built-in scene (Basic, 3DBall, GridWorld, ...) or the path of your Linux Unity build "
                        "(default: Basic)")
    p.add_argument("--config", metavar="FILE",
                   help="YAML settings: unity-nb format or Unity's mlagents-learn trainer YAML")
    add_config_flags(p)
    p.add_argument("--dry-run", action="store_true",
                   help="SageMaker: show the settings and the exact job request without sending the job (nor uploading "
                        "the build; the SDK stages the kit's code in the bucket as it builds the request)")
    _runs_dir(p)
    _watching_flags(p, face)


def _watching_flags(p, face):
    """How a started run is watched: the command evaluates it at the end; a cell shows its dashboard."""
    if face == CLI:
        p.add_argument("--eval-episodes", type=int, default=100,
                       help="episodes to evaluate at the end, played greedily and sampled (0: skip)")
    else:
        _notebook_run_flags(p)


def _notebook_run_flags(p):
    p.add_argument("--var", metavar="NAME", help="also store the Run in this variable (handy in the cell form)")
    p.add_argument("--wait", action="store_true",
                   help="block the cell until training ends (the plot redraws when the cell ends)")
    p.add_argument("--no-dashboard", action="store_true", help="do not show the live dashboard")


def train(args, config=None):
    """Start a run in the background; returns its Run. ``config``: settings from a cell (a TrainConfig)."""
    from .train import TrainConfig, train as start
    from .train.flags import config_overrides

    if config is not None:
        if args.config:
            raise BadValue("give settings either in the cell or with --config, not both")
        target = config.replace(scene=args.scene) if isinstance(config, TrainConfig) else config
    else:
        target = args.scene
    return start(target, config=args.config, runs_dir=args.runs_dir, dry_run=args.dry_run, **config_overrides(args))


# ---------------------------------------------------------------- runs
def _runs_args(p, face):
    _runs_dir(p)


RUN_COLUMNS = ["id", "scene", "algorithm", "state", "parent", "iterations", "env_steps", "return_mean", "episodes_window",
               "target", "target_reached", "confirmed_deterministic", "confirmed_sampled", "elapsed_s", "elo"]


def runs(args):
    """One summary row per run, oldest first, as a pandas DataFrame."""
    import pandas as pd

    from .train import runs as all_runs

    return pd.DataFrame([r.summary() for r in all_runs(args.runs_dir)], columns=RUN_COLUMNS)


# ---------------------------------------------------------------- stop
def _stop_args(p, face):
    _run_id(p, "the run (or sweep) to stop (default: the latest running run)")
    p.add_argument("--no-wait", action="store_true", help="return at once instead of waiting for the checkpoint")
    _runs_dir(p)


def stop(args):
    """Ask a run (or a sweep) to checkpoint and stop; returns the Run or Sweep (once stopped, unless --no-wait)."""
    from .train import stop as stop_it

    if _names_sweep(args):
        return stop_it(args.run_id, args.runs_dir, wait=not args.no_wait)
    return pick_run(args.run_id, args.runs_dir, running=not args.run_id).stop(wait=not args.no_wait)


def _names_sweep(args) -> bool:
    from .train.sweeps import is_sweep

    return bool(args.run_id) and is_sweep(args.run_id, args.runs_dir)


# ---------------------------------------------------------------- resume
def _resume_args(p, face):
    _run_id(p, "the run (or stopped sweep) to resume (default: the latest run)")
    p.add_argument("--steps", type=positive_int, help="new total step budget (default: the run's own)")
    _runs_dir(p)
    if face == MAGIC:
        _notebook_run_flags(p)


def resume(args):
    """Continue a stopped or finished run from its last checkpoint (or a stopped sweep); returns the Run or Sweep."""
    from .train import resume as go_on

    if _names_sweep(args):
        return go_on(args.run_id, args.runs_dir, steps=args.steps)
    run = pick_run(args.run_id, args.runs_dir)
    return go_on(run.id, run.path.parent, steps=args.steps)


# ---------------------------------------------------------------- fork
def _fork_args(p, face):
    _run_id(p, "the run to fork (default: the latest run)")
    add_config_flags(p)
    _runs_dir(p)
    _watching_flags(p, face)


def fork(args):
    """Start a new run from a run's latest checkpoint with the settings given changed; returns the new Run."""
    from .train.flags import config_overrides

    parent = pick_run(args.run_id, args.runs_dir)
    return parent.fork(**config_overrides(args))


class _SettingsParser(argparse.ArgumentParser):
    """Reads settings typed in a box: it raises what argparse would print and exit with (a box has no terminal)."""

    def error(self, message):
        raise BadValue(message)

    def exit(self, status=0, message=None):
        raise BadValue(message or "type the settings to change as flags, e.g. --lr 1e-4 --steps 60000")


def settings_from_text(text) -> tuple[list[str], dict]:
    """The settings typed in a Fork box (the dashboard's, the sidebar's): flags as ``unity-nb train`` takes them
    ("--lr 1e-4 --steps 60000"), nothing else. Returns the words and the settings; refuses anything else,
    and nothing at all."""
    from .train.flags import config_overrides

    if not isinstance(text, str):
        raise BadValue(f"settings must be text like '--lr 1e-4', got {type(text).__name__}")
    parser = _SettingsParser(prog="fork settings", add_help=False)
    add_config_flags(parser)
    try:
        words = shlex.split(text)
    except ValueError as err:  # an unclosed quote
        raise BadValue(f"settings: {err}") from None
    changes = config_overrides(parser.parse_args(words))
    if not changes:
        raise BadValue("nothing to change: type the settings the fork should change, e.g. --lr 1e-4")
    return words, changes


# ---------------------------------------------------------------- sweep
def _sweep_args(p, face):
    from .train.sweeps import SCHEDULERS

    p.add_argument("scene", nargs="?", default=None, help="built-in scene or the path of your Unity build (default: Basic)")
    p.add_argument("--config", metavar="FILE", help="YAML settings (unity-nb or mlagents-learn format), as for "
                   "train; a `sweep:` section may hold trials, scheduler, metric, metric_mode, concurrent and search "
                   "(each swept setting's space); flags win over it")
    add_config_flags(p, spaces=True)
    p.add_argument("--trials", type=positive_int, default=None,
                   help="runs to sample (with grid(): runs per grid point); default 4")
    p.add_argument("--scheduler", choices=SCHEDULERS, default=None,
                   help="asha (default: stops the worse trials early, over agent steps), median, fifo (every "
                        "trial runs its whole budget), or pbt (the worse trials go on as forks of the better ones' "
                        "runs, with perturbed settings)")
    p.add_argument("--metric", default=None, help="what ranks the trials (default: episode_return_mean)")
    p.add_argument("--metric-mode", choices=("max", "min"), default=None,
                   help="whether a larger metric is better (max, the default) or a smaller one")
    p.add_argument("--concurrent", type=positive_int, default=None,
                   help="trials at a time (default: as many as this machine's training runtime has CPUs for: "
                        "one per trial, plus one per env runner and one for a threaded learner)")
    _runs_dir(p)
    if face == MAGIC:
        p.add_argument("--var", metavar="NAME", help="also store the Sweep in this variable")
        p.add_argument("--wait", action="store_true", help="block the cell until the sweep ends")


def sweep(args, config=None):
    """Start a sweep (runs with settings drawn from search spaces, scheduled by Ray Tune); returns the Sweep.
    ``config``: settings from a cell (parsed YAML, its ``sweep:`` section included)."""
    from .train import sweep as start
    from .train.flags import config_overrides

    if config is not None and args.config:
        raise BadValue("give settings either in the cell or with --config, not both")
    return start(args.scene, config=config if config is not None else args.config, trials=args.trials, scheduler=args.scheduler, metric=args.metric,
                 metric_mode=args.metric_mode, concurrent=args.concurrent, runs_dir=args.runs_dir, **config_overrides(args))


# ---------------------------------------------------------------- eval
def _eval_args(p, face):
    _run_id(p)
    p.add_argument("--episodes", type=positive_int, default=100, help="episodes to play (default 100)")
    p.add_argument("--mode", choices=["inprocess", "player"], default="inprocess",
                   help="built-in scenes: in-process (default, fast) or through the Unity player stand-in")
    p.add_argument("--play", choices=["both", "deterministic", "sampled"], default="both",
                   help="how the policy acts: both (default: greedy, then sampled as Unity plays an exported model "
                        "unless asked for deterministic inference), deterministic or sampled")
    p.add_argument("--opponent", default=None, metavar="scripted|snapshot:N",
                   help="scripted: each team plays against the scene's scripted player instead of the other trained "
                        "team, and the games won, drawn and lost are counted (a scene with teams, e.g. Pong); "
                        "snapshot:N: against snapshot N of a self-play run's window (its events say when each was "
                        "taken)")
    _runs_dir(p)


def evaluate(args):
    """Play episodes with a run's latest checkpoint (greedy and sampled); returns the Evaluation."""
    return pick_run(args.run_id, args.runs_dir).evaluate(episodes=args.episodes, mode=args.mode, play=args.play,
                                                         opponent=args.opponent)


# ---------------------------------------------------------------- demo
def _demo_args(p, face):
    p.add_argument("what", choices=["inspect", "record"],
                   help="inspect: what a .demo file (or folder) holds, and what differs from a scene's behavior; "
                        "record: play a run's policy and write the first agent's play as a .demo")
    p.add_argument("path", help="the .demo file or folder (inspect), or the file to write (record)")
    p.add_argument("--scene", help="inspect: compare with this scene's (or Unity build's) behavior; record: the scene "
                                   "to play (default: the run's)")
    p.add_argument("--run", dest="run_id", help="record: the run whose policy plays (default: the latest run)")
    p.add_argument("--episodes", type=positive_int, help="record: episodes to record (default 10)")
    p.add_argument("--sampled", action="store_true", help="record: actions drawn from the policy (default: greedy)")
    p.add_argument("--scripted", action="store_true", help="record: the --scene's scripted player plays instead of a "
                                                           "run (a scene that has one, e.g. Pong)")
    _runs_dir(p)


def demo(args):
    """Inspect a .demo (returns the Demonstration, with ``differences`` from --scene), or record one from a run."""
    from .envs.demo import load_demo

    if args.what == "inspect":
        given = [flag for flag, value in (("--run", args.run_id), ("--episodes", args.episodes),
                                          ("--sampled", args.sampled), ("--scripted", args.scripted)) if value]
        if given:
            raise BadValue(f"{', '.join(given)}: only `demo record` takes them (inspect reads a file)")
        found = load_demo(args.path)
        if args.scene:
            from .envs.scenes import play_mode
            from .envs.source import EnvSource

            source = EnvSource(args.scene, mode=play_mode(args.scene))
            try:
                source.call("reset")
                specs = dict(source.base.behavior_specs)
            finally:
                source.close()
            theirs = found.behavior if found.behavior in specs else next(iter(specs))
            found.compared = (args.scene, found.differences(specs[theirs], theirs))
        return found
    if args.scripted:
        from .envs.scenes import find_scene
        from .evaluate.demos import record_demo

        scene = find_scene(args.scene or "")
        if scene is None or not hasattr(scene, "heuristic"):
            raise BadValue(f"--scripted needs --scene, a built-in scene with a scripted player (Pong), got "
                           f"{args.scene!r}")
        if args.run_id or args.sampled:
            raise BadValue("--scripted plays the scene's scripted player: leave out --run and --sampled")
        return record_demo(scene.heuristic, scene.name, args.path, episodes=args.episodes or 10)
    run = pick_run(args.run_id, args.runs_dir)
    return run.record_demo(args.path, episodes=args.episodes or 10, sampled=args.sampled,
                           **({"scene": args.scene} if args.scene else {}))


# ---------------------------------------------------------------- video
def _video_args(p, face):
    from .envs.scenes import SCENES

    p.add_argument("target", nargs="?",
                   help=f"{RUN_ID_HELP}, or a built-in scene ({', '.join(SCENES)}) for random actions")
    p.add_argument("--episodes", type=positive_int, default=None,
                   help="whole episodes to record (default: enough for 4 s of video)")
    p.add_argument("--max-frames", type=positive_int, default=500, help="frames at most (default 500)")
    p.add_argument("--fps", type=positive_int, default=25, help="frames per second (default 25)")
    p.add_argument("--gif", action="store_true", help="an animated GIF instead of H.264 video")
    p.add_argument("--overlay", action="store_true",
                   help="draw under each frame what the policy thinks: each agent's value estimate and action "
                        "probabilities (or mean and spread), the action taken highlighted (a run's video only)")
    p.add_argument("--out", metavar="FILE",
                   help="write the video to FILE" + (" (default: ./<run id or scene>-<time>.mp4 or .gif)"
                                                      if face == CLI else ", as well as showing it"))
    _runs_dir(p)


def video(args):
    """Record a rollout (a run's trained policy, or random actions in a scene); returns the Video."""
    options = dict(episodes=args.episodes, max_frames=args.max_frames, fps=args.fps, fmt="gif" if args.gif else "mp4",
                   overlay=args.overlay)
    from .envs.scenes import is_builtin

    if is_builtin(args.target):
        from .evaluate import record

        if args.overlay:
            raise BadValue(f"--overlay shows what a trained policy thinks: give a run id, not the scene {args.target!r} "
                           "(random actions have no values or probabilities)")

        result = record(None, args.target, **options)
    else:
        result = pick_run(args.target, args.runs_dir).video(**options)
    if args.out:
        result.save(args.out)
    return result


# ---------------------------------------------------------------- episode
def _episode_args(p, face):
    p.add_argument("target", nargs="?",
                   help=f"{RUN_ID_HELP}; a built-in scene (random actions); or a .demo file or folder")
    p.add_argument("--index", type=int, default=0, help="a .demo's episode to show, from 0 (default 0)")
    p.add_argument("--run", dest="run_id",
                   help="with a .demo: the run whose policy judges each step (value, probability of the action)")
    p.add_argument("--seed", type=int, default=12345, help="a played episode's seed (default 12345)")
    p.add_argument("--sampled", action="store_true", help="a run's actions drawn from its policy (default: greedy)")
    p.add_argument("--max-steps", type=positive_int, default=500,
                   help="a played episode is cut after this many steps (default 500, at most 2000)")
    _runs_dir(p)


def episode(args):
    """One episode kept whole (an ``Episode``): a run's policy or random actions playing, or a .demo's."""
    from .envs.demo import SUFFIX
    from .envs.scenes import is_builtin
    from .evaluate import episode as episodes

    target = args.target
    if target and (target.endswith(SUFFIX) or os.path.isdir(target)):
        if args.sampled:
            raise BadValue("--sampled: a .demo's actions are the recorded ones")
        policy = None
        if args.run_id:
            from .evaluate.policy import Policy

            policy = Policy(pick_run(args.run_id, args.runs_dir)._checkpoint())
        return episodes.from_demo(target, args.index, policy)
    if args.index:
        raise BadValue("--index picks an episode of a .demo file: give one")
    if args.run_id:
        raise BadValue("--run goes with a .demo (the run judges its steps); to watch a run play, give its id alone")
    if target and is_builtin(target):
        return episodes.replay(None, target, seed=args.seed, max_steps=args.max_steps)
    return pick_run(target, args.runs_dir).episode(seed=args.seed, sampled=args.sampled, max_steps=args.max_steps)


# ---------------------------------------------------------------- compare
def _compare_args(p, face):
    p.add_argument("run_ids", nargs="*", help="run ids (default: the three latest runs)")
    _runs_dir(p)


def compare(args) -> list:
    """The runs to compare (the three latest by default), as Run objects."""
    from .train import get_run, runs as all_runs

    if args.run_ids:
        return [get_run(i, args.runs_dir) for i in args.run_ids]
    found = all_runs(args.runs_dir)[-3:]
    if not found:
        raise NoRunError("no runs yet: start one with `unity-nb train Basic` / %unity_train Basic")
    return found


# ---------------------------------------------------------------- dashboard
def _dashboard_args(p, face):
    _run_id(p)
    _runs_dir(p)


def dashboard(args):
    """The run to watch live (the latest by default)."""
    return pick_run(args.run_id, args.runs_dir)


# ---------------------------------------------------------------- export
def _export_args(p, face):
    _run_id(p)
    p.add_argument("--verify", type=positive_int, default=1000,
                   help="observations from real rollouts on which the file must act as the trained policy (default 1000)")
    _runs_dir(p)


def export(args):
    """Write the run's policies as ONNX files Unity loads (RUN/export/<behavior>.onnx), checked; returns them."""
    return pick_run(args.run_id, args.runs_dir).export(verify=args.verify)


# ---------------------------------------------------------------- deploy
def _deploy_args(p, face):
    _run_id(p)
    p.add_argument("--target", choices=["local", "sagemaker"], default="local",
                   help="where to serve: local (an endpoint on this machine; default) or sagemaker (a SageMaker "
                        "endpoint; it costs money until you delete it with endpoints --stop NAME)")
    p.add_argument("--port", type=_port, help="port to listen on (default: a free one)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 lets anyone on the "
                        "network call it)")
    p.add_argument("--behavior", help="which behavior's model, for a run with one policy per behavior")
    sm = p.add_argument_group("SageMaker (--target sagemaker)")
    sm.add_argument("--instance-type", help="endpoint instance type, e.g. ml.c5.large (default: serverless)")
    sm.add_argument("--serverless-memory", type=int, choices=range(1024, 6145, 1024), metavar="MB",
                    help="memory of a serverless endpoint: 1024, 2048 (default) ... 6144")
    for name, text in (("role", "IAM role ARN or name the endpoint runs as (default: the run's, or $SAGEMAKER_ROLE)"),
                       ("region", "AWS region (default: the run's, or $AWS_REGION)"),
                       ("bucket", "S3 bucket for the model archive (default: the run's, or sagemaker-REGION-ACCOUNT)")):
        sm.add_argument(f"--{name}", help=text)
    _runs_dir(p)


SAGEMAKER_DEPLOY_FLAGS = ("instance_type", "serverless_memory", "role", "region", "bucket")


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {text!r}")
    return int(text)


def deploy(args):
    """Serve the run's exported model on an endpoint (exporting it first if needed); returns the endpoint."""
    run = pick_run(args.run_id, args.runs_dir)
    given = {k: getattr(args, k) for k in SAGEMAKER_DEPLOY_FLAGS if getattr(args, k, None) is not None}
    if args.target == "sagemaker":
        if args.port is not None or args.host != "127.0.0.1":
            raise BadValue("--port and --host are for a local endpoint; SageMaker chooses its own address")
        return run.deploy(behavior=args.behavior, target="sagemaker", progress=lambda line: print(line, flush=True),
                          **given)
    if given:
        raise BadValue(f"--{next(iter(given)).replace('_', '-')} is for --target sagemaker")
    return run.deploy(port=args.port, behavior=args.behavior, host=args.host)


# ---------------------------------------------------------------- endpoints
def _endpoints_args(p, face):
    p.add_argument("--stop", metavar="PORT|NAME",
                   help="stop the local endpoint on this port, or delete the SageMaker endpoint of this name "
                        "('all': every one)")
    p.add_argument("--region", help="where to look for SageMaker endpoints (default $AWS_REGION or your AWS config)")


def endpoints(args) -> list:
    """The endpoints the kit runs: local ones on this machine, then SageMaker ones (after --stop).

    SageMaker is asked only when AWS credentials and a region are set up; otherwise the list says
    why it holds local endpoints only."""
    from .deploy.listing import all_endpoints, stop_endpoints

    if args.stop:
        stop_endpoints(args.stop, args.region)
    return all_endpoints(args.region)


# ---------------------------------------------------------------- the training runtime
def _up_args(p, face):
    p.add_argument("--idle", metavar="TIME",
                   help="stop by itself after this long with no run, no notebook session and no request: 600, 90s, "
                        "10m, 1h (default: 10m, or $UNITY_NB_IDLE)")
    p.add_argument("--wait", action="store_true",
                   help="return once the runtime can start a run at once (an error after 15 minutes)")


def up(args):
    """Start this machine's training runtime (Ray and a ready driver) if it is not running; returns its status."""
    from .train import service
    from .train.local import backend

    idle = service.parse_idle(args.idle) if args.idle is not None else None
    backend().warm_up(wait=args.wait, idle=idle)  # a notebook session also holds it from now on
    return service.status()


def _down_args(p, face):
    p.add_argument("--force", action="store_true",
                   help="also stop the runs still training on it (each saves a checkpoint first)")


def down(args):
    """Stop this machine's training runtime now; returns what it stopped (None if none was running)."""
    from .train import service

    return service.stop(force=args.force)


# ---------------------------------------------------------------- a machine's checkup
def _doctor_args(p, face):
    _runs_dir(p)
    p.add_argument("--quick", action="store_true",
                   help="skip the training check (it starts the training runtime and trains Basic for two iterations)")


def doctor(args, report: Callable = lambda check: None):
    """Check this machine for a class (versions, limits, disk, a scene, a short training run, the JupyterLab
    extensions); returns the Checkup, and hands ``report`` each line as soon as it is known."""
    from .doctor import run_checks

    return run_checks(args.runs_dir, quick=args.quick, report=report)


VERBS: dict[str, Verb] = {v.name: v for v in [
    Verb("scenes", "list the built-in scenes and the Unity builds found on disk",
         "List the built-in scenes and the Unity builds (*.x86_64) found under . and ./builds.",
         _scenes_args, scenes, aliases=("envs",), magic_name="unity_envs"),
    Verb("player-file", "print the path of a launchable 'Unity build' of a built-in scene",
         "Print the path of an executable that runs a built-in scene exactly like a Unity Linux build (give it to "
         "UnityEnvironment(file_name=...) or any ML-Agents client).",
         _player_file_args, player_file),
    Verb("play", "play episodes with random actions and print their returns",
         "Open a scene (built-in, a Unity build path, or 'editor') through the real ML-Agents client and play "
         "episodes with random actions, showing each episode's return.",
         _play_args, play, reports=True),
    Verb("train", "train an agent (RLlib PPO by default) and show progress",
         "Train an agent for a built-in scene or your Unity build, on this machine or a Ray cluster. Settings come "
         "from the scene's defaults, then --config (or the YAML of a %%unity_train cell), then these flags.",
         _train_args, train),
    Verb("runs", "list training runs", "List training runs: id, state, scene, steps, mean return, target.",
         _runs_args, runs),
    Verb("stop", "stop a run or a sweep (runs checkpoint first)",
         "Ask a run to save a checkpoint and stop; given a sweep's id, its running trials do and no new one starts "
         "(`unity-nb resume SWEEP` goes on with it).", _stop_args, stop),
    Verb("resume", "continue a run from its last checkpoint, or a stopped sweep",
         "Continue a stopped or finished run from its last checkpoint; the step count goes on. Given a stopped "
         "sweep's id, the sweep goes on: its stopped trials continue and the ones not started start.",
         _resume_args, resume),
    Verb("fork", "start a new run from a run's checkpoint with some settings changed",
         "Start a new run from a run's latest checkpoint with the settings given changed (e.g. --lr 1e-4): it goes "
         "on from that run's steps, return window and curriculum, and records its parent and what changed. "
         "--steps is the whole budget (default: the parent's, or as many steps again once the parent has used it). "
         "The network's shape, the scene and the algorithm cannot change.", _fork_args, fork),
    Verb("sweep", "train many runs with settings drawn from search spaces (Ray Tune)",
         "Start a sweep: --trials runs of a scene with some settings drawn from search spaces, written as Tune's: "
         "--lr 'loguniform(1e-4, 3e-3)', --num-epochs 'choice(2, 4, 8)', uniform(a, b), quniform(a, b, q), "
         "randint(a, b), grid(x, y, ...). Ray Tune schedules them (ASHA stops the worse ones early); each trial is "
         "an ordinary run (evaluate, export, deploy, fork it), and the sweep's folder lists them.",
         _sweep_args, sweep),
    Verb("eval", "evaluate a run's policy, played greedily and sampled",
         "Play episodes with a run's latest checkpoint, greedily and with sampled actions, and show the returns "
         "(mean, min, max, std) of each.",
         _eval_args, evaluate),
    Verb("demo", "inspect a Unity demonstration (.demo), or record one from a run's policy",
         "Inspect a .demo file or folder as Unity's recorder wrote it (steps, episodes, mean reward, the behavior's "
         "spec, and with --scene what differs from that scene's behavior, field by field), or record one: a run's "
         "policy plays and the first agent's play is written in Unity's format (mlagents-learn reads it).",
         _demo_args, demo),
    Verb("video", "record a rollout video of a run's policy (or random actions)",
         "Record a rollout video: a run's trained policy, or random actions in a built-in scene.",
         _video_args, video),
    Verb("episode", "step through one episode: a run's play, random play, or a .demo's",
         "Keep one episode whole and show it step by step: the frame, the observation, the action, the reward, the "
         "return so far and, for a run's policy, its value estimate and action probabilities. In a notebook a "
         "scrubber (slider, arrow keys); in a terminal a table. A .demo's episode can be judged by a run's policy "
         "(--run).", _episode_args, episode),
    Verb("compare", "compare runs side by side", "Compare runs: their reward curves and one summary row each.",
         _compare_args, compare),
    Verb("export", "export a run's policy as an ONNX model Unity loads",
         "Export a run's trained policies as ONNX files in Unity's ML-Agents model contract (drop one on Behavior "
         "Parameters > Model), check each as Unity's loader would, and compare its actions with the trained policy's.",
         _export_args, export),
    Verb("deploy", "serve a run's exported policy on an endpoint",
         "Serve a run's exported policy on an HTTP endpoint in SageMaker's inference contract (GET /ping, POST "
         "/invocations): on 127.0.0.1, or with --target sagemaker on a SageMaker endpoint (serverless unless "
         "--instance-type). Exports the run first if needed.", _deploy_args, deploy),
    Verb("endpoints", "list (or stop) the running endpoints", "List the endpoints the kit runs: local ones on "
         "this machine and SageMaker ones (with their age: they cost money); --stop PORT|NAME stops or deletes one.",
         _endpoints_args, endpoints),
    Verb("up", "start (or show) this machine's training runtime, kept for the next runs",
         "Start this machine's training runtime (Ray on 127.0.0.1 with a private token, and a driver with RLlib and "
         "torch already imported) so every run starts in about a second. Runs start it too; it stops by itself when "
         "no run, no notebook session and no request has used it for the idle time. Shows its status if it runs.",
         _up_args, up),
    Verb("down", "stop this machine's training runtime now",
         "Stop the training runtime that `unity-nb up` or a run started (it refuses while runs train, unless --force).",
         _down_args, down),
    Verb("doctor", "check this machine before a class (or in a notebook's first cell)",
         "Check what a first training cell needs, one line each: Python and the key packages (is torch a CPU "
         "build?), the CPUs and memory the training runtime may use (cgroup limits), disk and /dev/shm, whether a "
         "built-in scene opens, whether Basic trains for two iterations (and how long it took), and whether "
         "JupyterLab has the Unity RL sidebar and the widget front-end. Each line is ok, a note, or a problem with "
         "what to do; the command exits 1 on a problem.", _doctor_args, doctor, reports=True),
    Verb("dashboard", "watch a run live", "Show the live progress of a run (also one started elsewhere, or before "
         "a kernel restart).", _dashboard_args, dashboard),
]}
