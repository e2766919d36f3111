"""Behavioural cloning beside PPO from Unity .demo files (ML-Agents' behavioral_cloning block): the settings and
their refusals, the cloning itself on RLlib's own PPO network, and a run that clones while it trains."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from unity_nb.evaluate.demos import record_demo
from unity_nb.train.config import ConfigError, TrainConfig


def _right(observations):
    """Basic's best play: always right (return 0.93)."""
    return np.full((len(observations[0]), 1), 2, np.int32)


@pytest.fixture(scope="module")
def basic_demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("demos") / "basic.demo"
    record_demo(_right, "Basic", path, episodes=10)
    return path


def test_a_block_takes_mlagents_defaults_and_an_absolute_path(basic_demo, monkeypatch):
    monkeypatch.chdir(basic_demo.parent)
    config = TrainConfig.from_dict({"scene": "Basic", "behavioral_cloning": {"demo_path": "basic.demo"}})
    assert config.behavioral_cloning == {"demo_path": str(basic_demo), "strength": 1.0, "steps": 0,
                                         "batch_size": None, "num_epoch": None, "samples_per_update": 0}


@pytest.mark.parametrize("block,message", [
    ({"strength": 0.5}, "behavioral_cloning must be a mapping with demo_path"),
    ("basic.demo", "behavioral_cloning must be a mapping with demo_path"),
    ({"demo_path": "missing.demo"}, "behavioral_cloning.demo_path .*missing.demo does not exist: record one"),
    ({"demo_path": "DEMO", "strength": -1}, r"behavioral_cloning.strength must be a number in \[0, 100\]"),
    ({"demo_path": "DEMO", "strength": "strong"}, r"behavioral_cloning.strength must be a number in \[0, 100\]"),
    ({"demo_path": "DEMO", "steps": 1.5}, "behavioral_cloning.steps must be a whole number >= 0"),
    ({"demo_path": "DEMO", "batch_size": 0}, "behavioral_cloning.batch_size must be a whole number >= 1"),
    ({"demo_path": "DEMO", "stregth": 1}, "behavioral_cloning.stregth is not a behavioral_cloning setting"),
])
def test_bad_blocks_are_refused_by_name(basic_demo, block, message):
    if isinstance(block, dict) and block.get("demo_path") == "DEMO":
        block = {**block, "demo_path": str(basic_demo)}
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict({"scene": "Basic", "behavioral_cloning": block})


def test_a_demonstration_of_another_behavior_algorithm_or_filter_is_refused(basic_demo, tmp_path):
    block = {"demo_path": str(basic_demo)}
    with pytest.raises(ConfigError, match="recorded from another behavior than 3DBall's 3DBall: behavior: the file "
                                          "records 'Basic'.*shape \\(20,\\) in the file, \\(8,\\) in the scene"):
        TrainConfig.from_dict({"scene": "3DBall", "normalize": False, "behavioral_cloning": block})
    with pytest.raises(ConfigError, match="behavioral_cloning trains beside PPO, not DQN"):
        TrainConfig.from_dict({"scene": "Basic", "algorithm": "DQN", "behavioral_cloning": block})
    with pytest.raises(ConfigError, match="normalize true is not supported with behavioral_cloning yet"):
        TrainConfig.from_dict({"scene": "Basic", "normalize": True, "behavioral_cloning": block})
    broken = tmp_path / "broken.demo"
    broken.write_bytes(basic_demo.read_bytes()[:60])
    with pytest.raises(ConfigError, match="behavioral_cloning.demo_path cannot be read: "):
        TrainConfig.from_dict({"scene": "Basic", "behavioral_cloning": {"demo_path": str(broken)}})


def test_unitys_trainer_file_block_is_read(basic_demo):
    config = TrainConfig.from_yaml(f"""
behaviors:
  Basic:
    trainer_type: ppo
    max_steps: 20000
    behavioral_cloning:
      demo_path: {basic_demo}
      strength: 0.5
      steps: 10000
""")
    assert config.behavioral_cloning["strength"] == 0.5 and config.behavioral_cloning["steps"] == 10_000


def _module(observation_size: int, action_space):
    import gymnasium as gym
    from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    space = gym.spaces.Box(-np.inf, np.inf, (observation_size,), np.float32)
    continuous = isinstance(action_space, gym.spaces.Box)  # as the kit builds them (rllib_setup.model)
    return RLModuleSpec(module_class=DefaultPPOTorchRLModule, observation_space=space, action_space=action_space,
                        model_config={"fcnet_hiddens": [32, 32], "free_log_std": continuous}).build()


def _settings(path, **given):
    return {"demo_path": str(path), "strength": 1.0, "steps": 0, "batch_size": None, "num_epoch": None,
            "samples_per_update": 0, **given}


def test_cloning_teaches_rllibs_ppo_network_the_demonstrated_actions(basic_demo):
    import gymnasium as gym
    import torch
    from ray.rllib.core.columns import Columns

    from unity_nb.trainer.cloning import BehavioralCloning

    torch.manual_seed(0)
    module = _module(20, gym.spaces.Discrete(3))
    cloning = BehavioralCloning(_settings(basic_demo), policy_lr=3e-3, batch_size=32, num_epochs=3, raw_gaussian=True)
    assert len(cloning) == 79  # 80 records, the last one dropped, as Unity's loader does

    def right_share():
        with torch.no_grad():
            logits = module.forward_inference({Columns.OBS: cloning.obs})[Columns.ACTION_DIST_INPUTS]
        return float((logits.argmax(-1) == 2).float().mean())

    before = right_share()
    losses = [cloning.update(module, 0) for _ in range(20)]
    assert right_share() == 1.0 and before < 1.0 and losses[-1] < losses[0]


def test_the_rate_decays_to_zero_over_its_steps_and_then_cloning_stops(basic_demo):
    import gymnasium as gym

    from unity_nb.trainer.cloning import BehavioralCloning

    cloning = BehavioralCloning(_settings(basic_demo, strength=0.5, steps=1000), policy_lr=1e-3, batch_size=32,
                                num_epochs=1, raw_gaussian=True)
    assert cloning.rate_at(0) == pytest.approx(5e-4) and cloning.rate_at(500) == pytest.approx(2.5e-4)
    module = _module(20, gym.spaces.Discrete(3))
    assert cloning.update(module, 999) is not None and cloning.update(module, 1000) is None


def test_continuous_actions_are_cloned_as_the_raw_actions_unity_received(tmp_path):
    import gymnasium as gym
    import torch
    from ray.rllib.core.columns import Columns

    from unity_nb.trainer.cloning import BehavioralCloning

    path = tmp_path / "ball.demo"
    record_demo(lambda obs: np.tile([[0.2, -0.1]], (len(obs[0]), 1)).astype(np.float32), "3DBall", path, episodes=1,
                max_steps=200)
    torch.manual_seed(0)
    module = _module(8, gym.spaces.Box(-np.inf, np.inf, (2,), np.float32))
    cloning = BehavioralCloning(_settings(path, batch_size=64), policy_lr=3e-3, batch_size=64, num_epochs=3,
                                raw_gaussian=True)
    assert torch.allclose(cloning.continuous[0], torch.tensor([0.6, -0.3]))  # Unity got clamp(x, -3, 3) / 3
    for _ in range(30):
        cloning.update(module, 0)
    with torch.no_grad():
        means = module.forward_inference({Columns.OBS: cloning.obs})[Columns.ACTION_DIST_INPUTS][:, :2]
    assert torch.allclose(means.mean(0), torch.tensor([0.6, -0.3]), atol=0.05)


@pytest.mark.ray
@pytest.mark.timeout(400)
def test_a_run_clones_while_it_trains(basic_demo, tmp_path):
    import unity_nb as ut

    run = ut.train("Basic", runs_dir=tmp_path, mode="inprocess", steps=4000, target_return="off",
                   behavioral_cloning={"demo_path": str(basic_demo), "strength": 1.0})
    run.wait(timeout=300)
    assert run.state == "finished", run.status
    iterations = [e for e in run.events() if e["event"] == "iteration"]
    assert all(e["bc_loss"] is not None and e["bc_loss"] >= 0 for e in iterations)
    assert run.evaluate(episodes=5, play="deterministic").mean == pytest.approx(0.93, abs=1e-5)


def test_the_command_line_flag_builds_the_block(basic_demo):
    import argparse

    from unity_nb.train.flags import add_config_flags, config_overrides

    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    args = parser.parse_args(["--behavioral-cloning", f"demo_path={basic_demo}", "--behavioral-cloning",
                              "strength=0.5", "--behavioral-cloning", "steps=20000"])
    assert config_overrides(args)["behavioral_cloning"] == {"demo_path": str(basic_demo), "strength": 0.5,
                                                            "steps": 20000}
    with pytest.raises(SystemExit):
        parser.parse_args(["--behavioral-cloning", "strength"])


def test_a_builds_behaviors_are_checked_against_the_demonstration_when_it_opens(basic_demo):
    """A Unity build's behaviors are known only when it opens: the demonstration must be of the one it trains."""
    import unity_nb.train as ut
    from unity_nb.trainer.rllib_setup import _check_demonstration, scene_behaviors

    ball = scene_behaviors(ut.make_config("3DBall", normalize=False))
    with pytest.raises(ConfigError, match="recorded from another behavior than '3DBall': behavior: the file records "
                                          "'Basic'"):
        _check_demonstration(str(basic_demo), ["3DBall"], ball)
    duo = scene_behaviors(ut.make_config("BasicDuo"))
    with pytest.raises(ConfigError, match="learns from one behavior.s demonstration and the run trains BasicRight, BasicLeft"):
        _check_demonstration(str(basic_demo), list(duo), duo)
    _check_demonstration(str(basic_demo), ["Basic"], scene_behaviors(ut.make_config("Basic")))  # fits: no error


def test_a_sagemaker_job_sends_its_demonstration_in_its_demos_channel(basic_demo):
    """The file is checked here (it must exist and fit); the job gets it under the setting's name, and its
    container reads it back from where SageMaker mounts the channel."""
    from unity_nb.train.sagemaker import contract

    config = TrainConfig.from_dict({"scene": "Basic", "backend": "sagemaker",
                                    "behavioral_cloning": {"demo_path": str(basic_demo)}})
    sent = contract.encode_hyperparameters(config)
    assert json.loads(sent["behavioral_cloning"])["demo_path"] == "demos:behavioral_cloning/basic.demo"
    channel = basic_demo.parent.parent / "channel"
    (channel / "behavioral_cloning").mkdir(parents=True)
    shutil.copy(basic_demo, channel / "behavioral_cloning" / "basic.demo")
    back = contract.decode_hyperparameters(sent, None, str(channel))
    assert back.behavioral_cloning == {**config.behavioral_cloning,
                                       "demo_path": str(channel / "behavioral_cloning" / "basic.demo")}
    with pytest.raises(ConfigError, match="behavioral_cloning.demo_path .*none.demo does not exist"):
        TrainConfig.from_dict({"scene": "Basic", "backend": "sagemaker",
                               "behavioral_cloning": {"demo_path": str(basic_demo.parent / "none.demo")}})
