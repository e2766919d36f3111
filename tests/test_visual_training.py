"""Cameras and action masks in training: the encoders, the kit's PPO module, and what they refuse.

The module tests run torch alone (no Ray); the training tests share the session's Ray runtime.
"""

from __future__ import annotations

import re

import gymnasium as gym
import numpy as np
import pytest
import torch

from unity_nb.envs import spaces
from unity_nb.train.config import ConfigError, TrainConfig
from unity_nb.trainer.encoders import MIN_SIDE, ImageEncoder, check_image
from unity_nb.trainer.unity_module import UnityPPOModule, needs_unity_module

CAMERA = gym.spaces.Box(0, 255, (36, 40, 3), np.uint8)
SIGNAL = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)


def _module(observation_space, action_space, **model):
    return UnityPPOModule(observation_space=observation_space, action_space=action_space,
                          model_config={"fcnet_hiddens": [32], **model})


def _masked(space, size):
    return gym.spaces.Dict({spaces.OBSERVATIONS: space, spaces.ACTION_MASK: gym.spaces.Box(0.0, 1.0, (size,), np.float32)})


@pytest.mark.parametrize("kind", sorted(MIN_SIDE))
def test_every_encoder_takes_its_smallest_image_and_refuses_a_smaller_one(kind):
    side = MIN_SIDE[kind]
    encoder = ImageEncoder((side, side, 3), kind, 16)
    assert encoder(torch.rand(4, side, side, 3)).shape == (4, 16)
    check_image((side, side + 5, 3), kind, "0")
    if side > 1:
        with pytest.raises(ValueError, match=rf"vis_encode_type {kind} needs images of at least {side}x{side} pixels; "
                                             rf"camera 0 is {side - 1}x{side + 5}. Encoders that fit: .*fully_connected"):
            check_image((side - 1, side + 5, 3), kind, "0")


def test_two_cameras_and_a_vector_each_reach_the_policy():
    """Changing either camera or the vector changes the action distribution: every sensor is encoded."""
    space = gym.spaces.Tuple((CAMERA, gym.spaces.Box(0, 255, (20, 20, 3), np.uint8), SIGNAL))
    module = _module(space, gym.spaces.Discrete(4))
    torch.nn.init.normal_(module.pi.weight, std=1.0)  # the first policy is near-uniform on purpose
    rng = np.random.default_rng(0)
    obs = [torch.as_tensor(rng.integers(0, 256, (3, *p.shape), dtype=np.uint8)) if len(p.shape) == 3 else
           torch.as_tensor(rng.normal(size=(3, 2)).astype(np.float32)) for p in space.spaces]
    base = module.forward_inference({"obs": tuple(obs)})["action_dist_inputs"]
    assert base.shape == (3, 4)
    for i in range(3):
        changed = list(obs)
        changed[i] = (255 - obs[i]) if obs[i].dtype == torch.uint8 else obs[i] + 1.0
        assert not torch.allclose(module.forward_inference({"obs": tuple(changed)})["action_dist_inputs"], base)
    values = module.compute_values({"obs": tuple(obs)})
    assert values.shape == (3,)


def test_a_masked_action_is_never_sampled():
    space = _masked(gym.spaces.Tuple((CAMERA, SIGNAL)), 5)
    module = _module(space, gym.spaces.Discrete(5))
    torch.nn.init.normal_(module.pi.weight, std=3.0)
    n = 4000
    mask = np.ones((n, 5), np.float32)
    rng = np.random.default_rng(1)
    forbidden = rng.integers(0, 5, size=(n, 2))
    mask[np.arange(n), forbidden[:, 0]] = 0
    mask[np.arange(n), forbidden[:, 1]] = 0
    obs = {spaces.OBSERVATIONS: (torch.as_tensor(rng.integers(0, 256, (n, *CAMERA.shape), dtype=np.uint8)),
                                 torch.as_tensor(rng.normal(size=(n, 2)).astype(np.float32))),
           spaces.ACTION_MASK: torch.as_tensor(mask)}
    with torch.no_grad():
        logits = module.forward_exploration({"obs": obs})["action_dist_inputs"]
        actions = module.get_exploration_action_dist_cls().from_logits(logits).sample().numpy()
        greedy = module.get_inference_action_dist_cls().from_logits(logits).to_deterministic().sample().numpy()
    assert mask[np.arange(n), actions].min() == 1.0
    assert mask[np.arange(n), greedy].min() == 1.0


def test_masks_per_branch_of_several_branches():
    space = _masked(SIGNAL, 3 + 2)
    module = _module(space, gym.spaces.MultiDiscrete([3, 2]))
    mask = torch.tensor([[0, 0, 1, 1, 0]] * 500, dtype=torch.float32)
    with torch.no_grad():
        logits = module.forward_exploration({"obs": {spaces.OBSERVATIONS: torch.randn(500, 2),
                                                      spaces.ACTION_MASK: mask}})["action_dist_inputs"]
        actions = module.get_exploration_action_dist_cls().from_logits(logits).sample().numpy()
    assert (actions[:, 0] == 2).all() and (actions[:, 1] == 0).all()


def test_which_behaviors_need_the_kit_module():
    assert not needs_unity_module(SIGNAL)
    assert needs_unity_module(CAMERA)
    assert needs_unity_module(gym.spaces.Tuple((SIGNAL, SIGNAL)))
    assert needs_unity_module(_masked(SIGNAL, 3))


class _Decision:
    """A test double of mlagents' DecisionSteps: only what spaces.allowed_actions reads."""

    def __init__(self, masks):
        self.action_mask = masks
        self.agent_id = np.array([7, 8])


def test_a_mask_forbidding_a_whole_branch_is_refused_by_name():
    ok = np.array([[False, True, False], [False, False, False]])
    everything = np.array([[False, False], [True, True]])
    with pytest.raises(ValueError, match=r"the action mask of agent 8 forbids every action of branch 1 \(2 actions\)"):
        spaces.allowed_actions(_Decision([ok, everything]), 1)
    assert spaces.allowed_actions(_Decision([ok, everything]), 0).tolist() == [1, 0, 1, 1, 1]


@pytest.mark.parametrize("settings, message", [
    # a camera scene asked to train with networks that take vectors only
    (dict(algorithm="DQN"), r"algorithm DQN cannot train GridWorld's camera observations: the kit's camera networks "
                            r"train with PPO"),
    (dict(algorithm="APPO"), r"algorithm APPO cannot train GridWorld's camera observations"),
    (dict(normalize=True), r"normalize true is not supported for GridWorld's camera observations"),
    (dict(vis_encode_type="huge"), r"vis_encode_type must be one of simple, nature_cnn, resnet, match3, "
                                   r"fully_connected, got .huge."),
    (dict(goal_conditioning_type=1), r"goal_conditioning_type must be 'hyper' or 'none', got 1"),
])
def test_camera_settings_that_cannot_train_are_refused_before_a_run_starts(settings, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict({"scene": "GridWorld", **settings})
    TrainConfig.from_dict({"scene": "GridWorld", "vis_encode_type": "nature_cnn"})  # 84x64 fits its 36x36


@pytest.mark.parametrize("settings, message", [
    (dict(algorithm="APPO"), r"algorithm: APPO cannot train behavior 'GridWorld': its camera observations need the "
                             r"kit's camera and mask networks, which train with PPO"),
    (dict(normalize=True), r"normalize: true is not supported for behavior 'GridWorld' with camera observations"),
])
def test_a_build_with_cameras_is_refused_when_its_training_process_sees_them(settings, message):
    """A Unity build's sensors are known only once it runs: the training process refuses by name."""
    from unity_nb.trainer.rllib_setup import _check_unity_module_fits, scene_behaviors

    config = TrainConfig(scene="GridWorld", mode="inprocess", **settings).resolved()  # as read from a build
    with pytest.raises(ConfigError, match=message):
        _check_unity_module_fits(config, scene_behaviors(config))


def test_a_camera_too_small_for_the_encoder_is_named():
    from unity_nb.trainer.rllib_setup import BehaviorFacts, _check_unity_module_fits

    config = TrainConfig(scene="GridWorld", vis_encode_type="nature_cnn", mode="inprocess").resolved()
    small = BehaviorFacts(4, False, gym.spaces.Tuple((gym.spaces.Box(0, 255, (20, 20, 3), np.uint8), SIGNAL)))
    with pytest.raises(ConfigError, match=r"vis_encode_type: vis_encode_type nature_cnn needs images of at least "
                                          r"36x36 pixels; camera 0 of GridWorld is 20x20. Encoders that fit: simple"):
        _check_unity_module_fits(config, {"GridWorld": small})


def test_unity_yaml_network_settings_for_cameras_and_goals_are_honoured():
    from unity_nb.train.mlagents_yaml import convert

    settings = {"vis_encode_type": "resnet", "goal_conditioning_type": "none"}
    data = {"behaviors": {"GridWorld": {"trainer_type": "ppo", "network_settings": settings}}}
    assert {k: convert(data, "g.yaml")[k] for k in settings} == settings
    settings["goal_conditioning_type"] = "film"
    with pytest.raises(ConfigError, match=r"goal_conditioning_type must be 'hyper' or 'none', got 'film'"):
        TrainConfig.from_yaml(__import__("yaml").safe_dump(data), "g.yaml")


def test_hyper_goal_conditioning_gives_each_goal_its_own_last_layer():
    """With hyper, the goal signal makes the last layer's weights (not an input beside the camera)."""
    space = gym.spaces.Tuple((CAMERA, SIGNAL))
    module = _module(space, gym.spaces.Discrete(5), goal_sensors=[1], goal_conditioning_type="hyper")
    assert module.pi_body.hyper.in_size == 32  # the camera's features alone; the goal makes the weights
    flat = _module(space, gym.spaces.Discrete(5), goal_sensors=[1], goal_conditioning_type="none")
    assert flat.pi_body.hyper is None and flat.pi_body.dense[0].in_features == 32 + 2
    camera = torch.randint(0, 256, (4, *CAMERA.shape), dtype=torch.uint8)
    torch.nn.init.normal_(module.pi.weight, std=1.0)
    plus = module.forward_inference({"obs": (camera, torch.tensor([[1.0, 0.0]] * 4))})["action_dist_inputs"]
    cross = module.forward_inference({"obs": (camera, torch.tensor([[0.0, 1.0]] * 4))})["action_dist_inputs"]
    assert not torch.allclose(plus, cross)


def test_training_and_evaluation_never_take_a_masked_action():
    """GridWorld's walls: thousands of actions sampled by RLlib's own env runner (as in training, no Ray
    runtime needed in-process) and played greedily by evaluation; the scene counts every action its
    mask forbade. A policy that ignores the mask walks into walls, so the count can fail."""
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

    from unity_nb.envs.gym_env import UnityVectorEnv
    from unity_nb.envs.source import EnvSource
    from unity_nb.evaluate.policy import Policy
    from unity_nb.evaluate.rollout import _play_one
    from unity_nb.trainer.rllib_setup import algorithm_config, behaviors

    torch.set_num_threads(1)
    config = TrainConfig(scene="GridWorld", mode="inprocess", env_params={"gridSize": 3}, hidden_units=32).resolved()
    runner = SingleAgentEnvRunner(config=algorithm_config(config, behaviors(config)))
    try:
        runner.sample(num_timesteps=3000, random_actions=False)
        scene = runner.env.unwrapped.source.base.scene
        assert scene.step_count.sum() > 0 and len(scene.finished_returns) > 100 - scene.n  # episodes ended at goals and walls alike
        assert scene.masked_actions_taken == 0
        module = runner.module
    finally:
        runner.stop()

    policy = Policy.from_module(module)
    torch.nn.init.normal_(module.pi.weight, std=3.0)  # a decided (not near-uniform) policy bumps into walls
    for player, check in ((policy, lambda n: n == 0), (_IgnoresMasks(policy), lambda n: n > 0)):
        source = EnvSource("GridWorld", mode="inprocess", params={"gridSize": 3}, seed=5)
        try:
            env = UnityVectorEnv(source)
            scene = source.base.scene
            evaluation = _play_one(env, player, episodes=200, max_steps=3000, sampled=False)
            assert len(evaluation.returns) == 200
            assert check(scene.masked_actions_taken), (player, scene.masked_actions_taken)
        finally:
            source.close()


class _IgnoresMasks:
    """The same policy, never told the masks (so the count is shown able to fail)."""

    def __init__(self, policy):
        self.policy = policy

    def act(self, observations, action_mask=None):
        return self.policy.act(observations)


@pytest.fixture(scope="session")
def trained_gridworld(tmp_path_factory):
    """One GridWorld run on a 3x3 grid, trained until 100 greedy and 100 sampled episodes confirm a mean of 0.7
    (a random policy averages about -0.15): shared by the learning and export tests."""
    import unity_nb.train as ut

    run = ut.train("GridWorld", runs_dir=tmp_path_factory.mktemp("runs"), mode="inprocess", steps=40_000,
                   target_return=0.7, env_params={"gridSize": 3})
    run.wait(timeout=900)
    return run


@pytest.mark.ray
def test_gridworld_learns_from_its_camera_on_a_small_budget(trained_gridworld):
    run = trained_gridworld
    assert run.state == "finished", run.status
    assert run.status["target_reached"], run.last()
    from unity_nb.train.schema import confirmation_plays

    confirmation = run.status["confirmation"]
    plays = confirmation_plays(confirmation)
    assert confirmation["passed"] and set(plays) == {"deterministic", "sampled"}, confirmation
    assert all(t["mean"] >= 0.7 for t in plays.values()), plays
    iterations = [e for e in run.events() if e.get("event") == "iteration"]
    first = next(e for e in iterations if e.get("episodes_window") == 100)
    assert first["episode_return_mean"] < 0.3  # it started near chance: the camera had to be learned
    assert run.evaluate(episodes=50).mean >= 0.6


@pytest.mark.ray
def test_a_camera_policy_exports_to_unitys_contract(trained_gridworld):
    """obs_0 the camera channels first, obs_1 the goal signal, action_masks: Unity's inputs; the file's
    deterministic actions equal the trained policy's on real and random observations with their masks."""
    exported = trained_gridworld.export(verify=300)
    (behavior,) = exported.behaviors
    assert exported.ok, str(exported)
    assert behavior.report.inputs["obs_0"][1] == ["batch", 3, 84, 64]
    assert behavior.report.inputs["obs_1"][1] == ["batch", 2]
    assert behavior.report.inputs["action_masks"][1] == ["batch", 5]
    assert behavior.mismatches == 0 and behavior.observations == 600

    import onnxruntime as ort

    session = ort.InferenceSession(str(behavior.path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    n = 2000
    mask = np.ones((n, 5), np.float32)
    mask[np.arange(n), rng.integers(0, 5, n)] = 0
    mask[np.arange(n), rng.integers(0, 5, n)] = 0
    feeds = {"obs_0": rng.random((n, 3, 84, 64), dtype=np.float32), "obs_1": np.eye(2, dtype=np.float32)[rng.integers(0, 2, n)],
             "action_masks": mask}
    sampled, greedy = session.run(["discrete_actions", "deterministic_discrete_actions"], feeds)
    assert mask[np.arange(n), sampled[:, 0]].min() == 1 and mask[np.arange(n), greedy[:, 0]].min() == 1


def test_the_multi_behavior_training_env_gives_each_masked_agent_its_mask():
    """One policy per behavior: each agent's observation carries its own decision's mask (walls), and a
    finished agent's last observation every action allowed (nothing it does reaches Unity)."""
    from unity_nb.envs.source import EnvSource
    from unity_nb.trainer.rllib_setup import TrainingBehaviorsEnv

    env = TrainingBehaviorsEnv(EnvSource("GridWorld", mode="inprocess", params={"gridSize": 3}), raw_gaussian=False,
                               masked={"GridWorld"})
    try:
        obs, infos = env.reset()
        assert len(obs) == 9
        for key, o in obs.items():
            assert env.observation_spaces[key].contains(o)
            assert o[spaces.ACTION_MASK].tolist() == infos[key]["action_mask"].tolist()
        scene = env.source.base.scene
        for _ in range(200):
            actions = {}
            for key, o in obs.items():
                if key in env.agents:
                    allowed = np.flatnonzero(o[spaces.ACTION_MASK])
                    actions[key] = int(allowed[-1])  # the last allowed move: walks into corners, never a wall
            obs, rewards, terminated, truncated, infos = env.step(actions)
            if truncated["__all__"]:
                obs, infos = env.reset()
        assert scene.masked_actions_taken == 0 and len(scene.finished_returns) > 9 - scene.n
    finally:
        env.close()


def test_only_scenes_that_mask_train_with_masks():
    """mlagents-envs gives every discrete behavior a mask (all allowed when none was written): Basic keeps
    its plain vector observations and RLlib's own network; GridWorld trains with its walls' masks; a build
    is probed for a mask that forbids something."""
    from unity_nb.envs.source import EnvSource
    from unity_nb.trainer.rllib_setup import _masks_seen, scene_behaviors

    basic = scene_behaviors(TrainConfig(scene="Basic", mode="inprocess").resolved())["Basic"]
    assert not basic.masked and not basic.needs_unity_module
    grid = scene_behaviors(TrainConfig(scene="GridWorld", mode="inprocess").resolved())["GridWorld"]
    assert grid.masked and grid.needs_unity_module
    for scene, expected in (("Basic", set()), ("GridWorld", {"GridWorld"})):
        source = EnvSource(scene, mode="inprocess")
        try:
            source.call("reset")
            assert _masks_seen(source, dict(source.base.behavior_specs)) == expected
        finally:
            source.close()
