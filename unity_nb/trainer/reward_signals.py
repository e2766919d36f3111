"""ML-Agents' reward signals beyond the scene's own, ``curiosity``, ``rnd`` and ``gail``, beside PPO on RLlib's
new API stack.

Curiosity and RND pay the agent for reaching what it does not know yet, so a scene whose own reward comes
rarely (a switch to find, then a goal) gets explored; GAIL pays it for playing like a demonstration. As
ML-Agents does, each has a network of its own with its own Adam optimizer (``learning_rate``), and its reward,
times ``strength``, is added to the scene's:

- ``curiosity`` (Pathak et al. 2017): an encoder of observations, a forward model that predicts the next
  encoding from this one and the action, and an inverse model that predicts the action from both encodings
  (which shapes the encoder to what the agent controls). Reward: half the squared error of the forward
  model's prediction, at most 1 / strength, and none before its first update. Loss: 10 x (0.2 x forward +
  0.8 x inverse).
- ``rnd`` (Burda et al. 2018): a fixed random network and a predictor trained to match it. Reward: the
  squared error of the prediction, large where the agent has seldom been. Loss: that error.
- ``gail`` (Ho & Ermon 2016): a discriminator of demonstrated steps (a Unity ``.demo``) from the policy's, reading
  the observation (and with ``use_actions`` the action and whether the episode ended). Reward: -log(1 - D).
  Loss: binary cross-entropy (demonstration 1, policy 0) plus a gradient penalty (weight 10) on inputs mixed
  between the two; ``use_vail`` puts a variational bottleneck before the estimate, its weight adjusted towards
  0.5 nats of information, as ML-Agents'.

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

from ..envs.spaces import CONTINUOUS_CLIP as CLIP  # the kit's PPO's raw actions reach Unity as clamp(x, -3, 3) / 3

SIGNALS = ("curiosity", "rnd", "gail")
NEXT_OBS = "unity_nb_next_obs"  # the batch column of each row's next observation


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

    def reward(self, obs, next_obs, actions, dones, strength: float) -> torch.Tensor:
        if not self.updated:
            return torch.zeros(len(obs), device=obs.device)
        return torch.clamp(self._forward_error(obs, next_obs, actions), max=1.0 / strength)

    def losses(self, obs, next_obs, actions, dones, mask) -> dict[str, torch.Tensor]:
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

    def reward(self, obs, next_obs, actions, dones, strength: float) -> torch.Tensor:
        return self._error(next_obs)

    def losses(self, obs, next_obs, actions, dones, mask) -> dict[str, torch.Tensor]:
        seen = next_obs[mask]
        for body in (self.target, self.predictor):  # both see the same normalised inputs
            body.update_normalization(seen)
        loss = self._error(seen).mean()
        return {"loss": loss, "rnd_loss": loss}


class GAIL(nn.Module):
    """Generative adversarial imitation: a discriminator told to say 1 for demonstrated steps and 0 for the
    policy's; the policy is paid for steps it mistakes for demonstrated ones (see the module's docstring)."""

    name = "gail"
    GRADIENT_PENALTY, Z_SIZE, ALPHA, MUTUAL_INFORMATION, EPSILON = 10.0, 128, 0.0005, 0.5, 1e-7  # ML-Agents'

    def __init__(self, obs_size: int, action_space: spaces.Space, settings: dict):
        super().__init__()
        hidden = int(settings["hidden_units"])
        self.use_actions, self.use_vail = bool(settings["use_actions"]), bool(settings["use_vail"])
        self.actions = ActionCoder(action_space)
        extra = self.actions.size + 1 if self.use_actions else 0  # the action and the done flag
        self.encoder = Body(obs_size + extra, hidden, int(settings["num_layers"]), bool(settings["normalize"]))
        width = hidden
        if self.use_vail:  # a variational bottleneck: the discriminator reads a noisy code of what it sees
            width = self.Z_SIZE
            self.z_mu = nn.Linear(hidden, self.Z_SIZE)
            self.z_sigma = nn.Parameter(torch.ones(self.Z_SIZE))
            self.register_buffer("beta", torch.zeros(()))
        self.estimator = nn.Sequential(nn.Linear(width, 1), nn.Sigmoid())
        self.expert = None  # (obs, actions, dones), set by RewardSignal from the demonstration

    def _inputs(self, obs, actions, dones) -> torch.Tensor:
        if not self.use_actions:
            return obs
        return torch.cat([obs, self.actions.flat(actions), dones.float().reshape(-1, 1)], dim=1)

    def _estimate(self, inputs, noise: bool):
        hidden, mu = self.encoder(inputs), None
        if self.use_vail:
            mu = self.z_mu(hidden)
            hidden = mu + torch.randn_like(mu) * self.z_sigma * float(noise)
        return self.estimator(hidden).squeeze(-1), mu

    def reward(self, obs, next_obs, actions, dones, strength: float) -> torch.Tensor:
        estimate, _ = self._estimate(self._inputs(obs, actions, dones), noise=False)
        return -torch.log(1.0 - estimate * (1.0 - self.EPSILON))

    def losses(self, obs, next_obs, actions, dones, mask) -> dict[str, torch.Tensor]:
        policy = self._inputs(obs, actions, dones)[mask]
        rows = torch.randint(len(self.expert[0]), (len(policy),))
        expert = self._inputs(self.expert[0][rows], _rows(self.expert[1], rows), self.expert[2][rows])
        self.encoder.update_normalization(expert)
        policy_estimate, policy_mu = self._estimate(policy, noise=True)
        expert_estimate, expert_mu = self._estimate(expert, noise=True)
        loss = -(torch.log(expert_estimate + self.EPSILON) + torch.log(1.0 - policy_estimate + self.EPSILON)).mean()
        out = {"gail_loss": loss.detach(), "gail_policy_estimate": policy_estimate.mean().detach(),
               "gail_expert_estimate": expert_estimate.mean().detach()}
        if self.use_vail:
            kl = torch.mean(-torch.sum(1 + (self.z_sigma ** 2).log() - 0.5 * expert_mu ** 2 - 0.5 * policy_mu ** 2
                                       - self.z_sigma ** 2, dim=1))
            loss = loss + self.beta.clone() * (kl - self.MUTUAL_INFORMATION)  # the weight before this step's
            with torch.no_grad():  # the bottleneck's weight follows the code's information (dual ascent)
                self.beta.copy_(torch.clamp(self.beta + self.ALPHA * (kl - self.MUTUAL_INFORMATION), min=0.0))
        # gradient penalty on inputs mixed between the policy's and the demonstration's (WGAN-GP)
        mix = torch.rand(len(policy), 1)
        between = (mix * policy + (1 - mix) * expert).detach().requires_grad_(True)
        estimate, _ = self._estimate(between, noise=True)
        gradient = torch.autograd.grad(estimate.sum(), between, create_graph=True)[0]
        penalty = self.GRADIENT_PENALTY * ((gradient.pow(2).sum(1) + self.EPSILON).sqrt() - 1.0).pow(2).mean()
        return {"loss": loss + penalty, **out}


def _rows(actions, rows):
    return tuple(a[rows] for a in actions) if isinstance(actions, tuple) else actions[rows]


def demonstrated(path: str, action_space: spaces.Space):
    """A demonstration's steps as the discriminator reads them: (observations, actions as the policy's batch
    holds them, done flags). Continuous actions are stored as Unity received them; the policy's are raw (x3)."""
    from ..envs.demo import load_demo

    episodes = load_demo(path).episodes()
    obs = torch.as_tensor(np.concatenate([e.observations[0].reshape(e.steps, -1) for e in episodes]),
                          dtype=torch.float32)
    dones = torch.as_tensor(np.concatenate([np.arange(e.steps) == e.steps - 1 if e.done else np.zeros(e.steps, bool)
                                            for e in episodes]), dtype=torch.float32)
    continuous = torch.as_tensor(np.concatenate([e.continuous for e in episodes]), dtype=torch.float32) * CLIP
    discrete = torch.as_tensor(np.concatenate([e.discrete for e in episodes]), dtype=torch.long)
    if isinstance(action_space, spaces.Tuple):
        actions = (continuous, discrete)
    elif isinstance(action_space, spaces.Box):
        actions = continuous
    else:
        actions = discrete[:, 0] if isinstance(action_space, spaces.Discrete) else discrete
    return obs, actions, dones


NETWORKS = {"curiosity": Curiosity, "rnd": RND, "gail": GAIL}


class RewardSignal:
    """One signal of one module: its network, its optimizer and its settings (checks.check_reward_signals
    filled in every key)."""

    def __init__(self, name: str, settings: dict, obs_space: spaces.Space, action_space: spaces.Space):
        self.name, self.strength = name, float(settings["strength"])
        self.network = NETWORKS[name](int(np.prod(obs_space.shape)), action_space, settings)
        if name == "gail":
            self.network.expert = demonstrated(settings["demo_path"], action_space)
        self.optimizer = torch.optim.Adam([p for p in self.network.parameters() if p.requires_grad],
                                          lr=float(settings["learning_rate"]))

    @torch.no_grad()
    def rewards(self, obs, next_obs, actions, dones) -> torch.Tensor:
        """strength x the signal's reward for each row (``dones``: whether the agent's episode ended there)."""
        return self.strength * self.network.reward(_flat(obs), _flat(next_obs), actions, dones, self.strength)

    def update(self, batch) -> dict[str, float]:
        """One gradient step on a minibatch (its real rows); the losses, for the run's metrics."""
        mask = batch.get(Columns.LOSS_MASK)
        obs = _flat(batch[Columns.OBS])
        mask = torch.ones(len(obs), dtype=torch.bool, device=obs.device) if mask is None else mask.bool()
        if not mask.any():
            return {}
        losses = self.network.losses(obs, _flat(batch[NEXT_OBS]), batch[Columns.ACTIONS], batch[Columns.TERMINATEDS],
                                     mask)
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
                extra = signal.rewards(obs, next_obs, module_batch[Columns.ACTIONS],
                                       module_batch[Columns.TERMINATEDS]) * real
                rewards = rewards + extra.to(rewards.dtype)
                if metrics is not None:
                    metrics.log_value((module_id, f"{signal.name}_reward"), float(extra[real].mean()), window=1)
            module_batch[Columns.REWARDS] = rewards
        return batch


__all__ = ["SIGNALS", "NEXT_OBS", "RewardSignal", "build_signals", "AddIntrinsicRewards", "Curiosity", "RND", "GAIL",
           "demonstrated"]
