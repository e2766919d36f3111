"""A small residual MLP for PPO: obs -> Linear -> (x + MLP(x)) -> policy head and value head."""

from torch import nn

from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule


class ResidualMLP(TorchRLModule, ValueFunctionAPI):
    def setup(self):
        width = self.model_config.get("width", 64)
        if hasattr(self.action_space, "n"):  # discrete actions: one logit each
            outputs = self.action_space.n
        else:  # continuous actions: a mean and a log-std each
            outputs = 2 * self.action_space.shape[0]
        self.embed = nn.Linear(self.observation_space.shape[0], width)
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
