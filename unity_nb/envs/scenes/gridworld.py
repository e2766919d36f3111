"""GridWorld: reach the goal the goal signal names, seen through an overhead camera."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ...errors import BadValue
from .base import BehaviorInfo, ObservationInfo, Scene

HEIGHT, WIDTH = 84, 64  # camera sensor resolution (rows, columns)
NOOP, UP, DOWN, LEFT, RIGHT = range(5)
MOVES = np.array([[0, 0], [0, 1], [0, -1], [-1, 0], [1, 0]])  # (dx, dy) per action
AGENT, PLUS, CROSS = (40, 90, 255), (40, 220, 60), (230, 40, 40)


@lru_cache(maxsize=None)
def _cells(size: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Pixel boundaries of the grid's rows and columns in the camera image (computed once per size)."""
    return (tuple(np.linspace(0, HEIGHT, size + 1).astype(int).tolist()),
            tuple(np.linspace(0, WIDTH, size + 1).astype(int).tolist()))


@lru_cache(maxsize=None)
def _symbol(h: int, w: int, kind: int) -> np.ndarray:
    """Pixels of a goal's symbol in an h x w cell: 0 = plus, 1 = cross (read-only)."""
    yy, xx = np.mgrid[0:h, 0:w]
    if kind == 0:
        shape = (np.abs(yy - h // 2) <= h // 8) | (np.abs(xx - w // 2) <= w // 8)
    else:
        u, v = yy / max(h - 1, 1), xx / max(w - 1, 1)
        shape = (np.abs(u - v) <= 0.15) | (np.abs(u + v - 1) <= 0.15)
    shape.flags.writeable = False
    return shape


class TwoGoalGrid(Scene):
    """The rules GridWorld and SignPost share: agents walk a grid (walls masked) to one of two goal pads,
    a green plus and a red cross; the episode's goal gives +1, the other -1, each step -0.01.

    Subclasses set ``camera_shape`` (the overhead image), ``max_grid`` and draw with ``_background(i)``."""

    camera_shape: tuple[int, int, int]
    max_grid = 10
    # Cameras: ML-Agents' GridWorld settings (gamma 0.9, time horizon 5, one layer of 128, small minibatches:
    # many updates per sample) with one network for policy and value (half the CNN work per sample)
    training = dict(steps=500_000, num_areas=1, lr=3e-4, train_batch_size=1024, minibatch_size=64, num_epochs=3,
                    entropy_coeff=0.005, hidden_units=128, num_layers=1, gamma=0.9, time_horizon=5,
                    shared_critic=True, normalize=False, target_return=0.8)

    def _check_param(self, key, value):
        if key == "gridSize" and not (3 <= value <= self.max_grid and value == int(value)):
            raise BadValue(f"{self.name} parameter 'gridSize' must be a whole number in 3..{self.max_grid}, got {value}")
        if key == "max_step" and (value < 0 or value != int(value)):
            raise BadValue(f"{self.name} parameter 'max_step' must be a whole number >= 0, got {value}")

    def __init__(self, num_areas=1, seed=0, params=None):
        super().__init__(num_areas, seed, params)
        self.size = np.full(self.n, int(self.default_params["gridSize"]), dtype=np.int64)
        self.agent = np.zeros((self.n, 2), dtype=np.int64)  # (x, y), y = 0 the bottom row
        self.goals = np.zeros((self.n, 2, 2), dtype=np.int64)  # [plus, cross] x (x, y)
        self.target = np.zeros(self.n, dtype=np.int64)  # 0 = plus, 1 = cross
        # grid and goals change only at an episode start: draw them once, the agent each step
        self._backgrounds = np.zeros((self.n, *self.camera_shape), dtype=np.uint8)

    def _reset_agents(self, which):
        for i in np.flatnonzero(which):
            self.size[i] = size = int(self.param("gridSize")[i])
            cells = self.rng.choice(size * size, size=3, replace=False)
            xy = np.column_stack([cells % size, cells // size])
            self.agent[i], self.goals[i] = xy[0], xy[1:]
            self.target[i] = self.rng.integers(2)
            self._backgrounds[i] = self._background(i)

    def _apply(self, continuous, discrete):
        action = np.clip(discrete[:, 0], 0, 4)
        self.agent = np.clip(self.agent + MOVES[action], 0, (self.size - 1)[:, None])
        on_plus = np.all(self.agent == self.goals[:, 0], axis=1)
        on_cross = np.all(self.agent == self.goals[:, 1], axis=1)
        right = np.where(self.target == 0, on_plus, on_cross)
        wrong = np.where(self.target == 0, on_cross, on_plus)
        return -0.01 + 1.0 * right - 1.0 * wrong, right | wrong

    def _action_mask(self):
        top = self.size - 1
        mask = np.zeros((self.n, 5), dtype=bool)
        mask[:, UP] = self.agent[:, 1] == top
        mask[:, DOWN] = self.agent[:, 1] == 0
        mask[:, LEFT] = self.agent[:, 0] == 0
        mask[:, RIGHT] = self.agent[:, 0] == top
        return mask

    def _background(self, i: int) -> np.ndarray:
        """The overhead image of agent ``i``'s grid and goal pads (without the agent)."""
        raise NotImplementedError


class GridWorld(TwoGoalGrid):
    name = "GridWorld"
    description = "Walk a grid to the goal the signal names (green plus or red cross); camera observation, masked moves (9 agents)."
    behavior = BehaviorInfo(
        name="GridWorld",
        observations=(
            ObservationInfo("CameraSensor", (HEIGHT, WIDTH, 3), visual=True),
            ObservationInfo("GoalSignal", (2,), goal_signal=True),
        ),
        discrete_branches=(5,),  # 0 stay, 1 up, 2 down, 3 left, 4 right
        masks_actions=True,  # walls
    )
    camera_shape = (HEIGHT, WIDTH, 3)
    agents_per_area = 9
    default_params = {"gridSize": 5.0, "max_step": 100.0}
    param_help = {"gridSize": "cells per side (3-10)", "max_step": "decisions before an episode is cut (0 = never)"}
    benchmark_return = 0.8

    def _observe(self):
        images = self._backgrounds.copy()
        for i, (size, (x, y)) in enumerate(zip(self.size.tolist(), self.agent.tolist())):
            rows, cols = _cells(size)
            r = size - 1 - y  # y = 0 is the bottom row
            images[i, rows[r] + 2 : rows[r + 1] - 2, cols[x] + 2 : cols[x + 1] - 2] = AGENT
        signal = np.zeros((self.n, 2), dtype=np.float32)
        signal[np.arange(self.n), self.target] = 1.0
        return [images, signal]

    def _background(self, i: int) -> np.ndarray:
        size = int(self.size[i])
        image = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
        rows, cols = _cells(size)
        image[list(rows[:-1])] = (60, 60, 60)  # grid lines
        image[:, list(cols[:-1])] = (60, 60, 60)
        for kind, color in ((0, PLUS), (1, CROSS)):
            x, y = self.goals[i, kind].tolist()
            r = size - 1 - y
            patch = image[rows[r] : rows[r + 1], cols[x] : cols[x + 1]]
            patch[_symbol(patch.shape[0], patch.shape[1], kind)] = color
        return image

    def render(self):
        cameras = self._observe()[0]
        return self.tiled(list(cameras), columns=3 if self.n % 3 == 0 else 1, agents=list(range(self.n)))
