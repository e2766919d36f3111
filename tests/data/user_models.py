"""Mistakes in RLModules a user might write (tests/test_user_model.py copies this file next to its runs,
beside notebooks/my_models.py: the notebook's ResidualMLP, which these build on)."""

import torch
from torch import nn

from my_models import ResidualMLP  # noqa: F401  (also named as user_models:ResidualMLP)
from ray.rllib.core.columns import Columns


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
