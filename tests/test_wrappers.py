"""gymnasium and RLlib views of the scenes, in-process and through the stand-in."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import unity_nb.envs as ue
from unity_nb.envs.gym_env import UnityGymEnv, UnityVectorEnv


@pytest.mark.parametrize("mode", ["inprocess", "player"])
def test_basic_passes_gymnasium_env_checker(mode):
    env = ue.make("Basic", mode=mode)
    try:
        assert isinstance(env, UnityGymEnv)
        check_env(env, skip_render_check=True)
    finally:
        env.close()


def test_basic_render_and_truncation():
    env = ue.make("Basic", mode="inprocess", params={"max_step": 5}, render_mode="rgb_array")
    env.reset()
    for t in range(5):
        obs, reward, terminated, truncated, info = env.step(0)  # stay: only max_step ends it
    assert truncated and not terminated
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[0] % 2 == 0 and frame.shape[1] % 2 == 0
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(0)
    env.close()


def _rollout(scene, mode, steps, seed=5):
    env = ue.make(scene, mode=mode, seed=seed, render_mode="rgb_array" if scene == "3DBall" else None)
    try:
        obs, info = env.reset()
        env.action_space.seed(seed)
        trace = [obs]
        for _ in range(steps):
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            trace.append((obs, reward, terminated, truncated, info.get("final_obs"), info.get("action_mask")))
            if isinstance(env, UnityGymEnv) and (terminated or truncated):
                obs, info = env.reset()
                trace.append(obs)
        frame = env.render() if scene == "3DBall" else None
        return trace, frame
    finally:
        env.close()


def _same(a, b):
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) and a.dtype == object:
        return all(_same(x, y) for x, y in zip(a, b))
    if a is None or b is None:
        return a is None and b is None
    return np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("scene,steps", [("Basic", 60), ("3DBall", 80), ("GridWorld", 40)])
def test_inprocess_and_player_trajectories_identical(scene, steps):
    fast, fast_frame = _rollout(scene, "inprocess", steps)
    slow, slow_frame = _rollout(scene, "player", steps)
    assert len(fast) == len(slow)
    for i, (x, y) in enumerate(zip(fast, slow)):
        assert _same(x, y), f"{scene}: step {i} differs"
    if scene == "3DBall":
        assert np.array_equal(fast_frame, slow_frame)  # frames travel on the kit's render channel


def test_3dball_vector_env_autoresets_in_the_same_step():
    env = ue.make("3DBall", mode="inprocess")
    assert isinstance(env, UnityVectorEnv) and env.num_envs == 12
    assert env.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    env.reset(seed=1)
    ones = np.ones((12, 2), dtype=np.float32)  # tilt hard: every ball falls
    finished = np.zeros(12, dtype=bool)
    for _ in range(60):
        obs, reward, terminated, truncated, info = env.step(ones)
        if terminated.any():
            assert reward[terminated] == pytest.approx(-1.0)
            assert all(info["final_obs"][i].shape == (8,) for i in np.flatnonzero(terminated))
            # the returned observation is the next episode's first: ball back at height 4
            assert obs[terminated, 3] == pytest.approx(4.0)
        finished |= terminated
    assert finished.all()
    env.close()


def test_gridworld_vector_env_visual_uint8_and_mask():
    env = ue.make("GridWorld", mode="inprocess")
    obs, info = env.reset()
    image, goal = obs
    assert image.shape == (9, 84, 64, 3) and image.dtype == np.uint8
    assert goal.shape == (9, 2)
    assert info["action_mask"].shape == (9, 5) and info["action_mask"][:, 0].all()
    env.close()


def test_multi_agent_env_exposes_every_agent():
    from ray.rllib.env.multi_agent_env import MultiAgentEnv

    env = ue.make_multi_agent("3DBall", mode="inprocess", episode_horizon=50)
    assert isinstance(env, MultiAgentEnv)
    obs, infos = env.reset()
    assert len(obs) == 12 and all(k.startswith("3DBall#") for k in obs)
    assert env.get_observation_space("3DBall#0").shape == (8,)
    finished = []
    for t in range(50):
        actions = {k: np.ones(2, dtype=np.float32) for k in env.agents}
        obs, rewards, terminateds, truncateds, infos = env.step(actions)
        for k, info in infos.items():
            if "episode_return" in info:
                finished.append(info["episode_return"])
                assert terminateds[k] or truncateds[k]
    assert truncateds["__all__"] and not terminateds["__all__"]
    assert finished and all(r < 5 for r in finished)
    # a reset after the horizon carries on without a Unity RESET: agent ids continue
    before = set(obs)
    obs, _ = env.reset()
    assert set(obs) <= before | set(obs) and len(obs) == 12
    env.close()


def test_multi_agent_gridworld_masks_in_infos():
    env = ue.make_multi_agent("GridWorld", mode="inprocess")
    obs, infos = env.reset()
    assert len(obs) == 9
    key = next(iter(obs))
    assert infos[key]["action_mask"].shape == (5,)
    assert isinstance(obs[key], tuple) and obs[key][0].dtype == np.uint8
    env.close()


def test_set_param_applies_to_next_episodes():
    env = ue.make("Basic", mode="inprocess")
    env.reset()
    env.set_param("large_goal", 11)
    env.reset()
    total, done = 0.0, False
    while not done:
        _, r, term, trunc, _ = env.step(2)
        total += r
        done = term or trunc
    assert total == pytest.approx(0.99, abs=1e-6)
    env.close()


@pytest.mark.parametrize("scene", ["Basic", "3DBall", "GridWorld"])
@pytest.mark.parametrize("num_areas", [1, 2])
def test_frames_are_even_sized_rgb(scene, num_areas):
    from unity_nb.envs.scenes import scene_class

    s = scene_class(scene)(num_areas=num_areas, seed=0)
    s.reset()
    frame = s.render()
    assert frame.dtype == np.uint8 and frame.shape[2] == 3
    assert frame.shape[0] % 2 == 0 and frame.shape[1] % 2 == 0


def test_scenes_are_deterministic_for_a_seed():
    from unity_nb.envs.scenes import ActionBatch, Ball3D

    def run(seed):
        s = Ball3D(seed=seed)
        s.reset()
        rng = np.random.default_rng(1)
        for _ in range(200):
            s.step({"3DBall": ActionBatch(continuous=rng.uniform(-1, 1, (12, 2)).astype(np.float32))})
        return s.pos.copy(), list(s.finished_returns)

    a, b, c = run(0), run(0), run(1)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]
    assert not np.array_equal(a[0], c[0])
