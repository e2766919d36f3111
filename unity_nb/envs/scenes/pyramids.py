"""Pyramids: press a switch to raise a pyramid, then take its gold brick; no reward on the way.

In the spirit of Unity's Pyramids, the example its trainer files teach curiosity and RND on: the agent earns
nothing until it has found the switch and then the brick, so an agent that only follows the scene's reward
wanders at random and, within the step budget, never learns the way (bench/sparse.md measures it).

A hall of 24 x 3 cells. Each episode the agent starts at the near end. The switch spans the far end; reaching
it turns it on and raises a pyramid back at the near end, whose gold brick ends the episode with +2. Each
decision costs 1 / max_step (Unity's -1/MaxStep), so an episode cut at max_step without the brick scores -1,
and the best route (46 moves) about 1.6. Observation: the agent's cell (one-hot) and whether the switch is on.
Random play reaches the switch in about 1 episode of 1,000 and almost never comes back.
"""

from __future__ import annotations

import numpy as np

from ...errors import BadValue
from .base import BehaviorInfo, Canvas, ObservationInfo, Scene

LENGTH, WIDTH = 24, 3  # a hall of 24 x 3 cells
CELLS = LENGTH * WIDTH
SWITCH_X, BRICK_X = LENGTH - 1, 0  # the switch spans the far end; the pyramid rises at the near end
NOOP, UP, DOWN, LEFT, RIGHT = range(5)
MOVES = np.array([[0, 0], [0, 1], [0, -1], [-1, 0], [1, 0]])  # (dx, dy) per action
CELL = 12
BRICK_REWARD = 2.0


class Pyramids(Scene):
    name = "Pyramids"
    description = ("Walk a hall to the switch, then back to the gold brick it raises: +2 at the brick and nothing "
                   "before (sparse; trains with RND).")
    behavior = BehaviorInfo(
        name="Pyramids",
        observations=(ObservationInfo(f"VectorSensor_size{CELLS + 1}", (CELLS + 1,)),),
        discrete_branches=(5,),  # 0 stay, 1 up, 2 down, 3 left, 4 right
    )
    agents_per_area = 1
    default_params = {"max_step": 120.0}
    param_help = {"max_step": "decisions before an episode is cut (each costs 1/max_step)"}
    benchmark_return = None  # a kit scene: Unity has no trained model of it (its best route scores about 1.6)
    # RND (3 x 64, learning rate 1e-4 as Unity's PyramidsRND.yaml; strength 0.1 and normalised inputs, as the RND
    # paper's) finds the brick within the budget; the scene's reward alone does not (bench/sparse.md)
    training = dict(steps=300_000, num_areas=8, lr=1e-3, train_batch_size=4096, minibatch_size=512, num_epochs=4,
                    entropy_coeff=0.01, hidden_units=64, num_layers=2, gamma=0.99, shared_critic=False, normalize=False,
                    target_return=1.4, rnd={"strength": 0.1, "normalize": True})

    def _check_param(self, key, value):
        if key == "max_step" and (value < 1 or value != int(value)):
            raise BadValue(f"Pyramids parameter 'max_step' must be a whole number >= 1, got {value}")

    def __init__(self, num_areas=1, seed=0, params=None):
        super().__init__(num_areas, seed, params)
        self.agent = np.zeros((self.n, 2), dtype=np.int64)
        self.switch_on = np.zeros(self.n, dtype=bool)

    def _reset_agents(self, which):
        count = int(which.sum())
        self.agent[which] = np.column_stack([np.zeros(count, dtype=np.int64), self.rng.integers(0, WIDTH, count)])
        self.switch_on[which] = False

    def _apply(self, continuous, discrete):
        self.agent = np.clip(self.agent + MOVES[np.clip(discrete[:, 0], 0, 4)], 0, (LENGTH - 1, WIDTH - 1))
        self.switch_on |= self.agent[:, 0] == SWITCH_X
        brick = self.switch_on & (self.agent[:, 0] == BRICK_X)
        return -1.0 / self.param("max_step") + BRICK_REWARD * brick, brick

    def _observe(self):
        obs = np.zeros((self.n, CELLS + 1), dtype=np.float32)
        obs[np.arange(self.n), self.agent[:, 1] * LENGTH + self.agent[:, 0]] = 1.0
        obs[:, -1] = self.switch_on
        return [obs]

    @staticmethod
    def heuristic(observations: list[np.ndarray]) -> np.ndarray:
        """The shortest way (Unity's Heuristic behavior type): to the switch, then down to the brick."""
        obs = observations[0]
        cell, on = obs[:, :-1].argmax(1), obs[:, -1] > 0.5
        x = cell % LENGTH
        act = np.where(on, np.where(x > BRICK_X, LEFT, NOOP), np.where(x < SWITCH_X, RIGHT, NOOP))
        return act.astype(np.int32)[:, None]

    def render(self):
        frames = []
        for i in range(self.n):
            canvas = Canvas(WIDTH * CELL, LENGTH * CELL, background=(48, 44, 40))

            def cell(xy, inset, color, canvas=canvas):
                x, y = xy
                top = (WIDTH - 1 - y) * CELL
                canvas.rect(top + inset, x * CELL + inset, top + CELL - inset, (x + 1) * CELL - inset, color)

            for y in range(WIDTH):
                cell((SWITCH_X, y), 2, (60, 220, 90) if self.switch_on[i] else (200, 60, 60))
                if self.switch_on[i]:
                    cell((BRICK_X, y), 1, (150, 120, 70))  # the pyramid
                    cell((BRICK_X, y), 4, (250, 200, 40))  # its gold bricks
            cell(tuple(self.agent[i]), 2, (60, 120, 255))
            frames.append(canvas.pixels)
        return self.tiled(frames, columns=1, agents=list(range(self.n)))
