"""The built-in scenes' own rules, checked on the scene objects (no client, no player)."""

import numpy as np
import pytest

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


# ---- frames: captions (step, return) and 3DBall in perspective

def _random_actions(scene, rng):
    """Random actions for every agent the last report asked to decide, behavior by behavior."""
    actions = {}
    decided = scene._decided()
    for k, behavior in enumerate(scene.behavior_list()):
        n = int((scene.agent_behavior[decided] == k).sum())
        continuous = rng.uniform(-1, 1, (n, behavior.continuous_size)).astype(np.float32)
        discrete = np.stack([rng.integers(0, m, n) for m in behavior.discrete_branches] or [np.zeros(n)], 1)
        actions[behavior.name] = ActionBatch(continuous=continuous if behavior.continuous_size else None,
                                             discrete=discrete.astype(np.int32) if behavior.discrete_branches else None)
    return actions


def _scene_names():
    from unity_nb.envs.scenes import SCENES

    return list(SCENES)


@pytest.mark.parametrize("name", _scene_names())
def test_captions_never_reach_an_observation(name):
    """A scene drawn at every step observes exactly what an undrawn twin does; writing to a frame changes
    nothing an agent sees; observations do not depend on the captioned numbers; cameras hold no caption."""
    from unity_nb.envs.scenes import scene_class
    from unity_nb.envs.scenes.base import CAPTION_BACK

    plain, drawn = scene_class(name)(num_areas=2, seed=3), scene_class(name)(num_areas=2, seed=3)
    plain.reset(), drawn.reset()
    rng = np.random.default_rng(0)
    for _ in range(25):
        frame = drawn.render()
        frame[...] = 255  # the caller's copy
        actions = _random_actions(plain, rng)
        a, b = plain.step(actions), drawn.step(actions)
        for behavior in a:
            for x, y in zip(a[behavior].observations, b[behavior].observations, strict=True):
                assert np.array_equal(x, y), behavior
    seen = drawn._observe()
    drawn.step_count += 37
    drawn.episode_return += 3.7
    drawn.render()
    for before, after in zip(seen, drawn._observe(), strict=True):
        assert np.array_equal(before, after)
        if after.dtype == np.uint8:  # a camera: not one pixel of a caption band
            assert not (after == np.uint8(CAPTION_BACK)).all(-1).any()


@pytest.mark.parametrize("name", _scene_names())
def test_every_tile_is_captioned_with_its_step_and_return(name):
    """Changing only the step counts and returns changes the frame in its caption bands only, and there the
    text is drawn: one band under each row of tiles, CAPTION_HEIGHT rows tall."""
    from unity_nb.envs.scenes import scene_class
    from unity_nb.envs.scenes.base import CAPTION_BACK, CAPTION_HEIGHT, CAPTION_WIDTH, caption_band

    scene = scene_class(name)(num_areas=2, seed=0)
    scene.reset()
    before = scene.render().copy()
    scene.step_count[:] = 37
    scene.episode_return[:] = 3.7
    assert scene.caption(0) == "step 37  return 3.70"
    after = scene.render()
    assert after.shape == before.shape and after.shape[0] % 2 == 0 and after.shape[1] % 2 == 0
    band = (before == np.uint8(CAPTION_BACK)).all(-1).sum(1) >= CAPTION_WIDTH // 2  # rows of caption bands
    changed = (before != after).any(-1)
    assert changed[band].any() and not changed[~band].any()
    starts = np.flatnonzero(band & ~np.roll(band, 1))
    assert len(starts) >= 1 and band.sum() == len(starts) * CAPTION_HEIGHT
    ink = (after > 200).all(-1) & band[:, None]  # light grey on the dark band
    one = int((caption_band("step 37  return 3.70", 200) > 200).all(-1).sum())  # a caption's own
    assert one > 50 and ink.sum() % one == 0 and all(ink[s : s + CAPTION_HEIGHT].sum() >= one for s in starts)


def test_a_caption_counts_the_agents_in_the_scene_and_lists_differing_returns():
    from unity_nb.envs.scenes import Escape, Pong

    pong = Pong(num_areas=1, seed=0)
    pong.reset()
    pong.step_count[:] = 12
    pong.episode_return[:] = [1.0, -1.0]
    assert pong.caption([0, 1]) == "step 12  return 1.00 / -1.00"
    pong.episode_return[:] = [-0.001, 0.001]
    assert pong.caption([0, 1]) == "step 12  return 0.00"  # one return, and never "-0.00"
    escape = Escape(num_areas=1, seed=0)
    escape.reset()
    escape.step_count[:] = [3, 9, 9]
    escape.active[1:] = False  # left: no longer counted
    assert escape.caption([0, 1, 2]) == "step 3  return 0.00"


def _platform_tile(tilt, ball=(0.0, -50.0, 0.0)):
    """The first platform's tile (no caption) and its platform pixels (bluish, not the background), the
    ball out of view unless placed."""
    from unity_nb.envs.scenes.ball3d import BACKGROUND, VIEW_H, VIEW_W

    scene = Ball3D(num_areas=1, seed=0)
    scene.reset()
    scene.tilt[:] = tilt
    scene.pos[:] = ball
    view = scene.render()[4 : 4 + VIEW_H, 4 : 4 + VIEW_W].astype(int)
    platform = (view != BACKGROUND).any(-1) & (view[..., 2] > view[..., 0])
    return view, platform


def test_3dball_frames_show_the_platform_tilted_in_perspective():
    def top_rows(platform):  # the highest platform row on screen in the left and the right half
        half = platform.shape[1] // 2
        return np.flatnonzero(platform[:, :half].any(1))[0], np.flatnonzero(platform[:, half:].any(1))[0]

    def extents(platform):  # each row's leftmost and rightmost platform pixel
        return [(r.nonzero()[0][0], r.nonzero()[0][-1]) if r.any() else None for r in platform]

    level_view, level = _platform_tile((0.0, 0.0))
    left, right = top_rows(level)
    assert left == right and level.sum() > 1500  # level: symmetric, and a good part of the tile
    width = level.any(0).nonzero()[0]
    assert level[np.flatnonzero(level.any(1))[0]].sum() < width[-1] - width[0]  # far edge shorter: perspective
    _, up_right = _platform_tile((20.0, 0.0))  # about z: the +x side rises
    left, right = top_rows(up_right)
    assert right < left - 3 and extents(up_right) != extents(level)
    _, away_down = _platform_tile((0.0, 20.0))  # about x: the far (+z) side sinks
    _, away_up = _platform_tile((0.0, -20.0))
    tops = [np.flatnonzero(p.any(1))[0] for p in (away_up, level, away_down)]
    assert tops[0] < tops[1] - 3 and tops[1] < tops[2] - 3, tops
    # shaded by its slope: lit from the front left, a top facing left is brighter than one facing right
    faces_left, _ = _platform_tile((20.0, 0.0))
    faces_right, _ = _platform_tile((-20.0, 0.0))
    from unity_nb.envs.scenes.ball3d import CENTRE_ROW, VIEW_W

    centre = (slice(CENTRE_ROW - 5, CENTRE_ROW + 5), slice(VIEW_W // 2 - 6, VIEW_W // 2 + 6))
    assert faces_left[centre].sum() > faces_right[centre].sum() > 0
    assert not np.array_equal(level_view[centre], faces_left[centre])


def test_3dball_frames_show_the_ball_where_it_is():
    from unity_nb.envs.scenes.ball3d import BALL

    def ball_at(x, y, z):
        view, _ = _platform_tile((0.0, 0.0), ball=(x, y, z))
        rows, cols = np.nonzero((view == BALL).all(-1))
        assert len(rows) > 10
        return rows.mean(), cols.mean()

    resting = ball_at(0.0, 0.5, 0.0)
    right = ball_at(1.5, 0.5, 0.0)
    far = ball_at(0.0, 0.5, 1.5)
    high = ball_at(0.0, 3.0, 0.0)
    assert right[1] > resting[1] + 10 and abs(right[0] - resting[0]) < 3
    assert far[0] < resting[0] - 5  # further from the camera: higher on screen
    assert high[0] < resting[0] - 15 and abs(high[1] - resting[1]) < 1
