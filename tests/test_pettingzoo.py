"""PettingZoo's ParallelEnv over Unity scenes (unity_nb.envs.make_parallel): PettingZoo's own API tests on the
stand-in over the real client and gRPC and in-process, AEC through PettingZoo's converter, stable names when a
build gives every episode new ids, agents that leave and join, group ids and rewards, refusals, and RLlib's
PettingZoo wrapper training on it. The builds whose agents come and go are tests/scripted_build.py (a test
double: no Unity build runs here)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test
from pettingzoo.utils.conversions import parallel_to_aec

import unity_nb.envs as ue
from unity_nb.envs.pettingzoo_env import UnityParallelEnv
from unity_nb.errors import BadValue, NotPossible

from scripted_build import scripted_source


def _tilt(t: int, n: int) -> np.ndarray:
    """3DBall actions for step ``t``, one row per slot."""
    return np.stack([np.sin(0.3 * t + np.arange(n)), np.cos(0.2 * t + 0.5 * np.arange(n))], axis=1).astype(np.float32)


@pytest.mark.parametrize("scene,mode", [("BasicDuo", "player"), ("BasicDuo", "inprocess"), ("3DBall", "inprocess"),
                                        ("Pong", "player"), ("Pong", "inprocess"), ("Escape", "player")])
def test_pettingzoos_parallel_api_test_passes_without_a_warning(scene, mode):
    env = ue.make_parallel(scene, mode=mode, num_areas=2)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # PettingZoo says what it finds odd as UserWarnings
            parallel_api_test(env, num_cycles=400)
    finally:
        env.close()


def test_names_are_behavior_and_place_and_the_aec_form_passes_its_test():
    env = ue.make_parallel("BasicDuo", mode="inprocess", num_areas=2)
    assert sorted(env.possible_agents) == ["BasicLeft#0", "BasicLeft#1", "BasicRight#0", "BasicRight#1"]
    assert env.observation_space("BasicLeft#0") is env.observation_space("BasicLeft#1")  # one space per behavior
    env.close()
    aec = parallel_to_aec(ue.make_parallel("BasicDuo", mode="inprocess"))
    try:
        api_test(aec, num_cycles=200)
    finally:
        aec.close()


def _episodes(source, episodes: int = 4) -> list[dict[str, tuple[float, int]]]:
    """Each slot's (return, steps) per episode, playing 3DBall's tilt by slot."""
    env = UnityParallelEnv(source)
    out = []
    for _ in range(episodes):
        env.reset()
        n, t, got = len(env.possible_agents), 0, {}
        totals = dict.fromkeys(env.agents, 0.0)
        while env.agents:
            tilt = _tilt(t, n)
            _, rewards, terminated, truncated, _ = env.step({a: tilt[env.possible_agents.index(a)] for a in env.agents})
            t += 1
            for a, r in rewards.items():
                totals[a] = totals.get(a, 0.0) + r
                if terminated[a] or truncated[a]:
                    got[a] = (round(totals[a], 5), t)
        out.append(got)
    env.close()
    return out


def test_a_build_that_gives_every_episode_new_ids_keeps_the_names_and_the_episodes():
    kept, new = _episodes(scripted_source("3DBall")), _episodes(scripted_source("3DBall", new_ids=True))
    assert kept == new
    assert all(set(e) == {f"3DBall#{i}" for i in range(12)} for e in kept)  # every slot ends each episode


def test_an_agent_that_leaves_ends_its_slot_and_one_that_joins_takes_an_empty_one():
    # scene agent 3 is disabled at exchange 5; agent 11 is absent at the start and enabled at exchange 3
    env = UnityParallelEnv(scripted_source("3DBall", events={5: [("disable", 3)], 3: [("enable", 11)]},
                                           absent=(11,)))
    assert len(env.possible_agents) == 11  # named from the agents present at the first reset
    env.reset()
    assert "3DBall#3" in env.agents and len(env.agents) == 11
    ends, joined = {}, []
    for t in range(8):
        before = set(env.agents)
        _, _, terminated, truncated, _ = env.step({a: np.zeros(2, np.float32) for a in env.agents})
        ends.update({a: (t + 1, terminated[a]) for a in terminated if terminated[a] or truncated[a]})
        joined += sorted(set(env.agents) - before)
        assert not set(env.agents) & set(ends)  # nobody comes back within the episode
    assert ends["3DBall#3"] == (5, True)  # its terminal step, at exchange 5
    with pytest.raises(BadValue, match="'3DBall#3' is not alive: its episode ended"):
        env.step({**{a: np.zeros(2, np.float32) for a in env.agents}, "3DBall#3": np.zeros(2, np.float32)})
    env.close()


def test_group_ids_and_group_rewards_are_in_the_infos():
    env = UnityParallelEnv(scripted_source("3DBall", groups=3))
    _, infos = env.reset()
    assert {a: infos[a]["group_id"] for a in ("3DBall#0", "3DBall#1", "3DBall#2", "3DBall#3")} == \
        {"3DBall#0": 1, "3DBall#1": 2, "3DBall#2": 3, "3DBall#3": 1}
    _, _, _, _, infos = env.step({a: np.zeros(2, np.float32) for a in env.agents})
    assert infos["3DBall#1"]["group_reward"] == pytest.approx(0.2)
    env.close()


def test_action_masks_are_in_the_infos():
    env = ue.make_parallel("GridWorld", mode="inprocess")
    obs, infos = env.reset()
    agent = env.agents[0]
    mask = infos[agent]["action_mask"]  # 1: allowed, as PettingZoo's masks (Unity sends True for masked)
    assert mask.shape == (env.action_space(agent).n,) and set(mask.tolist()) <= {0, 1} and 0 < mask.sum()
    env.close()


def test_bad_input_is_refused_with_what_to_do():
    env = ue.make_parallel("BasicDuo", mode="inprocess")
    with pytest.raises(NotPossible, match="call reset\\(\\) before step"):
        env.step({})
    env.reset()
    live = {a: 1 for a in env.agents}
    for actions, message in [
        ([1, 2], "actions must be a dict from agent name to action, got list"),
        ({**live, "Striker?team=0#1": 1}, "'Striker\\?team=0#1' is not an agent of this env; its agents: Basic"),
        ({}, "no action for the live agents"),
        ({a: 7 for a in env.agents}, "invalid action for Basic\\w+ agents: 7"),
        ({a: "left" for a in env.agents}, "invalid action for Basic\\w+ agents"),
    ]:
        with pytest.raises(BadValue, match=message):
            env.step(actions)
    while env.agents:
        env.step({a: 2 for a in env.agents})
    assert env.step({}) == ({}, {}, {}, {}, {})  # no agent is live: nothing asked, nothing given
    with pytest.raises(NotPossible, match="this episode is over .* call reset\\(\\)"):
        env.step({"BasicLeft#0": 2})
    with pytest.raises(NotPossible, match="render_mode='rgb_array'"):
        env.render()
    env.close()
    for bad in (0, -3, 2.5, True, "10"):
        with pytest.raises(BadValue, match="max_cycles must be a whole number >= 1"):
            ue.make_parallel("BasicDuo", mode="inprocess", max_cycles=bad)


def test_max_cycles_truncates_every_live_agent_and_render_gives_frames():
    env = ue.make_parallel("3DBall", mode="inprocess", max_cycles=5, render_mode="rgb_array")
    env.reset()
    for _ in range(5):
        _, _, terminated, truncated, _ = env.step({a: np.zeros(2, np.float32) for a in env.agents})
    assert env.agents == [] and all(truncated[a] and not terminated[a] for a in truncated)
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    env.close()


def test_rllibs_wrapper_samples_episodes_whose_last_agents_end_one_terminated_one_truncated():
    """RLlib's ParallelPettingZooEnv sets "__all__" only when every agent of the last step terminated, or every one
    truncated: when one ends by termination and another by truncation in the same last step it steps again with no
    actions (the flaky CI failure of the training test below, on BasicDuo), which must end the episode, not raise."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv

    def mixed_ending(_config=None):  # scene agent 0 is disabled (terminated) as max_cycles truncates the rest
        return ParallelPettingZooEnv(UnityParallelEnv(scripted_source("3DBall", events={3: [("disable", 0)]}),
                                                      max_cycles=3))

    env = mixed_ending()
    env.reset()
    for _ in range(3):
        _, _, terminated, truncated, _ = env.step({a: np.zeros(2, np.float32) for a in env.par_env.agents})
    assert terminated["3DBall#0"] and truncated["3DBall#1"] and not terminated["__all__"] and not truncated["__all__"]
    assert env.step({}) == ({}, {}, {"__all__": True}, {"__all__": True}, {})  # the episode's end, nothing more
    with pytest.raises(NotPossible, match="this episode is over"):  # an action for an agent that ended is refused
        env.step({"3DBall#1": np.zeros(2, np.float32)})
    env.close()
    runner = MultiAgentEnvRunner(config=PPOConfig().environment(mixed_ending).multi_agent(
        policies={"p"}, policy_mapping_fn=lambda agent, *args, **kwargs: "p"))
    episodes = runner.sample(num_episodes=2, random_actions=True)
    assert [len(e) for e in episodes] == [3, 3] and all(e.is_done for e in episodes)
    runner.stop()


@pytest.mark.ray
@pytest.mark.timeout(600)
def test_rllib_trains_a_policy_per_behavior_through_its_pettingzoo_wrapper():
    """Another library's trainer on the ParallelEnv: RLlib's own PettingZoo wrapper and PPO, one policy per
    behavior, in this process; each place's episode returns are recorded and the policies learn to reach the goals."""
    import ray
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
    from ray.tune.registry import register_env

    register_env("basic_duo_pz", lambda cfg: ParallelPettingZooEnv(ue.make_parallel("BasicDuo", mode="inprocess",
                                                                                     num_areas=4, seed=cfg.worker_index)))
    # a Ray of its own, even while the kit's training runtime is up (ray.init() would join that one)
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        config = (PPOConfig().environment("basic_duo_pz").env_runners(num_env_runners=0)
                  .multi_agent(policies={"BasicLeft", "BasicRight"},
                               policy_mapping_fn=lambda agent, *args, **kwargs: agent.rsplit("#", 1)[0])
                  .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={
                      "BasicLeft": RLModuleSpec(), "BasicRight": RLModuleSpec()}))
                  .training(train_batch_size_per_learner=1000, minibatch_size=250, num_epochs=4, lr=3e-3)
                  .debugging(seed=0))
        algo = config.build_algo()
        means = []
        for _ in range(3):
            result = algo.train()
            means.append(result["env_runners"]["agent_episode_returns_mean"])
        algo.stop()
    finally:
        ray.shutdown()
    first, last = means[0], means[-1]
    assert set(last) >= {"BasicLeft#0", "BasicRight#0"}
    # from about 0.1 to about 0.7 over the eight places (Basic's best is 0.93)
    assert np.mean(list(last.values())) > np.mean(list(first.values())) + 0.3, means
