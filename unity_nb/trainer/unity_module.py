"""The policy and value networks for behaviors RLlib's default networks do not fit: cameras and action masks.

RLlib's catalog builds one encoder for one observation box; a Unity agent may carry several
cameras beside its vector observations, and masks some actions per decision. This module
encodes each camera with the encoder ML-Agents' ``vis_encode_type`` names (``encoders.py``),
passes vector observations through as they are, concatenates everything and feeds
``num_layers`` dense layers of ``hidden_units`` (Swish), as ML-Agents' networks do; the
policy and the value function each have their own (``shared_critic``: one for both).

Observations arrive as the training env gives them: a camera is uint8 (height, width,
channels), several sensors are a tuple, and a behavior that masks actions wraps them as
``{"observations": ..., "action_mask": 1 = allowed}``. A masked action's logit is pushed to
-1e8, so it is never sampled, in training, evaluation or an exported model.
"""

from __future__ import annotations

import gymnasium as gym
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import (TorchCategorical, TorchDiagGaussian,
                                                                  TorchMultiCategorical)
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn

from ..envs.spaces import ACTION_MASK, OBSERVATIONS
from ..errors import BadValue
from .encoders import ImageEncoder

MASK_FILL = 1e8  # a masked logit: logit * mask - 1e8 * (1 - mask), as ML-Agents' exported graphs do


def is_image(space: gym.Space) -> bool:
    """A camera sensor's observation: a rank-3 box (height, width, channels)."""
    return isinstance(space, gym.spaces.Box) and len(space.shape) == 3


def sensor_spaces(space: gym.Space) -> list[gym.Space]:
    """The observation parts a behavior's agent carries, one per sensor (without a mask wrapper)."""
    if isinstance(space, gym.spaces.Dict) and ACTION_MASK in space.spaces:
        space = space[OBSERVATIONS]
    return list(space.spaces) if isinstance(space, gym.spaces.Tuple) else [space]


def needs_unity_module(space: gym.Space) -> bool:
    """Whether a behavior needs this module: a camera, several sensors, or a mask."""
    parts = sensor_spaces(space)
    return len(parts) > 1 or any(is_image(p) for p in parts) or (
        isinstance(space, gym.spaces.Dict) and ACTION_MASK in space.spaces)


def mask_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Logits where a forbidden action (mask 0) has -1e8: it is never sampled, its probability is 0."""
    mask = mask.to(logits.dtype)
    return logits * mask - MASK_FILL * (1.0 - mask)


class _HyperLinear(nn.Module):
    """A dense layer whose weights a small network makes from the goal signal (ML-Agents' ``hyper``
    goal conditioning): each goal gets a layer of its own, so "go to the plus" and "go to the cross"
    need not share one mapping from what the agent sees to what it does."""

    def __init__(self, in_size: int, out_size: int, goal_size: int, layer_size: int):
        super().__init__()
        self.in_size, self.out_size = in_size, out_size
        self.weights = nn.Sequential(nn.Linear(goal_size, layer_size), nn.SiLU(), nn.Linear(layer_size, in_size * out_size))
        nn.init.uniform_(self.weights[-1].weight, -1.0 / in_size ** 0.5, 1.0 / in_size ** 0.5)
        nn.init.zeros_(self.weights[-1].bias)
        self.bias = nn.Parameter(torch.zeros(out_size))

    def forward(self, x: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        w = self.weights(goal).view(-1, self.in_size, self.out_size)
        return (x.unsqueeze(2) * w).sum(dim=1) + self.bias  # x @ w per agent (exports to ONNX opset 9 as is)


class _Body(nn.Module):
    """Every sensor encoded, concatenated, then the dense layers: one feature vector per agent.

    ``goals``: the sensors that carry a goal signal; with ``hyper`` they make the last dense layer's
    weights instead of being concatenated with the rest (ML-Agents' goal_conditioning_type)."""

    def __init__(self, parts: list[gym.Space], kind: str, hiddens: list[int], goals: tuple[int, ...] = (),
                 hyper: bool = False):
        super().__init__()
        self.goals = tuple(goals) if hyper and hiddens else ()
        self.encoders = nn.ModuleList()
        width = goal_width = 0
        for i, part in enumerate(parts):
            if is_image(part):
                encoder = ImageEncoder(tuple(part.shape), kind, hiddens[0] if hiddens else 128)
                size = encoder.dense[0].out_features
            else:  # a vector goes in as it is
                encoder = nn.Flatten()
                size = int(torch.tensor(part.shape).prod())
            self.encoders.append(encoder)
            if i in self.goals:
                goal_width += size
            else:
                width += size
        layers: list[nn.Module] = []
        for size in hiddens[:-1] if self.goals else hiddens:
            layers += [nn.Linear(width, size), nn.SiLU()]
            width = size
        self.dense = nn.Sequential(*layers)
        # the weight-making network's own layer: 32 units (ML-Agents uses hidden_units; a goal signal is small
        # and the layer that makes in*out weights dominates the cost: 32 keeps it below the camera encoder's)
        self.hyper = _HyperLinear(width, hiddens[-1], goal_width, 32) if self.goals else None
        self.out_size = hiddens[-1] if hiddens else width

    def forward(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """``parts``: float tensors, cameras channels last with values in [0, 1]."""
        encoded = [enc(x) for enc, x in zip(self.encoders, parts)]
        x = self.dense(torch.cat([e for i, e in enumerate(encoded) if i not in self.goals], dim=1))
        if self.hyper is None:
            return x
        goal = torch.cat([encoded[i] for i in self.goals], dim=1)
        return nn.functional.silu(self.hyper(x, goal))


class UnityPPOModule(TorchRLModule, ValueFunctionAPI):
    """PPO's networks for cameras, several sensors and masked actions (model_config: ``fcnet_hiddens``,
    ``vis_encode_type``, ``vf_share_layers``, ``goal_sensors`` (indices of goal-signal sensors) and
    ``goal_conditioning_type`` (``hyper``, ML-Agents' default, or ``none``: goals concatenated))."""

    def setup(self):
        cfg = self.model_config or {}
        self.masked = isinstance(self.observation_space, gym.spaces.Dict) and ACTION_MASK in self.observation_space.spaces
        self.parts = sensor_spaces(self.observation_space)
        self.images = [is_image(p) for p in self.parts]
        kind = cfg.get("vis_encode_type", "simple")
        hiddens = list(cfg.get("fcnet_hiddens", [128, 128]))
        goals, hyper = tuple(cfg.get("goal_sensors", ())), cfg.get("goal_conditioning_type", "hyper") == "hyper"
        self.pi_body = _Body(self.parts, kind, hiddens, goals, hyper)
        self.vf_body = None if cfg.get("vf_share_layers") else _Body(self.parts, kind, hiddens, goals, hyper)
        space = self.action_space
        if isinstance(space, gym.spaces.Discrete):
            logits, self.action_dist_cls = int(space.n), TorchCategorical
        elif isinstance(space, gym.spaces.MultiDiscrete):
            branches = [int(n) for n in space.nvec]
            logits = sum(branches)
            self.action_dist_cls = TorchMultiCategorical.get_partial_dist_cls(input_lens=branches, space=space)
        elif isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
            logits, self.action_dist_cls = int(space.shape[0]), TorchDiagGaussian
            # one learned, state-independent log-std per action (starts at 0), as the kit's vector policies
            self.log_std = nn.Parameter(torch.zeros(logits))
        else:
            raise BadValue(f"actions {space} (continuous and discrete together) are not supported with cameras "
                           "or masks yet")
        self.pi = nn.Linear(self.pi_body.out_size, logits)
        self.vf = nn.Linear(self.pi_body.out_size, 1)
        nn.init.orthogonal_(self.pi.weight, gain=0.01)  # a near-uniform first policy
        nn.init.zeros_(self.pi.bias)

    # ---- inputs
    def split(self, obs) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """A batch's observation as float parts (cameras scaled to [0, 1]) and its mask (or None)."""
        mask = None
        if self.masked:
            obs, mask = obs[OBSERVATIONS], obs[ACTION_MASK]
        parts = list(obs) if isinstance(obs, (tuple, list)) else [obs]
        parts = [p.float() / 255.0 if image and p.dtype == torch.uint8 else p.float()
                 for p, image in zip(parts, self.images)]
        return parts, mask

    def policy_inputs(self, parts: list[torch.Tensor], mask: torch.Tensor | None) -> torch.Tensor:
        """The action distribution's inputs (masked logits, or mean and log-std) for float parts."""
        out = self.pi(self.pi_body(parts))
        if mask is not None:
            out = mask_logits(out, mask)
        if hasattr(self, "log_std"):
            out = torch.cat([out, torch.zeros_like(out) + self.log_std], dim=1)
        return out

    # ---- RLlib's entry points
    def _forward(self, batch, **kwargs):
        parts, mask = self.split(batch[Columns.OBS])
        return {Columns.ACTION_DIST_INPUTS: self.policy_inputs(parts, mask)}

    def _forward_train(self, batch, **kwargs):
        return self._forward(batch, **kwargs)

    def compute_values(self, batch, embeddings=None):
        parts, _ = self.split(batch[Columns.OBS])
        body = self.vf_body or self.pi_body
        return self.vf(body(parts)).squeeze(-1)
