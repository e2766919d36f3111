"""RLModules a user might write (tests/test_user_model.py copies this file next to its runs).

ResidualMLP is the notebook's example: a small residual network with a value head, for PPO, on
discrete or continuous actions. The others are mistakes the kit must explain.
"""

import torch
from torch import nn

from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule


class ResidualMLP(TorchRLModule, ValueFunctionAPI):
    """obs -> Linear -> (x + MLP(x)) -> policy head and value head."""

    def setup(self):
        width = self.model_config.get("width", 64)
        inputs = self.observation_space.shape[0]
        if hasattr(self.action_space, "n"):  # discrete: one logit per action
            outputs = self.action_space.n
        else:  # continuous: a mean and a log-std per action
            outputs = 2 * self.action_space.shape[0]
        self.embed = nn.Linear(inputs, width)
        self.block = nn.Sequential(nn.SiLU(), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.pi = nn.Linear(width, outputs)
        self.vf = nn.Linear(width, 1)

    def _features(self, obs):
        x = self.embed(obs)
        return x + self.block(x)

    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.pi(self._features(batch[Columns.OBS]))}

    def _forward_train(self, batch, **kwargs):
        features = self._features(batch[Columns.OBS])
        return {Columns.ACTION_DIST_INPUTS: self.pi(features), Columns.EMBEDDINGS: features}

    def compute_values(self, batch, embeddings=None):
        if embeddings is None:
            embeddings = self._features(batch[Columns.OBS])
        return self.vf(embeddings).squeeze(-1)


class NotAModule:
    pass


class RaisesInSetup(ResidualMLP):
    def setup(self):
        raise ValueError("width must be even")


class WrongWidth(ResidualMLP):
    def _forward(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: torch.zeros(len(batch[Columns.OBS]), 7)}


class TenInputs(ResidualMLP):
    """Written for a scene with 10 observations (Basic has 20)."""

    def setup(self):
        super().setup()
        self.embed = nn.Linear(10, self.embed.out_features)
