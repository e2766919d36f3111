"""ML-Agents' curiosity and rnd reward signals beside PPO, and Pyramids, the sparse scene they are for: the
networks, the learner connector that adds their rewards, the settings on every face and their refusals, and runs
that train with them."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from gymnasium import spaces

from unity_nb.envs.scenes import ActionBatch, Pyramids
from unity_nb.envs.scenes.pyramids import CELLS
from unity_nb.train import make_config
from unity_nb.train.config import ConfigError, TrainConfig
from unity_nb.train.mlagents_yaml import convert
from unity_nb.trainer.reward_signals import NEXT_OBS, AddIntrinsicRewards, RewardSignal

OBS, ACTIONS = spaces.Box(-np.inf, np.inf, (12,), np.float32), spaces.Discrete(3)


def _signal(name, **settings):
    base = {"strength": 1.0, "gamma": None, "learning_rate": 1e-3, "hidden_units": 32, "num_layers": 2,
            "normalize": False}
    return RewardSignal(name, {**base, **settings}, OBS, ACTIONS)


def _onehots(cells):
    return torch.nn.functional.one_hot(torch.as_tensor(cells), 12).float()


def _minibatch(cells, next_cells, actions, dones=None):
    dones = torch.zeros(len(cells)) if dones is None else torch.as_tensor(dones, dtype=torch.float32)
    return {"obs": _onehots(cells), NEXT_OBS: _onehots(next_cells), "actions": torch.as_tensor(actions),
            "terminateds": dones}


def test_rnd_pays_for_what_it_has_not_seen():
    torch.manual_seed(0)
    signal = _signal("rnd", normalize=True)
    seen, unseen = [0, 1, 2, 3, 4, 5], [8, 9, 10, 11]
    for _ in range(300):
        cells = np.random.default_rng(0).choice(seen, 64)
        losses = signal.update(_minibatch(cells, cells, np.zeros(64, int)))
    assert set(losses) == {"rnd_loss"}
    familiar = signal.rewards(_onehots(seen), _onehots(seen), None, None)
    novel = signal.rewards(_onehots(unseen), _onehots(unseen), None, None)
    assert novel.min() > 10 * familiar.max()


def test_curiosity_pays_nothing_before_it_learns_then_at_most_one_over_strength():
    torch.manual_seed(0)
    signal = _signal("curiosity", strength=0.5)
    cells, after = np.arange(12), (np.arange(12) + 1) % 12
    assert signal.rewards(_onehots(cells), _onehots(after), torch.zeros(12, dtype=torch.long), None).abs().sum() == 0
    first = signal.update(_minibatch(cells, after, np.full(12, 2)))
    assert set(first) == {"curiosity_forward_loss", "curiosity_inverse_loss"}
    paid = signal.rewards(_onehots(cells), _onehots(after), torch.full((12,), 2), None)
    assert (paid > 0).all() and (paid <= 0.5 * (1 / 0.5) + 1e-6).all()  # strength x min(error, 1 / strength)
    for _ in range(200):  # a step right is always action 2: the inverse model learns it
        last = signal.update(_minibatch(cells, after, np.full(12, 2)))
    assert last["curiosity_inverse_loss"] < 0.1 * first["curiosity_inverse_loss"]
    assert last["curiosity_forward_loss"] < first["curiosity_forward_loss"]


def test_actions_of_every_kind_are_coded_for_the_forward_model():
    from unity_nb.trainer.reward_signals import ActionCoder

    hybrid = ActionCoder(spaces.Tuple((spaces.Box(-1, 1, (2,)), spaces.MultiDiscrete([3, 2]))))
    flat = hybrid.flat((torch.tensor([[6.0, -1.5]]), torch.tensor([[2, 1]])))
    assert flat.tolist() == [[1.0, -0.5, 0, 0, 1, 0, 1]]  # continuous as Unity got them: clamp(x, -3, 3) / 3
    assert hybrid.loss(torch.zeros(1, 7), (torch.tensor([[3.0, 0.0]]), torch.tensor([[0, 0]]))).shape == (1,)


def test_the_connector_adds_rewards_within_each_episode_chunk():
    """Rows follow RLlib's learner batch: each episode chunk ends with the bootstrap row RLlib appends, which
    holds the chunk's last observation and gets no intrinsic reward; a row's next observation never comes from
    another chunk."""
    from ray.rllib.env.single_agent_episode import SingleAgentEpisode

    torch.manual_seed(0)
    signal = _signal("rnd")
    lengths = [4, 3]  # with their bootstrap rows
    episodes = [SingleAgentEpisode(observations=[np.zeros(12, np.float32)] * (n + 1), actions=[0] * n,
                                   rewards=[0.0] * n, len_lookback_buffer=0) for n in lengths]
    assert [len(e) for e in episodes] == lengths
    cells = [0, 1, 2, 2, 5, 6, 6]
    batch = {"default_policy": {"obs": _onehots(cells), "actions": torch.zeros(7, dtype=torch.long),
                                "rewards": torch.full((7,), -0.5),
                                "terminateds": torch.zeros(7, dtype=torch.bool)}}
    connector = AddIntrinsicRewards()
    connector.signals = {"default_policy": [signal]}
    out = connector(rl_module=None, batch=batch, episodes=episodes)["default_policy"]
    assert out[NEXT_OBS].argmax(1).tolist() == [1, 2, 2, 2, 6, 6, 6]
    added = out["rewards"] + 0.5
    assert added[[3, 6]].tolist() == [0.0, 0.0] and (added[[0, 1, 2, 4, 5]] > 0).all()
    expected = signal.rewards(_onehots(cells), out[NEXT_OBS], None, None)
    assert torch.allclose(added[[0, 1, 2, 4, 5]], expected[[0, 1, 2, 4, 5]])


@pytest.fixture(scope="module")
def basic_demo(tmp_path_factory):
    """Basic's best play (always right) over 10 episodes."""
    from unity_nb.evaluate.demos import record_demo

    path = tmp_path_factory.mktemp("demos") / "right.demo"
    record_demo(lambda observations: np.full((len(observations[0]), 1), 2, np.int32), "Basic", path, episodes=10)
    return path


@pytest.mark.parametrize("use_actions,use_vail", [(False, False), (True, False), (True, True)])
def test_gail_pays_for_steps_like_the_demonstration(basic_demo, use_actions, use_vail):
    from unity_nb.trainer.reward_signals import demonstrated

    torch.manual_seed(0)
    settings = {"demo_path": str(basic_demo), "strength": 1.0, "gamma": None, "learning_rate": 1e-3,
                "hidden_units": 32, "num_layers": 2, "normalize": False, "use_actions": use_actions,
                "use_vail": use_vail}
    signal = RewardSignal("gail", settings, spaces.Box(-np.inf, np.inf, (20,), np.float32), spaces.Discrete(3))
    obs, actions, dones = demonstrated(str(basic_demo), spaces.Discrete(3))
    assert obs.shape == (len(actions), 20) and set(actions.tolist()) == {2} and dones.sum() == 10
    left = torch.nn.functional.one_hot(torch.arange(0, 10), 20).float()  # where the demonstration never goes
    policy = {"obs": left, NEXT_OBS: left, "actions": torch.ones(10, dtype=torch.long), "terminateds": torch.zeros(10)}
    for _ in range(150):
        losses = signal.update(policy)
    assert {"gail_loss", "gail_expert_estimate", "gail_policy_estimate"} <= set(losses)
    assert losses["gail_expert_estimate"] > losses["gail_policy_estimate"]
    played = signal.rewards(left, left, policy["actions"], policy["terminateds"])
    shown = signal.rewards(obs[:10], obs[:10], actions[:10], dones[:10])
    assert shown.mean() > played.mean() >= 0


# ---- settings


def test_a_flag_alone_takes_the_kits_defaults_and_keys_override_them():
    from unity_nb.train.flags import add_config_flags, config_overrides

    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    args = parser.parse_args(["--curiosity", "--rnd", "strength=0.05", "--rnd", "normalize=true"])
    overrides = config_overrides(args)
    assert overrides["curiosity"] == {} and overrides["rnd"] == {"strength": 0.05, "normalize": True}
    config = make_config("Basic", **overrides)
    assert config.reward_signals() == {
        "curiosity": {"strength": 0.02, "gamma": None, "learning_rate": 3e-4, "hidden_units": 128, "num_layers": 2,
                      "normalize": False},
        "rnd": {"strength": 0.05, "gamma": None, "learning_rate": 1e-4, "hidden_units": 64, "num_layers": 3,
                "normalize": True}}
    assert "curiosity reward (strength 0.02), rnd reward (strength 0.05)" in config.describe()
    assert config_overrides(parser.parse_args(["--rnd", "off"]))["rnd"] is False
    for bad in (["--curiosity", "strength"], ["--rnd", "normalize=maybe"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


@pytest.mark.parametrize("given,message", [
    ({"curiosity": "yes"}, "curiosity must be true or a mapping of its settings"),
    ({"curiosity": {"strenght": 1}}, "curiosity.strenght is not a curiosity setting; they are strength, gamma"),
    ({"rnd": {"strength": 0}}, "rnd.strength must be a number above 0 and at most 100, got 0"),
    ({"rnd": {"strength": "high"}}, "rnd.strength must be a number above 0"),
    ({"rnd": {"learning_rate": 2}}, "rnd.learning_rate must be a number above 0 and at most 1, got 2"),
    ({"curiosity": {"hidden_units": 0}}, "curiosity.hidden_units must be a whole number from 1 to 4096, got 0"),
    ({"curiosity": {"num_layers": 2.5}}, "curiosity.num_layers must be a whole number from 1 to 10"),
    ({"rnd": {"normalize": "yes"}}, "rnd.normalize must be true or false"),
    ({"rnd": {"gamma": 0.9}}, "rnd.gamma is 0.9 where the run's gamma is 0.99: the kit adds intrinsic rewards"),
    ({"curiosity": True, "algorithm": "DQN"}, "curiosity trains beside PPO, not DQN"),
])
def test_bad_settings_are_refused_by_name(given, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict({"scene": "Basic", **given})


def test_what_the_networks_cannot_read_is_refused():
    with pytest.raises(ConfigError, match="rnd GridWorld's GridWorld has cameras, several sensors or action masks"):
        TrainConfig.from_dict({"scene": "GridWorld", "rnd": True})
    with pytest.raises(ConfigError, match="curiosity and self_play cannot be combined yet"):
        TrainConfig.from_dict({"scene": "Pong", "self_play": True, "curiosity": True})


def test_gail_needs_a_demonstration_of_the_trained_behavior(basic_demo, tmp_path):
    config = TrainConfig.from_dict({"scene": "Basic", "gail": {"demo_path": str(basic_demo), "use_actions": True}})
    assert config.reward_signals()["gail"]["use_actions"] is True
    assert "gail reward of right.demo (strength 1)" in config.resolved().describe()
    for block, message in (
            (True, "gail must be a mapping with demo_path"),
            ({"strength": 0.5}, "gail must be a mapping with demo_path"),
            ({"demo_path": str(tmp_path / "none.demo")}, "gail.demo_path .*none.demo does not exist: record one"),
            ({"demo_path": str(basic_demo), "use_vail": "yes"}, "gail.use_vail must be true or false"),
            ({"demo_path": str(basic_demo), "beta": 1}, "gail.beta is not a gail setting")):
        with pytest.raises(ConfigError, match=message):
            TrainConfig.from_dict({"scene": "Basic", "gail": block})
    with pytest.raises(ConfigError, match="gail.demo_path was recorded from another behavior than 3DBall's 3DBall: "
                                          "behavior: the file records 'Basic'"):
        TrainConfig.from_dict({"scene": "3DBall", "gail": {"demo_path": str(basic_demo)}})
    from unity_nb.train.flags import add_config_flags, config_overrides

    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    args = parser.parse_args(["--gail", f"demo_path={basic_demo}", "--gail", "use_vail=true", "--gail", "strength=0.01"])
    assert config_overrides(args)["gail"] == {"demo_path": str(basic_demo), "use_vail": True, "strength": 0.01}


def test_a_builds_behavior_is_checked_against_the_gail_demonstration_when_it_opens(basic_demo):
    from unity_nb.trainer.rllib_setup import _check_demonstration, scene_behaviors

    ball = scene_behaviors(make_config("3DBall"))
    with pytest.raises(ConfigError, match="gail.demo_path: was recorded from another behavior than '3DBall'"):
        _check_demonstration(str(basic_demo), ["3DBall"], ball, "gail")


def test_unitys_trainer_file_blocks_are_read_with_mlagents_defaults():
    behavior = {"trainer_type": "ppo", "reward_signals": {
        "extrinsic": {"gamma": 0.99, "strength": 1.0},
        "rnd": {"gamma": 0.99, "strength": 0.01, "learning_rate": 1e-4,
                "network_settings": {"hidden_units": 64, "num_layers": 3}},  # Unity's PyramidsRND.yaml
        "curiosity": {"encoding_size": 256}}}  # deprecated: sizes the network when network_settings is left out
    settings = convert({"behaviors": {"Pyramids": behavior}}, "Pyramids.yaml")
    assert settings["rnd"] == {"strength": 0.01, "gamma": 0.99, "learning_rate": 1e-4, "hidden_units": 64,
                               "num_layers": 3, "normalize": False}
    assert settings["curiosity"] == {"strength": 1.0, "gamma": 0.99, "learning_rate": 3e-4, "hidden_units": 256,
                                     "num_layers": 2, "normalize": False}
    config = TrainConfig.from_dict({**settings, "scene": "Pyramids"})
    assert set(config.reward_signals()) == {"curiosity", "rnd"}
    for signals, message in (
            ({"gail": {"demo_path": "x.demo", "use_actions": True}}, "gail.demo_path .*x.demo does not exist"),
            ({"rnd": {"network_settings": {"memory": {"memory_size": 64}}}},
             "rnd.network_settings.memory: only hidden_units, num_layers and normalize"),
            ({"curiosity": {"beta": 1}}, "curiosity: unknown key 'beta'"),
            ({"surprise": {}}, "surprise: unknown reward signal; known: extrinsic, curiosity, gail, rnd")):
        with pytest.raises(ConfigError, match=message):
            TrainConfig.from_dict({**convert({"behaviors": {"Pyramids": {"reward_signals": signals}}}, "f.yaml"),
                                   "scene": "Pyramids"})


def test_pyramids_trains_with_rnd_unless_told_otherwise():
    assert make_config("Pyramids").reward_signals()["rnd"]["strength"] == 0.1
    assert make_config("Pyramids", rnd=False).reward_signals() == {}
    assert make_config("Pyramids", algorithm="DQN").reward_signals() == {}  # the scene's RND is PPO's
    with pytest.raises(ConfigError, match=r"rnd.strength must be .*\(Pyramids trains with rnd unless rnd is false\)|"
                                          "rnd.strength must be"):
        make_config("Pyramids", rnd={"strength": -1})


# ---- the scene


def _play(scene, choose, decisions):
    batch, returns, totals = scene.reset()["Pyramids"], [], np.zeros(scene.n)
    for _ in range(decisions):
        rows = batch.observations[0][-scene.n:]
        batch = scene.step({"Pyramids": ActionBatch(discrete=choose(rows))})["Pyramids"]
        ended = len(batch.done) - scene.n  # terminal rows first, then a decision row for every agent
        for agent, reward in zip(batch.agents[:ended], batch.rewards[:ended]):
            returns.append(totals[agent] + reward)
            totals[agent] = 0
        totals[batch.agents[ended:]] += batch.rewards[ended:]
    return np.array(returns)


def test_the_best_route_scores_about_1_6_and_random_play_never_finds_the_brick():
    scene = Pyramids(num_areas=8, seed=0)
    best = _play(scene, lambda rows: Pyramids.heuristic([rows]), 240)
    assert len(best) >= 32 and best.min() == pytest.approx(2.0 - 46 / 120)
    rng = np.random.default_rng(0)
    scene = Pyramids(num_areas=8, seed=1)
    random = _play(scene, lambda rows: rng.integers(0, 5, (len(rows), 1)).astype(np.int32), 120 * 25)
    assert len(random) == 200 and np.allclose(random, -1.0)
    assert scene.behavior.observations[0].shape == (CELLS + 1,)


def test_the_frames_show_the_switch_and_the_raised_brick():
    scene = Pyramids(num_areas=2, seed=0)
    scene.reset()
    before = scene.render().copy()
    scene.switch_on[0] = True
    after = scene.render()
    assert before.shape == after.shape and (before != after).any()
    gold = np.array([250, 200, 40], np.uint8)
    assert (after == gold).all(-1).any() and not (before == gold).all(-1).any()


# ---- runs


@pytest.mark.ray
@pytest.mark.timeout(400)
def test_a_run_learns_with_gail_from_a_unity_trainer_file(basic_demo, tmp_path):
    """Unity's block as a trainer file writes it, beside the scene's reward (strength 0.1, as Unity's GAIL examples
    keep it small: GAIL's reward is positive every step, so alone it would pay the agent to dawdle)."""
    import unity_nb as ut

    text = ("behaviors:\n  Basic:\n    trainer_type: ppo\n    reward_signals:\n      extrinsic: {gamma: 0.99}\n"
            f"      gail: {{gamma: 0.99, strength: 0.1, demo_path: {basic_demo}, use_actions: true}}\n"
            "    max_steps: 4000\n")
    path = tmp_path / "basic_gail.yaml"
    path.write_text(text)
    run = ut.train("Basic", config=str(path), runs_dir=tmp_path, mode="inprocess", target_return="off")
    run.wait(timeout=300)
    assert run.state == "finished", run.status
    iterations = [e for e in run.events() if e["event"] == "iteration"]
    assert all(e["gail_reward"] > 0 and e["gail_loss"] > 0 for e in iterations)
    assert any(e["gail_expert_estimate"] > e["gail_policy_estimate"] for e in iterations)  # it tells them apart
    assert run.evaluate(episodes=10, play="deterministic").mean == pytest.approx(0.93, abs=1e-5)


@pytest.mark.ray
@pytest.mark.timeout(400)
def test_a_run_trains_with_both_signals(tmp_path):
    import unity_nb as ut

    run = ut.train("Basic", runs_dir=tmp_path, mode="inprocess", steps=3000, target_return="off", curiosity=True,
                   rnd={"normalize": True})
    run.wait(timeout=300)
    assert run.state == "finished", run.status
    iterations = [e for e in run.events() if e["event"] == "iteration"]
    for key in ("curiosity_forward_loss", "curiosity_inverse_loss", "rnd_reward", "rnd_loss"):
        assert all(e[key] is not None and e[key] >= 0 for e in iterations), key
    assert iterations[0]["curiosity_reward"] == 0  # nothing before the curiosity model's first update
    assert all(e["curiosity_reward"] > 0 for e in iterations[1:])
    assert run.evaluate(episodes=5, play="deterministic").mean > -1.0  # the export is the policy alone


@pytest.mark.ray
@pytest.mark.timeout(900)
def test_pyramids_defaults_end_solved(tmp_path):
    """Pyramids with its defaults (RND) finds the brick and confirms its target, in-process (the same
    trajectories as through the player). Without RND it does not within the budget: bench/sparse.py."""
    import unity_nb as ut
    from unity_nb.train.schema import confirmation_plays

    run = ut.train("Pyramids", runs_dir=tmp_path, mode="inprocess")
    run.wait(timeout=800)
    assert run.state == "finished", run.status
    status = run.status
    assert status["target_reached"], status["confirmation"]
    assert all(t["mean"] >= 1.4 for t in confirmation_plays(status["confirmation"]).values())
    assert run.last()["env_steps"] < run.config.steps
