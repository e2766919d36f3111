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


# ---- Pong: the competitive scene

def _pong_points(team0, team1, num_areas=32, steps=2000, seed=0, **params):
    """(team 0's wins, team 1's wins, draws) over ``steps`` exchanges, each team playing ``teamN(observations)``."""
    from unity_nb.envs.scenes import Pong

    scene = Pong(num_areas=num_areas, seed=seed, params=params or None)
    batches = scene.reset()
    wins0 = wins1 = draws = 0
    for _ in range(steps):
        deciding = {b: batch.observations[0][~batch.done] for b, batch in batches.items()}
        batches = scene.step({"Pong?team=0": ActionBatch(discrete=team0([deciding["Pong?team=0"]])),
                              "Pong?team=1": ActionBatch(discrete=team1([deciding["Pong?team=1"]]))})
        first, second = batches["Pong?team=0"], batches["Pong?team=1"]
        ended = first.done
        assert np.array_equal(ended, second.done)  # a point ends both teams' episodes
        # zero-sum: what one team gets the other loses, at every exchange
        assert np.allclose(first.rewards[ended] + second.rewards[ended], 0)
        assert np.allclose(first.rewards[~ended], 0) and np.allclose(second.rewards[~ended], 0)
        draws += int((ended & first.max_step_reached).sum())
        wins0 += int((first.rewards[ended & ~first.max_step_reached] > 0).sum())
        wins1 += int((second.rewards[ended & ~second.max_step_reached] > 0).sum())
    return wins0, wins1, draws


def _random(observations):
    return np.random.default_rng(len(observations[0])).integers(0, 3, (len(observations[0]), 1))


def test_pong_is_zero_sum_and_its_scripted_opponent_beats_random_play_from_either_side():
    from unity_nb.envs.scenes import Pong

    wins0, wins1, draws = _pong_points(Pong.heuristic, _random)
    assert wins0 > 200 and wins1 == 0, (wins0, wins1, draws)
    wins0, wins1, draws = _pong_points(_random, Pong.heuristic)
    assert wins1 > 200 and wins0 == 0, (wins0, wins1, draws)
    # the scripted opponent against itself: both sides score (angled returns beat it), and some rallies draw
    wins0, wins1, draws = _pong_points(Pong.heuristic, Pong.heuristic)
    assert wins0 > 20 and wins1 > 20 and draws > 20, (wins0, wins1, draws)  # 51, 51, 58


def test_pong_teams_see_the_court_from_their_own_side():
    """Mirror a court left to right: what team 1 saw, team 0 sees, so one policy can play either side."""
    from unity_nb.envs.scenes import Pong

    scene = Pong(num_areas=3, seed=4)
    scene.reset()
    for _ in range(7):
        scene.step({})
    before = scene._observe()[0].reshape(3, 2, 6)
    scene.paddle = scene.paddle[:, ::-1].copy()
    scene.ball[:, 0] = 1 - scene.ball[:, 0]
    scene.velocity[:, 0] *= -1
    after = scene._observe()[0].reshape(3, 2, 6)
    assert np.allclose(before[:, 1], after[:, 0]) and np.allclose(before[:, 0], after[:, 1])


def test_pong_refuses_bad_parameters_and_draws_frames_of_both_sides():
    import pytest

    from unity_nb.envs.scenes import Pong

    for params, message in [({"ball_speed": 0}, "ball_speed' must be in"), ({"ball_speed": 1}, "must be in"),
                            ({"max_step": 2.5}, "whole number"), ({"paddle": 1}, "has no parameter 'paddle'")]:
        with pytest.raises((ValueError, LookupError), match=message):
            Pong(params=params)
    frame = Pong(num_areas=4).render()
    assert frame.shape[0] % 2 == 0 and frame.shape[1] % 2 == 0 and frame.dtype == np.uint8
    blue = (frame[..., 2] > 200) & (frame[..., 0] < 120)
    red = (frame[..., 0] > 200) & (frame[..., 2] < 120)
    assert blue.any() and red.any()  # both teams' paddles are on screen


def test_a_behavior_name_with_a_team_is_a_module_id_and_back():
    from ray.rllib.core.rl_module import validate_module_id

    from unity_nb.evaluate.policy import SINGLE, behavior_of_module, module_id

    for name in ("Pong?team=0", "Striker?team=1", "3DBall", "a%b", "odd name.", "x<>:|*/\\\"", SINGLE):
        validate_module_id(module_id(name), error=True)
        assert behavior_of_module(module_id(name)) == name
    assert module_id("3DBall") == "3DBall" and module_id("Pong?team=0") == "Pong%3Fteam=0"


def test_the_scripted_opponent_is_refused_where_there_is_none(recorded_run):
    import pytest

    from unity_nb.errors import BadValue, NotPossible

    with pytest.raises(NotPossible, match="Basic has no scripted opponent: it comes with a built-in scene of two "
                                          "teams \\(Pong\\)"):
        recorded_run.evaluate(opponent="scripted")
    with pytest.raises(BadValue, match="opponent must be 'scripted'"):
        recorded_run.evaluate(opponent="me")
