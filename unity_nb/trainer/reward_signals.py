"""ML-Agents' intrinsic reward signals, ``curiosity`` and ``rnd``, beside PPO on RLlib's new API stack.

Each signal pays the agent for reaching what it does not know yet, so a scene whose own reward comes rarely
(a switch to find, then a goal) gets explored. As ML-Agents does, each has a network of its own with its own
Adam optimizer (``learning_rate``), and its reward, times ``strength``, is added to the scene's:

- ``curiosity`` (Pathak et al. 2017): an encoder of observations, a forward model that predicts the next
  encoding from this one and the action, and an inverse model that predicts the action from both encodings
  (which shapes the encoder to what the agent controls). Reward: half the squared error of the forward
  model's prediction, at most 1 / strength, and none before its first update. Loss: 10 x (0.2 x forward +
  0.8 x inverse).
- ``rnd`` (Burda et al. 2018): a fixed random network and a predictor trained to match it. Reward: the
  squared error of the prediction, large where the agent has seldom been. Loss: that error.

RLlib has no reward signals. What the kit adds, in RLlib's terms:
- ``AddIntrinsicRewards``, a learner connector before the advantages (GAE, or POCA's): each row's next
  observation as a column, and the signals' rewards added to the scene's on every real row (the bootstrap row
  RLlib appends to each episode chunk gets none);
- the learner (``ppo_learner.ScheduledClipPPOLearner``) updates each signal on every PPO minibatch, after the
  policy's step, as ML-Agents' optimizer does.

Differs from ML-Agents (docs/trainer-yaml.md): the signals share the policy's value function and gamma (ML-Agents
gives each signal a value head and a gamma of its own, and bootstraps intrinsic values through episode ends);
RND rewards the observation an action leads to (as the RND paper does; ML-Agents scores the one it starts from).
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns

SIGNALS = ("curiosity", "rnd")
NEXT_OBS = "unity_nb_next_obs"  # the batch column of each row's next observation
CLIP = 3.0  # the raw Gaussian actions of the kit's PPO reach Unity as clamp(x, -3, 3) / 3


class Body(nn.Module):
    """ML-Agents' network body for a vector observation: an optional running normalisation of the inputs,
    then ``layers`` dense layers of ``hidden`` units with Swish (SiLU)."""

    def __init__(self, size: int, hidden: int, layers: int, normalize: bool):
        super().__init__()
        self.normalize = normalize
        self.register_buffer("count", torch.zeros(()))
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("var", torch.ones(size))
        mods, width = [], size
        for _ in range(max(1, layers)):
            mods += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        self.net = nn.Sequential(*mods)

    def update_normalization(self, obs: torch.Tensor) -> None:
        """Fold a batch into the running mean and variance (Chan et al.'s parallel update)."""
        if not self.normalize or not len(obs):
            return
        n, mean, var = float(len(obs)), obs.mean(0), obs.var(0, unbiased=False)
        total = self.count + n
        delta = mean - self.mean
        self.var.copy_((self.var * self.count + var * n + delta ** 2 * self.count * n / total) / total)
        self.mean.add_(delta * n / total)
        self.count.copy_(total)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.normalize and self.count > 0:
            obs = torch.clamp((obs - self.mean) / torch.sqrt(self.var + 1e-8), -5.0, 5.0)
        return self.net(obs)


class ActionCoder:
    """A batch's actions as the flat vector the forward model reads (one-hot per discrete branch, continuous
    actions as Unity received them), and the inverse model's loss against them."""

    def __init__(self, space: spaces.Space):
        parts = list(space.spaces) if isinstance(space, spaces.Tuple) else [space]
        self.continuous = sum(int(np.prod(p.shape)) for p in parts if isinstance(p, spaces.Box))
        self.branches: list[int] = []
        for p in parts:
            if isinstance(p, spaces.Discrete):
                self.branches.append(int(p.n))
            elif isinstance(p, spaces.MultiDiscrete):
                self.branches += [int(n) for n in p.nvec]
        self.size = self.continuous + sum(self.branches)

    def split(self, actions) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(continuous as Unity got them, or None; discrete indices (batch, branches), or None)."""
        if isinstance(actions, (tuple, list)):
            continuous, discrete = actions
        elif self.continuous:
            continuous, discrete = actions, None
        else:
            continuous, discrete = None, actions
        if continuous is not None:
            continuous = torch.clamp(continuous.float().reshape(len(continuous), -1), -CLIP, CLIP) / CLIP
        if discrete is not None:
            discrete = discrete.long().reshape(len(discrete), -1)
        return continuous, discrete

    def flat(self, actions) -> torch.Tensor:
        continuous, discrete = self.split(actions)
        parts = [continuous] if continuous is not None else []
        for k, n in enumerate(self.branches):
            parts.append(nn.functional.one_hot(discrete[:, k], n).float())
        return torch.cat(parts, dim=1)

    def loss(self, predicted: torch.Tensor, actions) -> torch.Tensor:
        """Squared error on continuous actions, cross-entropy per discrete branch, per row."""
        continuous, discrete = self.split(actions)
        loss = torch.zeros(len(predicted), device=predicted.device)
        if self.continuous:
            loss = loss + ((predicted[:, :self.continuous] - continuous) ** 2).sum(1)
        start = self.continuous
        for k, n in enumerate(self.branches):
            loss = loss + nn.functional.cross_entropy(predicted[:, start:start + n], discrete[:, k], reduction="none")
            start += n
        return loss


class Curiosity(nn.Module):
    """ML-Agents' curiosity module: encoder, forward and inverse models (see the module's docstring)."""

    name = "curiosity"
    BETA, MULTIPLIER = 0.2, 10.0  # forward against inverse loss, and the loss's scale (ML-Agents')

    def __init__(self, obs_size: int, action_space: spaces.Space, settings: dict):
        super().__init__()
        hidden = int(settings["hidden_units"])
        self.actions = ActionCoder(action_space)
        self.encoder = Body(obs_size, hidden, int(settings["num_layers"]), bool(settings["normalize"]))
        self.inverse = nn.Sequential(nn.Linear(2 * hidden, 256), nn.SiLU(), nn.Linear(256, self.actions.size))
        self.forward_model = nn.Sequential(nn.Linear(hidden + self.actions.size, 256), nn.SiLU(),
                                           nn.Linear(256, hidden))
        self.updated = False

    def _forward_error(self, obs, next_obs, actions) -> torch.Tensor:
        predicted = self.forward_model(torch.cat([self.encoder(obs), self.actions.flat(actions)], dim=1))
        return 0.5 * ((self.encoder(next_obs) - predicted) ** 2).sum(1)

    def reward(self, obs, next_obs, actions, strength: float) -> torch.Tensor:
        if not self.updated:
            return torch.zeros(len(obs), device=obs.device)
        return torch.clamp(self._forward_error(obs, next_obs, actions), max=1.0 / strength)

    def losses(self, obs, next_obs, actions, mask) -> dict[str, torch.Tensor]:
        self.updated = True
        self.encoder.update_normalization(obs[mask])
        forward = self._forward_error(obs, next_obs, actions)[mask].mean()
        predicted = self.inverse(torch.cat([self.encoder(obs), self.encoder(next_obs)], dim=1))
        inverse = self.actions.loss(predicted, actions)[mask].mean()
        return {"loss": self.MULTIPLIER * (self.BETA * forward + (1 - self.BETA) * inverse),
                "curiosity_forward_loss": forward, "curiosity_inverse_loss": inverse}


class RND(nn.Module):
    """Random network distillation: a fixed random network and a predictor of it (see the module's docstring)."""

    name = "rnd"

    def __init__(self, obs_size: int, action_space: spaces.Space, settings: dict):
        super().__init__()
        shape = (obs_size, int(settings["hidden_units"]), int(settings["num_layers"]), bool(settings["normalize"]))
        self.target, self.predictor = Body(*shape), Body(*shape)
        self.target.requires_grad_(False)

    def _error(self, obs) -> torch.Tensor:
        return ((self.predictor(obs) - self.target(obs)) ** 2).sum(1)

    def reward(self, obs, next_obs, actions, strength: float) -> torch.Tensor:
        return self._error(next_obs)

    def losses(self, obs, next_obs, actions, mask) -> dict[str, torch.Tensor]:
        seen = next_obs[mask]
        for body in (self.target, self.predictor):  # both see the same normalised inputs
            body.update_normalization(seen)
        loss = self._error(seen).mean()
        return {"loss": loss, "rnd_loss": loss}


NETWORKS = {"curiosity": Curiosity, "rnd": RND}


class RewardSignal:
    """One signal of one module: its network, its optimizer and its settings (checks.check_reward_signals
    filled in every key)."""

    def __init__(self, name: str, settings: dict, obs_space: spaces.Space, action_space: spaces.Space):
        self.name, self.strength = name, float(settings["strength"])
        self.network = NETWORKS[name](int(np.prod(obs_space.shape)), action_space, settings)
        self.optimizer = torch.optim.Adam([p for p in self.network.parameters() if p.requires_grad],
                                          lr=float(settings["learning_rate"]))

    @torch.no_grad()
    def rewards(self, obs, next_obs, actions) -> torch.Tensor:
        """strength x the signal's reward for each row."""
        return self.strength * self.network.reward(_flat(obs), _flat(next_obs), actions, self.strength)

    def update(self, batch) -> dict[str, float]:
        """One gradient step on a minibatch (its real rows); the losses, for the run's metrics."""
        mask = batch.get(Columns.LOSS_MASK)
        obs = _flat(batch[Columns.OBS])
        mask = torch.ones(len(obs), dtype=torch.bool, device=obs.device) if mask is None else mask.bool()
        if not mask.any():
            return {}
        losses = self.network.losses(obs, _flat(batch[NEXT_OBS]), batch[Columns.ACTIONS], mask)
        self.optimizer.zero_grad()
        losses.pop("loss").backward()
        self.optimizer.step()
        return {k: float(v.detach()) for k, v in losses.items()}


def _flat(obs: torch.Tensor) -> torch.Tensor:
    return obs.reshape(len(obs), -1).float()


def build_signals(given: dict, modules: dict) -> dict[str, list[RewardSignal]]:
    """Each trained module's signals: ``given`` maps a signal's name to its settings; ``modules`` a module id
    to its RLModule (whose spaces the networks are made for)."""
    return {module_id: [RewardSignal(name, settings, module.observation_space, module.action_space)
                        for name, settings in given.items()]
            for module_id, module in modules.items()}


class AddIntrinsicRewards(ConnectorV2):
    """The signals' rewards added to the scene's, and each row's next observation as a column (see the
    module's docstring). ``signals`` is set by the learner that builds the pipeline."""

    signals: dict[str, list[RewardSignal]] = {}

    def __call__(self, *, rl_module, batch, episodes, metrics=None, **kwargs):
        chunks = list(self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False))
        for module_id, module_batch in batch.items():
            signals = self.signals.get(module_id)
            if not signals:
                continue
            lengths = [len(e) for e in chunks if e.module_id in (None, module_id)]
            obs = module_batch[Columns.OBS]
            rows = torch.arange(len(obs), device=obs.device)
            real = torch.ones(len(obs), dtype=torch.bool, device=obs.device)
            ends = torch.as_tensor(np.cumsum(lengths) - 1, device=obs.device)  # each chunk's bootstrap row
            real[ends] = False
            following = torch.where(real, rows + 1, rows)  # the bootstrap row holds the chunk's last observation
            next_obs = obs[following]
            module_batch[NEXT_OBS] = next_obs
            rewards = module_batch[Columns.REWARDS]
            for signal in signals:
                extra = signal.rewards(obs, next_obs, module_batch[Columns.ACTIONS]) * real
                rewards = rewards + extra.to(rewards.dtype)
                if metrics is not None:
                    metrics.log_value((module_id, f"{signal.name}_reward"), float(extra[real].mean()), window=1)
            module_batch[Columns.REWARDS] = rewards
        return batch


__all__ = ["SIGNALS", "NEXT_OBS", "RewardSignal", "build_signals", "AddIntrinsicRewards", "Curiosity", "RND"]
