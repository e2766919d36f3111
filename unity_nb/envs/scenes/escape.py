"""Escape: a cooperative scene in the spirit of Unity's DungeonEscape, where only teamwork earns a reward.

Each area is a small grid with three agents in one group (Unity's ``SimpleMultiAgentGroup``), a dragon and
a door. The door opens only with the key, and the key drops only where the dragon was slain; slaying it
costs the agent that does it its life: that agent leaves the group mid-episode (a terminal step, then
silence, as a disabled Unity agent) and gets no reward. When a teammate carries the key through the door,
the group gets a group reward of +1 and every agent still in it ends its episode; the group starts again,
the fallen agent back with a new id (an enabled Unity agent draws one). A group that has not escaped after
``max_environment_steps`` decisions is interrupted (Unity's ``GroupEpisodeInterrupted``). Agents earn no
reward of their own: independent learners see the sacrifice as a loss, a group's critic (POCA) as the way out.

Observation (18 floats, each agent its own view): own position; dragon alive, and where; key on the floor,
and where; whether it or a teammate holds the key; the door; each teammate: present, and where (relative
positions in grid widths). Actions: one branch of 5 (stay, up, down, left, right).
"""

from __future__ import annotations

import numpy as np

from ...errors import BadValue
from .base import BehaviorInfo, Canvas, ObservationInfo, Outcome, Scene

SIZE = 5  # the grid's width and height
MATES = 3  # agents per group
MOVES = np.array([[0, 0], [0, 1], [0, -1], [-1, 0], [1, 0]])  # (dx, dy) per action
NO_ONE = -1


class Escape(Scene):
    name = "Escape"
    description = ("Three agents in a group: one must slay the dragon (and leave) so that another can carry its "
                   "key through the door; +1 group reward on escaping, nothing else.")
    behavior = BehaviorInfo("Escape", (ObservationInfo("VectorSensor_size18", (18,)),), discrete_branches=(5,))
    agents_per_area = MATES
    default_params = {"max_environment_steps": 40.0}
    param_help = {"max_environment_steps": "decisions before a group that has not escaped is interrupted"}
    # Agents leave mid-episode: trained on the multi-agent path (agents_leave). Steps and batches count agent
    # steps (24 agents an exchange: a batch is 512 exchanges); a minibatch is rows of the policy. POCA unless
    # poca: false. A group that escapes gives 2 of its 3 agents +1 (the slayer fell), so the best mean agent
    # return is 2/3; no target: an agent's return says little of its group's (bench/poca.md counts escapes),
    # and a slayer's episode ends first, so the first episodes to end over-count slayers.
    agents_leave = True
    groups = True
    training = dict(steps=150_000, num_areas=8, lr=1e-3, train_batch_size=12_288, minibatch_size=512, num_epochs=3,
                    entropy_coeff=0.01, hidden_units=64, num_layers=2, gamma=0.95, shared_critic=False,
                    normalize=False, target_return="off", poca=True)

    def _check_param(self, key, value):
        if key == "max_environment_steps" and (value < 1 or value != int(value)):
            raise BadValue(f"Escape parameter 'max_environment_steps' must be a whole number >= 1, got {value}")

    def __init__(self, num_areas=1, seed=0, params=None):
        super().__init__(num_areas, seed, params)
        a = self.num_areas
        self.group_id = np.repeat(np.arange(1, a + 1, dtype=np.int32), MATES)  # Unity's group ids start at 1
        self.pos = np.zeros((a, MATES, 2), dtype=np.int64)
        self.dragon = np.zeros((a, 2), dtype=np.int64)
        self.dragon_alive = np.ones(a, dtype=bool)
        self.key = np.zeros((a, 2), dtype=np.int64)
        self.key_on_floor = np.zeros(a, dtype=bool)
        self.holder = np.full(a, NO_ONE)  # which agent of the area carries the key
        self.door = np.zeros((a, 2), dtype=np.int64)
        self.elapsed = np.zeros(a, dtype=np.int64)  # the group's decisions so far

    def _reset_agents(self, which):
        # a group starts together (the env controller's ResetScene): any agent starting restarts its area
        areas = np.flatnonzero(which.reshape(self.num_areas, MATES).any(axis=1))
        for a in areas:
            cells = self.rng.choice(2 * SIZE, MATES, replace=False)  # distinct cells in the two left columns
            self.pos[a] = np.stack([cells // SIZE, cells % SIZE], axis=1)
            self.door[a] = (SIZE - 1, self.rng.integers(SIZE))
            while True:
                self.dragon[a] = (self.rng.integers(2, SIZE), self.rng.integers(SIZE))
                if not (self.dragon[a] == self.door[a]).all():
                    break
        self.dragon_alive[areas] = True
        self.key_on_floor[areas] = False
        self.holder[areas] = NO_ONE
        self.elapsed[areas] = 0

    def _apply(self, continuous, discrete):
        a = self.num_areas
        inside = self.active.reshape(a, MATES)
        step = MOVES[np.clip(discrete[:, 0], 0, 4)].reshape(a, MATES, 2)
        self.pos = np.where(inside[..., None], np.clip(self.pos + step, 0, SIZE - 1), self.pos)
        self.elapsed += 1
        leaving = np.zeros((a, MATES), dtype=bool)
        escaped = np.zeros(a, dtype=bool)
        for k in range(a):
            here = inside[k]
            on = lambda cell: here & (self.pos[k] == cell).all(axis=1)  # noqa: E731
            if self.dragon_alive[k] and on(self.dragon[k]).any():
                slayer = int(np.flatnonzero(on(self.dragon[k]))[0])
                leaving[k, slayer] = True
                self.dragon_alive[k] = False
                self.key[k], self.key_on_floor[k] = self.dragon[k], True
                here = here & ~leaving[k]
            if self.key_on_floor[k] and on(self.key[k]).any():
                self.holder[k] = int(np.flatnonzero(on(self.key[k]))[0])
                self.key_on_floor[k] = False
            if self.holder[k] != NO_ONE and (self.pos[k, self.holder[k]] == self.door[k]).all():
                escaped[k] = True
        limit = self.param("max_environment_steps").reshape(a, MATES)[:, 0]
        interrupted = ~escaped & (self.elapsed >= limit)
        over = escaped | interrupted  # the group's episode ends for everyone still in it; the fallen come back
        leaving[over] = False  # a slayer falling as the group's episode ends ends with it, and starts again
        group_rewards = np.repeat(np.where(escaped, 1.0, 0.0), MATES)
        return Outcome(
            rewards=np.zeros(self.n),
            terminated=(leaving | escaped[:, None]).reshape(-1),
            interrupted=np.repeat(interrupted, MATES),
            leaving=leaving.reshape(-1),
            returning=np.repeat(over, MATES),
            group_rewards=group_rewards,
        )

    def _observe(self):
        a, scale = self.num_areas, SIZE - 1
        obs = np.zeros((a, MATES, 18), dtype=np.float32)
        own = self.pos.astype(np.float32)
        rel = lambda cell: (cell[:, None, :] - own) / scale  # noqa: E731  (a, MATES, 2)
        obs[..., 0:2] = 2 * own / scale - 1
        obs[..., 2] = self.dragon_alive[:, None]
        obs[..., 3:5] = rel(self.dragon) * self.dragon_alive[:, None, None]
        obs[..., 5] = self.key_on_floor[:, None]
        obs[..., 6:8] = rel(self.key) * self.key_on_floor[:, None, None]
        me = np.arange(MATES)[None, :]
        held = self.holder[:, None] != NO_ONE
        obs[..., 8] = self.holder[:, None] == me
        obs[..., 9] = held & (self.holder[:, None] != me)
        obs[..., 10:12] = rel(self.door)
        inside = self.active.reshape(a, MATES)
        for i in range(MATES):
            for j, mate in enumerate(m for m in range(MATES) if m != i):
                column = 12 + 3 * j
                obs[:, i, column] = inside[:, mate]
                obs[:, i, column + 1:column + 3] = (own[:, mate] - own[:, i]) / scale * inside[:, mate, None]
        return [obs.reshape(self.n, 18)]

    @staticmethod
    def heuristic(observations: list[np.ndarray]) -> np.ndarray:
        """Scripted teamwork (Unity's Heuristic behavior type), from each agent's own observation: the agent
        nearest the dragon slays it, whoever is nearest the key takes it, the key's holder walks to the door,
        the others wait."""
        obs = observations[0]

        def towards(dx, dy):
            horizontal = np.where(dx > 0, 4, 3)
            vertical = np.where(dy > 0, 1, 2)
            return np.where(np.abs(dx) >= np.abs(dy), np.where(dx == 0, 0, horizontal), vertical)

        def nearest(dx, dy):  # no teammate is strictly nearer to (dx, dy) than this agent
            mine = np.abs(dx) + np.abs(dy)
            nearer = np.zeros(len(obs), dtype=bool)
            for column in (12, 15):
                present = obs[:, column] > 0
                theirs = np.abs(dx - obs[:, column + 1]) + np.abs(dy - obs[:, column + 2])
                nearer |= present & (theirs < mine - 1e-6)
            return ~nearer

        dragon, key, door = obs[:, 3:5], obs[:, 6:8], obs[:, 10:12]
        act = np.zeros(len(obs), dtype=np.int32)
        slay = (obs[:, 2] > 0) & nearest(dragon[:, 0], dragon[:, 1])
        act = np.where(slay, towards(dragon[:, 0], dragon[:, 1]), act)
        fetch = (obs[:, 5] > 0) & nearest(key[:, 0], key[:, 1])
        act = np.where(fetch, towards(key[:, 0], key[:, 1]), act)
        act = np.where(obs[:, 8] > 0, towards(door[:, 0], door[:, 1]), act)
        return act.astype(np.int32)[:, None]

    def render(self):
        cell = 26  # 130 px: a caption's width
        frames = []
        colors = ((70, 130, 255), (90, 220, 120), (240, 200, 60))
        for a in range(self.num_areas):
            canvas = Canvas(SIZE * cell, SIZE * cell, background=(40, 36, 48))
            for x in range(SIZE):
                for y in range(SIZE):
                    if (x + y) % 2:
                        canvas.rect((SIZE - 1 - y) * cell, x * cell, (SIZE - y) * cell, (x + 1) * cell, (48, 44, 58))

            def at(p):
                return (SIZE - 1 - p[1]) * cell, p[0] * cell

            y, x = at(self.door[a])
            canvas.rect(y + 1, x + 1, y + cell - 1, x + cell - 1, (150, 100, 50))
            if self.dragon_alive[a]:
                y, x = at(self.dragon[a])
                canvas.disc(y + cell / 2, x + cell / 2, cell / 2 - 1, (220, 40, 40))
            if self.key_on_floor[a]:
                y, x = at(self.key[a])
                canvas.rect(y + 8, x + 5, y + cell - 8, x + cell - 5, (250, 230, 80))
            for i in range(MATES):
                if not self.active[a * MATES + i]:
                    continue
                y, x = at(self.pos[a, i])
                canvas.disc(y + cell / 2, x + cell / 2, cell / 3, colors[i])
                if self.holder[a] == i:
                    canvas.rect(y + 1, x + 2, y + 6, x + cell - 2, (250, 230, 80))
            frames.append(canvas.pixels)
        return self.tiled(frames, columns=4 if self.num_areas % 4 == 0 else 1,
                          agents=[np.arange(a * MATES, (a + 1) * MATES) for a in range(self.num_areas)])
