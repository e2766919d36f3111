"""One episode kept whole, to step through (``unity_nb.notebook.Scrubber``): a policy's play of a scene with
its frames and what it thought at each step, or an episode of a ``.demo`` with what a policy thinks of it.

Both are the ``Episode`` a demonstration's learner sees (``unity_nb.envs.demo.Episode``): each step's
observations, the action taken and the reward that followed, plus ``frames``, ``values`` and ``looks``.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import numpy as np

from ..envs.demo import Demonstration, Episode, load_demo
from ..errors import BadValue, NotFound
from .policy import Look, Policy

MAX_STEPS = 2000  # a replay longer than this is cut (its frames are kept in memory, and sent to the browser)


def replay(checkpoint, scene: str, *, seed: int = 12345, sampled: bool = False, max_steps: int = 500,
           mode: str = "inprocess", params: dict | None = None, behavior: str | None = None) -> Episode:
    """Play one episode of ``scene`` and keep every step of its first agent: the frame the decision was made on,
    the observations, the action, the reward that followed, and (with a checkpoint) the policy's value
    estimate and action distribution.

    checkpoint: a run's checkpoint folder, or None for random actions. sampled: draw actions from the policy
    instead of taking its most likely one. max_steps: stop there if the episode has not ended (at most
    MAX_STEPS). The other agents of the scene play too (the frame shows them all).
    """
    from .video import decisions, open_playback

    if not isinstance(max_steps, (int, np.integer)) or isinstance(max_steps, bool) or not 1 <= max_steps <= MAX_STEPS:
        raise BadValue(f"max_steps must be a whole number from 1 to {MAX_STEPS}, got {max_steps!r}")
    if not isinstance(sampled, bool):
        raise BadValue(f"sampled must be True or False, got {sampled!r}")
    env, act, rows = open_playback(checkpoint, scene, mode=mode, seed=seed, params=params, behavior=behavior,
                                   sampled=sampled)
    frames, observations, actions, rewards, looks, done = [], [], [], [], [], False
    with closing(decisions(env, act, seed)) as played:
        for _, d in zip(range(max_steps), played):
            frames.append(d.frame)
            key, observation, action, reward = _first(env, d)
            observations.append(observation)
            actions.append(np.atleast_1d(np.asarray(action)))
            rewards.append(float(reward))
            if rows is not None:
                seen = rows(d.obs, d.info, d.actions)
                mine = [look for label, look, _ in seen if label == key]
                looks.append(mine[0] if mine else seen[0][1])  # a vector env's row 0 (labels are not keys)
            if d.ended:
                done = True
                break
    return _episode(observations, actions, rewards, done, frames, looks or None)


def inspect(episode: Episode, policy: Policy | None) -> Episode:
    """The same episode with what ``policy`` thinks of each of its steps (``values`` and ``looks``): how a trained
    agent judges a demonstration."""
    if policy is None:
        return episode
    obs = episode.observations
    batch = obs[0] if len(obs) == 1 else tuple(obs)
    look = policy.look(batch)
    episode.values = look.value
    episode.looks = [look.row(i) for i in range(episode.steps)]
    return episode


def from_demo(demo: str | Path | Demonstration, index: int = 0, policy: Policy | None = None) -> Episode:
    """Episode ``index`` of a ``.demo`` file (or folder, or a loaded Demonstration), with what ``policy`` thinks of
    each step when given. A demonstration of a camera scene shows its first camera as the frames."""
    demo = demo if isinstance(demo, Demonstration) else load_demo(demo)
    episodes = demo.episodes()
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -len(episodes) <= index < len(episodes):
        raise NotFound(f"episode {index!r}: {demo.files[0].name} has {len(episodes)} episode(s), 0 to {len(episodes) - 1}")
    episode = episodes[index]
    cameras = [o for o in episode.observations if o.ndim == 4]
    if cameras:
        episode.frames = [_camera_rgb(frame) for frame in cameras[0]]
    return inspect(episode, policy)


def table(episode: Episode):
    """The episode as a pandas DataFrame, a row per step: the action, the reward, the return so far, and with a
    policy its value estimate and the probability (or mean) of what it did."""
    import pandas as pd

    actions = episode.actions
    data = {"step": np.arange(episode.steps), "action": [a.tolist() for a in actions],
            "reward": episode.rewards, "return": np.cumsum(episode.rewards)}
    if episode.values is not None:
        data["value"] = episode.values
    if episode.looks is not None and episode.looks[0].probs is not None:
        data["probability"] = [float(np.prod([p[0][int(a)] for p, a in zip(look.probs, act)]))
                               for look, act in zip(episode.looks, episode.discrete)]
    return pd.DataFrame(data).set_index("step")


# ---- helpers
def _episode(observations, actions, rewards, done, frames, looks) -> Episode:
    sensors = len(observations[0]) if isinstance(observations[0], tuple) else 1
    stacked = [np.stack([o[i] if sensors > 1 else o for o in observations]) for i in range(sensors)]
    actions = np.stack(actions)
    discrete = np.issubdtype(actions.dtype, np.integer)
    steps = len(rewards)
    return Episode(observations=stacked,
                   continuous=np.zeros((steps, 0), np.float32) if discrete else actions.astype(np.float32),
                   discrete=actions.astype(np.int32) if discrete else np.zeros((steps, 0), np.int32),
                   rewards=np.asarray(rewards, np.float32), done=done, frames=frames,
                   values=None if looks is None or looks[0].value is None else np.concatenate([lk.value for lk in looks]),
                   looks=looks)


def _first(env, d):
    """The first agent's part of a decision: (its key, observation, action, the reward that followed). A vector
    env's row 0 (key None); a multi-behavior scene's first agent, by one key for all four (the agent that acted:
    when its episode ends, its next episode's agent may be in the rewards too)."""
    if isinstance(d.obs, dict):
        key = env.first_of(d.actions)
        return key, d.obs[key], d.actions[key], d.rewards.get(key, 0.0)
    if isinstance(d.obs, tuple):
        return None, tuple(o[0] for o in d.obs), d.actions[0], d.rewards[0]
    return None, d.obs[0], d.actions[0], d.rewards[0]


def _camera_rgb(frame: np.ndarray) -> np.ndarray:
    """A camera observation (float 0..1, H x W x C) as an RGB picture."""
    image = np.clip(np.asarray(frame) * 255.0, 0, 255).astype(np.uint8)
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[..., :3]


__all__ = ["replay", "from_demo", "inspect", "table", "Look"]
