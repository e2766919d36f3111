"""Training runs: configure, start, watch, stop, resume and fork.

    import unity_nb.train as ut
    run = ut.train("Basic")                  # starts in the background, returns a Run
    run.wait(); run.metrics                  # pandas DataFrame of iterations
    ut.train("3DBall", steps=50_000, lr=1e-3)
    ut.train(config="trainer_config.yaml")   # unity-nb YAML or Unity's mlagents-learn YAML
    ut.runs(); ut.get_run(run_id).stop(); ut.resume(run_id)
    ut.fork(run_id, lr=1e-4)                 # go on from its checkpoint with other settings

A run is handed out as ``unity_nb.Run`` (``unity_nb/run.py``): its folder, kept here
(``store.RunFolder``), with what can be done with its trained policy (evaluate, video,
export, deploy), added above the layers that do those.
"""

from __future__ import annotations

import os
import sys
import types

from . import checks, rllib_settings, user_code
from .config import ConfigError, TrainConfig
from .store import RunFolder, RunNotFound, RunStore


def make_config(scene: str | TrainConfig | None = None, *, config: str | os.PathLike | dict | None = None,
                **overrides) -> TrainConfig:
    """Build a validated TrainConfig from a scene name, a YAML file/dict, and keyword overrides."""
    if isinstance(scene, os.PathLike):
        scene = os.fspath(scene)
    if isinstance(scene, TrainConfig):
        base = scene
    elif isinstance(config, TrainConfig):
        base = config
    elif isinstance(config, dict):
        base = TrainConfig.from_dict(config)
    elif config is not None:
        base = TrainConfig.from_file(config)
    else:
        base = TrainConfig()
    if scene is not None and not isinstance(scene, TrainConfig):
        overrides["scene"] = scene
    if overrides.get("env_params") and base.env_params:  # --param adds to the file's parameters
        overrides["env_params"] = {**base.env_params, **overrides["env_params"]}
    if overrides.get("rllib") and base.rllib:  # --rllib adds to the file's RLlib settings
        overrides["rllib"] = rllib_settings.merge(base.rllib, overrides["rllib"])
    if overrides.get("address") is None and os.environ.get("RAY_ADDRESS") and base.address is None:
        overrides["address"] = os.environ["RAY_ADDRESS"]
    made = base.replace(**overrides)
    # what the user gave: a file's, a dict's or a cell's settings and the keywords; a run's own settings given
    # as the scene (a fork's base, a sweep's trial) are read as they are
    checks.check_used_by_algorithm(made, overrides if base is scene else None)
    return made.resolved()


def train(scene: str | TrainConfig | None = None, *, config=None, runs_dir=None, wait: bool = False,
          dry_run: bool = False, **overrides) -> RunFolder:
    """Start a training run in the background and return its ``Run`` (``unity_nb.Run``).

    scene: a built-in scene (Basic, 3DBall) or the path of a Linux Unity build.
    config: a YAML file (unity-nb or mlagents-learn format) or a dict of settings.
    runs_dir: where run folders go (default ./runs or $UNITY_NB_RUNS).
    wait: block until the run ends.
    backend="sagemaker": train on Amazon SageMaker (instance_type=, instance_count=, spot=, role=, ...);
    dry_run=True then returns the exact job request instead of sending it.
    Any TrainConfig setting can be given as a keyword: steps=, lr=, gamma=, num_areas=, address=, ...
    """
    cfg = make_config(scene, config=config, **overrides)
    _check_user_code(cfg)
    if dry_run and cfg.backend != "sagemaker":
        raise ConfigError("dry_run shows a SageMaker job's request: add backend='sagemaker' (--backend sagemaker)")
    if cfg.backend == "sagemaker":
        from . import sagemaker

        if dry_run:
            return sagemaker.dry_run(cfg)
        run = RunStore(runs_dir).create(cfg)
        try:
            sagemaker.start(run, cfg)
        except BaseException:
            run.discard()  # nothing was sent: no run to keep
            raise
        return run.wait() if wait else run
    from .local import start_run

    check_can_start(cfg)
    run = start_run(cfg, runs_dir)
    return run.wait() if wait else run


def check_can_start(cfg: TrainConfig) -> None:
    """What would fail in the background is refused here: your classes not found, a bad build path, a run
    this machine's runtime cannot hold."""
    from ..envs import check_build

    _check_user_code(cfg)
    if cfg.scene_name is None and not cfg.address:
        check_build(cfg.scene)
    if not cfg.address:
        _check_fits(cfg)


def _check_fits(cfg: TrainConfig) -> None:
    """A run this machine's runtime cannot hold is refused before anything starts: Ray would otherwise wait
    for the CPUs of its env runners (one each) forever, the run never leaving "starting"."""
    from .share import cpus_held, find_share

    share = find_share()
    needed, holders = cpus_held(cfg.num_env_runners, cfg.threaded)
    if needed > share.cpus:
        fewer = max(0, share.cpus - bool(cfg.threaded))
        raise ConfigError(f"this run needs {needed} CPUs ({holders}), and this machine's training runtime has "
                          f"{share.cpus} ({share.cpus_from}): set num_env_runners to {fewer} or fewer (0 samples in "
                          f"the training process itself){', leave threaded out' if cfg.threaded else ''}, or train "
                          "on a Ray cluster (address=)")


def _check_user_code(cfg: TrainConfig) -> None:
    """Your own classes are found before anything starts (they are imported in the training process)."""
    paths = {"model": cfg.model} if isinstance(cfg.model, str) else \
        {f"model.{b}": p for b, p in (cfg.model or {}).items()}
    if cfg.custom_algorithm:
        paths["algorithm"] = cfg.algorithm
    if paths and cfg.backend == "sagemaker":
        raise ConfigError(f"{next(iter(paths))}: your own classes on SageMaker are not supported yet (the job would "
                          "need your module's file); train on this machine or a Ray cluster (address=)")
    for key, path in paths.items():
        user_code.find_module(path, key)


def runs(runs_dir=None) -> list[RunFolder]:
    """All runs in the store, oldest first (a SageMaker job nobody follows any more is followed again)."""
    return [_attached(run) for run in RunStore(runs_dir).list()]


def get_run(run_id: str, runs_dir=None) -> RunFolder:
    """Re-attach to a run by id (also after a kernel restart: a SageMaker run's streaming resumes)."""
    return _attached(RunStore(runs_dir).get(run_id))


def _attached(run: RunFolder) -> RunFolder:
    if run.backend_state.get("backend") == "sagemaker":
        from . import sagemaker

        sagemaker.attach(run)
    return run


def stop(run_id: str, runs_dir=None, wait: bool = True):
    """Ask a run to checkpoint and stop (or a sweep: its running trials checkpoint and stop)."""
    from .sweeps import find_sweep, is_sweep

    if is_sweep(run_id, runs_dir):
        return find_sweep(run_id, runs_dir).stop(wait=wait)
    return get_run(run_id, runs_dir).stop(wait=wait)


def resume(run_id: str, runs_dir=None, wait: bool = False, steps: int | None = None):
    """Continue a stopped or finished run from its last checkpoint (the step count goes on).

    steps: a new total step budget (e.g. more than the run had). Given a stopped sweep's id, the sweep goes on
    (``Sweep.resume``): its unfinished trials continue and the ones it had not started start.
    """
    from .sweeps import find_sweep, is_sweep

    if is_sweep(run_id, runs_dir):
        if steps is not None:
            raise ConfigError(f"steps: {run_id} is a sweep; its trials keep the budget it was started with "
                              "(resume one of its runs with a new budget instead)")
        return find_sweep(run_id, runs_dir).resume(wait=wait)
    run = get_run(run_id, runs_dir)
    if run.config.backend == "sagemaker":
        from . import sagemaker

        run = sagemaker.resume(run, steps)
    else:
        from .local import resume_run

        run = resume_run(run, steps)
    return run.wait() if wait else run


def fork(run_id: str, runs_dir=None, wait: bool = False, **changes) -> RunFolder:
    """Start a new run from a run's latest checkpoint with some settings changed: ``fork(run_id, lr=1e-4)``.

    The fork goes on from the checkpoint's steps, return window and curriculum, beside its parent in the
    run store, and records its parent and what changed (``run.forked_from``). steps: the whole budget (default:
    the parent's, or as many steps again once the parent has used it). Settings the checkpoint holds (the
    network's shape, the scene, the algorithm) cannot change.
    """
    from .forks import fork_run

    run = fork_run(get_run(run_id, runs_dir), **changes)
    return run.wait() if wait else run


def sweep(scene: str | None = None, *, config=None, trials: int | None = None, scheduler: str | None = None,
          metric: str | None = None, metric_mode: str | None = None, concurrent: int | None = None, runs_dir=None,
          wait: bool = False, **settings):
    """Start a sweep: ``trials`` runs of ``scene`` with settings drawn from search spaces, scheduled by Ray Tune.

        ut.sweep("Basic", lr="loguniform(1e-4, 3e-3)", num_epochs="choice(1, 2, 4)", trials=8, scheduler="asha")

    Each setting is a value or a search space as text (uniform, loguniform, quniform, qloguniform, randint,
    choice, grid). scheduler: asha (stops the worse trials early, over agent steps), median, fifo (all run
    their whole budget) or pbt (the worse trials go on as forks of the better ones' runs, settings perturbed).
    metric/metric_mode: what ranks the trials (default the mean return, higher is better).
    concurrent: trials at a time (default: as many as this machine's runtime has CPUs for). Each trial is an ordinary
    run in the run store; returns the ``Sweep`` (its folder lists them: ``.table()``, ``.best()``).
    config: a YAML file or dict of settings, as for ``train``; its ``sweep:`` section may hold these options and
    ``search:`` (each swept setting's space). What is given here wins over the section. Defaults: 4 trials, asha.
    """
    from .sweeps import make_plan, start_sweep

    plan = make_plan(scene, config=config, trials=trials, scheduler=scheduler, metric=metric, metric_mode=metric_mode,
                     concurrent=concurrent, **settings)
    check_can_start(plan.base)
    if plan.base.address:  # seconds, not every trial failing in turn
        from .local import check_address

        check_address(plan.base.address)
    found = start_sweep(plan, runs_dir)
    return found.wait() if wait else found


def warm_up(wait: bool = False) -> None:
    """Start Ray and a ready training process now, so the next run starts in seconds."""
    from .local import backend

    backend().warm_up(wait=wait)


class _CallableModule(types.ModuleType):
    """Lets ``unity_nb.train(...)`` start a run while ``unity_nb.train`` stays this package."""

    def __call__(self, *args, **kwargs) -> RunFolder:
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["train", "runs", "get_run", "stop", "resume", "fork", "sweep", "warm_up", "make_config", "TrainConfig", "ConfigError",
           "RunFolder", "RunStore", "RunNotFound"]
