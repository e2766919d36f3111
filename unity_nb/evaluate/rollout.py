"""Deterministic evaluation episodes of a trained policy (or one policy per behavior), with a table of returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..envs.gym_env import UnityVectorEnv
from ..envs.source import EnvSource
from .policy import SINGLE, Policy, load_policies


@dataclass
class Evaluation:
    """Returns of N deterministic episodes (as in the SageMaker walkthrough's evaluation table).

    A run with one policy per behavior has N episodes per behavior, in ``by_behavior``.
    """

    returns: list[float]
    lengths: list[int] = field(default_factory=list)
    by_behavior: dict[str, list[float]] = field(default_factory=dict)

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    def table(self) -> dict[str, float]:
        return _stats(self.returns)

    def rows(self) -> dict[str, dict[str, float]]:
        """One table per behavior (and ``all``) for a run with several; just ``all`` otherwise."""
        rows = {"all": self.table()}
        rows.update({b: _stats(r) for b, r in self.by_behavior.items()})
        return rows

    def _repr_html_(self) -> str:
        rows = self.rows()
        # a column per behavior (and "all") for a run with several; one unnamed column otherwise
        head = "<tr><th></th>" + "".join(f"<th>{name}</th>" for name in rows) + "</tr>" if len(rows) > 1 else ""
        body = ""
        for key in ("episodes", "mean", "min", "max", "std"):
            cells = "".join(f"<td>{t[key] if key == 'episodes' else f'{t[key]:.3f}'}</td>" for t in rows.values())
            body += f"<tr><th style='text-align:left'>{key}</th>{cells}</tr>"
        return f"<table class='unity-nb-evaluation'><caption>deterministic episodes: return</caption>{head}{body}</table>"

    def __repr__(self):
        parts = []
        for name, t in self.rows().items():
            label = "" if name == "all" else f"{name}: "
            parts.append(f"{label}{t['episodes']} episodes: mean {t['mean']:.3f}, min {t['min']:.3f}, "
                         f"max {t['max']:.3f}, std {t['std']:.3f}")
        return f"Evaluation({'; '.join(parts)})"


def _stats(returns) -> dict[str, float]:
    r = np.asarray(returns, dtype=float)
    return {"episodes": len(r), "mean": float(r.mean()), "min": float(r.min()), "max": float(r.max()),
            "std": float(r.std())}


def evaluate(checkpoint, scene: str, *, episodes: int = 100, mode: str = "inprocess", seed: int = 12345,
             num_areas: int = 1, params: dict | None = None, behavior: str | None = None,
             max_steps: int = 1_000_000, policies: dict[str, Policy] | None = None) -> Evaluation:
    """Play ``episodes`` episodes with the policy's greedy actions; every agent of the scene plays.

    A checkpoint with one policy per behavior plays every behavior with its own policy and
    gives ``episodes`` episodes of each. ``policies`` (instead of a checkpoint) plays policies
    being trained (the run's confirmation of a reached target).
    """
    if not isinstance(episodes, int) or isinstance(episodes, bool) or episodes < 1:
        raise ValueError(f"episodes must be a whole number >= 1, got {episodes!r}")
    if policies is None:
        policies = load_policies(checkpoint)
    source = EnvSource(scene, mode=mode, seed=seed, num_areas=num_areas, params=params)
    try:
        if set(policies) == {SINGLE}:
            env = UnityVectorEnv(source, behavior=behavior)
            return _play_one(env, policies[SINGLE], episodes, max_steps)
        from ..envs.behaviors_env import UnityBehaviorsEnv

        return _play_behaviors(UnityBehaviorsEnv(source), policies, episodes, max_steps)
    finally:
        source.close()


def _play_one(env: UnityVectorEnv, policy: Policy, episodes: int, max_steps: int) -> Evaluation:
    returns, lengths = [], []
    obs, info = env.reset()
    for _ in range(max_steps):
        obs, _, _, _, info = env.step(policy.act(obs, info.get("action_mask")))
        if "episode_return" in info:
            done = info["_episode_return"]
            returns += info["episode_return"][done].tolist()
            lengths += info["episode_length"][done].tolist()
        if len(returns) >= episodes:
            break
    return Evaluation(returns[:episodes], lengths[:episodes])


def joint_actions(policies: dict[str, Policy], obs: dict, infos: dict | None = None) -> dict:
    """Actions for a multi-agent observation dict: each behavior's agents, batched, through its own policy
    (``infos``: each agent's info, whose ``action_mask`` the policy honours)."""
    from ..envs.agents import behavior_of

    actions = {}
    for b, policy in policies.items():
        keys = [k for k in obs if behavior_of(k) == b]
        if not keys:
            continue
        first = obs[keys[0]]
        batch = (tuple(np.stack(part) for part in zip(*(obs[k] for k in keys))) if isinstance(first, tuple)
                 else np.stack([obs[k] for k in keys]))
        masks = [(infos or {}).get(k, {}).get("action_mask") for k in keys]
        given = next((m for m in masks if m is not None), None)
        # a finished agent's last observation comes without a mask: nothing it does reaches Unity
        mask = None if given is None else np.stack([np.ones_like(given) if m is None else m for m in masks])
        actions.update(zip(keys, policy.act(batch, mask)))
    return actions


def _play_behaviors(env, policies: dict[str, Policy], episodes: int, max_steps: int) -> Evaluation:
    """Every behavior acts with its own policy until each has finished ``episodes`` episodes."""
    from ..envs.agents import behavior_of

    missing = [b for b in env.specs if b not in policies]
    if missing:
        raise KeyError(f"the scene's behavior {missing[0]!r} has no trained policy (the run has {', '.join(policies)})")
    returns = {b: [] for b in env.specs}
    lengths: list[int] = []
    obs, infos = env.reset()
    for _ in range(max_steps):
        obs, _, _, truncated, infos = env.step(joint_actions(policies, obs, infos))
        for key, info in infos.items():
            if "episode_return" in info:
                returns[behavior_of(key)].append(float(info["episode_return"]))
                lengths.append(int(info["episode_length"]))
        if all(len(r) >= episodes for r in returns.values()):
            break
        if truncated.get("__all__"):
            obs, infos = env.reset()  # the wrapper's own episode cut; Unity's episodes carry on
    by_behavior = {b: r[:episodes] for b, r in returns.items()}
    return Evaluation([x for r in by_behavior.values() for x in r], lengths, by_behavior)
