"""Deterministic evaluation episodes of a trained policy, with a table of returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..envs.gym_env import UnityVectorEnv
from ..envs.source import EnvSource
from .policy import Policy


@dataclass
class Evaluation:
    """Returns of N deterministic episodes (as in the SageMaker walkthrough's evaluation table)."""

    returns: list[float]
    lengths: list[int] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    def table(self) -> dict[str, float]:
        r = np.asarray(self.returns)
        return {"episodes": len(r), "mean": float(r.mean()), "min": float(r.min()), "max": float(r.max()),
                "std": float(r.std())}

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{v if k == 'episodes' else f'{v:.3f}'}</td></tr>"
                       for k, v in self.table().items())
        return f"<table class='unity-nb-evaluation'><caption>deterministic episodes: return</caption>{rows}</table>"

    def __repr__(self):
        t = self.table()
        return (f"Evaluation({t['episodes']} episodes: mean {t['mean']:.3f}, min {t['min']:.3f}, "
                f"max {t['max']:.3f}, std {t['std']:.3f})")


def evaluate(checkpoint, scene: str, *, episodes: int = 100, mode: str = "inprocess", seed: int = 12345,
             num_areas: int = 1, params: dict | None = None, behavior: str | None = None,
             max_steps: int = 1_000_000) -> Evaluation:
    """Play ``episodes`` episodes with the policy's greedy actions; every agent of the scene plays."""
    if not isinstance(episodes, int) or isinstance(episodes, bool) or episodes < 1:
        raise ValueError(f"episodes must be a whole number >= 1, got {episodes!r}")
    policy = Policy(checkpoint)
    env = UnityVectorEnv(EnvSource(scene, mode=mode, seed=seed, num_areas=num_areas, params=params), behavior=behavior)
    returns, lengths = [], []
    try:
        obs, _ = env.reset()
        for _ in range(max_steps):
            obs, _, _, _, info = env.step(policy.act(obs))
            if "episode_return" in info:
                done = info["_episode_return"]
                returns += info["episode_return"][done].tolist()
                lengths += info["episode_length"][done].tolist()
            if len(returns) >= episodes:
                break
    finally:
        env.close()
    return Evaluation(returns[:episodes], lengths[:episodes])
