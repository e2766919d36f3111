"""A look inside the agent, and playing yourself: a policy's value and action distribution (``Policy.look``),
videos with that drawn under each frame, an episode kept whole (played, or a .demo's) for the scrubber, and the
play session a person drives with keys (the browser side is tests/browser/test_lab_play.py).

Real scenes in-process, real RLlib modules (untrained ones built from their spec, no Ray runtime: what is checked
is how the kit reads them, not what they learned); the trained run's checks are marked ``ray``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import unity_nb.envs  # noqa: F401  (the protobuf hook)
from unity_nb.envs.demo import load_demo
from unity_nb.errors import BadValue, NotFound
from unity_nb.evaluate import episode as episodes, overlay
from unity_nb.evaluate.demos import record_demo
from unity_nb.evaluate.policy import Policy
from unity_nb.evaluate.yourself import PlaySession

UNITY_NB = [sys.executable, "-m", "unity_nb.cli"]


def _policy(observation_size: int, action_space) -> Policy:
    from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    space = gym.spaces.Box(-np.inf, np.inf, (observation_size,), np.float32)
    continuous = isinstance(action_space, gym.spaces.Box)
    module = RLModuleSpec(module_class=DefaultPPOTorchRLModule, observation_space=space, action_space=action_space,
                          model_config={"fcnet_hiddens": [16], "free_log_std": continuous}).build()
    module.eval()
    return Policy.from_module(module)


@pytest.fixture(scope="module")
def basic_policy():
    return _policy(20, gym.spaces.Discrete(3))


@pytest.fixture(scope="module")
def ball_policy():
    return _policy(8, gym.spaces.Box(-np.inf, np.inf, (2,), np.float32))


# ---- Policy.look
def test_look_gives_values_and_the_distribution_the_policy_acts_from(basic_policy, ball_policy):
    obs = np.random.default_rng(0).normal(size=(5, 20)).astype(np.float32)
    look = basic_policy.look(obs)
    assert look.value.shape == (5,) and len(look.probs) == 1 and look.probs[0].shape == (5, 3)
    assert np.allclose(look.probs[0].sum(axis=1), 1.0)
    assert (look.probs[0].argmax(axis=1) == basic_policy.act(obs)).all()  # greedy = the most probable action
    obs = np.random.default_rng(1).normal(size=(4, 8)).astype(np.float32)
    look = ball_policy.look(obs)
    assert look.probs is None and look.mean.shape == (4, 2) and (look.std > 0).all()
    assert np.allclose(look.mean, ball_policy.act(obs), atol=1e-6)  # in Unity's units: clamp(x, -3, 3) / 3
    assert np.allclose(look.std, 1 / 3)  # log-std 0 before training, divided by 3 like the action
    one = look.row(2)
    assert one.mean.shape == (1, 2) and one.value.shape == (1,) and one.value[0] == look.value[2]


# ---- the overlay under a frame
def test_overlay_draws_a_row_per_agent_under_the_unchanged_frame(basic_policy):
    frame = np.full((40, 100, 3), 77, np.uint8)
    obs = np.zeros((3, 20), np.float32)
    look = basic_policy.look(obs)
    drawn = overlay.draw(frame, overlay.rows_of(look, np.array([0, 1, 2])))
    assert drawn.shape[0] == 40 + 3 * overlay.ROW + 4 and drawn.shape[0] % 2 == 0 and drawn.shape[1] % 2 == 0
    left = (drawn.shape[1] - 100) // 2
    assert (drawn[:40, left:left + 100] == 77).all()  # the scene's picture is left as it was
    panel = drawn[40:]
    taken = (panel == overlay.TAKEN).all(axis=2)
    assert taken.any() and (panel == overlay.OTHER).all(axis=2).any()  # the action taken stands out
    rows_with_taken = {int(y) // overlay.ROW for y in np.nonzero(taken)[0]}
    assert rows_with_taken == {0, 1, 2}  # one highlighted bar in each agent's row
    many = overlay.draw(frame, overlay.rows_of(basic_policy.look(np.zeros((11, 20), np.float32)), np.zeros(11, int)))
    assert many.shape[0] == 40 + overlay.MAX_ROWS * overlay.ROW + overlay.ROW + 4  # 8 rows and "... and 3 more"


def test_overlay_shows_a_continuous_actions_mean_spread_and_what_was_taken(ball_policy):
    frame = np.zeros((20, 20, 3), np.uint8)
    look = ball_policy.look(np.zeros((1, 8), np.float32))
    drawn = overlay.draw(frame, overlay.rows_of(look, np.array([[0.9, -0.9]])))
    assert drawn.shape[1] > 20  # widened for the tracks
    panel = drawn[20:]
    assert (panel == overlay.TAKEN).all(axis=2).any() and (panel == overlay.SPREAD).all(axis=2).any()


def test_record_with_overlay_needs_a_trained_policy():
    from unity_nb.evaluate import record

    with pytest.raises(BadValue, match="overlay=True draws what a trained policy thinks: give a checkpoint"):
        record(None, "Basic", overlay=True)
    with pytest.raises(BadValue, match="overlay must be True or False, got 'yes'"):
        record(None, "Basic", overlay="yes")
    out = subprocess.run([*UNITY_NB, "video", "3DBall", "--overlay"], capture_output=True, text=True)
    assert out.returncode == 2 and "--overlay shows what a trained policy thinks: give a run id" in out.stderr


# ---- an episode kept whole
def test_a_replayed_episode_keeps_every_step_and_its_frame():
    ep = episodes.replay(None, "Basic", seed=3)
    assert ep.done and ep.steps == len(ep.frames) == len(ep.rewards) == len(ep.discrete)
    assert ep.frames[0].ndim == 3 and ep.frames[0].dtype == np.uint8
    assert ep.observations[0].shape == (ep.steps, 20) and ep.values is None and ep.looks is None  # random play
    assert ep.total_reward == pytest.approx(float(ep.rewards.sum()))
    assert ep.rewards[-1] in (pytest.approx(0.1 - 0.01), pytest.approx(1.0 - 0.01))  # it ended at a goal
    table = episodes.table(ep)
    assert list(table.columns) == ["action", "reward", "return"] and table["return"].iloc[-1] == pytest.approx(ep.total_reward)
    cut = episodes.replay(None, "3DBall", max_steps=5)
    assert cut.steps == 5 and not cut.done and cut.continuous.shape == (5, 2)
    for bad in (0, 2001, 2.5, True):
        with pytest.raises(BadValue, match="max_steps must be a whole number from 1 to 2000"):
            episodes.replay(None, "Basic", max_steps=bad)


def test_a_demo_episode_judged_by_a_policy(tmp_path, basic_policy):
    path = tmp_path / "right.demo"
    record_demo(lambda obs: np.full(len(obs[0]), 2), "Basic", path, episodes=2)  # always right: 7 steps to +1
    first = episodes.from_demo(path)
    assert first.steps == 7 and first.done and first.frames is None and first.values is None
    judged = episodes.from_demo(load_demo(path), 1, policy=basic_policy)
    assert judged.values.shape == (judged.steps,) and len(judged.looks) == judged.steps
    assert "probability" in episodes.table(judged).columns
    with pytest.raises(NotFound, match=r"episode 5: right.demo has 2 episode\(s\), 0 to 1"):
        episodes.from_demo(path, 5)


def test_a_camera_demo_shows_its_camera_as_the_frames(tmp_path):
    from unity_nb.envs.scenes.gridworld import GridWorld

    path = tmp_path / "grid.demo"
    record_demo(lambda obs: np.zeros(len(obs[0]), int), "GridWorld", path, episodes=1, max_steps=400)
    ep = episodes.from_demo(path)
    assert len(ep.frames) == ep.steps and ep.frames[0].shape == GridWorld.camera_shape and ep.frames[0].dtype == np.uint8


def test_the_scrubber_carries_every_step_as_json(basic_policy, tmp_path):
    from unity_nb.notebook.scrubber import Scrubber

    path = tmp_path / "right.demo"
    record_demo(lambda obs: np.full(len(obs[0]), 2), "Basic", path, episodes=1)
    widget = Scrubber(episodes.from_demo(path, policy=basic_policy))
    assert len(widget.steps) == 7 and widget.frames == [] and widget.index == 0
    step = json.loads(json.dumps(widget.steps[3]))  # what the browser gets
    assert step["action"] == [2] and len(step["obs"]) == 20 and len(step["probs"][0]) == 3 and "value" in step
    assert widget.steps[-1]["ret"] == pytest.approx(0.93, abs=1e-5)
    played = Scrubber(episodes.replay(None, "Pong", max_steps=3))
    assert len(played.frames) == 3 and played.frames[0].startswith("data:image/png;base64,")
    assert "needs a Jupyter widget front-end" in repr(played)  # what a front-end without widgets shows
    with pytest.raises(BadValue, match="Scrubber shows an Episode"):
        Scrubber("right.demo")


def test_the_episode_command_prints_the_steps(tmp_path):
    path = tmp_path / "right.demo"
    record_demo(lambda obs: np.full(len(obs[0]), 2), "Basic", path, episodes=1)
    out = subprocess.run([*UNITY_NB, "episode", str(path)], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("unity-nb: 7 steps, return 0.930") and "reward" in out.stdout
    out = subprocess.run([*UNITY_NB, "episode", "Pyramids", "--max-steps", "3"], capture_output=True, text=True)
    assert out.returncode == 0 and "3 steps" in out.stdout and "(cut before its end: --max-steps)" in out.stdout
    for args, message in [((str(path), "--index", "3"), "episode 3: right.demo has 1 episode(s)"),
                          ((str(path), "--sampled"), "--sampled: a .demo's actions are the recorded ones"),
                          (("Basic", "--run", "x"), "--run goes with a .demo"),
                          (("Basic", "--index", "1"), "--index picks an episode of a .demo file"),
                          ((str(tmp_path / "none.demo"),), "none.demo"),
                          (("Pyramids", "--max-steps", "0"), "--max-steps")]:
        out = subprocess.run([*UNITY_NB, "episode", *args], capture_output=True, text=True)
        assert out.returncode == 2 and message in out.stderr, (args, out.stderr)


# ---- playing yourself
def test_keys_play_basic_and_each_finished_episode_is_recorded(tmp_path):
    path = tmp_path / "mine.demo"
    game = PlaySession("Basic", demo=path)
    try:
        assert [b.label for b in game.bindings if b.key in ("ArrowLeft", "ArrowRight")] == ["left", "right"]
        for _ in range(6):
            status = game.step(["ArrowRight"])
        assert status["step"] == 6 and status["return"] == pytest.approx(-0.06) and not path.exists()
        status = game.step(["ArrowLeft", "ArrowRight"])  # the later key wins the branch
        assert status["episodes"] == 1 and status["last_returns"] == [pytest.approx(0.93)] and status["step"] == 0
        assert status["ended"] and status["reward"] == pytest.approx(0.99) and status["return"] == 0
        assert status["demo"] == str(path) and status["demo_steps"] == 8
        assert load_demo(path).episodes()[0].total_reward == pytest.approx(0.93)  # written as soon as it ended
        assert not game.step(["ArrowLeft"])["ended"]  # (a third step left would reach the small goal)
        game.step(["ArrowLeft"])
        assert game.step([])["step"] == 3 and game.new_episode()["step"] == 0  # dropped, not recorded
        for _ in range(7):
            game.step(["d"])  # the second key of the same action
        demo = load_demo(path)
        assert [e.total_reward for e in demo.episodes() if e.done] == [pytest.approx(0.93)] * 2
        assert all((e.discrete[:-1] == 2).all() for e in demo.episodes()[:1])
        assert game.frame().ndim == 3
    finally:
        game.close()


def test_sliders_and_keys_drive_3dball_and_pong_plays_its_scripted_opponent(tmp_path):
    game = PlaySession("3DBall", demo=False)
    try:
        assert game.action(["ArrowLeft"], [0.5, 0.25]).continuous.tolist() == [[1.0, 0.25]]  # a key overrides its axis
        assert [b.label for b in game.bindings[:4]] == ["ball right", "ball left", "ball away", "ball near"]
        assert game.action([], [3.0, -3.0]).continuous.tolist() == [[1.0, -1.0]]  # clipped to Unity's range
        with pytest.raises(BadValue, match="3DBall has 2 continuous action"):
            game.action([], [0.1])
        assert game.step([], [0.0, 0.0])["return"] == pytest.approx(0.1)
        assert game.demo_path is None
    finally:
        game.close()
    game = PlaySession("Pong", demo=tmp_path / "pong.demo")
    try:
        assert set(game.others) == {"Pong?team=0", "Pong?team=1"}  # the scripted player on the other side
        for _ in range(400):
            status = game.step(["ArrowUp"])
        assert status["episodes"] >= 1 and all(r in (-1.0, 0.0, 1.0) for r in status["last_returns"])
        assert load_demo(tmp_path / "pong.demo").behavior == "Pong?team=0"
    finally:
        game.close()


def test_the_persons_tile_is_framed_and_no_other():
    """3DBall has 12 platforms in one area and the person tilts one of them: its tile (and only its) is framed,
    and a video of the same scene frames nothing."""
    from unity_nb.envs.scenes.base import MARK_COLOR

    game = PlaySession("3DBall", demo=False)
    try:
        frame = game.frame()
        framed = (frame == MARK_COLOR).all(axis=2)
        rows, cols = np.nonzero(framed)
        assert framed.any() and rows.min() == 0 and cols.min() == 0  # the first tile, top left, in the gap
        assert cols.max() < frame.shape[1] // 3 and rows.max() < frame.shape[0] // 2  # no other tile
        scene = game.source.base.scene
        assert scene.marked == {int(np.flatnonzero(scene.ids == game.agent)[0])}
    finally:
        game.close()
    from unity_nb.envs.source import EnvSource

    source = EnvSource("3DBall", mode="inprocess", num_areas=1, render=True)
    try:
        source.call("reset")
        assert not (source.frame() == MARK_COLOR).all(axis=2).any()
    finally:
        source.close()


def test_a_camera_only_scene_shows_its_camera():
    game = PlaySession("GridWorld", demo=False)
    try:
        assert game.frame().shape[2] == 3 and game.step(["ArrowUp"])["step"] == 1
    finally:
        game.close()


@pytest.mark.parametrize("given, message", [
    (dict(scene="Nowhere"), "scene must be a built-in scene, got 'Nowhere'; a Unity build is played in Unity itself"),
    (dict(scene=""), "scene must be a built-in scene"),
    (dict(keys=["ArrowLeft"]), "keys must be a dict of key -> action, got list"),
    (dict(keys={"x": 3}), r"keys\['x'\]: action 3 is not one of Basic's actions \(branch 0 has 3: 0 to 2\)"),
    (dict(keys={"x": (1, 0)}), r"keys\['x'\]: branch 1 is not one of Basic's action branches \(0 to 0\)"),
    (dict(keys={"x": "left"}), r"keys\['x'\]: action 'left' is not one of Basic's actions"),
    (dict(keys={"": 1}), "a key is a browser key name such as 'ArrowLeft'"),
    (dict(scene="3DBall", keys={"x": 1}), r"keys\['x'\]: 3DBall's actions are continuous: map a key to \(axis, value\)"),
    (dict(scene="3DBall", keys={"x": (2, 1.0)}), r"axis 2 is not one of 3DBall's continuous actions \(0 to 1\)"),
    (dict(scene="3DBall", keys={"x": (0, 1.5)}), "a continuous action is between -1 and 1, got 1.5"),
    (dict(opponent="scripted"), "opponent='scripted': Basic has no scripted player"),
    (dict(opponent=42), "opponent must be a run"),
    (dict(snapshot=1), "snapshot= picks one of a self-play run's snapshots: give the run as opponent= too"),
    (dict(demo="mine.txt"), "demo: a demonstration file's name ends in .demo, got 'mine.txt'"),
    (dict(demo=""), "demo must be a file name ending in .demo"),
    (dict(behavior="Nobody"), "behavior 'Nobody' is not in Basic; it has Basic"),
])
def test_bad_play_settings_are_refused_by_name(given, message):
    given = {"scene": "Basic", **given}
    with pytest.raises((BadValue, NotFound), match=message):
        PlaySession(given.pop("scene"), **given)


def test_a_key_mapped_to_none_is_unbound_and_the_widget_reports_errors_in_place():
    from unity_nb.notebook.play import PlayWidget

    widget = PlayWidget("Basic", keys={"a": None, "j": 1}, demo=False)
    try:
        assert [c["keys"] for c in widget.controls] == [["ArrowLeft", "j"], ["ArrowRight", "d"]]
        assert widget.realtime is False and widget.axes == 0 and widget.frame.startswith("data:image/png;base64,")
        sent = []
        widget.send = sent.append
        widget._on_message(widget, {"type": "step", "held": ["j"]}, [])
        assert widget.status["step"] == 1 and widget.error == "" and sent == [{"type": "stepped"}]
        widget._on_message(widget, {"type": "step", "held": [], "sliders": [0.5]}, [])  # Basic has no sliders
        assert widget.error.startswith("BadValue: Basic has 0 continuous action") and len(sent) == 2
        assert "playing needs a Jupyter widget front-end" in repr(widget)
    finally:
        widget.close()
    with pytest.raises(BadValue, match="fps must be a number from 1 to 60, got 0"):
        PlayWidget("3DBall", fps=0, demo=False)
    ball = PlayWidget("3DBall", demo=False)
    assert ball.realtime and ball.axes == 2 and ball.fps == 10.0
    ball.close()


def test_play_yourself_from_the_command_line_and_its_flags():
    out = subprocess.run([*UNITY_NB, "play", "Basic", "--yourself"], capture_output=True, text=True)
    assert out.returncode == 2 and "a person plays in a notebook" in out.stderr and "%unity_play Basic --yourself" in out.stderr
    out = subprocess.run([*UNITY_NB, "play", "Basic", "--key", "a=1"], capture_output=True, text=True)
    assert out.returncode == 2 and "--key: only --yourself takes them" in out.stderr
    from unity_nb.verbs import parse_keys

    assert parse_keys(["ArrowLeft=1", "j=0:2", "k=1:-0.5", "a=none", "==1"]) == {
        "ArrowLeft": 1, "j": (0, 2), "k": (1, -0.5), "a": None, "=": 1}
    with pytest.raises(BadValue, match="--key 'j': write KEY=ACTION"):
        parse_keys(["j"])
    with pytest.raises(BadValue, match="--key 'j=left': the action is a whole number"):
        parse_keys(["j=left"])


@pytest.mark.ray
def test_a_trained_runs_overlay_video_and_episode(trained_basic):
    plain = trained_basic.video(episodes=1, fmt="gif")
    seen = trained_basic.video(episodes=1, fmt="gif", overlay=True)
    assert seen.height == plain.height + overlay.ROW + 4 + (plain.height + overlay.ROW + 4) % 2 and seen.frames == plain.frames
    ep = trained_basic.episode()
    assert ep.done and ep.total_reward == pytest.approx(0.93, abs=1e-5) and ep.values is not None
    # the greedy action is the most probable one, and the value rises towards the goal
    assert all(int(look.probs[0][0].argmax()) == int(a[0]) for look, a in zip(ep.looks, ep.discrete))
    assert ep.values[-1] > ep.values[0]


def test_a_demo_played_in_the_browser_reads_back():
    """tests/data/played-basic.demo: recorded by tests/browser/test_lab_play.py (chromium's key presses through the
    play widget: six → and a d, then a, and the "left" button twice) and copied here; mlagents-learn's
    demo_to_buffer reads the same 11 steps (checked by hand with the peer venv, see the closing note)."""
    from pathlib import Path

    demo = load_demo(Path(__file__).parent / "data" / "played-basic.demo")
    ended = [e for e in demo.episodes() if e.done]
    assert [round(e.total_reward, 2) for e in ended] == [0.93, 0.07] and demo.behavior == "Basic"
    assert ended[0].discrete[:, 0].tolist() == [2] * 7 and ended[1].discrete[1:, 0].tolist() == [1, 1, 1]
