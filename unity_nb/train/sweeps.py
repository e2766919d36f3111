"""Sweeps: many runs of one scene with settings drawn from search spaces, scheduled by Ray Tune.

    sweep = unity_nb.sweep("Basic", lr="loguniform(1e-4, 3e-3)", num_epochs="choice(1, 2, 4)", trials=8,
                           scheduler="asha")
    sweep.wait(); sweep.table(); sweep.best()

Each trial is an ordinary run in the run store (started as ``unity-nb train`` starts one), so the dashboard,
evaluate, video, export, deploy and fork work on every trial unchanged. The sweep is a folder beside the runs
(``<runs>/<sweep id>/``: its settings, the trials it started, its state); its Tune driver is a process of its
own on this machine's training runtime (``trainer/sweep_driver.py``): the kernel never imports Ray.

A search space is Tune's, written as text: ``uniform(a, b)``, ``loguniform(a, b)``, ``quniform(a, b, q)``,
``qloguniform(a, b, q)``, ``randint(a, b)`` (a <= n < b), ``choice(x, y, ...)``, ``grid(x, y, ...)`` (every
value, ``trials`` times each). Schedulers: ``fifo`` (every trial runs its whole budget), ``asha`` (stops the
worse half of the trials at each rung: Tune's ASHAScheduler over agent steps), ``median`` (stops a
trial whose mean return falls below the median of the others at the same steps) and ``pbt`` (Population-Based
Training: every eighth of the budget the worst quarter of the trials goes on from a run of the best quarter,
as a fork of it with perturbed settings).
"""

from __future__ import annotations

import ast
import json
import os
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BadValue, NotFound, NotPossible, TimedOut
from ..processes import pid_alive
from .config import ConfigError, TrainConfig, parse_yaml
from .metrics import HEADLINE, METRICS
from .schema import SWEEP_LOG, SWEEP_PLAN, SWEEP_STATUS, SWEEP_STOP, SWEEP_TRIALS, State
from .settings import fixed_settings, rules
from .store import RunFolder, RunStore, _write_json_atomic, default_root

SCHEDULERS = ("fifo", "asha", "median", "pbt")
# name -> how many arguments (None: one or more values)
SPACES = {"uniform": 2, "loguniform": 2, "quniform": 3, "qloguniform": 3, "randint": 2, "choice": None, "grid": None}
# settings a sweep cannot vary: where and what it trains is one for all its trials
NOT_SWEPT = {"scene", "backend", "address", "init_path", "env_params", "rllib", "model", "behavior", "instance_type",
             "instance_count", "spot", "max_run", "role", "region", "bucket", "image"}
# how this session reaches a Ray cluster; a sweep's trials start their runs with it (never written to disk)
CLUSTER_AUTH = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
CLUSTER_AUTH_ENV = "UNITY_NB_CLUSTER_AUTH"  # ...handed to the sweep's driver in this variable
RANKED_BY = tuple(m.key for m in METRICS if m.panel)  # what a scheduler may rank trials by: the drawn figures
_CALL = re.compile(r"^\s*([a-z]+)\s*\((.*)\)\s*$", re.S)


@dataclass(frozen=True)
class Space:
    """One setting's search space: a Tune sampler by name, with its arguments."""

    kind: str
    args: tuple

    def __str__(self):
        return f"{self.kind}({', '.join(repr(a) for a in self.args)})"

    def extremes(self) -> list:
        """The values a trial may take at the edges (ranges) or all of them (lists): each must be a valid setting."""
        if self.kind in ("choice", "grid"):
            return list(self.args)
        if self.kind == "randint":
            return [self.args[0], self.args[1] - 1]
        return [self.args[0], self.args[1]]

    def to_tune(self):
        """The Tune search space (in the sweep's own process: Ray is imported there only)."""
        from ray import tune

        if self.kind == "grid":
            return tune.grid_search(list(self.args))
        if self.kind == "choice":
            return tune.choice(list(self.args))
        return getattr(tune, self.kind)(*self.args)


def parse_space(text: str) -> Space | None:
    """``text`` as a search space ("loguniform(1e-4, 3e-3)"), None if it is a plain value; refuses a space
    that is not one of Tune's, or that has the wrong arguments."""
    if not isinstance(text, str):
        return None
    found = _CALL.match(text)
    if not found:
        return None
    kind, inner = found.group(1), found.group(2)
    if kind not in SPACES:
        raise BadValue(f"{text!r}: {kind}() is not a search space; use one of "
                       f"{', '.join(f'{k}()' for k in SPACES)}")
    try:
        args = ast.literal_eval(f"({inner},)") if inner.strip() else ()
    except (ValueError, SyntaxError):
        raise BadValue(f"{text!r}: the arguments must be numbers or quoted words, e.g. {kind}(1e-4, 3e-3)") from None
    wanted = SPACES[kind]
    if wanted is None and not args:
        raise BadValue(f"{text!r}: {kind}() needs at least one value, e.g. {kind}(3, 8)")
    if wanted is not None and len(args) != wanted:
        raise BadValue(f"{text!r}: {kind}() takes {wanted} numbers, got {len(args)}")
    if wanted is not None:
        if not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
            raise BadValue(f"{text!r}: {kind}() takes numbers")
        if not args[0] < args[1]:
            raise BadValue(f"{text!r}: the low end must be below the high end")
        if kind.startswith("log") or kind.startswith("qlog"):
            if args[0] <= 0:
                raise BadValue(f"{text!r}: a log scale starts above 0")
        if kind.startswith("q") and args[2] <= 0:
            raise BadValue(f"{text!r}: the step q must be above 0")
        if kind == "randint" and not all(isinstance(a, int) for a in args):
            raise BadValue(f"{text!r}: randint() takes whole numbers")
    return Space(kind, tuple(args))


@dataclass
class SweepPlan:
    """What a sweep runs: a scene's settings, the spaces some of them are drawn from, and how trials are run."""

    base: TrainConfig
    spaces: dict[str, Space]
    trials: int = 4
    scheduler: str = "asha"
    metric: str = HEADLINE
    mode: str = "max"
    concurrent: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base.to_dict(), "spaces": {k: [s.kind, list(s.args)] for k, s in self.spaces.items()},
                "trials": self.trials, "scheduler": self.scheduler, "metric": self.metric, "mode": self.mode,
                "concurrent": self.concurrent}

    @classmethod
    def from_dict(cls, data: dict) -> "SweepPlan":
        return cls(TrainConfig.from_dict(data["base"]), {k: Space(kind, tuple(args))
                                                         for k, (kind, args) in data["spaces"].items()},
                   data["trials"], data["scheduler"], data["metric"], data["mode"], data["concurrent"])

    def describe(self) -> str:
        spaces = ", ".join(f"{k} {s}" for k, s in self.spaces.items())
        return (f"{self.trials} trial{'s' if self.trials != 1 else ''} of {self.base.scene} ({spaces}), "
                f"scheduler {self.scheduler} on the {self.mode} {self.metric}, {self.concurrent} at a time")


SWEEP_OPTIONS = ("trials", "scheduler", "metric", "metric_mode", "concurrent", "search")


def sweep_section(config, source: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Split a config (a YAML file's path, a dict of parsed YAML, or None) into its settings and the options of
    its ``sweep:`` section (``search``: each swept setting's space as text). Without a section: ``(config, {})``.

        steps: 20000
        sweep:
          trials: 8
          scheduler: asha
          search:
            lr: loguniform(1e-4, 3e-3)
            num_epochs: choice(1, 2, 4)
    """
    if isinstance(config, dict):
        data, source = dict(config), source or "config"
    elif isinstance(config, (str, os.PathLike)):
        try:
            text = Path(config).read_text(encoding="utf-8")
        except OSError:  # a missing file, a folder: make_config says which
            return config, {}
        data, source = parse_yaml(text, str(config)), source or str(config)
    else:
        return config, {}
    if not isinstance(data, dict) or "sweep" not in data:
        return config, {}
    section = data.pop("sweep")
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: sweep: expected the sweep's options ({', '.join(SWEEP_OPTIONS)}), got "
                          f"{type(section).__name__}")
    for key in section:
        if key not in SWEEP_OPTIONS:
            raise ConfigError(f"{source}: sweep: unknown option {key!r}; the options are {', '.join(SWEEP_OPTIONS)} "
                              "(a swept setting goes under search:, e.g. search: {lr: 'loguniform(1e-4, 3e-3)'})")
    search = check_search(section.get("search") or {}, f"{source}: sweep: search")
    return TrainConfig.from_data(data, source), {**section, "search": search}


def check_search(search, source: str = "search") -> dict[str, str]:
    """``search`` ({setting: space as text}) if every value is a search space; else ConfigError names it."""
    if not isinstance(search, dict):
        raise ConfigError(f"{source}: expected each swept setting with its space, e.g. "
                          f"lr: loguniform(1e-4, 3e-3); got {type(search).__name__}")
    for name, value in search.items():
        try:
            space = parse_space(value)
        except BadValue as err:
            raise ConfigError(f"{source}: {name}: {err}") from None
        if space is None:
            raise ConfigError(f"{source}: {name}: {value!r} is not a search space (e.g. "
                              "loguniform(1e-4, 3e-3), choice(1, 2)); a fixed value goes among the settings")
    return search


def make_plan(scene, *, config=None, trials: int | None = None, scheduler: str | None = None,
              metric: str | None = None, metric_mode: str | None = None, concurrent: int | None = None,
              **settings) -> SweepPlan:
    """Check a sweep's settings: each value is a plain setting or a search space (text, a ``Space``).
    ``config``'s ``sweep:`` section gives the options and spaces not given here; then 4 trials, asha, the mean
    return (higher is better), as many trials at a time as the runtime's CPUs hold (a trial, its env runners and a
    threaded learner process hold one each)."""
    from . import make_config
    from .share import cpus_held, find_share

    config, section = sweep_section(config)
    settings = {**section.get("search", {}), **settings}
    trials = _first(trials, section.get("trials"), 4)
    scheduler = _first(scheduler, section.get("scheduler"), "asha")
    metric = _first(metric, section.get("metric"), HEADLINE)
    metric_mode = _first(metric_mode, section.get("metric_mode"), "max")
    concurrent = _first(concurrent, section.get("concurrent"))

    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ConfigError(f"sweep: trials must be a whole number >= 1, got {trials!r}")
    if scheduler not in SCHEDULERS:
        raise ConfigError(f"sweep: scheduler must be one of {', '.join(SCHEDULERS)}, got {scheduler!r}")
    if metric not in RANKED_BY:
        raise ConfigError(f"sweep: metric {metric!r} is not a figure the runs record to rank trials by; use one of "
                          f"{', '.join(RANKED_BY)}")
    if metric_mode not in ("max", "min"):
        raise ConfigError(f"sweep: metric_mode must be 'max' or 'min' (is a larger {metric} better?), got "
                          f"{metric_mode!r}")
    known = rules(TrainConfig)
    spaces, fixed = {}, {}
    for name, value in settings.items():
        if name not in known:
            raise ConfigError(f"sweep: {name}: not a setting (see `unity-nb train --help`)")
        space = value if isinstance(value, Space) else parse_space(value)
        if space is None:
            fixed[name] = value
        elif name in NOT_SWEPT:
            raise ConfigError(f"sweep: {name} cannot be swept: all of a sweep's trials train the same {name}; "
                              "give one value")
        else:
            spaces[name] = space
    if scheduler == "pbt":
        fixed_why = fixed_settings(TrainConfig)
        held = [n for n in spaces if n in fixed_why]
        if held:
            raise ConfigError(f"sweep: PBT changes settings mid-run by forking a trial, and "
                              f"{', '.join(held)} cannot change in a fork ({fixed_why[held[0]]}); "
                              "sweep them with asha, median or fifo")
        if trials < 2:
            raise ConfigError("sweep: PBT needs at least 2 trials (the worse go on from the better)")
    if isinstance(scene, str) and parse_space(scene) is not None:
        raise ConfigError("sweep: scene cannot be swept: all of a sweep's trials train the same scene; give one")
    if not spaces:
        raise ConfigError("sweep: nothing to search: give at least one setting as a search space, e.g. "
                          "--lr 'loguniform(1e-4, 3e-3)'")
    base = make_config(scene, config=config, **fixed)
    for name in spaces:  # a setting the algorithm never reads would look as if it did not matter
        used_by = known[name][1].algorithms
        if used_by and base.algorithm not in used_by and not base.custom_algorithm:
            raise ConfigError(f"sweep: {name} cannot be swept with {base.algorithm}: it is used by "
                              f"{', '.join(used_by)} only, so every trial would train the same")
    if scheduler == "pbt" and "checkpoint_interval" not in fixed and "checkpoint_every" not in fixed:
        # a trial goes on from a run's latest checkpoint: two before each of PBT's steps (every eighth)
        base = base.replace(checkpoint_interval=max(1, base.steps // 16))
    if base.backend != "local":
        raise ConfigError("sweep: a sweep trains on this machine or a Ray cluster (address); on SageMaker it is "
                          "not supported yet: Tune's trials would each need a job of their own, started and "
                          "followed from inside another. Train them one by one with --backend sagemaker, or sweep "
                          "on a Ray cluster")
    for name, space in spaces.items():  # every value a trial may take must make a valid run
        for value in space.extremes():
            try:
                base.replace(**{name: value}).resolved()
            except ConfigError as err:
                raise ConfigError(f"sweep: {name} {space} can draw {value!r}, which is refused: {err}") from None
    cpus = find_share().cpus
    # a trial's actor holds a CPU while its run goes, and the run's env runners and a threaded learner process
    # hold one each (Ray): more at once than the runtime's CPUs would wait for one another forever
    drawn = spaces["num_env_runners"].extremes() if "num_env_runners" in spaces else ()
    runners = max([base.num_env_runners, *(int(v) for v in drawn)])  # the most a trial may draw
    threaded = base.threaded or "threaded" in spaces
    per_trial, holders = cpus_held(runners, threaded, trial=True)
    if concurrent is None:
        concurrent = max(1, min(trials, cpus // per_trial))
    elif isinstance(concurrent, bool) or not isinstance(concurrent, int) or concurrent < 1:
        raise ConfigError(f"sweep: concurrent must be a whole number >= 1, got {concurrent!r}")
    if per_trial > 1 and not base.address and concurrent * per_trial > cpus:
        fewer = (f"set concurrent to {cpus // per_trial}" if cpus >= per_trial else
                 "give fewer num_env_runners" + (" or leave threaded out" if threaded else ""))
        raise ConfigError(f"sweep: concurrent {concurrent} trial{'s need' if concurrent > 1 else ' needs'} "
                          f"{concurrent * per_trial} CPUs ({per_trial} each: {holders}), and this machine's "
                          f"training runtime has {cpus}: {fewer}, or sweep on a Ray cluster (address=)")
    return SweepPlan(base, spaces, trials, scheduler, metric, metric_mode, concurrent)


def _first(*values):
    return next((v for v in values if v is not None), None)


class Sweep:
    """A sweep's folder: its plan, the trials (runs) it started, its state. ``table()`` one row per trial."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).absolute()
        self.id = self.path.name

    def __repr__(self):
        return f"Sweep({self.id!r}, state={self.state!r}, trials={len(self.trials())})"

    @property
    def log_path(self) -> Path:
        """The Tune driver's output."""
        return self.path.joinpath(*SWEEP_LOG)

    @property
    def plan(self) -> SweepPlan:
        return SweepPlan.from_dict(json.loads((self.path / SWEEP_PLAN).read_text()))

    @property
    def status(self) -> dict[str, Any]:
        try:
            status = json.loads((self.path / SWEEP_STATUS).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            status = {"state": State.STARTING.value}
        if status["state"] in ("starting", "running") and status.get("pid") and not pid_alive(status["pid"]):
            status = {**status, "state": "failed", "error": status.get("error") or
                      f"the sweep's process ended without a word (see {self.log_path})"}
        return status

    def write_status(self, status: dict[str, Any]) -> None:
        """The sweep's driver says where it is (atomically: a reader never sees half a file)."""
        _write_json_atomic(self.path / SWEEP_STATUS, status)

    def record_trial(self, **fields) -> None:
        """One line for a trial's run (``trial``, ``run``, then ``settings``, ``stopped_early``, ``forked_from``);
        appended, so nothing written is rewritten."""
        with open(self.path / SWEEP_TRIALS, "a") as out:
            out.write(json.dumps(fields) + "\n")

    def last_run_of(self, trial_id: str) -> str | None:
        """The run a trial went on with last (under PBT a trial may move onto a fork of another's run)."""
        runs = [t["run"] for t in self._records() if t["trial"] == trial_id]
        return runs[-1] if runs else None

    @property
    def stop_asked(self) -> bool:
        return (self.path / SWEEP_STOP).exists()

    @property
    def state(self) -> str:
        return self.status["state"]

    def trials(self) -> list[dict[str, Any]]:
        """Each trial's run as the sweep recorded it: ``trial`` (Tune's id), ``run`` (its run id), ``settings``
        (the drawn values), ``stopped_early`` for one the scheduler stopped, and under PBT ``forked_from`` (a
        trial PBT moved onto a better one's run goes on as a fork of it: one more row, same trial)."""
        found: dict[str, dict] = {}
        for record in self._records():
            found.setdefault(record["run"], {}).update(record)
        return list(found.values())

    def _records(self) -> list[dict[str, Any]]:
        """The lines of the trials file that name a trial and a run (a torn last line is skipped)."""
        try:
            lines = (self.path / SWEEP_TRIALS).read_text().splitlines()
        except FileNotFoundError:
            return []
        records = []
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("trial"), str) and isinstance(record.get("run"), str):
                records.append(record)
        return records

    def runs(self) -> list[RunFolder]:
        """The trials' runs, in the order they started."""
        return list(self.runs_by_id().values())

    def runs_by_id(self) -> dict[str, RunFolder]:
        store = RunStore(self.path.parent)
        return {t["run"]: store.get(t["run"]) for t in self.trials()
                if (self.path.parent / t["run"] / "config.yaml").is_file()}

    def table(self):
        """One row per trial: its run, the drawn settings, state, steps, mean return, the confirmation."""
        import pandas as pd

        rows = []
        runs = self.runs_by_id()
        for trial in self.trials():
            run = runs.get(trial["run"])
            if run is None:  # its folder was deleted since
                continue
            summary = run.summary()
            rows.append({"trial": trial["trial"], "run": run.id, **trial["settings"], "state": summary["state"],
                         "stopped_early": bool(trial.get("stopped_early")), "forked_from": trial.get("forked_from"),
                         "env_steps": summary["env_steps"],
                         "return_mean": summary["return_mean"], "target_reached": summary["target_reached"],
                         "confirmed_deterministic": summary["confirmed_deterministic"],
                         "confirmed_sampled": summary["confirmed_sampled"]})
        return pd.DataFrame(rows)

    def best(self) -> RunFolder:
        """The trial with the best last ``metric`` (the mean return over its window, unless the sweep said
        otherwise): a run, to evaluate, export or deploy."""
        metric = self.plan.metric
        scored = [(run.last().get(metric), run) for run in self.runs()]
        scored = [(v, run) for v, run in scored if isinstance(v, (int, float))]
        if not scored:
            raise NotFound(f"sweep {self.id} has no trial with a {metric} yet")
        pick = max if self.plan.mode == "max" else min
        return pick(scored, key=lambda pair: pair[0])[1]

    def _repr_html_(self) -> str:
        import html

        table = self.table()
        rows = table.to_html(index=False, float_format=lambda v: f"{v:.4g}") if len(table) else "<i>no trials yet</i>"
        return (f"<b>{html.escape(self.id)}</b> &nbsp; {html.escape(self.state)} &nbsp; "
                f"<small>{html.escape(self.plan.describe())}</small><br>{rows}")

    def wait(self, timeout: float | None = None) -> "Sweep":
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.state not in ("finished", "stopped", "failed"):
            if deadline is not None and time.monotonic() > deadline:
                raise TimedOut(f"sweep {self.id} still {self.state} after {timeout} s")
            time.sleep(0.5)
        return self

    def stop(self, wait: bool = True, timeout: float = 300) -> "Sweep":
        """Stop the sweep: no new trials; the running ones checkpoint and stop. ``resume()`` goes on with it."""
        if self.state in ("finished", "stopped", "failed"):
            return self
        (self.path / SWEEP_STOP).touch()
        return self.wait(timeout) if wait else self

    def resume(self, wait: bool = False) -> "Sweep":
        """Go on with a stopped (or failed) sweep: the trials it had not started start, the ones it stopped go on
        from their runs' last checkpoints; trials that had ended (or that the scheduler stopped) stay as they are."""
        state = self.state
        if state == "finished":
            raise NotPossible(f"sweep {self.id} has finished: every trial ended. Start a new sweep, or resume or fork "
                              "one of its runs (unity-nb resume RUN, unity-nb fork RUN)")
        if state not in ("stopped", "failed"):
            raise NotPossible(f"sweep {self.id} is still {state}; stop it before resuming it")
        (self.path / SWEEP_STOP).unlink(missing_ok=True)
        _launch(self, resume=True)
        return self.wait() if wait else self


def find_sweep(sweep_id: str, runs_dir=None) -> Sweep:
    root = Path(runs_dir) if runs_dir is not None else default_root()
    if not RunStore.valid_id(sweep_id) or not (root / sweep_id / SWEEP_PLAN).is_file():
        raise NotFound(f"no sweep {sweep_id!r} in {str(root)!r}")
    return Sweep(root / sweep_id)


def sweeps_in(runs_dir=None) -> list[Sweep]:
    """The sweeps of a run store, oldest first (one stat each; a link is never one)."""
    root = Path(runs_dir) if runs_dir is not None else default_root()
    return [Sweep(root / name) for _, name in RunStore(root).folders_with(SWEEP_PLAN)]


def is_sweep(name: str, runs_dir=None) -> bool:
    """Whether ``name`` is a sweep of the run store (``unity-nb resume`` and ``stop`` take a run or a sweep)."""
    root = Path(runs_dir) if runs_dir is not None else default_root()
    return isinstance(name, str) and RunStore.valid_id(name) and (root / name / SWEEP_PLAN).is_file()


def start_sweep(plan: SweepPlan, runs_dir=None) -> Sweep:
    """Make the sweep's folder and start its Tune driver on this machine's training runtime."""
    root = Path(runs_dir) if runs_dir is not None else default_root()
    RunStore(root).root.mkdir(parents=True, exist_ok=True)
    sweep_id = f"sweep-{plan.base.scene_name or 'build'}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    sweep = Sweep(root / sweep_id)
    sweep.log_path.parent.mkdir(parents=True)
    (sweep.path / SWEEP_PLAN).write_text(json.dumps(plan.to_dict(), indent=1))
    _launch(sweep)
    return sweep


def _launch(sweep: Sweep, resume: bool = False) -> None:
    """Start the sweep's Tune driver, a process of its own, on this machine's training runtime."""
    from . import service
    from .runtime import LOOPBACK_ENV, ray_env

    found = service.ensure()
    env = {**ray_env(Path(found["token"]) if found.get("token") else None), **LOOPBACK_ENV,
           "UNITY_NB_RUNTIME_DIR": found["folder"]}
    if sweep.plan.base.address:  # before ray_env's token (this machine's runtime) stands in for the cluster's
        env[CLUSTER_AUTH_ENV] = json.dumps({key: os.environ.get(key) for key in CLUSTER_AUTH})
    command = [sys.executable, "-m", "unity_nb.trainer.sweep_driver", str(sweep.path), "--address", found["address"]]
    with open(sweep.log_path, "ab") as log:
        process = subprocess.Popen(command + (["--resume"] if resume else []), stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                                   cwd=os.getcwd() if os.path.isdir(os.getcwd()) else "/")
    sweep.write_status({"state": "starting", "pid": process.pid, "created": sweep.status.get("created", time.time())})


__all__ = ["Sweep", "SweepPlan", "Space", "make_plan", "parse_space", "start_sweep", "find_sweep", "is_sweep",
           "sweeps_in", "sweep_section", "check_search", "SCHEDULERS",
           "SPACES"]
