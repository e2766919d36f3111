"""Self-play (issue 29, item 3): the settings and their refusals, Unity's teams, ELO, the ghost trainer's
counters (with a stand-in learner: no Ray), and one real Pong run through RLlib."""

import argparse
import json
import pickle

import numpy as np
import pytest

import unity_nb.train as ut
from unity_nb.envs.teams import games, split_team, teams
from unity_nb.errors import BadValue, NotFound, NotPossible
from unity_nb.train.config import ConfigError, TrainConfig
from unity_nb.train.flags import add_config_flags, config_overrides
from unity_nb.train.self_play import DEFAULTS, elo_change, expected_score, result_of, settings

SMALL = {"save_steps": 2000, "team_change": 4000, "swap_steps": 1000, "window": 2}


# ---- settings

def test_a_self_play_block_takes_mlagents_learn_defaults():
    config = TrainConfig(scene="Pong", self_play=True)
    config.validate()
    assert config.self_play == {"save_steps": 20_000, "team_change": 100_000, "swap_steps": 2_000, "window": 10,
                                "play_against_latest_model_ratio": 0.5, "initial_elo": 1200.0}
    # team_change follows save_steps (5x) unless given
    assert settings({"save_steps": 300})["team_change"] == 1500
    assert settings({"save_steps": 300, "team_change": 7})["team_change"] == 7
    assert TrainConfig.from_dict({"scene": "Pong", "self_play": False}).self_play is None


@pytest.mark.parametrize("given, message", [
    ({"scene": "Basic", "self_play": True}, "self_play needs two teams or more, and the Basic scene has none"),
    ({"scene": "BasicDuo", "self_play": {}}, "BasicDuo scene has none"),
    ({"scene": "Pong", "self_play": {"window": 0}}, r"self_play.window must be a whole number >= 1"),
    ({"scene": "Pong", "self_play": {"window": 2.5}}, r"self_play.window must be a whole number >= 1"),
    ({"scene": "Pong", "self_play": {"save_steps": -5}}, r"self_play.save_steps must be a whole number >= 1"),
    ({"scene": "Pong", "self_play": {"play_against_latest_model_ratio": 1.5}},
     r"play_against_latest_model_ratio must be a number in \[0, 1\]"),
    ({"scene": "Pong", "self_play": {"play_against_latest_model_ratio": "half"}}, r"must be a number in \[0, 1\]"),
    ({"scene": "Pong", "self_play": {"initial_elo": None}}, "initial_elo must be a number"),
    ({"scene": "Pong", "self_play": {"windw": 3}}, "self_play.windw is not a self-play setting; they are save_steps"),
    ({"scene": "Pong", "self_play": "yes"}, "self_play must be a mapping of self-play settings"),
    ({"scene": "Pong", "self_play": True, "behavior": "Pong?team=0"}, "cannot be trained alone under self_play"),
    ({"scene": "Pong", "self_play": True, "algorithm": "APPO"}, "self_play trains with PPO"),
    ({"scene": "Pong", "self_play": True, "behavior_settings": {"Pong?team=1": {"lr": 1e-3}}},
     r"behavior_settings.Pong\?team=1 cannot be its own under self-play: the teams of Pong play one policy"),
])
def test_bad_self_play_settings_are_refused_by_name(given, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(given)


def test_unity_trainer_file_with_a_self_play_block_names_the_game():
    """Unity's trainer file names the game (Pong), not its teams: it picks the scene and trains every team."""
    text = """
behaviors:
  Pong:
    trainer_type: ppo
    hyperparameters: {batch_size: 256, buffer_size: 4096, learning_rate: 1.0e-3}
    max_steps: 50000
    self_play: {save_steps: 4000, team_change: 16000, swap_steps: 1000, window: 5,
                play_against_latest_model_ratio: 0.3, initial_elo: 1000.0}
"""
    config = TrainConfig.from_yaml(text)
    assert (config.scene, config.behavior, config.steps) == ("Pong", None, 50_000)
    assert config.self_play == {"save_steps": 4000, "team_change": 16000, "swap_steps": 1000, "window": 5,
                                "play_against_latest_model_ratio": 0.3, "initial_elo": 1000.0}
    with pytest.raises(ConfigError, match="self_play.window must be a whole number >= 1"):
        TrainConfig.from_yaml(text.replace("window: 5", "window: 0"))


def test_an_asymmetric_trainer_file_gives_each_game_its_block_and_settings(tmp_path):
    """Unity's Strikers-vs-Goalie kind of file: a block per game, each game's own rate reaching its teams."""
    build = tmp_path / "Soccer.x86_64"
    build.write_text("")
    block = "self_play: {save_steps: 5000, team_change: 20000, swap_steps: 2000, window: 4}"
    text = f"""
behaviors:
  Striker: {{trainer_type: ppo, hyperparameters: {{learning_rate: 1.0e-3}}, {block}}}
  Goalie: {{trainer_type: ppo, hyperparameters: {{learning_rate: 5.0e-4}}, {block}}}
env_settings: {{env_path: {build}}}
"""
    config = TrainConfig.from_yaml(text)
    assert config.behavior is None and config.self_play["window"] == 4
    assert config.for_behavior("Striker?team=0").lr == 1e-3 and config.for_behavior("Goalie?team=1").lr == 5e-4
    with pytest.raises(ConfigError, match="behaviors.Goalie: self_play is .* where behaviors.Striker has"):
        TrainConfig.from_yaml(text.replace("window: 4}}\n  Goalie", "window: 4}}\n  Goalie").replace(
            f"Goalie: {{trainer_type: ppo, hyperparameters: {{learning_rate: 5.0e-4}}, {block}}}",
            "Goalie: {trainer_type: ppo, hyperparameters: {learning_rate: 5.0e-4}, self_play: {window: 3}}"))


def test_self_play_flags():
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    assert config_overrides(parser.parse_args(["--self-play"]))["self_play"] == {}
    given = parser.parse_args(["--self-play", "window=5", "--self-play", "play_against_latest_model_ratio=0.3"])
    assert config_overrides(given)["self_play"] == {"window": 5, "play_against_latest_model_ratio": 0.3}
    assert "self_play" not in config_overrides(parser.parse_args([]))
    for bad in (["--self-play", "window"], ["--self-play", "window=five"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
    assert "--self-play [KEY=VALUE]" in parser.format_help()


# ---- teams and ELO

def test_teams_come_from_unity_behavior_names():
    assert split_team("Pong?team=1") == ("Pong", 1)
    assert split_team("3DBall") == ("3DBall", None)
    with pytest.raises(BadValue, match="the team after '\\?team=' must be a whole number, got 'blue'"):
        split_team("Pong?team=blue")
    assert teams(["Striker?team=0", "Goalie?team=1", "Striker?team=0"]) == {
        0: ["Striker?team=0", "Striker?team=0"], 1: ["Goalie?team=1"]}
    assert games(["Pong?team=0", "Pong?team=1"]) == ["Pong"]


def test_elo_as_unitys_ghost_trainer_computes_it():
    assert expected_score(1200, 1200) == pytest.approx(0.5)
    assert expected_score(1600, 1200) == pytest.approx(1 / (1 + 10 ** (-1)))
    assert elo_change(1200, 1200, 1.0) == pytest.approx(0.5)  # no K factor: at most 1 point a game
    assert elo_change(1200, 1200, 0.5) == 0
    assert (result_of(1.0), result_of(0.0), result_of(-0.4)) == (1.0, 0.5, 0.0)


# ---- the ghost trainer's counters, with a stand-in learner (its work between iterations needs no Ray)

class _Module:
    def __init__(self, value):
        self.w = np.full(3, float(value))

    def get_state(self):
        return {"w": self.w}

    def set_state(self, state):
        self.w = np.array(state["w"], dtype=float)


class _Learner:
    def __init__(self):
        self.module = {"Pong": _Module(0), "Pong#ghost": _Module(-1)}


class _Done:
    def __init__(self, value):
        self.value = value

    def get(self):
        return self.value


class _Group:
    def __init__(self, learner):
        self.learner, self.calls = learner, []

    def foreach_learner(self, fn):
        return [_Done(fn(self.learner))]

    def foreach_env_runner(self, fn, local_env_runner=True):
        self.calls.append("runners")
        return [fn(None)]

    def sync_weights(self, **kwargs):
        self.calls.append("sync")


class _Algo:
    """What GhostTrainer touches of an RLlib algorithm: one learner's modules, the env runners."""

    def __init__(self):
        self.learner = _Learner()
        self.learner_group = _Group(self.learner)
        self.env_runner_group = self.learner_group


def _steps(learning, ghost):
    return {"env_runners": {"num_module_steps_sampled": {"Pong": learning, "Pong#ghost": ghost}}}


def test_snapshots_swaps_and_team_changes_follow_unitys_counters():
    from unity_nb.trainer.ghost import GhostTrainer, _learning

    algo = _Algo()
    ghost = GhostTrainer({**DEFAULTS, **SMALL, "play_against_latest_model_ratio": 0.0}, ["Pong?team=0", "Pong?team=1"],
                         seed=0)
    events = ghost.start(algo, env_steps=0, resumed=False)
    assert [e["what"] for e in events] == ["snapshot", "swap"] and _learning["team"] == 0
    assert events[1]["opponent"] == "snapshot 0" and algo.learner.module["Pong#ghost"].w[0] == 0  # the untrained policy
    algo.learner.module["Pong"].w[:] = 1  # it learns
    # 1,500 learning-team steps: nothing yet (save_steps 2,000); 1,500 opponent steps: a swap (swap_steps 1,000)
    assert [e["what"] for e in ghost.after_iteration(algo, _steps(1500, 1500), [], 1500)] == ["swap"]
    events = ghost.after_iteration(algo, _steps(600, 600), [], 2100)  # 2,100 learning steps: a snapshot
    assert [e["what"] for e in events] == ["snapshot"] and events[0]["slot"] == 1 and events[0]["snapshots"] == 2
    assert ghost.snapshots["Pong"][1]["weights"]["w"][0] == 1
    algo.learner.module["Pong"].w[:] = 2  # a snapshot is a copy: later learning does not change it
    assert ghost.snapshots["Pong"][1]["weights"]["w"][0] == 1
    events = ghost.after_iteration(algo, _steps(2000, 100), [], 4200)  # 4,100 since the start: team 1 learns
    assert [e["what"] for e in events] == ["snapshot", "team_change", "swap"]
    assert events[0]["slot"] == 0 and len(ghost.snapshots["Pong"]) == 2  # a ring of window=2: the oldest went
    assert events[1]["learning_team"] == 1 and _learning["team"] == 1
    assert ghost.metrics()["learning_team"] == 0  # the iteration's figures are of the team that learned in it
    assert algo.learner.module["Pong#ghost"].w[0] in (1, 2) and "sync" in algo.learner_group.calls


def test_elo_moves_only_against_snapshots_and_only_for_finished_games():
    from unity_nb.trainer.ghost import GhostTrainer, policy_of

    algo = _Algo()
    ghost = GhostTrainer({**DEFAULTS, **SMALL, "play_against_latest_model_ratio": 0.0}, ["Pong?team=0", "Pong?team=1"],
                         seed=0)
    ghost.start(algo, 0, resumed=False)
    assert (policy_of("Pong?team=0#3.7"), policy_of("Pong?team=1#3.7")) == ("Pong", "Pong#ghost")
    # two wins and a draw by the learning policy, a game of the ghost's (not counted)
    ghost.after_iteration(algo, _steps(10, 10), [("Pong", 1.0), ("Pong", 1.0), ("Pong", 0.0), ("Pong#ghost", -1.0)], 10)
    first = 0.5
    second = 1 - expected_score(1200 + first, 1200 - first)
    third = 0.5 - expected_score(1200 + first + second, 1200 - first - second)
    assert ghost.elo["Pong"] == pytest.approx(1200 + first + second + third)
    assert ghost.snapshots["Pong"][0]["elo"] == pytest.approx(1200 - first - second - third)
    assert ghost.metrics()["games_rated"] == 3
    # against the current policy (latest) of a symmetric game the two updates cancel
    ghost.opponent["Pong"] = None
    before = ghost.elo["Pong"]
    ghost.after_iteration(algo, _steps(10, 10), [("Pong", 1.0)], 20)
    assert ghost.elo["Pong"] == pytest.approx(before)


def test_an_asymmetric_game_trains_a_policy_and_a_ghost_per_name():
    """A striker against a goalie: each name is its own game (a policy, a ghost, a rating); while the strikers
    learn, the goalies play the goalie's snapshots, and the other way round after a team change."""
    from unity_nb.trainer.ghost import GhostTrainer, policy_of

    algo = _Algo()
    algo.learner.module = {m: _Module(i) for i, m in enumerate(["Striker", "Striker#ghost", "Goalie", "Goalie#ghost"])}
    ghost = GhostTrainer({**DEFAULTS, **SMALL, "play_against_latest_model_ratio": 0.0},
                         ["Striker?team=0", "Goalie?team=1"], seed=0)
    events = ghost.start(algo, 0, resumed=False)
    assert [(e["what"], e["game"]) for e in events] == [("snapshot", "Striker"), ("snapshot", "Goalie"),
                                                         ("swap", "Goalie")]
    assert (policy_of("Striker?team=0#0.0"), policy_of("Goalie?team=1#0.0")) == ("Striker", "Goalie#ghost")
    steps = {"env_runners": {"num_module_steps_sampled": {"Striker": 4100, "Goalie#ghost": 4100}}}
    events = ghost.after_iteration(algo, steps, [("Striker", 1.0), ("Goalie#ghost", -1.0)], 4100)
    assert [(e["what"], e.get("game")) for e in events] == [("snapshot", "Striker"), ("team_change", None),
                                                            ("swap", "Striker")]
    assert ghost.elo["Striker"] == pytest.approx(1200.5) and ghost.snapshots["Goalie"][0]["elo"] == pytest.approx(1199.5)
    assert ghost.elo["Goalie"] == 1200  # its learning policy played no rated game
    assert (policy_of("Striker?team=0#0.0"), policy_of("Goalie?team=1#0.0")) == ("Striker#ghost", "Goalie")
    metrics = ghost.metrics()
    assert metrics["elo/Striker"] == pytest.approx(1200.5) and metrics["elo/Goalie"] == 1200


def test_ratings_and_snapshots_survive_a_checkpoint(tmp_path):
    from unity_nb.trainer.ghost import GhostTrainer

    algo = _Algo()
    behaviors = ["Pong?team=0", "Pong?team=1"]
    ghost = GhostTrainer({**DEFAULTS, **SMALL}, behaviors, seed=3)
    ghost.start(algo, 0, resumed=False)
    ghost.after_iteration(algo, _steps(4100, 4100), [("Pong", 1.0)], 4100)
    ghost.save(tmp_path)
    state = json.loads(json.dumps(ghost.state()))  # it travels in the checkpoint's JSON progress file
    again = GhostTrainer({**DEFAULTS, **SMALL}, behaviors, seed=99)
    again.restore(state, tmp_path)
    assert (again.learning, again.elo, again.games_counted) == (ghost.learning, ghost.elo, ghost.games_counted)
    assert [s["elo"] for s in again.snapshots["Pong"]] == [s["elo"] for s in ghost.snapshots["Pong"]]
    assert again.rng.uniform() == ghost.rng.uniform()  # the same draws from here on
    (tmp_path / "self_play.pkl").unlink()
    with pytest.raises(NotPossible, match="has no self-play snapshots \\(self_play.pkl and its ratings\\)"):
        GhostTrainer({**DEFAULTS, **SMALL}, behaviors, seed=0).restore(state, tmp_path)


def test_a_warning_when_the_games_are_not_zero_sum(tmp_path):
    """ELO assumes one side's win is the other's loss: the driver says once when an iteration's returns do not
    cancel out (the driver alone; no Ray)."""
    from unity_nb.trainer.driver import Driver

    run = ut.RunStore(tmp_path).create(ut.make_config("Pong", self_play=True))
    driver = Driver(run.path, None, resume=False)
    driver.ghost = object()
    driver._episodes = [("Pong?team=0", 1.0, 5), ("Pong?team=1", -1.0, 5)]
    driver._zero_sum_warning()
    driver._episodes = [("Pong?team=0", 1.0, 5), ("Pong?team=1", -0.5, 5)]
    driver._zero_sum_warning()
    driver._zero_sum_warning()
    said = [e["message"] for e in run.events() if e["event"] == "log" and "zero-sum" in e["message"]]
    assert len(said) == 1 and "returns summing to 0.500, not 0" in said[0], said


# ---- a real run

@pytest.mark.ray
def test_pong_self_play_trains_rates_snapshots_and_everything_after_works(tmp_path):
    """One policy for both teams, a ghost playing the other side: snapshots, swaps and team changes on the
    learning team's and opponents' agent steps, ELO in every iteration, and evaluation against the scripted
    player and a snapshot, export (one file for the game), video and resume from the snapshots."""
    run = ut.train("Pong", runs_dir=tmp_path, mode="inprocess", steps=12_288, train_batch_size=4096,
                   checkpoint_every=1, normalize=True, self_play=SMALL, env_params={"ball_speed": {"curriculum": [
                       {"name": "slow", "value": 0.02, "completion_criteria": {
                           "behavior": "Pong?team=0", "measure": "elo", "threshold": 1100}},
                       {"name": "served", "value": 0.025}]}})
    run.wait(timeout=600)
    assert run.state == "finished", run.status
    events = run.events()
    iterations = [e for e in events if e["event"] == "iteration"]
    played = [e for e in events if e["event"] == "self_play"]
    assert [e["what"] for e in played[:2]] == ["snapshot", "swap"] and played[0]["env_steps"] == 0
    # each iteration is ~4,100 agent steps: half the learning team's (a snapshot each time, a team change every
    # second time), half the opponents' (a swap each time)
    changes = [e for e in played if e["what"] == "team_change"]
    assert [e["learning_team"] for e in changes] == [1] and [e["learning_team"] for e in iterations] == [0, 0, 1]
    assert sum(e["what"] == "snapshot" for e in played) == 1 + len(iterations)
    assert all(e["games_rated"] > 0 and e["elo"] > 0 for e in iterations)
    assert iterations[-1]["env_steps"] >= 12_288 and iterations[0]["env_steps"] < 8192  # agent steps, not exchanges
    assert not any("zero-sum" in e.get("message", "") for e in events)  # Pong's points are zero-sum
    moved = [e for e in events if e["event"] == "lesson" and e["previous"] is not None]
    assert [e["name"] for e in moved] == ["served"] and "ELO" in moved[0]["reason"]  # the rating moved it on
    checkpoint = run.latest_checkpoint()
    modules = checkpoint / "learner_group" / "learner" / "rl_module"
    assert sorted(p.name for p in modules.iterdir() if p.is_dir()) == ["Pong", "Pong#ghost"]
    with open(checkpoint / "self_play.pkl", "rb") as f:
        assert len(pickle.load(f)["Pong"]) == 2  # the window
    from unity_nb.evaluate.policy import load_policies

    policies = load_policies(checkpoint)  # the game's policy, normalising with the game's statistics (both teams')
    assert list(policies) == ["Pong"] and policies["Pong"].normalizer.running_stats.n > 4000
    rows = run.evaluate(episodes=10, play="deterministic").rows()
    assert set(rows) == {"all", "Pong?team=0", "Pong?team=1"}  # one policy plays both sides
    scripted = run.evaluate(episodes=10, play="deterministic", opponent="scripted").rows()
    assert all(scripted[t]["won"] + scripted[t]["drawn"] + scripted[t]["lost"] == 10 for t in ("Pong?team=0", "Pong?team=1"))
    against = run.evaluate(episodes=10, play="deterministic", opponent="snapshot:0")
    assert repr(against).startswith("Evaluation(deterministic against snapshot 0 (")
    with pytest.raises(NotFound, match="snapshot 5: the run's window holds snapshots 0 to 1"):
        run.evaluate(episodes=2, opponent="snapshot:5")
    with pytest.raises(BadValue, match="opponent must be 'scripted'"):
        run.evaluate(episodes=2, opponent="snapshots")
    exported = run.export()
    assert exported.ok and [b.behavior for b in exported.behaviors] == ["Pong"]  # Unity's name for both teams
    assert run.video(episodes=1).frames > 2
    # a person plays against a snapshot of the run (the play widget's game), and the video shows what the policy thinks
    from unity_nb.evaluate.yourself import PlaySession

    game = PlaySession("Pong", opponent=run, snapshot=1, demo=False)
    try:
        assert all(hasattr(p, "act") for p in game.others.values())  # the snapshot's network plays the other side
        assert [game.step(["ArrowDown"])["step"] for _ in range(3)] == [1, 2, 3]
    finally:
        game.close()
    with pytest.raises(NotFound, match="snapshot 5: the run's window holds snapshots 0 to 1"):
        PlaySession("Pong", opponent=run.id, snapshot=5, demo=False, runs_dir=run.path.parent)
    seen = run.video(episodes=1, overlay=True, fmt="gif")
    assert seen.width >= 136 and seen.height > 118  # a row per paddle under the court
    from unity_nb.notebook.dashboard import Dashboard

    dash = Dashboard(run, start=False, figure="matplotlib")
    dash.update(draw_figure=True)
    assert list(dash.lines["elo"].get_data()[1]) == [e["elo"] for e in iterations]  # the ELO panel
    assert run.summary()["elo"] == iterations[-1]["elo"]
    # resumed: the same ratings and window, the learning team it had
    before = iterations[-1]
    (run.path / "config.yaml").write_text(run.config.replace(steps=before["env_steps"] + 4096).to_yaml())
    again = ut.resume(run.id, tmp_path)
    again.wait(timeout=600)
    assert again.state == "finished", again.status
    resumed = [e for e in again.events() if e["event"] == "iteration"][len(iterations):]
    assert resumed and resumed[0]["learning_team"] == 1 and resumed[0]["games_rated"] > before["games_rated"]
    assert any("resumed with ELO" in e.get("message", "") for e in again.events())
    # a checkpoint whose snapshots are gone cannot go on as self-play
    (again.latest_checkpoint() / "self_play.pkl").unlink()
    (run.path / "config.yaml").write_text(run.config.replace(steps=resumed[-1]["env_steps"] + 4096).to_yaml())
    broken = ut.resume(run.id, tmp_path)
    broken.wait(timeout=300)
    assert broken.state == "failed" and "has no self-play snapshots" in broken.status["error"], broken.status


def test_elo_can_end_a_lesson():
    """Unity's ELO cannot drive a curriculum; the kit's measure: elo can, in a self-play run."""
    from unity_nb.trainer.curriculum import Curriculum

    params = {"ball_speed": {"curriculum": [
        {"name": "slow", "value": 0.015, "completion_criteria": {"behavior": "Pong?team=0", "measure": "elo",
                                                                  "threshold": 1250}},
        {"name": "fast", "value": 0.03}]}}
    config = TrainConfig.from_dict({"scene": "Pong", "self_play": True, "env_params": params})
    lessons = Curriculum(config.env_params, steps=1000, seed=0, behaviors=["Pong?team=0", "Pong?team=1"])
    assert lessons.update([], 100, {"Pong": 1249.0}) == []
    change, = lessons.update([], 200, {"Pong": 1251.5})
    assert change.name == "fast" and "ELO 1251.5 > 1250 (Pong's learning policy)" in change.reason
    with pytest.raises(ConfigError, match="env_params.ball_speed moves on by ELO \\(measure: elo\\), which only a "
                                          "self-play run rates"):
        TrainConfig.from_dict({"scene": "Pong", "env_params": params})
