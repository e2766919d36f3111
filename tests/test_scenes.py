"""The built-in scenes' own rules, checked on the scene objects (no client, no player)."""

import numpy as np

from unity_nb.envs.scenes import ActionBatch
from unity_nb.envs.scenes.ball3d import HALF_SIZE, Ball3D


def _ball_resting_on(scene: Ball3D, tilt, x: float, z: float) -> None:
    scene.reset()
    scene.tilt[:] = tilt
    gx, gz = np.tan(np.radians(tilt[0])), -np.tan(np.radians(tilt[1]))
    scene.pos[:] = [x, gx * x + gz * z + scene.param("scale")[0] / 2, z]
    scene.vel[:] = 0.0


def test_3dball_a_ball_keeps_rolling_downhill_while_the_platform_turns_under_it():
    """The platform tilted up along x (downhill is -x) turns about its other axis, the surface under the
    ball moving away from it: the ball still rolls downhill. (It used to float above the turning surface
    at every physics step, never rolling: it kept its speed, uphill too, a state a greedy policy learned
    to fall into, dropping the ball in ~1% of its episodes where its sampled actions never did.)"""
    scene = Ball3D(num_areas=1, seed=0)
    _ball_resting_on(scene, (20.0, -20.0), x=0.0, z=1.0)
    turn_under = np.tile(np.float32([0.0, 1.0]), (scene.n, 1))
    for _ in range(4):  # 20 physics steps: the x-axis tilt stays 20 degrees, the other turns 40
        scene.step({"3DBall": ActionBatch(continuous=turn_under)})
    assert np.all(scene.tilt[:, 0] == 20.0)
    # a rolling sphere on a 20 degree slope: 5/7 g sin(20) ~ 2.4 m/s^2 for 0.4 s, less the drag
    assert np.all(scene.vel[:, 0] < -0.7), scene.vel[:, 0]
    assert np.all(scene.pos[:, 0] < -0.1), scene.pos[:, 0]


def test_3dball_a_ball_thrown_uphill_comes_back():
    """On a fixed slope a ball moving uphill slows, stops and rolls back (no constant-speed glide)."""
    scene = Ball3D(num_areas=1, seed=0)
    _ball_resting_on(scene, (15.0, 0.0), x=-1.0, z=0.0)
    scene.vel[:, 0] = 1.0  # uphill
    still = np.zeros((scene.n, 2), np.float32)
    xs = []
    for _ in range(20):
        scene.step({"3DBall": ActionBatch(continuous=still)})
        xs.append(scene.pos[0, 0])
    assert max(xs) < HALF_SIZE and xs[-1] < max(xs) - 0.2, xs
