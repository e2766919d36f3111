"""Deploying a trained run: an ONNX file Unity loads, checked, and served from an endpoint.

    exported = run.export()          # RUN/export/<behavior>.onnx, checked; prints the contract table
    endpoint = run.deploy()          # a local endpoint (SageMaker's inference contract) on 127.0.0.1
    endpoint.invoke([[...]])         # actions for observations
    endpoint.stop()

``export_run`` writes one file per behavior, reads each back as Unity's model loader
would (names, shapes, constants, opset against the scene's behavior spec), and plays
the scene to compare the file's deterministic actions with the trained policy's on
real observations. ``RemotePolicy`` plays a scene with actions fetched over HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..envs.teams import split_team
from ..errors import NotPossible
from .export import Contract, NotExportable

VERIFY_OBSERVATIONS = 1000  # observations from real rollouts the file must agree on (and as many random ones)


@dataclass
class BehaviorExport:
    """One behavior's exported file and what its checks found."""

    behavior: str
    path: Path
    report: object  # contract.ContractReport
    observations: int  # observations the file and the trained policy were compared on
    mismatches: int  # of those, how many got different deterministic actions
    max_difference: float  # largest difference of continuous actions (0 for discrete)

    @property
    def ok(self) -> bool:
        return self.report.ok and self.mismatches == 0


@dataclass
class Exported:
    """A run's exported policies (``files`` per behavior); ``str()`` is the contract table."""

    run_id: str
    behaviors: list[BehaviorExport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(b.ok for b in self.behaviors)

    @property
    def files(self) -> dict[str, Path]:
        return {b.behavior: b.path for b in self.behaviors}

    def __str__(self):
        parts = []
        for b in self.behaviors:
            same = (f"same deterministic actions as the trained policy on {b.observations} observations"
                    if b.mismatches == 0 else
                    f"DIFFERENT actions from the trained policy on {b.mismatches} of {b.observations} observations")
            parts.append(f"{b.behavior}: {b.path}\n{b.report}\n{same}"
                         + (f" (largest continuous difference {b.max_difference:.2g})" if b.max_difference else ""))
        return "\n\n".join(parts)

    def __repr__(self):
        return f"Exported({self.run_id!r}, {', '.join(str(p) for p in self.files.values())}, ok={self.ok})"

    def _repr_html_(self):
        return "".join(f"<h4>{b.behavior}: <code>{b.path}</code></h4>{b.report._repr_html_()}"
                       f"<p>compared with the trained policy on {b.observations} observations: "
                       f"{'same deterministic actions' if b.mismatches == 0 else f'{b.mismatches} differ'}</p>"
                       for b in self.behaviors)


def contract_of_spec(spec) -> Contract:
    """What Unity's Behavior Parameters need from a model: an mlagents ``BehaviorSpec``'s contract."""
    return Contract(tuple(tuple(o.shape) for o in spec.observation_specs), int(spec.action_spec.continuous_size),
                    tuple(int(b) for b in spec.action_spec.discrete_branches))


class _Enough(Exception):
    """Every recorder has seen enough observations: the rollout can end."""


class _Recorder:
    """A policy that keeps every batch it is asked to act on, with its masks (to replay them through the file)."""

    def __init__(self, policy, at_least: int, everyone: dict):
        self.policy, self.seen, self.count, self.at_least, self.everyone = policy, [], 0, at_least, everyone

    def act(self, observations, action_mask=None):
        parts = [np.asarray(p) for p in observations] if isinstance(observations, tuple) else [
            np.asarray(observations, dtype=np.float32)]
        self.seen.append((parts, None if action_mask is None else np.asarray(action_mask, np.float32)))
        self.count += len(parts[0])
        if all(r.count >= r.at_least for r in self.everyone.values()):
            raise _Enough
        return self.policy.act(observations, action_mask)

    def batch(self) -> "_Batch":
        parts = [np.concatenate([seen[0][k] for seen in self.seen]) for k in range(len(self.seen[0][0]))]
        masks = [m for _, m in self.seen]
        given = next((m for m in masks if m is not None), None)
        mask = None if given is None else np.concatenate([
            np.ones((len(p[0]), given.shape[1]), np.float32) if m is None else m for (p, _), m in zip(self.seen, masks)])
        return _Batch(parts, mask)


@dataclass
class _Batch:
    """Observations of one behavior, one array per sensor (cameras uint8, channels last), and their masks."""

    parts: list[np.ndarray]
    mask: np.ndarray | None

    def __len__(self):
        return len(self.parts[0])

    def rows(self, start: int, stop: int) -> "_Batch":
        return _Batch([p[start:stop] for p in self.parts], None if self.mask is None else self.mask[start:stop])

    def for_policy(self):
        """As the trained policy takes them (a tuple for several sensors)."""
        return self.parts[0] if len(self.parts) == 1 else tuple(self.parts)

    def for_file(self) -> list[np.ndarray]:
        """As the exported file takes them: float32, cameras channels first with values in [0, 1]."""
        return [np.transpose(p, (0, 3, 1, 2)).astype(np.float32) / 255.0 if p.ndim == 4 else p.astype(np.float32)
                for p in self.parts]

    def noise(self, count: int, rng) -> "_Batch":
        """``count`` random observations around these (random pixels for cameras), with masks drawn from these."""
        parts = []
        for p in self.parts:
            if p.ndim == 4:
                parts.append(rng.integers(0, 256, size=(count, *p.shape[1:]), dtype=np.uint8))
            else:
                scale = np.maximum(p.std(axis=0), 1.0)
                parts.append((rng.normal(size=(count, *p.shape[1:])) * 2 * scale + p.mean(axis=0)).astype(np.float32))
        mask = None if self.mask is None else self.mask[rng.integers(0, len(self.mask), size=count)]
        return _Batch(parts, mask)

    @staticmethod
    def join(a: "_Batch", b: "_Batch") -> "_Batch":
        mask = None if a.mask is None else np.concatenate([a.mask, b.mask])
        return _Batch([np.concatenate([x, y]) for x, y in zip(a.parts, b.parts)], mask)


def _rollout_observations(policies: dict, run, at_least: int) -> dict[str, _Batch]:
    """Observations met by the trained policies playing the run's scene (each behavior its own)."""
    from ..evaluate.rollout import evaluate

    config = run.config
    recorders: dict[str, _Recorder] = {}
    recorders.update({m: _Recorder(p, at_least, recorders) for m, p in policies.items()})
    try:  # as many episodes as it takes (the recorders end it)
        evaluate(None, config.scene, episodes=1_000_000, policies=recorders, num_areas=config.num_areas,
                 seed=777, max_steps=100_000, **config.playback())
    except _Enough:
        pass
    return {m: r.batch() for m, r in recorders.items()}


def _compare(path: Path, policy, observations: _Batch) -> tuple[int, float]:
    """Deterministic actions of the file vs the trained policy: (mismatches, largest continuous difference)."""
    from .handler import PolicyHandler

    handler = PolicyHandler(path)
    mismatches, worst = 0, 0.0
    for start in range(0, len(observations), 512):
        batch = observations.rows(start, start + 512)
        n = len(batch)
        got = handler.act(batch.for_file(), batch.mask)
        want = np.asarray(policy.act(batch.for_policy(), batch.mask))
        if handler.discrete:
            mismatches += int((got.reshape(n, -1) != want.reshape(n, -1)).any(axis=1).sum())
        else:
            diff = np.abs(got - want.reshape(got.shape)).max(axis=1)
            worst = max(worst, float(diff.max()))
            mismatches += int((diff > 1e-4).sum())
    return mismatches, worst


def export_run(run, verify: int = VERIFY_OBSERVATIONS) -> Exported:
    """Export every policy of ``run``'s latest checkpoint to ``RUN/export/<behavior>.onnx`` and check each."""
    from ..envs.source import EnvSource
    from ..evaluate.policy import SINGLE, load_policies
    from .contract import check_contract
    from .export import export_policy

    checkpoint = run.latest_checkpoint()
    if checkpoint is None:
        raise NotPossible(f"run {run.id} has no checkpoint yet: wait for its first one (or for the end)")
    config = run.config
    if config.algorithm not in ("PPO", "APPO", "IMPALA", "SAC", "DQN"):
        raise NotExportable(f"{config.algorithm}: policies of your own algorithm are not exported (the kit knows how "
                            "PPO, APPO, IMPALA and SAC policies map to Unity's model contract)")
    if config.algorithm == "DQN":
        raise NotExportable("DQN learns Q-values, not a policy head with action logits: Unity's model contract "
                            "has no place for them yet (export a PPO run)")
    policies = load_policies(checkpoint)
    playback = config.playback()
    source = EnvSource(config.scene, mode=playback["mode"], seed=0, params=playback["params"])
    try:
        source.call("reset")
        specs = dict(source.base.behavior_specs)
    finally:
        source.close()
    observed = _rollout_observations(policies, run, verify)
    rng = np.random.default_rng(0)
    exported = Exported(run.id)
    for key, policy in policies.items():  # a behavior, or the one policy of the run
        behavior = key if key != SINGLE else (config.behavior or next(iter(specs)))
        # a self-play run's one policy (Pong) plays every team of its game: any team's spec is the game's
        expected = contract_of_spec(specs.get(behavior) or next(s for b, s in specs.items() if split_team(b)[0] == behavior))
        path = run.export_path(behavior)
        export_policy(policy, path)
        report = check_contract(path, expected)
        real = observed[key].rows(0, max(verify, 1))
        both = _Batch.join(real, real.noise(verify, rng))
        mismatches, worst = _compare(path, policy, both)
        exported.behaviors.append(BehaviorExport(behavior, path, report, len(both), mismatches, worst))
    return exported


class RemotePolicy:
    """Acts like a trained ``Policy`` by asking an endpoint: plays a scene through HTTP."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.requests = 0

    def act(self, observations, action_mask=None):
        self.requests += 1
        parts = [np.asarray(p) for p in observations] if isinstance(observations, tuple) else [
            np.asarray(observations, dtype=np.float32)]
        sent = _Batch(parts, None).for_file()  # cameras channels first in [0, 1], as the exported file takes them
        actions = np.asarray(self.endpoint.invoke(sent[0] if len(sent) == 1 else sent, action_mask))
        if actions.dtype.kind in "iu" and actions.shape[1] == 1:
            return actions[:, 0]  # one branch: an index per agent, as a Discrete space wants
        return actions


__all__ = ["export_run", "Exported", "BehaviorExport", "RemotePolicy", "NotExportable", "Contract",
           "contract_of_spec"]
