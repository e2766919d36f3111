"""Pong: a two-team game, the kit's competitive scene (Unity's Tennis and SoccerTwos are its kind).

Each area is a court with a paddle per team: team 0 defends the left line, team 1 the right. A point is one
episode: the ball is served from the middle towards a random side; it bounces off the top and bottom walls and
off the paddles (faster, and deflected by where it meets the paddle); when it passes a paddle, the other team
scores +1 and the team that missed -1, and both agents' episodes end. A rally that lasts ``max_step``
decisions is a draw (both interrupted, reward 0). Rewards are zero-sum, as Unity's ELO needs.

The teams are Unity's behavior names ``Pong?team=0`` and ``Pong?team=1`` with the same observation and action
spec, and each team sees the court from its own side (mirrored for team 1), so one policy can play either side:
own paddle, other paddle, ball position and velocity, 6 floats. Actions: 1 branch of 3 (stay, up, down).

``heuristic`` is the scripted opponent (Unity's Heuristic behavior type): it follows the ball once the ball
comes into its half, and loses to a well-angled shot (a deflected ball can outrun its paddle).
"""

from __future__ import annotations

import numpy as np

from ...errors import BadValue
from .base import BehaviorInfo, Canvas, ObservationInfo, Scene

PADDLE_X = 0.05  # each paddle's distance from its own goal line side of the court (court: 0..1 both ways)
HALF = 0.12  # half a paddle's length
PADDLE_SPEED = 0.04  # court heights per decision
BALL_SPEED = 0.025  # the serve's horizontal speed per decision
SPEED_UP, MAX_SPEED = 1.06, 0.06  # each return speeds the ball up, to a limit
SPIN = 0.25  # how much where the ball meets the paddle deflects it
BALL_R = 0.015

_OBSERVATIONS = (ObservationInfo("VectorSensor_size6", (6,)),)


class Pong(Scene):
    name = "Pong"
    description = ("Two teams (Pong?team=0, Pong?team=1), a paddle each: +1 to the team that scores a point, -1 to "
                   "the one that misses; a point is an episode.")
    behaviors = (
        BehaviorInfo("Pong?team=0", _OBSERVATIONS, discrete_branches=(3,)),  # 0 stay, 1 up, 2 down
        BehaviorInfo("Pong?team=1", _OBSERVATIONS, discrete_branches=(3,)),
    )
    behavior = behaviors[0]
    agents_per_area = 2
    area_behaviors = (0, 1)
    default_params = {"max_step": 400.0, "ball_speed": BALL_SPEED}
    param_help = {
        "max_step": "decisions before a rally is a draw (0 = never)",
        "ball_speed": f"the serve's speed, court widths per decision (default {BALL_SPEED}; at most {MAX_SPEED})",
    }
    # Steps and batches count agent steps (16 agents an exchange: a batch is 2,048 exchanges); a minibatch is
    # each policy's rows. A zero-sum game: its mean return is 0 whoever plays well, so no target; a run trains its whole budget
    # (self-play's rating and the scripted opponent say how well it plays).
    training = dict(steps=1_600_000, num_areas=8, lr=1e-3, train_batch_size=32_768, minibatch_size=256, num_epochs=4,
                    entropy_coeff=0.01, hidden_units=64, num_layers=2, gamma=0.99, shared_critic=False,
                    normalize=False, target_return="off")

    def _check_param(self, key, value):
        if key == "max_step" and (value < 0 or value != int(value)):
            raise BadValue(f"Pong parameter 'max_step' must be a whole number >= 0, got {value}")
        if key == "ball_speed" and not 0 < value <= MAX_SPEED:
            raise BadValue(f"Pong parameter 'ball_speed' must be in (0, {MAX_SPEED}], got {value}")

    def __init__(self, num_areas=1, seed=0, params=None):
        super().__init__(num_areas, seed, params)
        a = self.num_areas
        self.paddle = np.full((a, 2), 0.5)  # each team's paddle centre (height)
        self.ball = np.full((a, 2), 0.5)  # x, y
        self.velocity = np.zeros((a, 2))

    def _areas(self, which: np.ndarray) -> np.ndarray:
        """The areas any of ``which`` (agents) are in: both agents of an area start and end together."""
        return which.reshape(self.num_areas, 2).any(axis=1)

    def _reset_agents(self, which):
        areas = np.flatnonzero(self._areas(which))
        if not len(areas):
            return
        speed = self.param("ball_speed")[2 * areas]
        self.paddle[areas] = 0.5
        self.ball[areas, 0] = 0.5
        self.ball[areas, 1] = self.rng.uniform(0.3, 0.7, len(areas))
        self.velocity[areas, 0] = speed * self.rng.choice([-1.0, 1.0], len(areas))
        self.velocity[areas, 1] = speed * self.rng.uniform(-0.6, 0.6, len(areas))

    def _apply(self, continuous, discrete):
        move = np.array([0.0, PADDLE_SPEED, -PADDLE_SPEED])[np.clip(discrete[:, 0], 0, 2)].reshape(self.num_areas, 2)
        self.paddle = np.clip(self.paddle + move, HALF, 1 - HALF)
        self.ball += self.velocity
        for wall in (0.0, 1.0):  # the top and bottom walls
            out = (self.ball[:, 1] - wall) * (1 if wall else -1) > 0
            self.ball[out, 1] = 2 * wall - self.ball[out, 1]
            self.velocity[out, 1] *= -1
        scored = np.zeros((self.num_areas, 2), dtype=bool)  # [area, team]: the team scored
        for team, line, heading in ((0, PADDLE_X, -1.0), (1, 1 - PADDLE_X, 1.0)):
            crossing = (np.sign(self.velocity[:, 0]) == heading) & ((self.ball[:, 0] - line) * heading >= 0)
            offset = self.ball[:, 1] - self.paddle[:, team]
            hit = crossing & (np.abs(offset) <= HALF + BALL_R)
            self.ball[hit, 0] = 2 * line - self.ball[hit, 0]
            speed = np.minimum(np.abs(self.velocity[hit, 0]) * SPEED_UP, MAX_SPEED)
            self.velocity[hit, 0] = -heading * speed
            self.velocity[hit, 1] += SPIN * offset[hit] * speed / HALF
            scored[crossing & ~hit, 1 - team] = True
        ended = scored.any(axis=1)
        rewards = np.where(scored, 1.0, np.where(ended[:, None], -1.0, 0.0)).reshape(-1)
        return rewards, np.repeat(ended, 2)

    def _observe(self):
        mirrored = np.array([False, True])
        own = self.paddle
        other = self.paddle[:, ::-1]
        x = np.where(mirrored, 1 - self.ball[:, :1], self.ball[:, :1])
        vx = np.where(mirrored, -self.velocity[:, :1], self.velocity[:, :1])
        y = np.broadcast_to(self.ball[:, 1:], x.shape)
        vy = np.broadcast_to(self.velocity[:, 1:], x.shape)
        obs = np.stack([2 * own - 1, 2 * other - 1, 2 * x - 1, 2 * y - 1, vx / MAX_SPEED, vy / MAX_SPEED], axis=-1)
        return [obs.reshape(self.n, 6).astype(np.float32)]

    @staticmethod
    def heuristic(observations: list[np.ndarray]) -> np.ndarray:
        """The scripted opponent's actions (n, 1) for observations as either team sees them: once the ball is
        in its half and coming its way it moves towards the ball's height, otherwise back to the middle. It
        beats random play every time and loses to well-angled returns (two of them draw most rallies)."""
        obs = observations[0]
        own, ball_x, ball_y, coming = obs[:, 0], obs[:, 2], obs[:, 3], obs[:, 4] < 0
        aim = np.where(coming & (ball_x < 0), ball_y, 0.0)
        gap = aim - own
        return np.where(gap > 0.08, 1, np.where(gap < -0.08, 2, 0)).astype(np.int32)[:, None]

    def render(self):
        h, w = 96, 128
        frames = []
        for a in range(self.num_areas):
            canvas = Canvas(h, w, background=(20, 60, 40))
            canvas.rect(0, w // 2 - 1, h, w // 2 + 1, (60, 110, 80))  # the net
            for team, color in ((0, (70, 130, 255)), (1, (240, 90, 80))):
                x = PADDLE_X * w if team == 0 else (1 - PADDLE_X) * w
                top = (1 - self.paddle[a, team] - HALF) * h  # height grows upwards on screen
                canvas.rect(top, x - 3, top + 2 * HALF * h, x + 3, color)
            canvas.disc((1 - self.ball[a, 1]) * h, self.ball[a, 0] * w, 3, (250, 250, 250))
            frames.append(canvas.pixels)
        return self.tiled(frames, columns=4 if self.num_areas % 4 == 0 else 1,
                          agents=[[2 * a, 2 * a + 1] for a in range(self.num_areas)])
