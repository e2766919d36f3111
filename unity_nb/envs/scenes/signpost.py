"""SignPost: two cameras per agent, each holding half of what the agent must know.

A kit scene (not one of Unity's examples) for multiple visual observations. Each agent
walks a small grid (GridWorld's moves and wall masks) with two goal pads on it: a green
plus and a red cross. One of them is this episode's goal; the other ends the episode
with a penalty.

- ``OverheadCamera`` (40x40x3) looks down on the grid: the agent (blue) and both pads,
  but not which pad is the goal.
- ``SignCamera`` (36x36x3) looks at a signpost that shows the goal's symbol (green plus
  or red cross), but nothing of the grid.

So neither camera alone does better than chance (0.5 right); together they solve it.
There is no goal-signal vector. Sensors are named so that Unity's order (sorted by
name) puts the overhead camera first. Both images are at least 36x36, so ML-Agents'
``nature_cnn`` (36x36 minimum) and ``simple`` (20x20) encoders both apply.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .base import BehaviorInfo, ObservationInfo
from .gridworld import AGENT, CROSS, PLUS, TwoGoalGrid, _symbol

OVERHEAD = 40  # overhead camera: OVERHEAD x OVERHEAD pixels
SIGN = 36  # sign camera: SIGN x SIGN pixels
GRID_LINE = (60, 60, 60)
SKY, GROUND, POST, BOARD = (120, 160, 210), (80, 70, 55), (110, 80, 50), (225, 225, 215)


@lru_cache(maxsize=None)
def _cells(size: int) -> tuple[int, ...]:
    """Pixel boundaries of the grid's rows (and columns: the image is square)."""
    return tuple(np.linspace(0, OVERHEAD, size + 1).astype(int).tolist())


def _sign_image(target: int) -> np.ndarray:
    """The signpost camera's view when the goal is ``target`` (0 = green plus, 1 = red cross)."""
    image = np.empty((SIGN, SIGN, 3), dtype=np.uint8)
    image[: SIGN // 2] = SKY
    image[SIGN // 2 :] = GROUND
    image[SIGN // 2 :, SIGN // 2 - 2 : SIGN // 2 + 2] = POST
    top, left, side = 4, 7, 22  # the board, centred above the post
    image[top : top + side, left : left + side] = BOARD
    inner = image[top + 3 : top + side - 3, left + 3 : left + side - 3]
    inner[_symbol(inner.shape[0], inner.shape[1], target)] = (PLUS, CROSS)[target]
    image.flags.writeable = False
    return image


class SignPost(TwoGoalGrid):
    name = "SignPost"
    description = "Kit scene, two cameras per agent: overhead shows two goal pads, a signpost which one; masked moves (9 agents)."
    behavior = BehaviorInfo(
        name="SignPost",
        observations=(
            ObservationInfo("OverheadCamera", (OVERHEAD, OVERHEAD, 3), visual=True),
            ObservationInfo("SignCamera", (SIGN, SIGN, 3), visual=True),
        ),
        discrete_branches=(5,),  # 0 stay, 1 up, 2 down, 3 left, 4 right
        masks_actions=True,  # walls
    )
    camera_shape = (OVERHEAD, OVERHEAD, 3)
    max_grid = 6
    agents_per_area = 9
    default_params = {"gridSize": 4.0, "max_step": 50.0}
    param_help = {"gridSize": "cells per side (3-6)", "max_step": "decisions before an episode is cut (0 = never)"}
    benchmark_return = 0.8

    def __init__(self, num_areas=1, seed=0, params=None):
        super().__init__(num_areas, seed, params)
        self._signs = np.stack([_sign_image(0), _sign_image(1)])

    def _observe(self):
        overhead = self._backgrounds.copy()
        for i, (size, (x, y)) in enumerate(zip(self.size.tolist(), self.agent.tolist())):
            cells = _cells(size)
            r = size - 1 - y  # image rows run top down
            overhead[i, cells[r] + 1 : cells[r + 1] - 1, cells[x] + 1 : cells[x + 1] - 1] = AGENT
        return [overhead, self._signs[self.target]]

    def _background(self, i: int) -> np.ndarray:
        size = int(self.size[i])
        image = np.zeros((OVERHEAD, OVERHEAD, 3), dtype=np.uint8)
        cells = _cells(size)
        image[list(cells[:-1])] = GRID_LINE
        image[:, list(cells[:-1])] = GRID_LINE
        for kind, color in ((0, PLUS), (1, CROSS)):
            x, y = self.goals[i, kind].tolist()
            r = size - 1 - y
            pad = image[cells[r] + 1 : cells[r + 1], cells[x] + 1 : cells[x + 1]]
            pad[_symbol(pad.shape[0], pad.shape[1], kind)] = color
        return image

    def render(self):
        """Each agent's two cameras side by side (overhead left, signpost right), agents in rows of three."""
        overhead, sign = self._observe()
        frames = []
        for i in range(self.n):
            frame = np.full((OVERHEAD, OVERHEAD + 4 + SIGN, 3), 90, dtype=np.uint8)
            frame[:, :OVERHEAD] = overhead[i]
            top = (OVERHEAD - SIGN) // 2
            frame[top : top + SIGN, OVERHEAD + 4 : OVERHEAD + 4 + SIGN] = sign[i]
            frames.append(frame)
        return self.tiled(frames, columns=3 if self.n % 3 == 0 else 1, agents=list(range(self.n)))
