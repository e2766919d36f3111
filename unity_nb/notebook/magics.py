"""IPython magics: the kit's verbs in notebook cells (``%load_ext unity_nb``).

Each magic parses its line like a command (``%unity_train?`` shows the flags),
reports bad input as one line naming the argument, and returns an object
(a Run, a table, a video) rather than only printing, so results can be kept:
``run = %unity_train Basic``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import MagicArgumentParser
from traitlets import Bool, Unicode

from ..envs.scenes import SCENES
from ..train.flags import add_config_flags, config_overrides, positive_int

# Folders %unity_envs does not look into for Unity builds
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "runs", "__pycache__", ".ipynb_checkpoints"}


def _parser(name: str, description: str) -> MagicArgumentParser:
    return MagicArgumentParser(prog=name, description=description, add_help=False)


def _with_help(parser: MagicArgumentParser):
    """Give a magic its parser's help as its docstring (what ``%magic?`` shows)."""

    def decorate(func):
        func.__doc__ = (func.__doc__ or "") + "\n" + parser.format_help()
        func.parser = parser
        return func

    return decorate


TRAIN = _parser("unity_train", "Start training in the background and show its live dashboard. Settings come from "
                "the scene's defaults, then --config (or the YAML of a %%unity_train cell), then these flags.")
TRAIN.add_argument("scene", nargs="?", default=None,
                   help="built-in scene (Basic, 3DBall, BasicDuo) or the path of your Linux Unity build (default: Basic)")
TRAIN.add_argument("--config", metavar="FILE", help="YAML settings: unity-nb format or Unity's mlagents-learn trainer YAML")
add_config_flags(TRAIN)
TRAIN.add_argument("--runs-dir", metavar="DIR", help="where run folders go (default: ./runs or $UNITY_NB_RUNS)")
TRAIN.add_argument("--var", metavar="NAME", help="also store the Run in this variable (handy in the cell form)")
TRAIN.add_argument("--wait", action="store_true",
                   help="block the cell until training ends (the plot redraws when the cell ends)")
TRAIN.add_argument("--no-dashboard", action="store_true", help="do not show the live dashboard")

RUN_ID_HELP = "a run id as %%unity_runs shows it (default: the latest run)"

ENVS = _parser("unity_envs", "List the built-in scenes and the Unity builds found on disk.")
ENVS.add_argument("--path", action="append", metavar="DIR",
                  help="folder to search for Unity builds (*.x86_64), repeatable (default: . and ./builds)")

RUNS = _parser("unity_runs", "List training runs: id, state, scene, steps, mean return.")
RUNS.add_argument("--runs-dir", metavar="DIR", help="run store folder (default: ./runs or $UNITY_NB_RUNS)")

STOP = _parser("unity_stop", "Ask a run to save a checkpoint and stop.")
STOP.add_argument("run_id", nargs="?", help="the run to stop (default: the latest running run)")
STOP.add_argument("--no-wait", action="store_true", help="return at once instead of waiting for the checkpoint")
STOP.add_argument("--runs-dir", metavar="DIR", help="run store folder")

EVAL = _parser("unity_eval", "Play deterministic episodes with a run's latest checkpoint; shows a table of returns.")
EVAL.add_argument("run_id", nargs="?", help=RUN_ID_HELP)
EVAL.add_argument("--episodes", type=positive_int, default=100, help="episodes to play (default 100)")
EVAL.add_argument("--mode", choices=["inprocess", "player"], default="inprocess",
                  help="built-in scenes: in-process (default, fast) or through the Unity player stand-in")
EVAL.add_argument("--runs-dir", metavar="DIR", help="run store folder")

VIDEO = _parser("unity_video", "Show a rollout video inline: a run's trained policy, or random actions in a scene.")
VIDEO.add_argument("target", nargs="?", help=f"{RUN_ID_HELP}, or a built-in scene ({', '.join(SCENES)}) for random actions")
VIDEO.add_argument("--episodes", type=positive_int, default=None,
                   help="whole episodes to record (default: enough for 4 s of video)")
VIDEO.add_argument("--max-frames", type=positive_int, default=500, help="frames at most (default 500)")
VIDEO.add_argument("--fps", type=positive_int, default=25, help="frames per second (default 25)")
VIDEO.add_argument("--gif", action="store_true", help="an animated GIF instead of H.264 video")
VIDEO.add_argument("--runs-dir", metavar="DIR", help="run store folder")

DASHBOARD = _parser("unity_dashboard", "Show the live dashboard of a run (also one from before a kernel restart).")
DASHBOARD.add_argument("run_id", nargs="?", help=RUN_ID_HELP)
DASHBOARD.add_argument("--runs-dir", metavar="DIR", help="run store folder")

COMPARE = _parser("unity_compare", "Overlay the reward curves of several runs.")
COMPARE.add_argument("run_ids", nargs="*", help="run ids (default: the three latest runs)")
COMPARE.add_argument("--runs-dir", metavar="DIR", help="run store folder")

PANEL = _parser("unity_panel", "Show the hyperparameter panel: settings, a Train button, and a compare view.")
PANEL.add_argument("scene", nargs="?", default="Basic", help="scene whose defaults fill the panel (default: Basic)")
PANEL.add_argument("--runs-dir", metavar="DIR", help="run store folder")


@magics_class
class UnityMagics(Magics):
    """The unity-nb magics. Settings: ``%config UnityMagics.runs_dir = 'my_runs'``."""

    runs_dir = Unicode(None, allow_none=True, config=True,
                       help="where run folders go (default ./runs or $UNITY_NB_RUNS)")
    dashboard = Bool(True, config=True, help="show the live dashboard when %unity_train starts a run")

    def __init__(self, shell=None, **kwargs):
        super().__init__(shell=shell, **kwargs)
        self.last_dashboard = None  # the dashboard %unity_train showed last (it is displayed, not returned)

    # ---- helpers
    def _args(self, parser: MagicArgumentParser, line: str):
        try:
            return parser.parse_argstring(line)
        except UsageError as err:
            raise UsageError(f"{err}\n(see %{parser.prog}? for every flag)") from None

    def _store(self, args):
        return getattr(args, "runs_dir", None) or self.runs_dir

    def _run(self, run_id: str | None, runs_dir, *, running: bool = False):
        """The run named, or the latest one (the latest still running with ``running``)."""
        from ..train import get_run, runs

        if run_id:
            try:
                return get_run(run_id, runs_dir)
            except KeyError as err:
                raise UsageError(str(err)) from None
        found = runs(runs_dir)
        if running:
            found = [r for r in found if r.state in ("starting", "running")]
        if not found:
            raise UsageError("no running run to stop" if running else
                             "no runs yet: start one with %unity_train Basic (or give a run id)")
        return found[-1]

    @staticmethod
    def _fail(err: Exception):
        # errors a person can fix become one line, not a traceback
        raise UsageError(str(err)) from None

    # ---- magics
    @line_magic
    @_with_help(ENVS)
    def unity_envs(self, line=""):
        """List the built-in scenes and the Unity builds found on disk; returns a table."""
        import pandas as pd

        args = self._args(ENVS, line)
        rows = []
        for name, cls in SCENES.items():
            behaviors = cls.behavior_list()
            spec = behaviors[0]
            actions = (f"{spec.continuous_size} continuous" if spec.continuous_size else
                       f"discrete {list(spec.discrete_branches)}")
            rows.append({"name": name, "kind": "built-in", "agents": cls.agents_per_area,
                         "behaviors": ", ".join(b.name for b in behaviors), "actions": actions,
                         "benchmark": cls.benchmark_return, "about": cls.description})
        folders = args.path or [".", "builds"]
        for folder in folders:
            if not os.path.isdir(folder):
                if args.path:
                    raise UsageError(f"--path {folder!r}: no such folder")
                continue
            for build in _find_builds(Path(folder)):
                rows.append({"name": build.stem, "kind": "Unity build", "agents": pd.NA, "behaviors": "",
                             "actions": "", "benchmark": None, "about": str(build)})
        table = pd.DataFrame(rows)
        table["agents"] = table["agents"].astype("Int64")  # a build's agent count is unknown until it runs
        return table

    @line_cell_magic
    @_with_help(TRAIN)
    def unity_train(self, line="", cell=None):
        """Train an agent; returns the Run and shows its live dashboard.

        Line form:  %unity_train Basic --steps 20000 --lr 3e-4
        Cell form:  %%unity_train [SCENE] [flags]   followed by YAML settings
                    (unity-nb keys, or Unity's mlagents-learn trainer YAML with `behaviors:`).
        """
        from ..train import ConfigError, TrainConfig, train

        args = self._args(TRAIN, line)
        if args.var is not None and not args.var.isidentifier():
            raise UsageError(f"--var {args.var!r}: not a Python variable name")
        try:
            target = args.scene
            if cell is not None and cell.strip():
                if args.config:
                    raise UsageError("give settings either in the cell or with --config, not both")
                # the cell's settings, with the scene named on the magic's line if any
                target = TrainConfig.from_yaml(cell, source="%%unity_train cell").replace(scene=args.scene)
            run = train(target, config=args.config, runs_dir=self._store(args), **config_overrides(args))
        except (ConfigError, ValueError, FileNotFoundError, PermissionError, ConnectionError) as err:
            self._fail(err)
        if self.dashboard and not args.no_dashboard:
            from IPython.display import display

            from .dashboard import Dashboard

            self.last_dashboard = Dashboard(run)
            display(self.last_dashboard)
        if args.var:
            self.shell.user_ns[args.var] = run
        if args.wait:
            run.wait()
        return run

    @line_magic
    @_with_help(RUNS)
    def unity_runs(self, line=""):
        """List the training runs; returns a table (newest last)."""
        import pandas as pd

        from ..train import runs

        args = self._args(RUNS, line)
        columns = ["id", "scene", "algorithm", "state", "iterations", "env_steps", "return_mean", "episodes_window",
                   "target", "target_reached", "elapsed_s"]
        return pd.DataFrame([r.summary() for r in runs(self._store(args))], columns=columns)

    @line_magic
    @_with_help(STOP)
    def unity_stop(self, line=""):
        """Stop a run (it checkpoints first); returns the Run."""
        args = self._args(STOP, line)
        run = self._run(args.run_id, self._store(args), running=not args.run_id)
        return run.stop(wait=not args.no_wait)

    @line_magic
    @_with_help(EVAL)
    def unity_eval(self, line=""):
        """Evaluate a run's policy over deterministic episodes; returns the Evaluation (mean/min/max/std)."""
        args = self._args(EVAL, line)
        run = self._run(args.run_id, self._store(args))
        try:
            return run.evaluate(episodes=args.episodes, mode=args.mode)
        except (RuntimeError, NotImplementedError, ValueError) as err:
            self._fail(err)

    @line_magic
    @_with_help(VIDEO)
    def unity_video(self, line=""):
        """Record a rollout and show it inline; returns the Video (H.264 mp4, or GIF with --gif)."""
        args = self._args(VIDEO, line)
        fmt = "gif" if args.gif else "mp4"
        options = dict(episodes=args.episodes, max_frames=args.max_frames, fps=args.fps, fmt=fmt)
        try:
            if args.target and args.target.lower() in {n.lower() for n in SCENES}:
                from ..evaluate import record

                return record(None, args.target, **options)
            return self._run(args.target, self._store(args)).video(**options)
        except (RuntimeError, NotImplementedError, ValueError) as err:
            self._fail(err)

    @line_magic
    @_with_help(DASHBOARD)
    def unity_dashboard(self, line=""):
        """Show a run's live dashboard; returns the Dashboard."""
        from .dashboard import Dashboard

        args = self._args(DASHBOARD, line)
        return Dashboard(self._run(args.run_id, self._store(args)))

    @line_magic
    @_with_help(COMPARE)
    def unity_compare(self, line=""):
        """Overlay the reward curves of runs; returns the Comparison (.table has one row per run)."""
        from ..train import runs

        from .compare import Comparison

        args = self._args(COMPARE, line)
        store = self._store(args)
        ids = args.run_ids or [r.id for r in runs(store)[-3:]]
        if not ids:
            raise UsageError("no runs yet: start one with %unity_train Basic")
        try:
            return Comparison(ids, runs_dir=store)
        except KeyError as err:
            self._fail(err)

    @line_magic
    @_with_help(PANEL)
    def unity_panel(self, line=""):
        """Show the hyperparameter panel; returns the Panel."""
        from .panel import Panel

        args = self._args(PANEL, line)
        try:
            return Panel(args.scene, runs_dir=self._store(args))
        except ValueError as err:
            self._fail(err)


def _find_builds(folder: Path, depth: int = 3):
    """Linux Unity builds (*.x86_64 files) under ``folder``."""
    if depth < 0:
        return
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.is_dir() and entry.name not in _SKIP_DIRS and not entry.name.startswith("."):
            yield from _find_builds(entry, depth - 1)
        elif entry.suffix == ".x86_64" and entry.is_file():
            yield entry


def load_ipython_extension(ipython) -> None:
    """Register the magics; ``%load_ext unity_nb`` calls this."""
    ipython.register_magics(UnityMagics)
