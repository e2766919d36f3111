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


class _RightOrRandom:
    """Greedy: always right (Basic's best); sampled: any move (a policy of one's own may take ``sampled``)."""

    def act(self, observations, action_mask=None, sampled=False):
        n = len(observations)
        return np.random.default_rng(0).integers(0, 3, n) if sampled else np.full(n, 2)


def test_evaluate_plays_greedy_and_sampled_and_says_which():
    from unity_nb.evaluate import evaluate

    both = evaluate(None, "Basic", episodes=20, num_areas=20, policies={"default_policy": _RightOrRandom()},
                    play="both")
    assert both.play == "deterministic" and abs(both.mean - 0.93) < 1e-6
    assert both.sampled.play == "sampled" and len(both.sampled.returns) == 20 and both.sampled.mean < 0.93
    assert repr(both).startswith("Evaluation(deterministic: 20 episodes: mean 0.930") and "Evaluation(sampled:" in repr(both)
    assert "<caption>sampled episodes: return</caption>" in both._repr_html_()
    try:
        evaluate(None, "Basic", episodes=2, policies={"default_policy": _RightOrRandom()}, play="greedy")
    except ValueError as err:
        assert "play must be one of deterministic, sampled or both, got 'greedy'" in str(err)
    else:
        raise AssertionError("an unknown play was accepted")
