"""Observation normalisation as ML-Agents does it: one running mean/std per behavior (per policy).

RLlib's multi-agent ``MeanStdFilter`` keeps statistics per RLlib agent id, and in the kit's
one-policy-per-behavior env every agent episode is a new RLlib id (RLlib lets a finished id act no
more in an episode), so its statistics would start from nothing every episode. This filter keys them
by behavior instead; with one policy for every agent it is RLlib's own. Its class name is RLlib's, so a
checkpoint keeps the statistics where RLlib keeps them (``env_to_module_connector/MeanStdFilter``):
``{None: ...}`` for one policy, ``{behavior: ...}`` for one per behavior (read by evaluate/policy.py).
"""

from __future__ import annotations

import numpy as np
import tree
from gymnasium.spaces import Discrete, MultiDiscrete
from ray.rllib.connectors.env_to_module.mean_std_filter import MeanStdFilter as _RLlibMeanStdFilter
from ray.rllib.utils.filter import MeanStdFilter as _Filter
from ray.rllib.utils.spaces.space_utils import get_base_struct_from_space

from ..envs.agents import behavior_of


class MeanStdFilter(_RLlibMeanStdFilter):
    """RLlib's MeanStdFilter; with ``per_behavior``, one set of statistics per behavior."""

    def __init__(self, *, per_behavior: bool = False, **kwargs):
        super().__init__(multi_agent=per_behavior, **kwargs)
        self.per_behavior = per_behavior

    def _init_new_filters(self):
        if not self.per_behavior:
            return super()._init_new_filters()
        spaces = {}  # every agent id of a behavior has the behavior's observation space
        for agent_id, space in self.input_observation_space.spaces.items():
            spaces.setdefault(behavior_of(agent_id), space)
        self._filters = {
            behavior: _Filter(tree.map_structure(_shape, get_base_struct_from_space(space)), demean=self.de_mean_to_zero,
                              destd=self.de_std_to_one, clip=self.clip_by_value)
            for behavior, space in spaces.items()
        }

    def __call__(self, *, rl_module, batch, episodes, explore=None, persistent_data=None, **kwargs):
        if not self.per_behavior:
            return super().__call__(rl_module=rl_module, batch=batch, episodes=episodes, explore=explore,
                                    persistent_data=persistent_data, **kwargs)
        if self._filters is None:
            self._init_new_filters()
        for sa_episode in self.single_agent_episode_iterator(episodes):
            observation = sa_episode.get_observations(indices=-1)
            normalised = self._filters[behavior_of(sa_episode.agent_id)](observation, update=self._update_stats)
            sa_episode.set_observations(at_indices=-1, new_data=normalised)
            sa_episode.observation_space = self.observation_space
        return batch


def _shape(space):
    """What RLlib's filter keeps statistics of: a Box's shape (nothing for a discrete part)."""
    return None if isinstance(space, (Discrete, MultiDiscrete)) else np.array(space.shape)
