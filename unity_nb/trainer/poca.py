"""POCA (ML-Agents' cooperative trainer, ``trainer_type: poca``) on RLlib's PPO, new API stack.

RLlib has no POCA. What the kit adds to its PPO, read top to bottom:

- ``GroupCritic``: one network over a group. Every member is an entity (its observation; for the baseline,
  a teammate's observation and action); entities are embedded, attend to each other (residual self-attention
  over the members present), are averaged, and a small MLP gives a value. ``value`` sees the agent and its
  teammates' observations; ``baseline`` the agent's observation and its teammates' observations and actions
  (the counterfactual: what the group gets whatever this agent does).
- ``POCAModule``: RLlib's default PPO network for the policy (so export, evaluation and Unity's model contract
  are unchanged) with a group critic beside it (learners only: env runners do not build it).
- ``AddGroupColumns``: the teammates' observations and actions the env wrote into each agent's infos
  (``envs/groups.py``) become batch columns.
- ``GroupAdvantages`` in place of RLlib's GAE: per agent, TD(lambda) returns on the group value, bootstrapped
  at the end from the group's value unless the whole group is done (an agent that fell keeps the credit of
  what its group does next); advantage = return - baseline; value and baseline both regress on the returns.
- ``POCALearner``: PPO's clipped policy loss and value loss, plus the baseline's, weighed as ML-Agents does
  (policy + 0.5 * (value + 0.5 * baseline) - beta * entropy, with the kit's value coefficient of 0.5).
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium.spaces.utils import flatdim
from torch import nn
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.connectors.learner import AddOneTsToEpisodesAndTruncate, GeneralAdvantageEstimation
from ray.rllib.core.columns import Columns
from ray.rllib.evaluation.postprocessing import Postprocessing

from .ppo_learner import ScheduledClipPPOLearner

MATES_OBS, MATES_MASK, MATES_ACTIONS, GROUP_DONE = "mates_obs", "mates_mask", "mates_actions", "group_done"
BASELINE_LOSS = "baseline_loss"


class GroupCritic(nn.Module):
    """A value of the whole group, and a counterfactual baseline per agent (see the module's docstring)."""

    def __init__(self, obs_size: int, action_size: int, hidden: int, layers: int):
        super().__init__()
        self.embed_obs = nn.Linear(obs_size, hidden)
        self.embed_obs_action = nn.Linear(obs_size + action_size, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.attention = nn.MultiheadAttention(hidden, 4 if hidden % 4 == 0 else 1, batch_first=True)
        body = []
        for _ in range(max(1, layers)):
            body += [nn.Linear(hidden, hidden), nn.SiLU()]
        self.body = nn.Sequential(*body, nn.Linear(hidden, 1))

    def _pooled_value(self, entities: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        x = self.norm(entities)
        attended, _ = self.attention(x, x, x, key_padding_mask=present < 0.5, need_weights=False)
        x = entities + attended
        weights = present.unsqueeze(-1)
        pooled = (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return self.body(pooled).squeeze(-1)

    def value(self, obs, mates_obs, mates_mask) -> torch.Tensor:
        entities = self.embed_obs(torch.cat([obs.unsqueeze(1), mates_obs], dim=1))
        present = torch.cat([torch.ones_like(mates_mask[:, :1]), mates_mask], dim=1)
        return self._pooled_value(entities, present)

    def baseline(self, obs, mates_obs, mates_actions, mates_mask) -> torch.Tensor:
        own = self.embed_obs(obs).unsqueeze(1)
        others = self.embed_obs_action(torch.cat([mates_obs, mates_actions], dim=-1))
        present = torch.cat([torch.ones_like(mates_mask[:, :1]), mates_mask], dim=1)
        return self._pooled_value(torch.cat([own, others], dim=1), present)


class POCAModule(DefaultPPOTorchRLModule):
    """RLlib's default PPO policy network with a group critic (``model_config["poca_max_mates"]`` teammates)."""

    def setup(self):
        super().setup()
        if not self.inference_only:
            hidden = list(self.model_config.get("fcnet_hiddens") or [64])
            self.group_critic = GroupCritic(flatdim(self.observation_space), flatdim(self.action_space),
                                            int(hidden[0]), len(hidden))

    def get_non_inference_attributes(self):
        return [*super().get_non_inference_attributes(), "group_critic"]

    def compute_values(self, batch, embeddings=None):
        """The group's value at each row (the agent's observation and its teammates')."""
        return self.group_critic.value(_flat(batch[Columns.OBS]), batch[MATES_OBS], batch[MATES_MASK])

    def compute_baseline(self, batch):
        """Each agent's counterfactual baseline (its observation, its teammates' observations and actions)."""
        return self.group_critic.baseline(_flat(batch[Columns.OBS]), batch[MATES_OBS], batch[MATES_ACTIONS],
                                          batch[MATES_MASK])


def _flat(obs: torch.Tensor) -> torch.Tensor:
    return obs.reshape(obs.shape[0], -1).float()


class AddGroupColumns(ConnectorV2):
    """The teammates' observations and actions from each agent's infos, as batch columns (after RLlib's extra
    bootstrap timestep: row t reads infos t, and its teammates' actions from infos t + 1)."""

    def __call__(self, *, rl_module, batch, episodes, explore=None, shared_data=None, **kwargs):
        for episode in self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False):
            rows = len(episode)
            infos = episode.get_infos(slice(0, rows + 1))
            columns = {
                MATES_OBS: np.stack([i[MATES_OBS] for i in infos[:rows]]),
                MATES_MASK: np.stack([i[MATES_MASK] for i in infos[:rows]]),
                MATES_ACTIONS: np.stack([i[MATES_ACTIONS] for i in infos[1:rows + 1]]),
                GROUP_DONE: np.full(rows, bool(infos[-1].get(GROUP_DONE, False))),
            }
            for column, items in columns.items():
                self.add_n_batch_items(batch, column, items, rows, episode)
        return batch


class GroupAdvantages(ConnectorV2):
    """POCA's returns and advantages, in place of RLlib's GAE (see the module's docstring)."""

    def __init__(self, input_observation_space=None, input_action_space=None, *, gamma: float, lambda_: float):
        super().__init__(input_observation_space, input_action_space)
        self.gamma, self.lambda_ = gamma, lambda_

    def __call__(self, *, rl_module, episodes, batch, **kwargs):
        episodes_list = list(self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False))
        for module_id, module_batch in batch.items():
            module = rl_module[module_id]
            with torch.no_grad():
                values = module.compute_values(module_batch).cpu().numpy()
                baselines = module.compute_baseline(module_batch).cpu().numpy()
            lengths = [len(e) for e in episodes_list if e.module_id in (None, module_id)]
            rewards = _numpy(module_batch[Columns.REWARDS])
            terminated = _numpy(module_batch[Columns.TERMINATEDS]).astype(bool)
            group_done = _numpy(module_batch[GROUP_DONE]).astype(bool)
            returns, advantages = lambda_returns(values, baselines, rewards, terminated, group_done, lengths,
                                                 self.gamma, self.lambda_)
            device = values_device(module_batch)
            module_batch[Postprocessing.VALUE_TARGETS] = torch.as_tensor(returns, device=device)
            module_batch[Postprocessing.ADVANTAGES] = torch.as_tensor(advantages, device=device)
        return batch


def lambda_returns(values, baselines, rewards, terminated, group_done, lengths, gamma, lambda_):
    """Per agent episode (each ``length`` rows, the last RLlib's bootstrap row): TD(lambda) returns on the group
    values and advantages over the baselines (normalised over the real rows, as the kit's PPO does)."""
    returns = np.array(values, dtype=np.float32)  # a bootstrap row keeps its value (masked out of the losses)
    real = np.zeros(len(values), dtype=bool)
    start = 0
    for length in lengths:
        last = start + length - 2  # the agent's last real step
        if length >= 2:
            value_next = 0.0 if terminated[last] and group_done[last] else values[last + 1]
            running = rewards[last] + gamma * value_next
            returns[last] = running
            for t in range(last - 1, start - 1, -1):
                running = gamma * lambda_ * running + rewards[t] + (1 - lambda_) * gamma * values[t + 1]
                returns[t] = running
            real[start:last + 1] = True
        start += length
    advantages = np.where(real, returns - baselines, 0.0).astype(np.float32)
    if real.any():
        chosen = advantages[real]
        advantages[real] = (chosen - chosen.mean()) / max(1e-4, float(chosen.std()))
    return returns.astype(np.float32), advantages


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def values_device(module_batch) -> torch.device:
    column = module_batch[Columns.REWARDS]
    return column.device if isinstance(column, torch.Tensor) else torch.device("cpu")


class POCALearner(ScheduledClipPPOLearner):
    """PPO's learner with POCA's group critic: its advantages and its baseline's loss."""

    def build(self) -> None:
        super().build()
        pipeline = self._learner_connector
        if pipeline is not None and self.config.add_default_connectors_to_learner_pipeline:
            pipeline.remove(GeneralAdvantageEstimation)
            pipeline.insert_after(AddOneTsToEpisodesAndTruncate, AddGroupColumns())
            pipeline.append(GroupAdvantages(gamma=self.config.gamma, lambda_=self.config.lambda_))

    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        loss = super().compute_loss_for_module(module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)
        module = self.module[module_id].unwrapped()
        error = (module.compute_baseline(batch) - batch[Postprocessing.VALUE_TARGETS]) ** 2
        mask = batch.get(Columns.LOSS_MASK)
        baseline_loss = error[mask].mean() if mask is not None else error.mean()
        self.metrics.log_value((module_id, BASELINE_LOSS), baseline_loss, window=1)
        return loss + config.vf_loss_coeff * 0.5 * baseline_loss


__all__ = ["GroupCritic", "POCAModule", "AddGroupColumns", "GroupAdvantages", "POCALearner", "lambda_returns"]
