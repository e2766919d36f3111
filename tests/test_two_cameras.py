"""SignPost: a built-in scene with two cameras per agent, each carrying what the other lacks."""

import numpy as np
import pytest

import unity_nb.envs as ue
from unity_nb.envs.scenes import SCENES, ActionBatch, SignPost, scene_class
from unity_nb.envs.scenes.gridworld import AGENT, CROSS, PLUS

STAY, UP, DOWN, LEFT, RIGHT = range(5)
STEP = {UP: (0, 1), DOWN: (0, -1), LEFT: (-1, 0), RIGHT: (1, 0)}


def test_registered_with_its_description_and_benchmark():
    assert SCENES["SignPost"] is SignPost
    assert scene_class("signpost") is SignPost
    assert SignPost.benchmark_return == 0.8 and "two cameras" in SignPost.description


def test_specs_over_the_real_client(unity_env):
    """Two visual observations, overhead first (Unity sorts sensors by name), no goal-signal vector."""
    from mlagents_envs.base_env import ObservationType

    env = unity_env("SignPost", num_areas=2).env
    env.reset()
    spec = env.behavior_specs["SignPost"]
    assert [(o.name, o.shape) for o in spec.observation_specs] == [
        ("OverheadCamera", (40, 40, 3)), ("SignCamera", (36, 36, 3))]
    assert all(o.observation_type == ObservationType.DEFAULT for o in spec.observation_specs)
    assert spec.action_spec.discrete_branches == (5,) and spec.action_spec.continuous_size == 0
    decision, _ = env.get_steps("SignPost")
    assert len(decision) == 18
    assert decision.obs[0].shape == (18, 40, 40, 3) and decision.obs[1].shape == (18, 36, 36, 3)
    assert decision.action_mask[0].shape == (18, 5)


def test_both_cameras_reach_the_client_pixel_for_pixel(unity_env):
    """Player (PNG over gRPC) and in-process give the same images, masks and rewards for a seed and actions."""
    from mlagents_envs.base_env import ActionTuple

    from unity_nb.envs.inprocess import InProcessEnv

    env = unity_env("SignPost", seed=3).env
    local = InProcessEnv("SignPost", seed=3)
    env.reset()
    local.reset()
    rng = np.random.default_rng(0)
    for _ in range(40):
        for remote, here in zip(env.get_steps("SignPost"), local.get_steps("SignPost")):
            assert len(remote) == len(here)
            for a, b in zip(remote.obs, here.obs):
                assert np.array_equal(a, b)
            assert np.array_equal(remote.reward, here.reward)
        assert np.array_equal(env.get_steps("SignPost")[0].action_mask[0], local.get_steps("SignPost")[0].action_mask[0])
        n = len(local.get_steps("SignPost")[0])
        actions = ActionTuple(discrete=rng.integers(0, 5, (n, 1)).astype(np.int32))
        env.set_actions("SignPost", actions)
        local.set_actions("SignPost", actions)
        env.step()
        local.step()


# ---- hand-written policies that read the cameras' pixels
def _cells_of(image: np.ndarray, color, size: int) -> tuple[int, int]:
    """Grid cell (x, y; y = 0 the bottom row) at the centre of the pixels of ``color`` in an overhead image."""
    rows, cols = np.nonzero(np.all(image == color, axis=-1))
    assert len(rows), f"no pixel of colour {color} in the overhead camera"
    side = image.shape[0] / size
    return int(cols.mean() // side), size - 1 - int(rows.mean() // side)


def _read_overhead(image, size):
    return _cells_of(image, AGENT, size), _cells_of(image, PLUS, size), _cells_of(image, CROSS, size)


def _read_sign(image) -> int:
    """0 if the sign shows the green plus, 1 if the red cross."""
    green = np.all(image == PLUS, axis=-1).sum()
    red = np.all(image == CROSS, axis=-1).sum()
    assert green != red
    return int(red > green)


def _walk(agent, goal, avoid, allowed) -> int:
    """A move that brings ``agent`` closer to ``goal`` without stepping on ``avoid`` (around it if it is in the way)."""
    dx, dy = goal[0] - agent[0], goal[1] - agent[1]
    options = []
    for distance, move in sorted([(abs(dx), RIGHT if dx > 0 else LEFT), (abs(dy), UP if dy > 0 else DOWN)], reverse=True):
        if distance:
            options.append(move)
    aside = (LEFT, RIGHT) if dx == 0 else (UP, DOWN)  # the other pad in the way: a step aside, never back
    options += [m for m in aside + (UP, DOWN, LEFT, RIGHT) if m not in options]
    for move in options:
        x, y = agent[0] + STEP[move][0], agent[1] + STEP[move][1]
        if allowed[move] and (x, y) != tuple(avoid):
            return move
    return STAY


def both_cameras(overhead, sign, allowed, size, rng):
    agent, plus, cross = _read_overhead(overhead, size)
    goal, other = (plus, cross) if _read_sign(sign) == 0 else (cross, plus)
    return _walk(agent, goal, other, allowed)


def overhead_only(overhead, sign, allowed, size, rng):
    """Sees the grid but not the sign: heads for the pad drawn as a plus (it cannot know better)."""
    agent, plus, cross = _read_overhead(overhead, size)
    return _walk(agent, plus, cross, allowed)


def sign_only(overhead, sign, allowed, size, rng):
    """Knows the goal's symbol but not where the pads are: wanders (within the walls)."""
    _read_sign(sign)
    return int(rng.choice(np.flatnonzero(allowed)))


def play(policy, episodes: int, grid: int = 4, seed: int = 0) -> dict:
    """Run ``policy`` on every agent of the in-process gym env until ``episodes`` episodes have ended."""
    env = ue.make("SignPost", mode="inprocess", params={"gridSize": grid})
    rng = np.random.default_rng(seed)
    (overhead, sign), info = env.reset(seed=seed)
    counts = {"right": 0, "wrong": 0, "cut": 0, "returns": []}
    running = np.zeros(env.num_envs)
    try:
        while len(counts["returns"]) < episodes:
            allowed = info["action_mask"].astype(bool)
            actions = np.array([policy(overhead[i], sign[i], allowed[i], grid, rng) for i in range(env.num_envs)])
            (overhead, sign), reward, terminated, truncated, info = env.step(actions)
            running += reward
            for i in np.flatnonzero(terminated | truncated):
                counts["right" if reward[i] > 0 else "wrong" if terminated[i] else "cut"] += 1
                counts["returns"].append(running[i])
                running[i] = 0.0
    finally:
        env.close()
    return counts


def test_reading_both_cameras_reaches_the_goal_always():
    result = play(both_cameras, episodes=300)
    assert result["wrong"] == 0 and result["cut"] == 0
    assert np.mean(result["returns"]) >= SignPost.benchmark_return + 0.1  # ~0.97 on a 4x4 grid


@pytest.mark.parametrize("grid", [3, 6])
def test_both_cameras_on_other_grid_sizes(grid):
    result = play(both_cameras, episodes=60, grid=grid, seed=grid)
    assert result["right"] == len(result["returns"])


@pytest.mark.parametrize("policy", [overhead_only, sign_only])
def test_one_camera_alone_is_at_chance(policy):
    """Either camera alone picks the right pad half of the time: each carries half of the task."""
    result = play(policy, episodes=400, seed=1)
    decided = result["right"] + result["wrong"]
    assert decided >= 300
    assert 0.4 <= result["right"] / decided <= 0.6
    assert np.mean(result["returns"]) < SignPost.benchmark_return - 0.6


def test_masks_forbid_exactly_the_moves_into_walls():
    scene = SignPost(num_areas=2, seed=5, params={"gridSize": 3})
    batch = scene.reset()["SignPost"]
    rng = np.random.default_rng(5)
    seen_walls = 0
    for _ in range(60):
        for row, agent in enumerate(batch.agents):
            if batch.done[row]:
                continue
            x, y = scene.agent[agent]
            expected = [False, y == 2, y == 0, x == 0, x == 2]
            assert batch.action_mask[row].tolist() == expected
            seen_walls += any(expected)
        moves = rng.integers(0, 5, (scene.n, 1)).astype(np.int32)
        batch = scene.step({"SignPost": ActionBatch(discrete=moves)})["SignPost"]
    assert seen_walls > 100


def test_the_sign_changes_only_with_the_goal_and_the_overhead_never_shows_it():
    scene = SignPost(num_areas=3, seed=2)
    overhead, sign = scene.reset()["SignPost"].observations
    for target in (0, 1):
        who = scene.target == target
        assert who.any()
        assert all(np.array_equal(s, sign[who][0]) for s in sign[who])  # one picture per goal
    assert not np.array_equal(sign[scene.target == 0][0], sign[scene.target == 1][0])
    # swapping which pad is the goal leaves the overhead picture unchanged
    scene.target[:] = 1 - scene.target
    assert np.array_equal(scene._observe()[0], overhead)


@pytest.mark.parametrize("params, message", [
    ({"gridSize": 2}, "'gridSize' must be a whole number in 3..6, got 2"),
    ({"gridSize": 7}, "'gridSize' must be a whole number in 3..6, got 7"),
    ({"gridSize": 4.5}, "'gridSize' must be a whole number in 3..6, got 4.5"),
    ({"max_step": -1}, "'max_step' must be a whole number >= 0"),
])
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        SignPost(params=params)
    with pytest.raises(ValueError, match=message):
        ue.make("SignPost", mode="inprocess", params=params)


def test_unknown_parameter_lists_the_known_ones():
    with pytest.raises(KeyError, match="SignPost has no parameter 'size'; its parameters: gridSize, max_step"):
        SignPost(params={"size": 4})


@pytest.mark.parametrize("num_areas", [1, 2])
def test_render_shows_both_cameras_of_every_agent(num_areas):
    scene = SignPost(num_areas=num_areas, seed=0)
    scene.reset()
    overhead, sign = scene._observe()
    frame = scene.render()
    assert frame.dtype == np.uint8 and frame.shape[0] % 2 == 0 and frame.shape[1] % 2 == 0
    from unity_nb.envs.scenes.base import CAPTION_HEIGHT, CAPTION_WIDTH

    for i in range(scene.n):
        row, col = divmod(i, 3)
        # 40 x 80 views centred in tiles as wide as a caption, the caption under each, 4-pixel gaps
        y, x = 4 + row * (44 + CAPTION_HEIGHT), 4 + col * (CAPTION_WIDTH + 4) + (CAPTION_WIDTH - 80) // 2
        assert np.array_equal(frame[y : y + 40, x : x + 40], overhead[i])
        assert np.array_equal(frame[y + 2 : y + 38, x + 44 : x + 80], sign[i])


def test_gym_env_has_a_tuple_of_two_images():
    import gymnasium as gym

    env = ue.make("SignPost", mode="inprocess")
    try:
        space = env.single_observation_space
        assert isinstance(space, gym.spaces.Tuple)
        assert [(s.shape, s.dtype) for s in space] == [((40, 40, 3), np.uint8), ((36, 36, 3), np.uint8)]
        obs, info = env.reset(seed=0)
        assert env.num_envs == 9 and obs[0].shape == (9, 40, 40, 3) and obs[1].shape == (9, 36, 36, 3)
        assert info["action_mask"].shape == (9, 5)
    finally:
        env.close()


@pytest.mark.parametrize("mode", ["inprocess", "player"])
def test_video_of_a_random_episode(mode):
    from unity_nb.evaluate.video import record

    video = record(None, "SignPost", max_frames=8, mode=mode, fmt="gif")
    assert (video.width, video.height, video.frames) == (400, 178, 8)  # 3 x 3 tiles of 128 x (40 + 14) px, 4 px gaps
