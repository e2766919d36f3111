"""Trained policies acting deterministically: from a run's checkpoint (no Ray runtime needed) or live in training.

A run that trained one policy per behavior has one module per behavior; a run that
normalised its observations carries the running mean/std in its checkpoint, and
every observation is normalised with them exactly as in training.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import gymnasium as gym
import numpy as np

from ..envs.spaces import ACTION_MASK, CONTINUOUS_CLIP, OBSERVATIONS, policy_to_unity
from ..envs.teams import GHOST, split_team
from ..errors import MissingFile, NotFound, NotSupported

SINGLE = "default_policy"  # RLlib's module id when one policy serves every agent
_NOT_IN_IDS = set('<>:"/\\|?*%')  # what RLlib refuses in a module id (a folder name), and the escape itself


def module_id(behavior: str) -> str:
    """RLlib's id of a behavior's module: the behavior's name with what RLlib refuses in ids (Unity's team
    suffix, ``Pong?team=0``, has a ``?``) percent-escaped (``Pong%3Fteam=0``), so a checkpoint's folders give
    the names back (:func:`behavior_of_module`)."""
    out = "".join(f"%{ord(c):02X}" if c in _NOT_IN_IDS else c for c in behavior)
    return out[:-1] + f"%{ord(out[-1]):02X}" if out[-1:] in (" ", ".") else out


def behavior_of_module(module: str) -> str:
    """The behavior a module id names (:func:`module_id` undone); ``default_policy`` stays itself."""
    return unquote(module)


def module_for(behavior: str, modules) -> str:
    """Which of ``modules`` (ids) plays ``behavior``: its own, else its game's (a self-play run trains one policy
    for every team of a game: ``Pong`` plays ``Pong?team=0`` and ``Pong?team=1``)."""
    own = module_id(behavior)
    if own in modules:
        return own
    game = module_id(split_team(behavior)[0])
    return game if game in modules else own


def for_behaviors(policies: dict, behaviors) -> dict:
    """Each of ``behaviors`` with the policy that plays it: its own, or its game's (a self-play run has one policy,
    ``Pong``, for every team); a behavior with neither is left out."""
    out = {}
    for b in behaviors:
        game = split_team(b)[0]
        if b in policies or game in policies:
            out[b] = policies[b] if b in policies else policies[game]
    return out


class Policy:
    """One trained policy; ``act`` maps a batch of observations to the actions Unity gets.

    ``Policy(checkpoint)`` loads a checkpoint folder (``run.latest_checkpoint()``); ``behavior``
    picks one policy of a run that trained one per behavior.
    """

    def __init__(self, checkpoint: str | Path, behavior: str | None = None):
        loaded = load_policies(checkpoint, [behavior or SINGLE])[behavior or SINGLE]
        self._setup(loaded.module, loaded.normalizer)

    @classmethod
    def from_module(cls, module, normalizer=None) -> "Policy":
        """A policy around an RLModule (and RLlib's MeanStdFilter with the training statistics, or None)."""
        policy = cls.__new__(cls)
        policy._setup(module, normalizer)
        return policy

    def _setup(self, module, normalizer) -> None:
        import torch

        self.module = module
        self.normalizer = normalizer
        self._torch = torch
        self._dist = module.get_inference_action_dist_cls()
        # the kit's camera/mask networks take each decision's mask beside the observations
        space = module.observation_space
        self.masked = isinstance(space, gym.spaces.Dict) and ACTION_MASK in space.spaces
        self._mask_size = space[ACTION_MASK].shape[0] if self.masked else 0
        # an unbounded Gaussian (PPO and kin) acts through ML-Agents' clamp(x, -3, 3) / 3, as in training;
        # a squashed one (SAC) is already within the bounds
        self._raw_gaussian = self._dist.__name__ == "TorchDiagGaussian"

    def act(self, observations, action_mask: np.ndarray | None = None,
            sampled: bool | np.ndarray = False) -> np.ndarray:
        """Actions for a batch of observations (a tuple of batches for several sensors): the greedy ones,
        or with ``sampled`` a draw from the policy's distribution (torch's random numbers); ``sampled`` may
        also be one flag per agent (a draw for those flagged, the greedy action for the others).

        ``action_mask``: the allowed actions of each agent (1 = allowed, as ``info["action_mask"]``);
        a masked action is never chosen. None: every action allowed.
        """
        torch = self._torch
        obs = self._inputs(observations, action_mask)
        with torch.no_grad():
            out = self.module.forward_inference({"obs": obs})
            dist = self._dist.from_logits(out["action_dist_inputs"])
            if isinstance(sampled, np.ndarray):  # per agent: a draw where True, the greedy action elsewhere
                drawn, greedy = dist.sample().cpu().numpy(), dist.to_deterministic().sample().cpu().numpy()
                actions = np.where(sampled.reshape((-1,) + (1,) * (greedy.ndim - 1)), drawn, greedy)
            else:
                actions = (dist.sample() if sampled else dist.to_deterministic().sample()).cpu().numpy()
        return policy_to_unity(self.module.action_space, actions) if self._raw_gaussian else actions

    def look(self, observations, action_mask: np.ndarray | None = None) -> "Look":
        """What the policy thinks of a batch of observations: its value estimate of each (None when the module
        has no value function, e.g. a run's BC-only or user module) and its action distribution, as Unity
        would act on it (a discrete branch's probabilities; a continuous action's mean and spread after
        ML-Agents' ``clamp(x, -3, 3) / 3``)."""
        torch = self._torch
        obs = self._inputs(observations, action_mask)
        with torch.no_grad():
            inputs = self.module.forward_inference({"obs": obs})["action_dist_inputs"]
            value = None
            if hasattr(self.module, "compute_values"):
                try:
                    value = self.module.compute_values({"obs": obs}).reshape(-1).cpu().numpy()
                except Exception:  # a module whose critic needs more than observations (POCA's group critic)
                    value = None
        inputs = inputs.cpu().numpy()
        space = self.module.action_space
        if isinstance(space, gym.spaces.Box):
            mean, log_std = np.split(inputs, 2, axis=1)
            std = np.exp(log_std)
            if self._raw_gaussian:  # Unity's units: the clamp then /3 (the spread scaled the same way)
                mean, std = np.clip(mean, -CONTINUOUS_CLIP, CONTINUOUS_CLIP) / CONTINUOUS_CLIP, std / CONTINUOUS_CLIP
            else:  # a squashed Gaussian (SAC): its mean as it acts
                mean = np.tanh(mean)
            return Look(value=value, mean=mean, std=std)
        sizes = [int(space.n)] if isinstance(space, gym.spaces.Discrete) else [int(n) for n in space.nvec]
        probs, at = [], 0
        for n in sizes:
            logits = inputs[:, at:at + n]
            at += n
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            probs.append(e / e.sum(axis=1, keepdims=True))
        return Look(value=value, probs=probs)

    def _inputs(self, observations, action_mask):
        """A batch as the module takes it: tensors, normalised as in training, with the mask if it has one."""
        torch = self._torch
        if isinstance(observations, (tuple, list)):  # several sensors: cameras stay uint8
            obs = tuple(torch.as_tensor(np.asarray(o)) for o in observations)
            batch = len(observations[0])
        else:
            obs = np.asarray(observations, dtype=np.float32)
            if self.normalizer is not None:
                obs = np.asarray(self.normalizer(obs, update=False), dtype=np.float32)
            batch, obs = len(obs), torch.as_tensor(obs)
        if self.masked:
            mask = np.ones((batch, self._mask_size), np.float32) if action_mask is None else action_mask
            obs = {OBSERVATIONS: obs, ACTION_MASK: torch.as_tensor(np.asarray(mask, dtype=np.float32))}
        return obs


@dataclass
class Look:
    """A policy's view of a batch of agents (:meth:`Policy.look`): ``value`` (n,) or None; for discrete actions
    ``probs``, one (n, branch size) array per branch; for continuous ones ``mean`` and ``std`` (n, size), in the
    units Unity gets (-1..1)."""

    value: np.ndarray | None
    probs: list[np.ndarray] | None = None
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    def row(self, i: int) -> "Look":
        """Agent ``i`` alone (batch of one)."""
        pick = lambda a: None if a is None else a[i:i + 1]  # noqa: E731
        return Look(value=pick(self.value), probs=None if self.probs is None else [p[i:i + 1] for p in self.probs],
                    mean=pick(self.mean), std=pick(self.std))


def load_policies(checkpoint: str | Path, behaviors: list[str] | None = None) -> dict[str, Policy]:
    """Every policy of a checkpoint (or those of ``behaviors``), keyed by behavior name (``default_policy``
    for a run with one policy)."""
    import logging

    from ray.rllib.core.rl_module.rl_module import RLModule

    # RLlib warns about its own deprecated internals when loading a module; not the user's concern
    logging.getLogger("ray._common.deprecation").setLevel(logging.ERROR)
    checkpoint = Path(checkpoint).resolve()  # RLlib reads it through pyarrow, which needs an absolute path
    modules_dir = checkpoint / "learner_group" / "learner" / "rl_module"
    if not modules_dir.is_dir():
        raise MissingFile(f"{checkpoint} is not a unity-nb/RLlib checkpoint (no {modules_dir.relative_to(checkpoint)})")
    held = sorted(p.name for p in modules_dir.iterdir() if p.is_dir())
    found = [behavior_of_module(m) for m in held]
    # a self-play run's ghosts play its opponents with snapshots: not a policy of the run
    wanted = [b for b in found if not b.endswith(GHOST)] if behaviors is None else behaviors
    missing = [b for b in wanted if module_for(b, held) not in held]
    if missing:
        raise NotFound(f"{checkpoint.name} has no policy {missing[0]!r}; it has {', '.join(found)}")
    normalizers = _normalizers(checkpoint)
    policies = {}
    for behavior in wanted:
        module = RLModule.from_checkpoint(str(modules_dir / module_for(behavior, held)))
        module.eval()
        policies[behavior] = Policy.from_module(module, _normalizer_of(normalizers, behavior))
    return policies


def snapshot_policy(checkpoint: str | Path, slot: int) -> tuple[Policy, dict]:
    """A self-play run's snapshot ``slot`` (of its window) as a policy, with what it was: (policy,
    {"slot", "elo", "env_steps"}). The ghost module's network with the snapshot's weights."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    from ..train.self_play import SNAPSHOTS

    checkpoint = Path(checkpoint).resolve()
    path = checkpoint / SNAPSHOTS
    if not path.exists():
        raise NotFound(f"{checkpoint.name} has no self-play snapshots ({SNAPSHOTS}): only a run trained with "
                       "self_play plays against its snapshots; use opponent='scripted'")
    with open(path, "rb") as f:
        snapshots = pickle.load(f)
    if len(snapshots) != 1:
        raise NotSupported(f"snapshots as opponents are played for a game whose teams share one name; this run "
                           f"has {', '.join(snapshots)}")
    (game, ring), = snapshots.items()
    if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot < len(ring):
        raise NotFound(f"snapshot {slot!r}: the run's window holds snapshots 0 to {len(ring) - 1} "
                       + ", ".join(f"({i}: {s['env_steps']:,} steps, ELO {s['elo']:.1f})" for i, s in enumerate(ring)))
    module = RLModule.from_checkpoint(str(checkpoint / "learner_group" / "learner" / "rl_module" / module_id(game + GHOST)))
    module.set_state(ring[slot]["weights"])
    module.eval()
    return Policy.from_module(module, _normalizer_of(_normalizers(checkpoint), game)), {"slot": slot, "elo": ring[slot]["elo"],
                                                    "env_steps": ring[slot]["env_steps"]}


def live_policies(algo, behaviors: list[str] | None = None) -> dict[str, Policy]:
    """The policies of an algorithm being trained (current weights and normalisation), for a check mid-run.

    behaviors: those of a run with one policy per behavior (default: its single policy).
    """
    state = algo.env_runner.get_state(components="env_to_module_connector").get("env_to_module_connector", {})
    normalizers = _filters_from_state(state.get("MeanStdFilter"))
    held = set(algo.env_runner.module.keys()) if behaviors else {SINGLE}
    return {b: Policy.from_module(algo.get_module(module_for(b, held)), _normalizer_of(normalizers, b))
            for b in (behaviors or [SINGLE])}


def _normalizers(checkpoint: Path) -> dict:
    path = checkpoint / "env_runner" / "env_to_module_connector" / "MeanStdFilter" / "state.pkl"
    if not path.exists():
        return {}
    with open(path, "rb") as f:
        return _filters_from_state(pickle.load(f))


def _normalizer_of(normalizers: dict, behavior: str):
    """The statistics a policy's observations are normalised with: its behavior's, or the one policy's."""
    if not normalizers:
        return None
    if behavior in normalizers:
        return normalizers[behavior]
    if split_team(behavior)[0] in normalizers:  # self-play: one policy, one set of statistics, for every team
        return normalizers[split_team(behavior)[0]]
    if len(normalizers) == 1:
        return next(iter(normalizers.values()))
    raise NotFound(f"the run normalised observations per behavior ({', '.join(map(str, normalizers))}), "
                   f"but has no statistics for policy {behavior!r}")


def _filters_from_state(state) -> dict:
    """RLlib's MeanStdFilter holding the saved running statistics, keyed as saved: None (one policy) or each
    behavior (trainer/normalize.py). Empty: the run did not normalise."""
    if not state:
        return {}
    from ray.rllib.utils.filter import MeanStdFilter, RunningStat

    filters = {}
    for key, saved in state.items():
        stats = [RunningStat.from_state(s) for s in saved["running_stats"]]
        if len(stats) != 1:
            raise NotSupported("normalised observations with several parts (dict spaces) are not supported")
        flt = MeanStdFilter(tuple(saved["shape"]), demean=saved["de_mean_to_zero"], destd=saved["de_std_to_one"],
                            clip=saved["clip_by_value"])
        flt.running_stats = stats[0]
        filters[key] = flt
    return filters
