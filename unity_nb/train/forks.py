"""A fork: a new run that goes on from another run's latest checkpoint with some settings changed.

"What if the learning rate were lower from here?" without starting over (Population-Based Training's step,
done by hand). The fork's folder records its parent, the checkpoint and the settings that changed
(``fork.json``); the checkpoint is copied in and the fork starts as a resumed run does, so its steps,
return window and curriculum go on from the parent's. Settings the checkpoint holds (the network's
shape, the scene, the algorithm: ``Rule.fixed``) cannot change, and are refused by name.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import NotPossible
from .config import ConfigError, TrainConfig
from .settings import fixed_settings, rules
from .store import RunFolder, RunStore


def fork_config(parent: RunFolder, checkpoint: Path, changes: dict) -> tuple[TrainConfig, dict]:
    """The settings of a fork of ``parent`` from ``checkpoint`` (the parent's with ``changes``), and what
    changed (name -> [parent's, fork's]).

    ``steps`` stays the run's whole budget (the step count goes on): by default the parent's, or as many
    steps again when the checkpoint has used it all."""
    from . import make_config

    base = parent.config.resolved()  # a run made before a setting existed trained with its default
    known = rules(TrainConfig)
    if not any(v is not None for v in changes.values()):
        raise ConfigError(f"fork: nothing to change: give the settings the fork should change, e.g. lr=1e-4 "
                          f"(--lr 1e-4); to go on with the same settings, resume run {parent.id}")
    unknown = sorted(k for k in changes if k not in known)
    if unknown:
        raise ConfigError(f"fork: {', '.join(unknown)}: not a setting (see `unity-nb train --help`)")
    fixed_why = fixed_settings(TrainConfig)
    refused = {k: fixed_why[k] for k, v in changes.items()
               if v is not None and k in fixed_why and v != getattr(base, k)}
    if refused:
        reasons = "; ".join(f"{k} ({why})" for k, why in refused.items())
        raise ConfigError(f"fork: {reasons}: cannot change in a fork. Start a new run "
                          f"instead (init_path={str(parent.path)!r} starts it from this run's weights where the "
                          "network fits)")
    at = RunFolder.progress(checkpoint).get("env_steps", 0)
    steps = changes.get("steps")
    if steps is None:
        steps = base.steps if base.steps > at else at + base.steps
    elif isinstance(steps, int) and not isinstance(steps, bool) and steps <= at:
        raise ConfigError(f"fork: steps {steps:,} is the whole budget and run {parent.id}'s checkpoint is already at "
                          f"{at:,} steps: give more than {at:,} (e.g. {at + base.steps:,})")
    # the parent's init_path said where the parent started; the fork starts from the parent's checkpoint
    start = dataclasses.replace(base, init_path=None)
    config = make_config(start, **{**changes, "steps": steps})
    changed = {name: [getattr(base, name), getattr(config, name)] for name in known
               if name != "init_path" and getattr(base, name) != getattr(config, name)}
    return config, changed


def changes_text(fork: dict) -> str:
    """What a fork changed (its ``forked_from`` record), as "lr 0.001 -> 0.0001, steps 20000 -> 40000"."""
    def shown(value) -> str:  # a drawn rate reads 0.001322, not 0.0013224977240518466
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    return ", ".join(f"{k} {shown(old)} -> {shown(new)}" for k, (old, new) in fork.get("changed", {}).items()) \
        or "nothing"


def latest_checkpoint(parent: RunFolder) -> Path:
    """The checkpoint a fork of ``parent`` goes on from, or why there is none."""
    if parent.config.backend == "sagemaker":
        raise NotPossible(f"run {parent.id} trained on SageMaker: forking a SageMaker run is not supported yet (its "
                          "checkpoints live in the job's S3 prefix). Resume it with more steps, or start a new run "
                          f"here from its weights with init_path={str(parent.path)!r}")
    checkpoint = parent.latest_checkpoint()
    if checkpoint is None:
        raise NotPossible(f"run {parent.id} has no checkpoint to fork from yet: wait for its first one (every "
                          f"{parent.config.checkpoint_every} iterations), or stop it (it saves one first)")
    return checkpoint


def fork_run(parent: RunFolder, **changes) -> RunFolder:
    """Start a fork of ``parent`` with ``changes`` (settings by name), beside it in its run store."""
    from . import check_can_start
    from .local import backend

    checkpoint = latest_checkpoint(parent)
    config, changed = fork_config(parent, checkpoint, changes)
    check_can_start(config)
    run = RunStore(parent.path.parent).create_fork(parent, checkpoint, config, changed)
    return backend().start(run, config, resume=True)
