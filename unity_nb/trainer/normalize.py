"""Observation normalisation as ML-Agents does it: one running mean/std per behavior (per policy).

RLlib's multi-agent ``MeanStdFilter`` keeps statistics per RLlib agent id, and in the kit's
one-policy-per-behavior env every agent episode is a new RLlib id (RLlib lets a finished id act no
more in an episode), so its statistics would start from nothing every episode. This filter keys them
by behavior instead; with one policy for every agent it keys them as RLlib does. Its class name is RLlib's, so a
checkpoint keeps the statistics where RLlib keeps them (``env_to_module_connector/MeanStdFilter``):
``{None: ...}`` for one policy, ``{behavior: ...}`` for one per behavior (read by evaluate/policy.py).

RLlib's filter updates its statistics one observation at a time in Python (Welford's step per row):
with 48 3DBall agents that was a quarter of all sampling time. This one pushes each exchange's
observations of a policy as one batch (Chan's merge of the batch's mean and sum of squares into the
running ones), then normalises them with the updated statistics; the state it keeps, and how env
runners' statistics merge, are RLlib's.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import tree
from gymnasium.spaces import Discrete, MultiDiscrete
from ray.rllib.connectors.env_to_module.mean_std_filter import MeanStdFilter as _RLlibMeanStdFilter
from ray.rllib.utils.filter import MeanStdFilter as _Filter
from ray.rllib.utils.filter import RunningStat
from ray.rllib.utils.numpy import SMALL_NUMBER
from ray.rllib.utils.spaces.space_utils import get_base_struct_from_space

from ..envs.agents import behavior_of
from ..envs.teams import split_team


class MeanStdFilter(_RLlibMeanStdFilter):
    """RLlib's MeanStdFilter, a batch per exchange; with ``per_behavior``, one set of statistics per behavior
    (``per_game``: per game, as self-play trains one policy for every team of a game)."""

    def __init__(self, *, per_behavior: bool = False, per_game: bool = False, **kwargs):
        super().__init__(multi_agent=per_behavior, **kwargs)
        self.per_behavior = per_behavior
        self.per_game = per_game

    def _key(self, agent_id) -> str:
        behavior = behavior_of(agent_id)
        return split_team(behavior)[0] if self.per_game else behavior

    def _init_new_filters(self):
        if not self.per_behavior:
            return super()._init_new_filters()
        spaces = {}  # every agent id of a behavior has the behavior's observation space
        for agent_id, space in self.input_observation_space.spaces.items():
            spaces.setdefault(self._key(agent_id), space)
        self._filters = {
            behavior: _Filter(tree.map_structure(_shape, get_base_struct_from_space(space)), demean=self.de_mean_to_zero,
                              destd=self.de_std_to_one, clip=self.clip_by_value)
            for behavior, space in spaces.items()
        }

    def __call__(self, *, rl_module, batch, episodes, explore=None, persistent_data=None, **kwargs):
        if self._filters is None:
            self._init_new_filters()
        by_filter: dict = {}  # each filter's episodes: RLlib's key (None for one policy) or the behavior
        for sa_episode in self.single_agent_episode_iterator(episodes):
            key = self._key(sa_episode.agent_id) if self.per_behavior else sa_episode.agent_id
            by_filter.setdefault(key, []).append(sa_episode)
        for key, group in by_filter.items():
            observations = [e.get_observations(indices=-1) for e in group]
            nested = tree.is_nested(observations[0])  # several sensors, or an action mask beside them
            rows = tree.map_structure(lambda *obs: np.stack(obs), *observations) if nested else np.stack(observations)
            normalised = normalise_rows(self._filters[key], rows, update=self._update_stats)
            for i, sa_episode in enumerate(group):
                row = tree.map_structure(lambda x: x[i], normalised) if nested else normalised[i]
                sa_episode.set_observations(at_indices=-1, new_data=row)
                sa_episode.observation_space = self.observation_space
        return batch


def normalise_rows(flt: _Filter, rows, update: bool = True):
    """``rows`` (a batch, or a structure of batches) normalised by ``flt``, whose statistics first take
    them in when ``update``: what RLlib's filter gives for the last row pushed one at a time, for all."""
    if flt.no_preprocessor:
        return tree.map_structure_up_to(rows, partial(_normalise, flt, update), rows, flt.running_stats,
                                        flt.buffer, flt.shape)
    return _normalise(flt, update, rows, flt.running_stats, flt.buffer, flt.shape)


def _normalise(flt: _Filter, update: bool, rows, stats: RunningStat, buffer: RunningStat, shape):
    if shape is None:  # a discrete part: not normalised
        return rows
    rows = np.asarray(rows)
    if update and len(rows):
        mean = rows.mean(axis=0, dtype=np.float64)
        sum_sq = np.square(rows - mean, dtype=np.float64).sum(axis=0)
        for stat in (stats, buffer):
            push_batch(stat, len(rows), mean, sum_sq)
    out = rows
    if flt.demean:
        out = out - stats.mean
    if flt.destd:
        out = out / (stats.std + SMALL_NUMBER)
    if flt.clip:
        out = np.clip(out, -flt.clip, flt.clip)
    return out.astype(rows.dtype)


def push_batch(stat: RunningStat, n: int, mean: np.ndarray, sum_sq: np.ndarray) -> None:
    """Push ``n`` values with this ``mean`` and sum of squared deviations into ``stat`` at once (Chan et
    al.'s merge). Its delta arrays move by what its state moved, as RLlib's ``push`` keeps them."""
    before = stat.num_pushes
    total = before + n
    diff = mean - stat.mean_array
    mean_step = diff * (n / total)
    sum_sq_step = sum_sq + np.square(diff) * (before * n / total)
    stat.mean_array += mean_step
    stat.mean_delta_array += mean_step
    stat.sum_sq_diff_array += sum_sq_step
    stat.sum_sq_diff_delta_array += sum_sq_step
    stat.num_pushes = total
    stat.num_pushes_delta += n


def _shape(space):
    """What RLlib's filter keeps statistics of: a Box's shape (nothing for a discrete part)."""
    return None if isinstance(space, (Discrete, MultiDiscrete)) else np.array(space.shape)
