"""Environment parameters in ML-Agents' schema: constants, samplers and curricula (issue 14, item 3).

Reading and refusing them (Unity's trainer YAML and the kit's own settings say the same thing), the
lessons' logic on synthetic episodes, samplers reaching the in-process scene and the player stand-in
over the real mlagents client, the resume state, the dashboard; one small Ray run (``-m ray``) whose
curriculum moves on, reaches the scene, and resumes from the lesson reached.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from unity_configs import BALL, WALLJUMP_CURRICULUM
from unity_nb.envs import samplers
from unity_nb.envs.source import EnvSource
from unity_nb.train import ConfigError, TrainConfig, make_config
from unity_nb.train import env_parameters
from unity_nb.trainer.curriculum import Curriculum

BALL_CURRICULUM = BALL + """
environment_parameters:
  mass: {sampler_type: uniform, sampler_parameters: {min_value: 0.5, max_value: 2.0}}
  gravity: 9.81
  scale:
    curriculum:
      - name: Large
        completion_criteria: {measure: reward, behavior: 3DBall, signal_smoothing: true, min_lesson_length: 100,
                              threshold: 20.0}
        value: 3.0
      - name: Medium
        completion_criteria: {measure: progress, behavior: 3DBall, threshold: 0.6}
        value: {sampler_type: multirangeuniform, sampler_parameters: {intervals: [[1.5, 2.0], [2.5, 3.0]]}}
      - name: Small
        value: 1.0
"""

SCALE = {"curriculum": [
    {"name": "Large", "completion_criteria": {"measure": "progress", "threshold": 0.3}, "value": 3.0},
    {"name": "Small", "value": 1.0}]}


# ---- reading

def test_unity_yaml_reads_constants_samplers_and_a_curriculum_in_full():
    c = TrainConfig.from_yaml(BALL_CURRICULUM, source="trainer.yaml")
    assert c.env_params["gravity"] == 9.81
    assert c.env_params["mass"] == {"sampler_type": "uniform", "sampler_parameters": {"min_value": 0.5, "max_value": 2.0}}
    large, medium, small = c.env_params["scale"]["curriculum"]
    # mlagents-learn's defaults are written out: the run folder says what trained
    assert large["completion_criteria"] == {"behavior": "3DBall", "measure": "reward", "threshold": 20.0,
                                            "min_lesson_length": 100, "signal_smoothing": True, "require_reset": False}
    assert medium["completion_criteria"]["min_lesson_length"] == 0 and medium["completion_criteria"]["signal_smoothing"]
    assert medium["value"]["sampler_parameters"]["intervals"] == [[1.5, 2.0], [2.5, 3.0]]
    assert small == {"name": "Small", "value": 1.0}
    assert "scale: curriculum 3 → uniform over 1.5..2 ∪ 2.5..3 → 1 (progress, reward)" in c.resolved().describe()


def test_the_kits_own_settings_say_the_same_and_round_trip():
    unity = TrainConfig.from_yaml(BALL_CURRICULUM, source="trainer.yaml")
    params = unity.env_params
    for key in ("env_params", "environment_parameters"):
        own = TrainConfig.from_dict({"scene": "3DBall", key: params})
        assert own.env_params == params
    config = make_config("3DBall", env_params=params)
    assert TrainConfig.from_yaml(config.to_yaml()) == config  # config.yaml of the run folder
    assert config.replace(lr=1e-3).env_params == params
    # --param NAME=VALUE (a constant) still adds to, or replaces, a file's parameters
    merged = make_config(unity, env_params={"scale": 2.0, "max_step": 500})
    assert merged.env_params["scale"] == 2.0 and merged.env_params["max_step"] == 500.0
    assert merged.env_params["mass"] == params["mass"]
    with pytest.raises(ConfigError, match="'environment_parameters' and 'env_params' are the same setting"):
        TrainConfig.from_dict({"env_params": {}, "environment_parameters": {}})


def test_criteria_may_leave_the_behavior_out_when_the_run_trains_one():
    c = make_config("3DBall", env_params={"scale": SCALE})
    assert c.env_params["scale"]["curriculum"][0]["completion_criteria"]["behavior"] == "3DBall"
    with pytest.raises(ConfigError, match=r"behavior: missing; name the behavior whose episodes decide the lesson "
                                          r"\(this run trains BasicRight, BasicLeft\)"):
        make_config("BasicDuo", env_params={"large_goal": {"curriculum": [
            {"name": "a", "completion_criteria": {"measure": "progress", "threshold": 0.5}, "value": 15},
            {"name": "b", "value": 17}]}})


def test_a_unity_build_reads_a_curriculum_its_scene_alone_can_check():
    c = TrainConfig.from_yaml(WALLJUMP_CURRICULUM + "env_settings: {env_path: builds/WallJump.x86_64}\n",
                              source="trainer.yaml")
    lesson0, lesson1 = c.env_params["big_wall_height"]["curriculum"]
    assert lesson0["completion_criteria"]["behavior"] == "BigWallJump" and lesson1["value"] == 8.0


def _ball(params: str) -> str:
    return BALL + "environment_parameters:\n" + params


@pytest.mark.parametrize("params,message", [
    # a curriculum whose lessons lack completion criteria (all but the last need one)
    ("  scale:\n    curriculum:\n      - {name: A, value: 3}\n      - {name: B, value: 1}\n",
     r"environment_parameters\.scale\.curriculum\[0\] \(A\): completion_criteria missing; every lesson but the last "
     r"needs one"),
    ("  scale:\n    curriculum:\n      - {name: A, value: 3, completion_criteria: {behavior: 3DBall, threshold: 1}}\n"
     "      - {name: B, value: 1, completion_criteria: {behavior: 3DBall, threshold: 2}}\n",
     r"scale\.curriculum\[1\] \(B\)\.completion_criteria: the last lesson has no lesson after it"),
    # a threshold outside [0, 1] for progress
    ("  scale:\n    curriculum:\n      - {name: A, value: 3, completion_criteria: {behavior: 3DBall, measure: progress, "
     "threshold: 1.5}}\n      - {name: B, value: 1}\n",
     r"curriculum\[0\] \(A\)\.completion_criteria\.threshold: with measure progress it is a fraction of the step "
     r"budget, in \[0, 1\]; got 1\.5"),
    ("  scale:\n    curriculum:\n      - {name: A, value: 3, completion_criteria: {behavior: 3DBall, measure: steps}}\n"
     "      - {name: B, value: 1}\n", r"completion_criteria\.measure: must be reward .*, progress .* or elo"),
    ("  scale:\n    curriculum:\n      - {name: A, value: 3, completion_criteria: {behavior: 3DBall, "
     "min_lesson_length: -3}}\n      - {name: B, value: 1}\n",
     r"completion_criteria\.min_lesson_length: must be a whole number of episodes >= 0, got -3"),
    ("  scale:\n    curriculum:\n      - {name: A, value: 3, completion_criteria: {behavior: 3DBall, "
     "signal_smoothing: often}}\n      - {name: B, value: 1}\n", r"signal_smoothing: must be true or false"),
    # a completion_criteria.behavior that is not the trained behavior
    ("  scale:\n    curriculum:\n      - {name: A, value: 3, completion_criteria: {behavior: Walker, threshold: 5}}\n"
     "      - {name: B, value: 1}\n",
     r"completion_criteria\.behavior: 'Walker' is not trained in this run, so its lesson could never end; this run "
     r"trains '3DBall'"),
    # a parameter the scene does not have: the known ones named
    ("  masss: 2.0\n", r"environment_parameters\.masss: 'masss' is not a 3DBall parameter; its parameters: mass, "
                       r"scale, gravity, max_step"),
    ("  mass: -2\n", r"environment_parameters\.mass: 3DBall parameter 'mass' must be > 0"),
    ("  mass: heavy\n", r"environment_parameters\.mass: expected a number, a sampler .* or a curriculum"),
    # samplers: min > max, st_dev < 0, malformed intervals, unknown sampler_type, unknown keys
    ("  mass: {sampler_type: uniform, sampler_parameters: {min_value: 2, max_value: 1}}\n",
     r"mass\.sampler_parameters: min_value \(2\) is greater than max_value \(1\); swap them"),
    ("  mass: {sampler_type: gaussian, sampler_parameters: {mean: 1, st_dev: -0.5}}\n",
     r"mass\.sampler_parameters\.st_dev: must be >= 0 \(a standard deviation\), got -0\.5"),
    ("  mass: {sampler_type: multirangeuniform, sampler_parameters: {intervals: [[1, 2], [3]]}}\n",
     r"mass\.sampler_parameters\.intervals\[1\]: must be a \[min, max\] pair, got \[3\]"),
    ("  mass: {sampler_type: multirangeuniform, sampler_parameters: {intervals: [[2, 1]]}}\n",
     r"intervals\[0\]: min \(2\) is greater than max \(1\); write it as \[1, 2\]"),
    ("  mass: {sampler_type: multirangeuniform, sampler_parameters: {intervals: []}}\n",
     r"intervals: must be a list of \[min, max\] pairs"),
    ("  mass: {sampler_type: unifrom, sampler_parameters: {min_value: 1, max_value: 2}}\n",
     r"mass\.sampler_type: 'unifrom' is not a sampler type; use one of uniform, gaussian, multirangeuniform, constant"),
    ("  mass: {sampler_type: uniform, sampler_parameters: {min: 1, max_value: 2}}\n",
     r"mass\.sampler_parameters\.min: unknown key for a uniform sampler; its keys: min_value, max_value, seed"),
    ("  mass: {sampler_type: uniform, params: {min_value: 1}}\n",
     r"mass: unknown key 'params'; a sampler has sampler_type and sampler_parameters"),
    ("  mass: {sampler_type: uniform}\n", r"mass: sampler_parameters missing; a uniform sampler takes min_value, max_value"),
    ("  scale: {sampler_type: uniform, sampler_parameters: {min_value: 1, max_value: 6}}\n",
     r"scale\.sampler_parameters\.max_value: 3DBall parameter 'scale' must be at most 5\.0"),
    ("  scale: {curriculum: [], steps: 3}\n", r"scale: unknown key 'steps' beside curriculum"),
    ("  scale: {curriculum: []}\n", r"scale\.curriculum: must be a list of lessons"),
    ("  scale:\n    curriculum:\n      - {value: 3}\n", r"scale\.curriculum\[0\]\.name: every lesson needs a name"),
    ("  scale:\n    curriculum:\n      - {name: A, value: 3, when: later}\n",
     r"scale\.curriculum\[0\]\.when: unknown key; a lesson has name, completion_criteria, value"),
    ("  scale:\n    curriculum:\n      - {name: A, value: 3, completion_criteria: {behavior: 3DBall, after: 5}}\n"
     "      - {name: B, value: 1}\n",
     r"completion_criteria\.after: unknown key; completion_criteria has behavior, measure, threshold"),
    ("  scale:\n    curriculum:\n      - {name: A}\n", r"scale\.curriculum\[0\] \(A\): value missing"),
    ("  scale:\n    curriculum:\n      - {name: A, value: {sampler_type: gaussian, sampler_parameters: {st_dev: -1}}}\n",
     r"scale\.curriculum\[0\] \(A\)\.value\.sampler_parameters\.st_dev: must be >= 0"),
])
def test_bad_parameters_name_the_key_what_is_wrong_and_what_to_do(params, message):
    with pytest.raises(ConfigError, match=r"trainer\.yaml: .*" + message):
        TrainConfig.from_yaml(_ball(params), source="trainer.yaml")


def test_the_kits_own_settings_are_refused_under_their_own_name():
    with pytest.raises(ConfigError, match=r"config: env_params\.scale\.curriculum\[0\] \(A\): completion_criteria missing"):
        TrainConfig.from_dict({"scene": "3DBall", "env_params": {"scale": {"curriculum": [
            {"name": "A", "value": 3}, {"name": "B", "value": 1}]}}})
    with pytest.raises(ConfigError, match=r"config: environment_parameters\.masss: 'masss' is not a 3DBall parameter"):
        TrainConfig.from_dict({"scene": "3DBall", "environment_parameters": {"masss": 1}})


# ---- the lessons' logic

def _curriculum(*lessons, behaviors=("3DBall",), steps=1000, **more):
    params = make_config("3DBall", env_params={"scale": {"curriculum": list(lessons)}, **more}).env_params
    return Curriculum(params, steps=steps, seed=7, behaviors=list(behaviors))


def _episodes(*returns, behavior="3DBall"):
    return [(behavior, r, 10) for r in returns]


def test_progress_moves_on_past_its_threshold_once_enough_episodes_ended():
    c = _curriculum({"name": "A", "completion_criteria": {"measure": "progress", "threshold": 0.3, "min_lesson_length": 2},
                     "value": 3.0}, {"name": "B", "value": 1.0})
    assert c.update([], 300) == []  # as mlagents-learn: progress must exceed the threshold
    assert c.update(_episodes(1.0), 301) == []  # ... and min_lesson_length episodes must have ended
    (change,) = c.update(_episodes(1.0), 302)
    assert (change.parameter, change.lesson, change.previous, change.name, change.value) == ("scale", 1, 0, "B", 1.0)
    assert change.reason == "progress 0.302 > 0.3 (302 of 1000 steps) (2 episodes >= min_lesson_length 2)"
    assert c.finished and c.update(_episodes(5.0), 1000) == []  # the last lesson stays


def test_reward_with_mlagents_smoothing_and_one_lesson_per_check():
    c = _curriculum(
        {"name": "A", "completion_criteria": {"threshold": 0.5, "min_lesson_length": 3}, "value": 3.0},
        {"name": "B", "completion_criteria": {"threshold": 0.5}, "value": 2.0},
        {"name": "C", "value": 1.0})
    assert c.buffers["3DBall"].maxlen == 3  # the largest min_lesson_length of the behavior's criteria
    assert c.update(_episodes(0.6, 0.6), 0) == []  # 2 episodes < min_lesson_length 3: not measured yet
    assert c.smoothed["scale"] == 0.0
    assert c.update(_episodes(0.6), 0) == []  # 0.25 * 0 + 0.75 * 0.6 = 0.45
    assert math.isclose(c.smoothed["scale"], 0.45)
    (change,) = c.update(_episodes(0.6), 0)  # 0.25 * 0.45 + 0.75 * 0.6 = 0.5625 > 0.5
    assert change.lesson == 1 and math.isclose(change.measured, 0.5625)
    assert change.reason == "smoothed mean reward 0.562 > 0.5 over the last 3 episodes of 3DBall"
    assert len(c.buffers["3DBall"]) == 0  # every buffer starts over at a lesson change; the smoothing carries on
    # B: min_lesson_length 0, yet an empty buffer measures nothing; then one episode is enough, one lesson per check
    assert c.update([], 0) == []
    (change,) = c.update(_episodes(0.9), 0)
    assert change.lesson == 2 and math.isclose(change.measured, 0.25 * 0.5625 + 0.75 * 0.9)


def test_reward_without_smoothing_and_episodes_of_other_behaviors():
    c = _curriculum({"name": "A", "completion_criteria": {"threshold": 1.0, "signal_smoothing": False}, "value": 3.0},
                    {"name": "B", "value": 1.0})
    assert c.update(_episodes(5.0, behavior="Other"), 0) == []
    assert c.update(_episodes(1.0), 0) == []  # not above the threshold
    (change,) = c.update(_episodes(1.5), 0)  # a buffer of one (min_lesson_length 0): the latest episode
    assert change.reason == "mean reward 1.500 > 1 over the last 1 episodes of 3DBall"


def test_a_change_of_one_parameter_restarts_every_buffer():
    gravity = {"curriculum": [{"name": "G0", "completion_criteria": {"threshold": 0.7, "min_lesson_length": 2}, "value": 5.0},
                              {"name": "G1", "value": 9.81}]}
    c = _curriculum({"name": "A", "completion_criteria": {"measure": "progress", "threshold": 0.1}, "value": 3.0},
                    {"name": "B", "value": 1.0}, gravity=gravity)
    changes = c.update(_episodes(0.5, 0.5), 200)  # scale moves on (progress); gravity's reward is too low
    assert [ch.parameter for ch in changes] == ["scale"] and len(c.buffers["3DBall"]) == 0
    assert c.update(_episodes(1.0), 300) == []  # one episode since the change: min_lesson_length 2 not met
    assert [ch.parameter for ch in c.update(_episodes(1.0), 400)] == ["gravity"]  # 0.75 * 1.0 > 0.7


def test_values_carry_the_lessons_and_mlagents_sampler_seeds():
    c = TrainConfig.from_yaml(BALL_CURRICULUM, source="trainer.yaml")
    cur = Curriculum(c.env_params, steps=c.steps, seed=c.seed, behaviors=["3DBall"])
    # seeds as mlagents-learn gives them: the run's seed plus one per lesson without its own, in order
    assert env_parameters.seeds(c.env_params, 100) == {"mass": [100], "gravity": [101], "scale": [102, 103, 104]}
    first = cur.values()
    assert first["scale"] == 3.0 and first["gravity"] == 9.81
    assert first["mass"]["sampler_parameters"]["seed"] == c.seed
    cur.lesson["scale"] = 1
    assert cur.values()["scale"]["sampler_parameters"] == {"seed": c.seed + 3, "intervals": [[1.5, 2.0], [2.5, 3.0]]}
    assert c.scene_params()["scale"] == 1.0 and c.scene_params("first")["scale"] == 3.0  # evaluation: the last lesson


def test_the_state_travels_through_a_checkpoint_and_goes_on_the_same_way():
    lessons = ({"name": "A", "completion_criteria": {"threshold": 0.5, "min_lesson_length": 4}, "value": 3.0},
               {"name": "B", "completion_criteria": {"threshold": 0.7, "min_lesson_length": 4}, "value": 2.0},
               {"name": "C", "value": 1.0})
    one = _curriculum(*lessons)
    one.update(_episodes(0.9, 0.9, 0.9, 0.9), 0)  # A -> B
    one.update(_episodes(0.7, 0.7, 0.7), 0)
    saved = json.loads(json.dumps(one.state()))  # unity_nb_progress.json
    two = _curriculum(*lessons).restore(saved)
    assert (two.lesson, two.smoothed, list(two.buffers["3DBall"])) == (one.lesson, one.smoothed, [0.7, 0.7, 0.7])
    # 0.25 * 0.675 + 0.75 * mean(0.7, 0.7, 0.7, 0.99) = 0.748 > 0.7
    assert [c.lesson for c in two.update(_episodes(0.99), 0)] == [c.lesson for c in one.update(_episodes(0.99), 0)] == [2]
    # a state from another curriculum keeps what still fits
    other = _curriculum(lessons[0], {"name": "Z", "value": 1.0}).restore(saved)
    assert other.lesson == {"scale": 1}


def test_a_criteria_behavior_the_run_does_not_train_fails_before_training():
    params = TrainConfig.from_yaml(WALLJUMP_CURRICULUM + "env_settings: {env_path: builds/W.x86_64}\n").env_params
    with pytest.raises(ConfigError, match=r"env_params\.big_wall_height\.curriculum\[0\] \(Lesson0\)\.completion_criteria"
                                          r"\.behavior: 'BigWallJump' is not trained in this run"):
        Curriculum(params, steps=100, seed=0, behaviors=["SmallWallJump"])


# ---- samplers reaching the scenes

def test_samplers_draw_their_distributions():
    n = 20_000
    uniform = samplers.drawer(samplers.parse({"sampler_type": "uniform",
                                              "sampler_parameters": {"min_value": 0.5, "max_value": 2.0}}), 1)
    u = np.array([uniform() for _ in range(n)])
    assert u.min() >= 0.5 and u.max() <= 2.0 and abs(u.mean() - 1.25) < 0.02
    gauss = samplers.drawer(samplers.parse({"sampler_type": "gaussian",
                                            "sampler_parameters": {"mean": 9.81, "st_dev": 0.5}}), 1)
    g = np.array([gauss() for _ in range(n)])
    assert abs(g.mean() - 9.81) < 0.02 and abs(g.std() - 0.5) < 0.02
    multi = samplers.drawer(samplers.parse({"sampler_type": "multirangeuniform",
                                            "sampler_parameters": {"intervals": [[1, 2], [3, 6]]}}), 1)
    m = np.array([multi() for _ in range(n)])
    assert np.all(((m >= 1) & (m <= 2)) | ((m >= 3) & (m <= 6)))
    assert abs(np.mean(m <= 2) - 0.25) < 0.02  # an interval is picked in proportion to its width, as Unity does
    constant = samplers.drawer(samplers.parse({"sampler_type": "constant", "sampler_parameters": {"value": 1.5}}), 1)
    assert constant() == 1.5
    seeded = samplers.parse({"sampler_type": "uniform", "sampler_parameters": {"seed": 5}})
    assert samplers.drawer(seeded, 1)() == samplers.drawer(seeded, 2)() != uniform()  # its own seed wins


def _scales_seen(source: EnvSource, decisions: int = 12) -> np.ndarray:
    """3DBall's ball diameters as its 12 agents' observations show them once the balls rest on their platforms."""
    for _ in range(decisions):
        source.call("step")
    decision, _ = source.call("get_steps", "3DBall")
    obs = decision.obs[0].astype(np.float64)
    tilt = np.degrees(2 * np.arcsin(obs[:, :2]))
    gx, gz = np.tan(np.radians(tilt[:, 0])), -np.tan(np.radians(tilt[:, 1]))
    radius = obs[:, 3] - (gx * obs[:, 2] + gz * obs[:, 4])
    return 2 * radius


@pytest.mark.parametrize("mode", ["inprocess", "player"])
def test_a_sampler_reaches_the_scene_and_draws_the_same_either_way(mode):
    spec = {"sampler_type": "uniform", "sampler_parameters": {"min_value": 0.5, "max_value": 3.0}}
    reference = samplers.drawer(samplers.parse(spec), 4)
    source = EnvSource("3DBall", mode=mode, seed=4, params={"scale": spec})
    try:
        for _ in range(3):
            # each agent draws its own value as its episode begins (as a Unity agent reads it in OnEpisodeBegin)
            expected = [reference() for _ in range(12)]
            source.call("reset")
            assert np.allclose(_scales_seen(source), expected, atol=2e-3), expected
        # a lesson's constant replaces the sampler; another parameter's sampler later leaves it alone
        source.set_param("scale", 1.25)
        source.set_param("mass", {"sampler_type": "gaussian", "sampler_parameters": {"mean": 2.0, "st_dev": 0.1}})
        for _ in range(2):
            source.call("reset")
            assert np.allclose(_scales_seen(source), 1.25, atol=2e-3)
        with pytest.raises(KeyError, match="3DBall has no parameter 'size'"):
            source.set_param("size", {"sampler_type": "uniform", "sampler_parameters": {}})
        with pytest.raises(ValueError, match="sampler_parameters.max_value: 3DBall parameter 'scale' must be at most"):
            source.set_param("scale", {"sampler_type": "uniform", "sampler_parameters": {"min_value": 1, "max_value": 9}})
    finally:
        source.close()


def test_a_changed_parameter_reaches_an_agent_at_its_next_episode_not_mid_episode():
    from unity_nb.envs.scenes import Ball3D

    scene = Ball3D(seed=1)
    scene.reset()
    scene.set_param("gravity", 3.0)
    assert np.all(scene.param("gravity") == 9.81)  # every agent is mid-episode
    scene._start_episodes(np.arange(12) < 4)  # four agents begin new episodes
    assert scene.param("gravity").tolist() == [3.0] * 4 + [9.81] * 8


def test_the_player_logs_what_it_received(tmp_path):
    source = EnvSource("3DBall", seed=3, log_folder=str(tmp_path), params={
        "mass": {"sampler_type": "multirangeuniform", "sampler_parameters": {"intervals": [[0.5, 1], [2, 3]], "seed": 9}},
        "gravity": {"sampler_type": "constant", "sampler_parameters": {"value": 5.0}}})
    try:
        source.call("reset")
        source.call("step")
    finally:
        source.close()
    log = "".join(p.read_text() for p in tmp_path.iterdir())
    assert "environment parameter mass: uniform over 0.5..1 ∪ 2..3, seed 9" in log
    assert "environment parameter gravity = 5.0" in log  # a constant sampler travels as a value, as in mlagents-learn


def test_lessons_reach_an_env_runners_unity_processes_and_its_later_restarts():
    """What the driver sends each env runner (a Ray-free stand-in for one: RLlib's runner keeps its vector env,
    wrapped, in ``env``, its settings in ``config.env_config``, and resets at its next sample when asked)."""
    import gymnasium as gym
    from types import SimpleNamespace

    from unity_nb.envs.gym_env import UnityVectorEnv
    from unity_nb.trainer.curriculum import apply_to_runner, unity_sources

    env = UnityVectorEnv(EnvSource("3DBall", mode="inprocess", seed=1, params={"scale": 3.0}))
    runner = SimpleNamespace(env=gym.vector.VectorWrapper(env), config=SimpleNamespace(env_config={"env_params": {}}),
                             _needs_initial_reset=False)
    try:
        assert unity_sources(runner.env) == [env.source]
        sampler = {"sampler_type": "uniform", "sampler_parameters": {"min_value": 1.0, "max_value": 1.5, "seed": 3}}
        assert apply_to_runner(runner, values={"scale": 1.0, "mass": sampler}, reset=False) == 1
        assert env.source.base.scene.params["scale"] == 1.0 and "mass" in env.source.base.scene.samplers
        assert runner.config.env_config["env_params"] == {"scale": 1.0, "mass": sampler}  # a restarted env starts so
        assert runner._needs_initial_reset is False
        apply_to_runner(runner, values={"scale": 2.0}, reset=True)  # require_reset: RLlib resets at its next sample
        assert runner._needs_initial_reset is True
        reopened = EnvSource("3DBall", mode="inprocess", seed=1, params=runner.config.env_config["env_params"])
        assert reopened.base.scene.params["scale"] == 2.0
        reopened.close()
        assert apply_to_runner(SimpleNamespace(env=None, config=SimpleNamespace(env_config={})), values={},
                               reset=True) == 0  # a local runner without an env (remote runners sample)
    finally:
        env.close()


# ---- the dashboard

def test_the_dashboard_shows_the_lesson_and_marks_its_changes(recorded_runs):
    from unity_nb.notebook.dashboard import Dashboard

    replay = recorded_runs(iterations=3)
    events = [{"event": "lesson", "parameter": "large_goal", "lesson": 0, "lessons": 2, "name": "Near", "value": 12.0,
               "previous": None, "reason": "start", "measured": None, "require_reset": False, "env_steps": 0,
               "iteration": None, "time_s": 0.0},
              {"event": "lesson", "parameter": "large_goal", "lesson": 1, "lessons": 2, "name": "Far", "value": 17.0,
               "previous": 0, "reason": "progress 0.31 > 0.3", "measured": 0.31, "require_reset": False,
               "env_steps": 1024, "iteration": 2, "time_s": 1.5}]
    for event in events:
        replay.writer.emit(event)
    dash = Dashboard(replay.run, start=False)
    assert dash.current_lessons()["large_goal"]["name"] == "Far"
    assert "lesson large_goal: Far (2 of 2)" in dash.progress_text.value
    assert dash.chart.lessons == {"x": [1024], "label": ["large_goal: Far"]}
    assert any(p.get("lessons") for p in dash.chart.panels)
    replay.play()
    dash.update()
    assert len(dash._lesson_artists) == 2  # the picture of the end: a line and its label on the return panel


def test_the_sidebar_summary_names_the_current_lesson(recorded_runs):
    from unity_nb.server.index import RunIndex

    replay = recorded_runs(iterations=2)
    index = RunIndex(replay.run.path.parent)
    assert index.summary(replay.run.id)["lessons"] == {}
    for lesson, name in ((0, "Near"), (1, "Far")):
        replay.writer.emit({"event": "lesson", "parameter": "large_goal", "lesson": lesson, "lessons": 2, "name": name,
                            "value": 12.0, "previous": lesson - 1 if lesson else None, "reason": "start",
                            "measured": None, "require_reset": False, "env_steps": 0, "iteration": None, "time_s": 0.0})
    assert index.summary(replay.run.id)["lessons"] == {"large_goal": {"lesson": 1, "lessons": 2, "name": "Far"}}


# ---- one small run through Ray

@pytest.mark.ray
def test_a_curriculum_moves_on_reaches_the_scene_and_resumes_from_its_lesson(tmp_path):
    """3DBall through the player stand-in with a progress curriculum on max_step: 10 decisions per
    episode (returns at most 1.0), then 20 (returns up to 2.0) once a third of the budget is spent, with
    the environments reset. The episodes' returns show the scene got the new value."""
    import unity_nb.train as ut

    max_step = {"curriculum": [
        {"name": "Short", "completion_criteria": {"measure": "progress", "threshold": 0.3, "require_reset": True},
         "value": 10},
        {"name": "Long", "value": 20}]}
    run = ut.train("3DBall", runs_dir=tmp_path, steps=2880, num_areas=1, train_batch_size=480, minibatch_size=240,
                   num_epochs=1, target_return="off", env_params={"max_step": max_step}, checkpoint_every=100)
    run.wait(timeout=600)
    assert run.state == "finished", run.status
    lessons = [e for e in run.events() if e["event"] == "lesson"]
    assert [(e["lesson"], e["previous"], e["reason"].split()[0]) for e in lessons] == [(0, None, "start"),
                                                                                       (1, 0, "progress")]
    changed = lessons[1]
    assert changed["value"] == 20.0 and changed["require_reset"] and changed["env_steps"] > 0.3 * 2880
    rows = [e for e in run.events() if e["event"] == "iteration"]
    before = [r for e in rows if e["iteration"] <= changed["iteration"] for r in e["iteration_returns"]]
    after = [r for e in rows if e["iteration"] > changed["iteration"] for r in e["iteration_returns"]]
    assert before and max(before) <= 1.0 + 1e-4  # 10 decisions of +0.1 at most
    assert after and max(after) > 1.05  # longer episodes: the scene got max_step 20
    assert any("max_step: lesson Long (2 of 2), value 20 — progress" in m and "(environments reset)" in m
               for m in (e.get("message", "") for e in run.events()))
    progress = ut.RunFolder.progress(run.latest_checkpoint())
    assert progress["curriculum"]["lesson"] == {"max_step": 1}

    # resumed: the lesson reached, pushed to the new Unity processes (built with the first lesson's value)
    config = run.config.replace(steps=2880 + 960)
    (run.path / "config.yaml").write_text(config.to_yaml())
    again = ut.resume(run.id, tmp_path)
    again.wait(timeout=600)
    assert again.state == "finished", again.status
    resumed = [e for e in again.events() if e["event"] == "lesson"][2:]
    assert [(e["lesson"], e["previous"], e["reason"]) for e in resumed] == [(1, None, "resumed")]
    later = [r for e in again.events() if e["event"] == "iteration" and e["env_steps"] > 2880
             for r in e["iteration_returns"]]
    assert later and max(later) > 1.05
