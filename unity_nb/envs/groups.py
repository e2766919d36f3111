"""Each agent's teammates, step by step, for a critic that sees the whole group (POCA).

Unity puts cooperating agents in a group (``group_id``, 0 = none). POCA's critic takes every member's
observation, and each agent's baseline the others' observations and actions. RLlib keeps one episode per
agent, so the multi-agent env writes into each agent's ``infos``, at every step:

- ``mates_obs`` (max_mates, obs_size) and ``mates_mask`` (max_mates,): the observations of the others in its
  group at this step (those still in it), zero-padded;
- ``mates_actions`` (max_mates, action_size): what those teammates, as listed at the *previous* step, did
  there (one-hot per discrete branch, raw values for continuous actions), so that a step's baseline reads
  its teammates from its own infos and their actions from the next step's;
- ``group_done`` (at an agent's last step): whether its whole group ended with it. An agent that leaves a
  group that carries on is bootstrapped from its group's value, as POCA gives credit to an agent that fell.

Teammates are ordered by agent key. At a step where some agents end and new episodes begin, an ending
agent's teammates are the others ending or going on, a starting agent's those starting or going on.
"""

from __future__ import annotations

from collections import Counter

import gymnasium as gym
import numpy as np
from gymnasium.spaces.utils import flatdim, flatten

from ..errors import NotPossible


class GroupView:
    """Adds teammates' observations and actions to a multi-agent env's infos (see the module's docstring)."""

    def __init__(self, max_mates: int, observation_space: gym.Space, action_space: gym.Space):
        self.max_mates = max(1, int(max_mates))
        self.observation_space, self.action_space = observation_space, action_space
        # gymnasium's flat form: discrete actions one-hot per branch
        self.obs_size, self.action_size = flatdim(observation_space), flatdim(action_space)
        self._mates: dict[str, list[str]] = {}  # each agent's teammates at its last step, in order

    def reset(self, obs: dict, infos: dict) -> None:
        self._mates.clear()
        self._write(obs, infos, ended=set(), new=set(obs), actions={})

    def step(self, actions: dict, obs: dict, rewards: dict, terminateds: dict, truncateds: dict, infos: dict) -> None:
        ended = {k for k in obs if terminateds.get(k) or truncateds.get(k)}
        new = {k for k in obs if k not in rewards and k not in ended}  # a first observation: nothing acted on yet
        self._write(obs, infos, ended, new, actions)

    def _write(self, obs: dict, infos: dict, ended: set, new: set, actions: dict) -> None:
        groups: dict[int, list[str]] = {}
        for key in sorted(obs):
            group = int(infos.setdefault(key, {}).get("group_id", 0))
            if group:
                groups.setdefault(group, []).append(key)
        going = {k for k in obs if k not in ended and k not in new}
        for key in obs:
            info = infos[key]
            members = groups.get(int(info.get("group_id", 0)), [])
            side = (ended | going) if key in ended else (new | going)
            mates = [m for m in members if m != key and m in side]
            if len(mates) > self.max_mates:
                raise NotPossible(f"group {info.get('group_id')} has {len(mates) + 1} agents, more than the "
                                  f"{self.max_mates + 1} the group critic was built for (the most seen at the start)")
            mates_obs = np.zeros((self.max_mates, self.obs_size), np.float32)
            mask = np.zeros(self.max_mates, np.float32)
            for i, m in enumerate(mates):
                mates_obs[i], mask[i] = flatten(self.observation_space, obs[m]).astype(np.float32), 1.0
            acted = np.zeros((self.max_mates, self.action_size), np.float32)
            for i, m in enumerate(self._mates.get(key, [])):
                if m in actions:
                    acted[i] = flatten(self.action_space, actions[m]).astype(np.float32)
            info.update(mates_obs=mates_obs, mates_mask=mask, mates_actions=acted)
            if key in ended:
                info["group_done"] = not any(m in going for m in members if m != key)
                self._mates.pop(key, None)
            else:
                self._mates[key] = mates


def largest_group(group_ids) -> int:
    """The most agents any one group has (0 for agents in no group)."""
    return max(Counter(int(g) for g in group_ids if int(g)).values(), default=0)


__all__ = ["GroupView", "largest_group"]
