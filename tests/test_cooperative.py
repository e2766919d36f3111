"""The cooperative scene (Escape): groups, group rewards and agents that leave mid-episode, as Unity sends them,
the same in-process and through the stand-in player over the real mlagents-envs client and gRPC."""

from __future__ import annotations

import numpy as np
import pytest

from unity_nb.envs.scenes import ActionBatch, Escape, agents_leave
from unity_nb.envs.source import EnvSource
from unity_nb.errors import BadValue


def _play(mode: str, exchanges: int = 300, num_areas: int = 2) -> list[tuple]:
    """Every agent row the client reads, exchange by exchange, with the scripted teamwork acting."""
    from mlagents_envs.base_env import ActionTuple

    source = EnvSource("Escape", mode=mode, seed=5, num_areas=num_areas)
    rows = []
    try:
        source.call("reset")
        for _ in range(exchanges):
            decision, terminal = source.call("get_steps", "Escape")
            for kind, steps in (("terminal", terminal), ("decision", decision)):
                for i in range(len(steps)):
                    rows.append((kind, int(steps.agent_id[i]), int(steps.group_id[i]), float(steps.group_reward[i]),
                                 bool(getattr(steps, "interrupted", np.zeros(len(steps), bool))[i]),
                                 tuple(np.round(steps.obs[0][i], 4))))
            actions = Escape.heuristic([decision.obs[0]]) if len(decision) else np.zeros((0, 1), np.int32)
            source.call("set_actions", "Escape", ActionTuple(discrete=actions))
            source.call("step")
    finally:
        source.close()
    return rows


def test_groups_group_rewards_and_leaving_agents_reach_the_real_client_as_in_process():
    in_process, through_player = _play("inprocess"), _play("player")
    assert through_player == in_process
    terminal = [r for r in in_process if r[0] == "terminal"]
    assert {r[2] for r in in_process} == {1, 2}  # one group per area, Unity's ids from 1
    escaped = [r for r in terminal if r[3] == 1.0]
    fallen = [r for r in terminal if r[3] == 0.0 and not r[4]]
    assert len(escaped) >= 20 and len(fallen) >= 10  # the scripted team escapes, a slayer falling each time
    decided_rewards = {r[3] for r in in_process if r[0] == "decision"}
    assert decided_rewards == {0.0}  # the group reward comes with the episode's end


def test_a_slayer_leaves_mid_episode_and_returns_with_a_new_id_when_its_group_starts_again():
    scene = Escape(num_areas=1, seed=0)
    batch = scene.reset()["Escape"]
    first_ids = batch.ids.tolist()
    # walk agent 0 onto the dragon, the others stay
    fallen_id, steps = None, 0
    while fallen_id is None and steps < 20:
        decision = batch.select(np.flatnonzero(~batch.done))
        actions = np.zeros((len(decision.ids), 1), np.int32)
        dx, dy = decision.observations[0][0, 3:5]
        actions[0, 0] = (4 if dx > 0 else 3) if abs(dx) >= abs(dy) else (1 if dy > 0 else 2)
        batch = scene.step({"Escape": ActionBatch(discrete=actions)})["Escape"]
        steps += 1
        if batch.done.any():
            assert batch.done.sum() == 1 and not batch.max_step_reached[batch.done][0]
            fallen_id = int(batch.ids[batch.done][0])
            assert batch.group_reward[batch.done][0] == 0.0 and batch.group_id[batch.done][0] == 1
    assert fallen_id == first_ids[0]
    decision_ids = batch.ids[~batch.done].tolist()
    assert fallen_id not in decision_ids and decision_ids == first_ids[1:]  # it asks for no decision: it left
    assert batch.observations[0][~batch.done][:, 5].tolist() == [1.0, 1.0]  # the key lies where the dragon was
    assert batch.observations[0][~batch.done][:, 12].tolist() == [0.0, 0.0]  # teammates see it gone
    # the group runs out of time: both still in it are interrupted, and the fallen agent comes back, a new id
    for _ in range(100):
        n = int((~batch.done).sum())
        batch = scene.step({"Escape": ActionBatch(discrete=np.zeros((n, 1), np.int32))})["Escape"]
        if batch.done.any():
            break
    ended = batch.ids[batch.done].tolist()
    assert ended == first_ids[1:] and batch.max_step_reached[batch.done].all()
    back = batch.ids[~batch.done].tolist()
    assert len(back) == 3 and back[1:] == first_ids[1:] and back[0] not in first_ids


def test_only_teamwork_escapes_and_random_play_rarely_does():
    def escapes(policy, seed):
        scene = Escape(num_areas=8, seed=seed)
        batch, groups, won = scene.reset()["Escape"], 0, 0
        rng = np.random.default_rng(seed)
        for _ in range(400):
            decision = batch.select(np.flatnonzero(~batch.done))
            batch = scene.step({"Escape": ActionBatch(discrete=policy(decision, rng))})["Escape"]
            ended = batch.done & (batch.group_reward > 0) | batch.max_step_reached
            groups += len(set(batch.group_id[ended].tolist()))
            won += len(set(batch.group_id[batch.done & (batch.group_reward > 0)].tolist()))
        return won / groups

    scripted = escapes(lambda d, rng: Escape.heuristic(d.observations), 0)
    random = escapes(lambda d, rng: rng.integers(0, 5, (len(d.ids), 1)).astype(np.int32), 0)
    assert scripted == 1.0 and random < 0.3, (scripted, random)


def test_escape_trains_as_agents_that_come_and_go_and_refuses_bad_parameters():
    assert agents_leave("Escape") and agents_leave("escape") and not agents_leave("3DBall")
    assert not agents_leave("./MyGame.x86_64")
    with pytest.raises(BadValue, match="max_environment_steps.*whole number >= 1"):
        Escape(params={"max_environment_steps": 0})
    frame = Escape(num_areas=4).render()
    assert frame.ndim == 3 and frame.shape[0] % 2 == 0 and frame.shape[1] % 2 == 0


# ---- POCA's inputs: each agent's teammates in its infos, and its returns


def _group_env():
    from unity_nb.envs.behaviors_env import UnityBehaviorsEnv
    from unity_nb.envs.groups import GroupView

    env = UnityBehaviorsEnv(EnvSource("Escape", mode="inprocess", seed=0, num_areas=2))
    key = env.possible_agents[0]
    return env, GroupView(2, env.observation_spaces[key], env.action_spaces[key])


def test_every_agent_sees_its_teammates_now_and_what_they_did_the_step_before():
    env, view = _group_env()
    obs, infos = env.reset()
    view.reset(obs, infos)
    first = sorted(obs)[:3]  # area 0's three agents
    mates = infos[first[0]]["mates_obs"]
    assert infos[first[0]]["mates_mask"].tolist() == [1.0, 1.0]
    assert np.array_equal(mates[0], obs[first[1]]) and np.array_equal(mates[1], obs[first[2]])
    actions = {k: int(i % 5) for i, k in enumerate(sorted(env.agents))}
    stepped = env.step(actions)
    view.step(actions, *stepped)
    infos = stepped[4]
    done = {k for k in stepped[0] if stepped[2].get(k) or stepped[3].get(k)}
    for key in first:
        if key in done:
            continue
        acted = infos[key]["mates_actions"]
        assert [int(np.argmax(row)) for row in acted] == [actions[m] for m in first if m != key]
        assert acted.sum() == 2.0  # one-hot


def test_a_slayer_keeps_its_groups_value_and_the_group_ends_together():
    env, view = _group_env()
    obs, infos = env.reset()
    view.reset(obs, infos)
    slayers, ends = [], []
    for _ in range(300):
        actions = {k: int(Escape.heuristic([obs[k][None]])[0, 0]) for k in env.agents}
        obs, rewards, terminated, truncated, infos = env.step(actions)
        view.step(actions, obs, rewards, terminated, truncated, infos)
        for key in obs:
            if terminated.get(key) and rewards[key] == 0.0:
                slayers.append(infos[key])
            elif terminated.get(key):
                ends.append(infos[key])
        if terminated.get("__all__") or truncated.get("__all__"):
            obs, infos = env.reset()
            view.reset(obs, infos)
    assert slayers and ends
    assert not any(i["group_done"] for i in slayers)  # its two teammates go on: bootstrapped from the group
    assert all(i["mates_mask"].sum() == 2 for i in slayers)  # its teammates, as it fell
    assert all(i["group_done"] for i in ends)  # the two that escape end the group's episode
    assert all(i["mates_mask"].sum() == 1 for i in ends)  # each other (the slayer had left)


def test_returns_bootstrap_from_the_group_unless_the_whole_group_is_done():
    from unity_nb.trainer.poca import lambda_returns

    # two agent episodes of 2 steps (+ RLlib's bootstrap row): both end terminated; only the second's group is done
    values = np.array([0.5, 0.6, 0.9, 0.5, 0.6, 0.9], np.float32)
    baselines = np.array([0.4, 0.5, 0.0, 0.4, 0.5, 0.0], np.float32)
    rewards = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 0.0], np.float32)
    terminated = np.array([False, True, False, False, True, False])
    group_done = np.array([False, False, False, True, True, True])
    returns, advantages = lambda_returns(values, baselines, rewards, terminated, group_done, [3, 3], 0.9, 0.8)
    assert returns[1] == pytest.approx(0.9 * 0.9)  # the fallen agent: its group's value after it
    assert returns[0] == pytest.approx(0.9 * 0.8 * returns[1] + 0.2 * 0.9 * 0.6)
    assert returns[4] == pytest.approx(1.0)  # the group escaped: nothing after
    assert returns[3] == pytest.approx(0.9 * 0.8 * 1.0 + 0.2 * 0.9 * 0.6)
    raw = returns[[0, 1, 3, 4]] - baselines[[0, 1, 3, 4]]
    assert advantages[[0, 1, 3, 4]] == pytest.approx((raw - raw.mean()) / raw.std(), abs=1e-5)
    assert advantages[2] == advantages[5] == 0.0  # bootstrap rows: no advantage


# ---- POCA's settings


@pytest.mark.parametrize("given,message", [
    ({"scene": "Basic", "poca": True}, "poca needs agents in groups .* Built-in scenes with groups: Escape; for Basic, "
                                       "use PPO"),
    ({"scene": "Escape", "poca": True, "algorithm": "APPO"}, "poca is PPO with a group critic, not APPO"),
    ({"scene": "Pong", "poca": True, "self_play": True}, "poca needs agents in groups .* for Pong, use PPO"),
    ({"scene": "./MyGame.x86_64", "poca": True, "self_play": True}, "poca and self_play cannot be combined yet"),
    ({"scene": "Escape", "poca": True, "normalize": True}, "normalize true is not supported with poca yet"),
    ({"scene": "Escape", "poca": True, "model": "my_models:Net"}, "model cannot be given with poca"),
    ({"scene": "Escape", "poca": "yes"}, "poca must be true or false, got 'yes'"),
])
def test_bad_poca_settings_are_refused_by_name(given, message):
    from unity_nb.train.config import ConfigError, TrainConfig

    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(given)


def test_a_unity_trainer_file_with_trainer_type_poca_trains_ppo_with_the_group_critic():
    from unity_nb.train.config import TrainConfig

    config = TrainConfig.from_yaml("""
behaviors:
  Escape:
    trainer_type: poca
    hyperparameters: {batch_size: 512, buffer_size: 12288, learning_rate: 3.0e-4, beta: 0.01, lambd: 0.95}
    network_settings: {hidden_units: 64, num_layers: 2}
    max_steps: 300000
""")
    assert (config.scene, config.algorithm, config.poca, config.steps) == ("Escape", "PPO", True, 300_000)
    assert (config.train_batch_size, config.minibatch_size, config.lr) == (12_288, 512, 3e-4)


# ---- Escape's default run, with POCA, and everything after it


@pytest.mark.ray
@pytest.mark.timeout(600)
def test_escapes_default_run_trains_poca_and_everything_after_works(tmp_path):
    """The scene's defaults (POCA) on a small budget: the group critic trains beside the policy, and evaluation,
    export (one ONNX, the policy alone, in Unity's contract) and video work for agents that come and go."""
    import pickle

    import unity_nb as ut

    run = ut.train("Escape", runs_dir=tmp_path, mode="inprocess", steps=24_576)
    run.wait(timeout=500)
    assert run.state == "finished", run.status
    assert run.config.poca is True and run.config.algorithm == "PPO"
    modules = run.latest_checkpoint() / "learner_group" / "learner" / "rl_module"
    assert sorted(p.name for p in modules.iterdir() if p.is_dir()) == ["Escape"]
    with open(modules / "Escape" / "module_state.pkl", "rb") as f:  # the learner's module: policy and group critic
        state = pickle.load(f)
    assert any(k.startswith("group_critic.attention.") for k in state) and any(k.startswith("pi.") for k in state)
    last = run.last()
    assert last["vf_loss"] is not None and last["env_steps"] >= 24_576
    rows = run.evaluate(episodes=20, play="sampled").rows()
    assert rows["Escape"]["episodes"] == 20 and 0.0 <= rows["Escape"]["mean"] <= 1.0
    exported = run.export()
    assert exported.ok and [b.behavior for b in exported.behaviors] == ["Escape"]
    assert [p.name for p in run.export_dir.glob("*.onnx")] == ["Escape.onnx"]
    video = run.video(episodes=1)
    assert video.format == "mp4" and video.frames > 2


def test_a_poca_run_travels_to_a_sagemaker_job_with_its_settings():
    """A SageMaker job's hyperparameters are strings: POCA's setting goes there and back, and the job's metric
    definitions are the run's (the full emulated job path is tested with 3DBall in test_sagemaker.py)."""
    import unity_nb.train as ut
    from unity_nb.train.sagemaker import contract

    config = ut.make_config("Escape", steps=24_576)
    hyperparameters = contract.encode_hyperparameters(config)
    assert all(isinstance(v, str) for v in hyperparameters.values())
    back = contract.decode_hyperparameters(hyperparameters)
    assert back.to_dict() == config.to_dict() and back.resolved().poca is True
    names = [m["Name"] for m in contract.metric_definitions(config)]
    assert "episode_return_mean" in names and "elo" not in names
