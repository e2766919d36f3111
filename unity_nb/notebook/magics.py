"""IPython magics: the kit's verbs (``unity_nb.verbs``) in notebook cells (``%load_ext unity_nb``).

Each magic parses its line with its verb's parser (``%unity_train?`` shows the same
flags and help as ``unity-nb train --help``), reports bad input as one line naming
the argument, and returns an object (a Run, a table, a video) rather than only
printing, so results can be kept: ``run = %unity_train Basic``.
"""

from __future__ import annotations

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import MagicArgumentParser
from traitlets import Bool, Unicode

from ..verbs import MAGIC, USER_ERRORS, VERBS


def _parser(verb_name: str) -> MagicArgumentParser:
    return VERBS[verb_name].parser(MAGIC, MagicArgumentParser, add_help=False)


def _verb(name: str, parser: MagicArgumentParser | None = None):
    """Make a method the magic of verb ``name``: its parser, and its help as the docstring (``%magic?``)."""
    parser = parser or _parser(name)

    def decorate(func):
        func.__doc__ = (func.__doc__ or "") + "\n" + parser.format_help()
        func.parser = parser
        return func

    return decorate


DEBUG = MagicArgumentParser(prog="unity_debug", add_help=False,
                            description="Show the whole traceback of the kit's errors (for a bug report), or only "
                                        "their one line again; with no argument, say which.")
DEBUG.add_argument("state", nargs="?", choices=["on", "off"], help="on: tracebacks; off: one line (the default)")

PANEL = MagicArgumentParser(prog="unity_panel", add_help=False,
                            description="Show the hyperparameter panel: settings with a Train button, a Sweep tab, "
                                        "and a compare view.")
PANEL.add_argument("scene", nargs="?", default="Basic", help="scene whose defaults fill the panel (default: Basic)")
PANEL.add_argument("--runs-dir", metavar="DIR", help="run store folder (default: ./runs or $UNITY_NB_RUNS)")


# the magics that act on "the latest run" when given no run id; after a sweep's Promote, on its best trial
ON_THE_CURRENT_RUN = {"unity_eval", "unity_video", "unity_episode", "unity_export", "unity_deploy", "unity_fork", "unity_dashboard"}


@magics_class
class UnityMagics(Magics):
    """The unity-nb magics. Settings: ``%config UnityMagics.runs_dir = 'my_runs'``."""

    runs_dir = Unicode(None, allow_none=True, config=True,
                       help="where run folders go (default ./runs or $UNITY_NB_RUNS)")
    dashboard = Bool(True, config=True, help="show the live dashboard when %unity_train starts a run")
    debug = Bool(False, config=True, help="show the whole traceback of the kit's errors, not only their one line")

    def __init__(self, shell=None, **kwargs):
        super().__init__(shell=shell, **kwargs)
        self.last_dashboard = None  # the dashboard %unity_train showed last (it is displayed, not returned)
        self.current_run: str | None = None  # a sweep's promoted trial: what a magic without a run id acts on

    # ---- helpers
    def _args(self, func, line: str):
        """Parse a magic's line with its verb's parser; the run store defaults to this extension's setting."""
        parser = func.parser
        try:
            args = parser.parse_argstring(line)
        except UsageError as err:
            raise UsageError(f"{err}\n(see %{parser.prog}? for every flag)") from None
        if hasattr(args, "runs_dir"):
            args.runs_dir = args.runs_dir or self.runs_dir
        if self.current_run and parser.prog in ON_THE_CURRENT_RUN:  # a sweep's promoted trial
            for name in ("run_id", "target"):
                if getattr(args, name, "absent") is None:
                    setattr(args, name, self.current_run)
        return args

    def _call(self, verb_name: str, args, **kwargs):
        """Run a verb; an error a person can fix becomes one line, not a traceback (unless %unity_debug is on)."""
        return self._guarded(VERBS[verb_name].call, args, **kwargs)

    def _guarded(self, work, *args, **kwargs):
        """``work(*args, **kwargs)``, its errors a person can fix shown as one line (unless %unity_debug is on)."""
        try:
            return work(*args, **kwargs)
        except USER_ERRORS as err:
            if self.debug:
                raise
            raise UsageError(str(err)) from None

    def _show_run(self, run, args):
        """A started run: its live dashboard (unless turned off), --var, --wait."""
        if not hasattr(run, "wait"):  # --dry-run: the SageMaker request, shown as the cell's result
            return run
        if run.backend_state.get("plan"):
            print(run.backend_state["plan"])  # where a SageMaker job runs, and as whom
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

    @staticmethod
    def _check_var(args):
        if args.var is not None and not args.var.isidentifier():
            raise UsageError(f"--var {args.var!r}: not a Python variable name")

    # ---- magics
    @line_magic
    @_verb("scenes")
    def unity_envs(self, line=""):
        """List the built-in scenes and the Unity builds found on disk; returns a table."""
        return self._call("scenes", self._args(self.unity_envs, line))

    @line_magic
    @_verb("player-file")
    def unity_player_file(self, line=""):
        """The path of a launchable 'Unity build' of a built-in scene; returns the path."""
        return self._call("player-file", self._args(self.unity_player_file, line))

    @line_magic
    @_verb("play")
    def unity_play(self, line=""):
        """Play episodes with random actions (prints each episode's return, returns the Played table), or with
        --yourself play the scene yourself in a widget (returns the PlayWidget)."""
        args = self._args(self.unity_play, line)
        if args.yourself:
            from ..verbs import play_yourself_settings
            from .play import PlayWidget

            return self._guarded(lambda: PlayWidget(**play_yourself_settings(args)))
        return self._call("play", args, report=print)

    @line_cell_magic
    @_verb("train")
    def unity_train(self, line="", cell=None):
        """Train an agent; returns the Run and shows its live dashboard.

        Line form:  %unity_train Basic --steps 20000 --lr 3e-4
        Cell form:  %%unity_train [SCENE] [flags]   followed by YAML settings
                    (unity-nb keys, or Unity's mlagents-learn trainer YAML with `behaviors:`).
        """
        from ..train import TrainConfig

        args = self._args(self.unity_train, line)
        self._check_var(args)
        config = None
        if cell is not None and cell.strip():
            try:
                config = TrainConfig.from_yaml(cell, source="%%unity_train cell")
            except USER_ERRORS as err:
                if self.debug:
                    raise
                raise UsageError(str(err)) from None
        return self._show_run(self._call("train", args, config=config), args)

    @line_magic
    @_verb("up")
    def unity_up(self, line=""):
        """Start (or show) this machine's training runtime, held while this session lives; returns its status."""
        return self._call("up", self._args(self.unity_up, line))

    @line_magic
    @_verb("down")
    def unity_down(self, line=""):
        """Stop this machine's training runtime now; returns what it stopped (None if none ran)."""
        return self._call("down", self._args(self.unity_down, line))

    @line_magic
    @_verb("doctor")
    def unity_doctor(self, line=""):
        """Check this machine for a class; prints each line as it is known and returns the Checkup (a table)."""
        return self._call("doctor", self._args(self.unity_doctor, line), report=print)

    @line_magic
    @_verb("runs")
    def unity_runs(self, line=""):
        """List the training runs; returns a table (newest last)."""
        return self._call("runs", self._args(self.unity_runs, line))

    @line_magic
    @_verb("stop")
    def unity_stop(self, line=""):
        """Stop a run (it checkpoints first), or a sweep (its running trials do); returns the Run or Sweep."""
        return self._call("stop", self._args(self.unity_stop, line))

    @line_magic
    @_verb("resume")
    def unity_resume(self, line=""):
        """Continue a stopped or finished run from its last checkpoint; returns the Run and shows its dashboard.
        Given a stopped sweep's id, the sweep goes on (its view shown)."""
        args = self._args(self.unity_resume, line)
        self._check_var(args)
        found = self._call("resume", args)
        from ..train.sweeps import Sweep

        if isinstance(found, Sweep):
            return self._show_sweep(found, args)
        return self._show_run(found, args)

    @line_magic
    @_verb("fork")
    def unity_fork(self, line=""):
        """Start a new run from a run's latest checkpoint with some settings changed (%unity_fork RUN --lr 1e-4);
        returns the new Run and shows its dashboard (the parent's curve drawn faint before it)."""
        args = self._args(self.unity_fork, line)
        self._check_var(args)
        return self._show_run(self._call("fork", args), args)

    @line_cell_magic
    @_verb("sweep")
    def unity_sweep(self, line="", cell=None):
        """Start a sweep: runs with settings drawn from search spaces, scheduled by Ray Tune; returns the Sweep
        (its table of trials; each trial is a run) and shows its live view.

        Line form:  %unity_sweep Basic --lr 'loguniform(1e-4,3e-3)' --trials 8
        Cell form:  %%unity_sweep [SCENE] [flags]   followed by YAML settings with a `sweep:` section
                    (trials, scheduler, metric, metric_mode, concurrent; search: each swept setting's space).
        """
        from ..train.config import parse_yaml

        args = self._args(self.unity_sweep, line)
        self._check_var(args)
        config = None
        if cell is not None and cell.strip():
            try:
                config = parse_yaml(cell, "%%unity_sweep cell")
            except USER_ERRORS as err:
                if self.debug:
                    raise
                raise UsageError(str(err)) from None
            if not isinstance(config, dict):
                raise UsageError(f"%%unity_sweep cell: expected YAML settings (key: value lines), got "
                                 f"{type(config).__name__}")
        return self._show_sweep(self._call("sweep", args, config=config), args)

    def _show_sweep(self, found, args):
        """A started sweep: its live view (unless dashboards are off), --var, --wait."""
        if self.dashboard and not getattr(args, "no_dashboard", False):
            from IPython.display import display

            from .sweep_view import SweepView

            self.last_dashboard = SweepView(found, shell=self.shell)
            display(self.last_dashboard)
        if args.var:
            self.shell.user_ns[args.var] = found
        return found.wait() if args.wait else found

    @line_magic
    @_verb("eval")
    def unity_eval(self, line=""):
        """Evaluate a run's policy over deterministic episodes; returns the Evaluation (mean/min/max/std)."""
        return self._call("eval", self._args(self.unity_eval, line))

    @line_magic
    @_verb("video")
    def unity_video(self, line=""):
        """Record a rollout and show it inline; returns the Video (H.264 mp4, or GIF with --gif)."""
        return self._call("video", self._args(self.unity_video, line))

    @line_magic
    @_verb("episode")
    def unity_episode(self, line=""):
        """Step through one episode (a run's policy playing, random play, or a .demo's); returns the Scrubber."""
        from .scrubber import Scrubber

        found = self._call("episode", self._args(self.unity_episode, line))
        return Scrubber(found)

    @line_magic
    @_verb("demo")
    def unity_demo(self, line=""):
        """Inspect a Unity demonstration (.demo), or record one from a run's policy; returns the Demonstration."""
        return self._call("demo", self._args(self.unity_demo, line))

    @line_magic
    @_verb("dashboard")
    def unity_dashboard(self, line=""):
        """Show a run's live dashboard; returns the Dashboard."""
        from .dashboard import Dashboard

        return Dashboard(self._call("dashboard", self._args(self.unity_dashboard, line)))

    @line_magic
    @_verb("compare")
    def unity_compare(self, line=""):
        """Overlay the reward curves of runs; returns the Comparison (.table has one row per run)."""
        from .compare import Comparison

        return Comparison(self._call("compare", self._args(self.unity_compare, line)))

    @line_magic
    @_verb("export")
    def unity_export(self, line=""):
        """Export a run's policy as ONNX files Unity loads, checked; returns the Exported (shows the contract table)."""
        return self._call("export", self._args(self.unity_export, line))

    @line_magic
    @_verb("deploy")
    def unity_deploy(self, line=""):
        """Serve a run's exported policy on a local endpoint (or --target sagemaker: a SageMaker endpoint);
        returns its view (URL, a curl or AWS CLI line, a test form; ``.endpoint`` is the endpoint, and
        ``.invoke``/``.stop`` work on the view too)."""
        from .endpoint_view import EndpointView

        return EndpointView(self._call("deploy", self._args(self.unity_deploy, line)))

    @line_magic
    @_verb("endpoints")
    def unity_endpoints(self, line=""):
        """List (or --stop) the endpoints the kit runs, local and on SageMaker; returns them."""
        return self._call("endpoints", self._args(self.unity_endpoints, line))

    @line_magic
    @_verb("panel", PANEL)
    def unity_panel(self, line=""):
        """Show the hyperparameter panel; returns the Panel (notebook only: it is made of widgets)."""
        from .panel import Panel

        args = self._args(self.unity_panel, line)
        try:
            return Panel(args.scene, runs_dir=args.runs_dir)
        except ValueError as err:
            raise UsageError(str(err)) from None

    @line_magic
    @_verb("debug", DEBUG)
    def unity_debug(self, line=""):
        """Turn tracebacks of the kit's errors on or off (``%config UnityMagics.debug`` too); returns the state."""
        args = self._args(self.unity_debug, line)
        if args.state is not None:
            self.debug = args.state == "on"
        print(f"unity-nb errors: {'whole tracebacks' if self.debug else 'one line each (%unity_debug on shows tracebacks)'}")
        return self.debug


def load_ipython_extension(ipython) -> None:
    """Register the magics; ``%load_ext unity_nb`` calls this."""
    ipython.register_magics(UnityMagics)
