"""A sweep's Tune driver: ``python -m unity_nb.trainer.sweep_driver SWEEP_DIR --address HOST:PORT``.

Started by ``train/sweeps.py`` on this machine's training runtime. It joins that runtime's Ray and runs
Ray Tune over the sweep's search spaces (for a sweep on a Ray cluster too: only the trials' runs join the
cluster). Each Tune trial is a small actor that starts an ordinary kit run through the runtime (as
``unity-nb train`` does), reports each of the run's iterations to Tune, and, when the scheduler stops the
trial, asks the run to checkpoint and stop. So the trials are runs like any
other, and the training itself happens in the runs' own processes, not in Tune's actors.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from ..errors import NotPossible, TimedOut
from ..train.schema import ACTIVE, SWEEP_TUNE as TUNE_DIR
from ..train.store import RunFolder, RunStore
from ..train.sweeps import CLUSTER_AUTH_ENV, Sweep, SweepPlan
from .driver import join_ray

POLL_S = 0.5  # how often a trial looks at its run's events, and the driver at the stop file
SETTLE_S = 300.0  # how long an ending sweep waits for its trials' runs to save and end


def trial(settings: dict, sweep_dir: str, plan: dict, runtime: str, cluster_auth: dict | None = None) -> None:
    """One Tune trial: an ordinary kit run with ``settings`` drawn, followed until it ends or Tune stops it.

    Under PBT a trial reports, with each iteration, a Tune checkpoint that names its run; a trial PBT restarts
    from another's checkpoint with perturbed settings becomes a *fork* of that run (``train/forks.py``)."""
    from ray import tune

    os.environ["UNITY_NB_RUNTIME_DIR"] = runtime  # Tune's actors are Ray's workers: the runtime is named to them

    from ..train import local
    from ..train.forks import fork_run
    from ..train.metrics import HEADLINE

    local.HOLD = False  # the sweep's driver holds the runtime; a trial's actor does not
    local.CLUSTER_AUTH = cluster_auth or {}  # a sweep on a Ray cluster: its runs join it as the session would

    sweep = Sweep(sweep_dir)
    spec = SweepPlan.from_dict(plan)
    trial_id = tune.get_context().get_trial_id()
    restored = tune.get_checkpoint()
    if restored is not None:  # PBT: this trial paused (its own run goes on), or moved onto a better trial's run
        with restored.as_directory() as folder:
            named = RunStore(sweep.path.parent).get(json.loads((Path(folder) / "run.json").read_text())["run"])
        if sweep.last_run_of(trial_id) == named.id and _same(named.config, settings):
            run = local.resume_run(named)
            sweep.record_trial(trial=trial_id, run=run.id, stopped_early=False)
        else:
            run = fork_run(named, **settings)
            sweep.record_trial(trial=trial_id, run=run.id, settings=settings, forked_from=named.id)
    elif (stopped := _resumable(sweep, trial_id)) is not None:  # a stopped sweep resumed: the trial's run goes on
        run = local.resume_run(stopped)
        sweep.record_trial(trial=trial_id, run=run.id, resumed=True)
    else:
        config = spec.base.replace(**settings).resolved()
        run = RunStore(sweep.path.parent).create(config)
        sweep.record_trial(trial=trial_id, run=run.id, settings=settings)
        local.backend().start(run, config)
    ended_by_tune = True
    steps_done = run.last().get("env_steps", 0)  # a resumed run's iterations up to here were reported before
    try:
        for event in run.follow(poll=POLL_S):
            if event.get("event") == "iteration" and event.get(spec.metric) is not None:
                if event["env_steps"] <= steps_done:
                    continue
                steps_done = event["env_steps"]
                metrics = {spec.metric: event[spec.metric], "env_steps": event["env_steps"],
                           HEADLINE: event.get(HEADLINE), "run": run.id}
                if spec.scheduler == "pbt" and run.latest_checkpoint() is not None:
                    _report_naming(metrics, run.id)
                else:
                    tune.report(metrics)
        ended_by_tune = False
    finally:  # Tune stopped the trial (its scheduler, or the whole sweep): the run checkpoints and stops
        # ...unless it has trained its budget (ASHA stops a trial at max_t): then it ends as finished on its own
        # (a stopped sweep stops its runs itself, and they are not stopped early: they go on when it resumes)
        if ended_by_tune and run.state in ACTIVE and steps_done < run.config.steps and not sweep.stop_asked:
            sweep.record_trial(trial=trial_id, run=run.id, stopped_early=True)
            run.stop(wait=False)
    if run.state == "failed":
        raise NotPossible(f"run {run.id} failed: {run.status.get('error')}")  # Tune marks the trial errored


def _resumable(sweep: Sweep, trial_id: str) -> RunFolder | None:
    """The run a trial had when its sweep was stopped, if it can go on (ended, with a checkpoint)."""
    run_id = sweep.last_run_of(trial_id)
    if run_id is None:
        return None
    run = RunStore(sweep.path.parent).get(run_id)
    return run if run.state not in ACTIVE and run.latest_checkpoint() is not None else None


def _same(config, settings: dict) -> bool:
    return all(getattr(config, name) == value for name, value in settings.items())


def _report_naming(metrics: dict, run_id: str) -> None:
    """Report ``metrics`` with a Tune checkpoint that only names the run (the run's own checkpoints hold the
    weights). Tune copies it into the sweep's folder before ``report`` returns, so the temporary one goes."""
    import tempfile

    from ray import tune

    with tempfile.TemporaryDirectory(prefix="unity-nb-pbt-") as folder:
        (Path(folder) / "run.json").write_text(json.dumps({"run": run_id}))
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def _scheduler(spec: SweepPlan):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, MedianStoppingRule, PopulationBasedTraining

    budget = spec.base.steps
    if spec.scheduler == "pbt":  # every eighth of the budget the worst quarter goes on from the best quarter
        return PopulationBasedTraining(time_attr="env_steps", perturbation_interval=max(1, budget // 8),
                                       hyperparam_mutations={n: s.to_tune() for n, s in spec.spaces.items()})
    if spec.scheduler == "asha":  # rungs in agent steps: the first at an eighth of the budget
        return ASHAScheduler(time_attr="env_steps", max_t=budget, grace_period=max(1, budget // 8),
                             reduction_factor=2)
    if spec.scheduler == "median":
        return MedianStoppingRule(time_attr="env_steps", grace_period=max(1, budget // 8), min_samples_required=2)
    return FIFOScheduler()


def _let_runs_end(sweep: Sweep, timeout: float = SETTLE_S) -> None:
    """Tune is done once its trials are; their runs may still be saving a checkpoint or their model. The sweep
    ends when they have, so a finished sweep's runs have all ended. A run asked to stop that finished its
    budget first is no longer counted as stopped early."""
    deadline = time.monotonic() + timeout
    runs = sweep.runs_by_id()
    for trial in sweep.trials():
        run = runs.get(trial["run"])
        if run is None:
            continue
        try:
            run.wait(max(1.0, deadline - time.monotonic()))
        except TimedOut:
            print(f"run {run.id} is still {run.state} as the sweep ends", file=sys.stderr, flush=True)
            continue
        if trial.get("stopped_early") and run.state == "finished":
            sweep.record_trial(trial=trial["trial"], run=run.id, stopped_early=False)


def run_sweep(sweep: Sweep, address: str, resume: bool = False) -> int:
    """Run (or, with ``resume``, go on with) the sweep's trials under Ray Tune until they end or the sweep is
    stopped. A stop interrupts Tune as Ctrl-C would, so its state is saved and ``resume`` picks up the trials
    that had not ended (Tune would count trials stopped by a ``Stopper`` as done)."""
    import ray
    from ray import tune

    from ..train import service

    spec = sweep.plan
    status = {"state": "running", "pid": os.getpid(), "created": sweep.status.get("created", time.time()),
              "plan": spec.describe()}
    if resume:
        status["resumed"] = time.time()
    sweep.write_status(status)
    join_ray(address)
    hold = service.Hold()  # the runtime stays up while the sweep lives, also between its trials

    # Tune's actor for a trial only waits on its run: its CPU is the run's (one process, one core)
    cluster_auth = json.loads(os.environ.get(CLUSTER_AUTH_ENV) or "null")
    trainable = tune.with_resources(tune.with_parameters(trial, sweep_dir=str(sweep.path), plan=spec.to_dict(),
                                                           runtime=os.environ["UNITY_NB_RUNTIME_DIR"],
                                                           cluster_auth=cluster_auth), {"cpu": 1})
    tune_dir = sweep.path / TUNE_DIR
    if resume and tune.Tuner.can_restore(str(tune_dir)):
        tuner = tune.Tuner.restore(str(tune_dir), trainable, resume_unfinished=True)
    else:  # a new sweep (or one stopped before Tune had saved anything)
        tuner = tune.Tuner(
            trainable,
            param_space={name: space.to_tune() for name, space in spec.spaces.items()},
            tune_config=tune.TuneConfig(metric=spec.metric, mode=spec.mode, num_samples=spec.trials,
                                        scheduler=_scheduler(spec), max_concurrent_trials=spec.concurrent),
            run_config=tune.RunConfig(name=TUNE_DIR, storage_path=str(sweep.path), verbose=0,
                                      # PBT's checkpoints only name a run (bytes each): all kept, as PBT may clone any
                                      checkpoint_config=tune.CheckpointConfig(num_to_keep=None)),
        )
    watch = threading.Thread(target=_interrupt_when_stopped, args=(sweep,), daemon=True)
    watch.start()
    try:
        try:
            tuner.fit()
        except KeyboardInterrupt:  # the stop came before Tune had taken Ctrl-C over
            pass
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a stop from here on is the file alone
        if sweep.stop_asked:  # the trials' actors are gone; their runs checkpoint and stop
            for run in sweep.runs():
                run.stop(wait=False)
        _let_runs_end(sweep)
    finally:
        hold.release()
    sweep.write_status({**status, "state": "stopped" if sweep.stop_asked else "finished", "ended": time.time()})
    ray.shutdown()
    return 0


def _interrupt_when_stopped(sweep: Sweep) -> None:
    """`Sweep.stop()` leaves a file; the driver interrupts its own Tune loop once it sees it."""
    while not sweep.stop_asked:
        time.sleep(POLL_S)
    os.kill(os.getpid(), signal.SIGINT)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run one unity-nb sweep with Ray Tune (started by unity_nb.sweep).")
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--address", required=True, help="the training runtime's Ray address")
    parser.add_argument("--resume", action="store_true", help="go on with a stopped sweep's unfinished trials")
    args = parser.parse_args(argv)
    try:
        return run_sweep(Sweep(args.sweep_dir), args.address, resume=args.resume)
    except BaseException as err:
        Sweep(args.sweep_dir).write_status({"state": "failed", "error": str(err) or repr(err), "ended": time.time()})
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main())
