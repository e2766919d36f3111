"""Camera encoders for ML-Agents' ``vis_encode_type`` choices, each built to the same intent as Unity's.

Every encoder takes float images in [0, 1], channels last (batch, height, width, channels),
as a camera sensor's observation reaches the trainer, and gives ``out_size`` features.

- ``simple``: two strided convolutions (8x8/4, 4x4/2), then a dense layer; needs 20x20 or more.
- ``nature_cnn``: the three-convolution network of DeepMind's Atari DQN; needs 36x36 or more.
- ``resnet``: three stages of convolution, max-pool and two residual blocks (IMPALA's network); 15x15 or more.
- ``match3``: convolutions that keep every pixel (stride 1), for boards whose cells are a pixel or a few; 5x5.
- ``fully_connected``: the pixels flattened into a dense layer; any size.
"""

from __future__ import annotations

import torch
from torch import nn
from ..errors import BadValue

# The smallest image side each encoder accepts (ML-Agents' published minimums).
MIN_SIDE = {"simple": 20, "nature_cnn": 36, "resnet": 15, "match3": 5, "fully_connected": 1}
ENCODERS = tuple(MIN_SIDE)


def check_image(shape: tuple[int, ...], kind: str, name: str) -> None:
    """Refuse a camera too small for the encoder (ValueError saying which encoders would fit)."""
    if kind not in MIN_SIDE:
        raise BadValue(f"vis_encode_type must be one of {', '.join(ENCODERS)}, got {kind!r}")
    height, width = shape[0], shape[1]
    if min(height, width) < MIN_SIDE[kind]:
        fits = [k for k, side in MIN_SIDE.items() if side <= min(height, width)]
        raise BadValue(f"vis_encode_type {kind} needs images of at least {MIN_SIDE[kind]}x{MIN_SIDE[kind]} pixels; "
                       f"camera {name} is {height}x{width}. Encoders that fit: {', '.join(fits)}")


def _conv_stack(channels: int, layers: list[tuple[int, int, int, int]], act) -> nn.Sequential:
    """Convolutions given as (out channels, kernel, stride, padding), each followed by ``act``."""
    mods: list[nn.Module] = []
    for out, kernel, stride, padding in layers:
        mods += [nn.Conv2d(channels, out, kernel, stride, padding), act()]
        channels = out
    return nn.Sequential(*mods)


class _Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
                                  nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


def _resnet(channels: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    for out in (16, 32, 32):
        mods += [nn.Conv2d(channels, out, 3, padding=1), nn.MaxPool2d(3, stride=2, padding=1),
                 _Residual(out), _Residual(out)]
        channels = out
    return nn.Sequential(*mods, nn.SiLU())


class ImageEncoder(nn.Module):
    """One camera: convolutions of the chosen kind, flattened, then a dense layer of ``out_size``."""

    def __init__(self, shape: tuple[int, int, int], kind: str, out_size: int):
        super().__init__()
        height, width, channels = shape
        if kind == "simple":
            convs = _conv_stack(channels, [(16, 8, 4, 0), (32, 4, 2, 0)], nn.LeakyReLU)
        elif kind == "nature_cnn":
            convs = _conv_stack(channels, [(32, 8, 4, 0), (64, 4, 2, 0), (64, 3, 1, 0)], nn.LeakyReLU)
        elif kind == "resnet":
            convs = _resnet(channels)
        elif kind == "match3":
            convs = _conv_stack(channels, [(32, 3, 1, 1), (64, 3, 1, 1)], nn.LeakyReLU)
        elif kind == "fully_connected":
            convs = nn.Identity()
        else:
            raise BadValue(f"vis_encode_type must be one of {', '.join(ENCODERS)}, got {kind!r}")
        self.convs = convs
        with torch.no_grad():
            flat = self.convs(torch.zeros(1, channels, height, width)).numel()
        self.dense = nn.Sequential(nn.Linear(flat, out_size), nn.LeakyReLU())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.convs(images.permute(0, 3, 1, 2))  # channels last (as sensors give them) to torch's first
        return self.dense(x.flatten(1))
