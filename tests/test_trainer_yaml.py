"""Unity's published trainer configs, read key by key: each key's effect on the resolved
config and on the RLlib algorithm config, and every key the kit cannot honour refused by name.

The configs are Unity's example files (ML-Agents repository, config/ppo/*.yaml) as published.
"""

import pytest

from unity_nb.train import ConfigError, TrainConfig

from unity_configs import BALL, BALL_SAC, BASIC, GRIDWORLD, PYRAMIDS, SOCCER_TWOS, WALLJUMP_CURRICULUM

def resolved(text, **overrides):
    config = TrainConfig.from_yaml(text, source="trainer.yaml")
    return config.replace(**overrides).resolved() if overrides else config.resolved()


def test_basic_every_key():
    c = resolved(BASIC)
    assert (c.scene, c.behavior, c.algorithm) == ("Basic", "Basic", "PPO")
    assert (c.minibatch_size, c.train_batch_size, c.lr, c.entropy_coeff, c.clip_param, c.lambda_, c.num_epochs) == \
        (32, 256, 0.0003, 0.005, 0.2, 0.95, 3)
    # learning_rate_schedule: linear, and beta/epsilon follow it as in mlagents-learn
    assert (c.lr_schedule, c.entropy_schedule, c.clip_schedule) == ("linear", "linear", "linear")
    assert (c.normalize, c.hidden_units, c.num_layers, c.gamma) == (False, 20, 1, 0.9)
    assert (c.keep_checkpoints, c.steps, c.time_horizon, c.summary_freq) == (5, 500000, 3, 2000)
    # keys the file leaves out take mlagents-learn's defaults, not the kit's scene defaults
    assert c.num_areas == 1 and c.checkpoint_interval == 500000 and c.shared_critic is False
    # the kit's own early stopping stays (Basic's benchmark), with its confirmation
    assert c.target == 0.9 and c.confirm_episodes == 100 and c.return_window == 100


def test_3dball_every_key():
    c = resolved(BALL)
    assert (c.scene, c.minibatch_size, c.train_batch_size, c.entropy_coeff, c.lambda_) == ("3DBall", 64, 12000, 0.001, 0.99)
    assert (c.normalize, c.hidden_units, c.num_layers, c.time_horizon, c.summary_freq) == (True, 128, 2, 1000, 12000)


def test_gridworld_reads_but_cannot_train_yet():
    c = resolved(GRIDWORLD)
    assert (c.scene, c.time_horizon, c.num_layers, c.hidden_units, c.gamma) == ("GridWorld", 5, 1, 128, 0.9)


def test_unitys_pyramids_file_trains_with_its_curiosity_and_not_the_scenes_rnd():
    c = resolved(PYRAMIDS)  # Unity's file as published: threaded: true learns beside sampling (trainer/overlap.py)
    assert c.threaded and "threaded (learning beside sampling)" in c.describe()
    assert not resolved(PYRAMIDS.replace("threaded: true", "threaded: false")).threaded
    assert c.reward_signals() == {"curiosity": {"strength": 0.02, "gamma": 0.99, "learning_rate": 3e-4,
                                                "hidden_units": 256, "num_layers": 2, "normalize": False}}
    assert "curiosity reward (strength 0.02)" in c.describe() and "rnd" not in c.describe()


@pytest.mark.parametrize("text,message", [
    (SOCCER_TWOS, r"behavior 'SoccerTwos': the Basic scene has the behaviors"),  # trainer_type poca, a file of a build
    (SOCCER_TWOS.replace("trainer_type: poca", "trainer_type: ppo"), r"behavior 'SoccerTwos': the Basic scene has the behaviors"),
    (BALL_SAC, r"hyperparameters: not yet supported: buffer_size \(trainer_type sac"),
    (BALL.replace("    keep_checkpoints: 5", "    behavioral_cloning: {demo_path: x.demo, strength: 0.5}"),
     r"behavioral_cloning.demo_path .*x.demo does not exist"),  # read now: the file must exist
    (BALL.replace("      vis_encode_type: simple", "      memory: {sequence_length: 64, memory_size: 128}"),
     r"network_settings: not yet supported: memory"),
    (BALL.replace("      extrinsic:", "      gail:\n        demo_path: a.demo\n      extrinsic:"), r"gail.demo_path .*a.demo does not exist"),
    (BALL.replace("      extrinsic:", "      rnd:\n        strength: 0.01\n        gamma: 0.9\n      extrinsic:"),
     r"rnd.gamma is 0.9 where the run's gamma is 0.99"),
])
def test_later_features_are_refused_by_name(text, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_yaml(text, source="trainer.yaml")


@pytest.mark.parametrize("text,message", [
    (BALL.replace("learning_rate_schedule: linear", "learning_rate_schedule: cosine"),
     r"hyperparameters\.learning_rate_schedule: must be 'constant' or 'linear', got 'cosine'"),
    (BALL.replace("learning_rate_schedule: linear", "beta_schedule: 3"),
     r"hyperparameters\.beta_schedule: must be 'constant' or 'linear', got 3"),
    (BALL.replace("time_horizon: 1000", "time_horizon: soon"), r"time_horizon must be a whole number, got 'soon'"),
    (BALL.replace("time_horizon: 1000", "time_horizon: 0"), r"time_horizon must be >= 1, got 0"),
    (BALL.replace("keep_checkpoints: 5", "keep_checkpoints: -2"), r"keep_checkpoints must be >= 1, got -2"),
    (BALL.replace("summary_freq: 12000", "summary_freq: [1]"), r"summary_freq must be a whole number"),
    (BALL.replace("max_steps: 500000", "max_steps: 2.5"), r"steps must be a whole number, got 2\.5"),
    (BALL.replace("keep_checkpoints: 5", "init_path: /no/such/run"), r"init_path '/no/such/run' does not exist; give a run folder"),
    (BALL.replace("keep_checkpoints: 5", "threaded: maybe"), r"threaded: must be true or false"),
    (BALL.replace("      vis_encode_type: simple", "      vis_encode_type: huge"), r"vis_encode_type must be one of simple, nature_cnn, resnet, match3, fully_connected, got .huge."),
    (BALL.replace("      vis_encode_type: simple", "      deterministic: true"), r"deterministic: true is not supported"),
    (BALL.replace("normalize: true", "normalize: 3"), r"normalize must be true or false, got 3"),
    (BALL.replace("strength: 1.0", "strength: 0.5"), r"extrinsic\.strength: only 1\.0 is supported"),
    (BALL + "env_settings: {base_port: 6000}\n", r"env_settings\.base_port: 6000 is not supported: the kit picks free ports"),
    (BALL + "engine_settings: {time_scale: 1}\n", r"engine_settings\.time_scale: not supported"),
    (BALL + "checkpoint_settings: {resume: true}\n", r"checkpoint_settings\.resume: True is not supported: use `unity-nb resume"),
    (BALL + "torch_settings: {device: cuda}\n", r"torch_settings\.device: 'cuda' is not supported"),
    (BALL + "debug: true\n", r"debug: True is not supported"),
    (BALL + "colour: red\n", r"unknown top-level key 'colour'"),
])
def test_bad_keys_name_the_key_and_what_is_accepted(text, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_yaml(text, source="trainer.yaml")


def test_sections_around_the_behavior():
    text = BALL + ("env_settings: {num_areas: 2, seed: 7, num_envs: 3, base_port: 5005}\n"
                   "engine_settings: {no_graphics: true}\n"
                   "checkpoint_settings: {run_id: ppo, force: false}\n"
                   "torch_settings: {device: cpu}\n"
                   "debug: false\n")
    # 2 areas x 3 processes x 12 agents in pieces of time_horizon 1000: RLlib collects 72,000 steps a round
    with pytest.raises(ConfigError, match=r"time_horizon 1000 does not fit train_batch_size 12000: .* 72 agents"):
        resolved(text)
    c = resolved(text.replace("buffer_size: 12000", "buffer_size: 72000"))
    assert (c.num_areas, c.seed, c.num_env_runners) == (2, 7, 3)
    seeded = resolved(BALL + "env_settings: {seed: -1}\n")  # mlagents-learn: draw one; the run records it
    assert isinstance(seeded.seed, int) and seeded.seed >= 0


def test_default_settings_apply_under_each_behavior():
    text = ("default_settings:\n  hyperparameters: {learning_rate: 0.001, num_epoch: 5}\n  time_horizon: 32\n"
            + BALL.replace("      num_epoch: 3\n", ""))
    c = resolved(text)
    assert (c.lr, c.num_epochs, c.time_horizon, c.minibatch_size) == (0.0003, 5, 1000, 64)


def test_schedules_and_checkpoint_keys_of_their_own():
    c = resolved(BALL.replace("      learning_rate_schedule: linear", "      learning_rate_schedule: linear\n"
                              "      beta_schedule: constant\n      epsilon_schedule: constant"))
    assert (c.lr_schedule, c.entropy_schedule, c.clip_schedule) == ("linear", "constant", "constant")
    even = resolved(BALL.replace("    keep_checkpoints: 5", "    keep_checkpoints: 4\n    even_checkpoints: true"))
    assert even.checkpoint_interval == 125000
    interval = resolved(BALL.replace("    keep_checkpoints: 5", "    checkpoint_interval: 20000"))
    assert interval.checkpoint_interval == 20000
    shared = resolved(BALL.replace("      num_epoch: 3", "      num_epoch: 3\n      shared_critic: true"))
    assert shared.shared_critic is True


def test_init_path_of_an_existing_run(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    text = BALL.replace("    keep_checkpoints: 5", f"    init_path: {tmp_path}")
    assert resolved(text).init_path == str(tmp_path)
    from_settings = resolved(BALL + f"checkpoint_settings: {{initialize_from: {tmp_path}}}\n")
    assert from_settings.init_path == str(tmp_path)


def test_sac_file_maps_its_own_keys():
    text = BALL_SAC
    for key in ("buffer_size: 200000", "buffer_init_steps: 0", "tau: 0.005", "steps_per_update: 10.0",
                "save_replay_buffer: false", "init_entcoef: 0.5", "reward_signal_steps_per_update: 10.0"):
        text = text.replace(f"      {key}\n", "")
    c = resolved(text)
    assert (c.algorithm, c.train_batch_size, c.lr_schedule, c.normalize, c.hidden_units) == ("SAC", 64, "constant", True, 64)


def test_sac_replay_keys_say_where_rllib_takes_them():
    with pytest.raises(ConfigError, match=r"not yet supported: buffer_size .*rllib: \{training: \{replay_buffer_config: "
                                          r"\{capacity: N\}\}\}"):
        resolved(BALL_SAC)
    no_buffer = BALL_SAC.replace("      buffer_size: 200000\n", "")
    with pytest.raises(ConfigError, match=r"not yet supported: buffer_init_steps .*num_steps_sampled_before_learning"):
        resolved(no_buffer)


def test_rllib_config_follows_the_keys():
    """The resolved keys reach RLlib: schedules as [[step, value], ...], time_horizon as the fragment length."""
    from unity_nb.trainer.rllib_setup import ScheduledClipPPOLearner, algorithm_config

    algo = algorithm_config(resolved(BALL, mode="inprocess"), ["3DBall"])
    assert algo.lr == [[0, 0.0003], [500000, 1e-10]]
    assert algo.entropy_coeff == [[0, 0.001], [500000, 1e-05]]
    assert algo.learner_config_dict["clip_schedule"] == [[0, 0.2], [500000, 0.1]]
    assert algo.learner_class is ScheduledClipPPOLearner
    assert algo.rollout_fragment_length == 1000 and algo.minibatch_size == 64 and algo.num_epochs == 3
    assert algo.train_batch_size_per_learner == 12000 and algo.gamma == 0.99 and algo.lambda_ == 0.99
    assert algo.model_config["fcnet_hiddens"] == [128, 128] and algo.model_config["vf_share_layers"] is False
    constant = algorithm_config(resolved(BALL, mode="inprocess", lr_schedule="constant", entropy_schedule="constant",
                                         clip_schedule="constant"), ["3DBall"])
    assert constant.lr == 0.0003 and constant.entropy_coeff == 0.001
    assert constant.learner_class is not ScheduledClipPPOLearner


def test_environment_parameters_are_read_as_published():
    """Constants, samplers and curricula (every key, and the refusals: tests/test_curriculum.py)."""
    c = resolved(WALLJUMP_CURRICULUM + "env_settings: {env_path: builds/WallJump.x86_64}\n")
    lesson0, lesson1 = c.env_params["big_wall_height"]["curriculum"]
    assert lesson0["completion_criteria"] == {"behavior": "BigWallJump", "measure": "progress", "threshold": 0.1,
                                              "min_lesson_length": 100, "signal_smoothing": True, "require_reset": False}
    assert lesson0["value"]["sampler_type"] == "uniform" and lesson1 == {"name": "Lesson1", "value": 8.0}
    sampled = resolved(BALL + "environment_parameters:\n  mass: {sampler_type: uniform, sampler_parameters: "
                              "{min_value: 1, max_value: 2}}\n")
    assert sampled.env_params["mass"]["sampler_parameters"] == {"min_value": 1.0, "max_value": 2.0}


LEARNING = ("algorithm", "lr", "lr_schedule", "entropy_coeff", "entropy_schedule", "clip_param", "clip_schedule",
            "num_epochs", "train_batch_size", "minibatch_size", "hidden_units", "num_layers", "gamma", "lambda_",
            "normalize", "shared_critic", "num_areas", "seed", "steps", "target_return", "return_window")


@pytest.mark.parametrize("notebook,changed", [("03-tune-and-compare.ipynb", set()),
                                               ("solutions/03-tune-and-compare.ipynb", {"train_batch_size"})])
def test_workshop_yaml_exercise_changes_one_setting_against_its_baseline(notebook, changed):
    """Workshop 3, exercise 3: the trainer-YAML cell trains as run_a (`%unity_train Basic --lr 3e-3 --steps 3000`)
    but for the one setting the exercise changes; a Unity YAML starts from mlagents-learn's defaults, so the cell
    must write the others out."""
    import json
    import shlex
    from pathlib import Path

    from unity_nb.train import make_config

    path = Path(__file__).parent.parent / "notebooks" / "workshop" / notebook
    cell = next("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                if c["cell_type"] == "code" and "".join(c["source"]).startswith("%%unity_train"))
    line, _, body = cell.partition("\n")
    flags = shlex.split(line)
    target = float(flags[flags.index("--target-return") + 1])
    d = make_config(TrainConfig.from_yaml(body), target_return=target)
    a = make_config("Basic", lr=3e-3, steps=3000)
    differ = {k for k in LEARNING if getattr(a, k) != getattr(d, k)}
    assert differ == changed, {k: (getattr(a, k), getattr(d, k)) for k in differ}
    fragment = a.time_horizon or a.train_batch_size // a.num_areas  # RLlib's "auto": the batch over the agents
    assert d.time_horizon == fragment


DUO = """
behaviors:
  BasicRight:
    trainer_type: ppo
    hyperparameters: {batch_size: 64, buffer_size: 512, learning_rate: 3.0e-3, beta: 1.0e-2, epsilon: 0.2,
                      num_epoch: 3}
    network_settings: {hidden_units: 64, num_layers: 2}
    max_steps: 6000
    time_horizon: 64
  BasicLeft:
    trainer_type: ppo
    hyperparameters: {batch_size: 64, buffer_size: 512, learning_rate: 1.0e-3, beta: 5.0e-3, epsilon: 0.3,
                      num_epoch: 3, epsilon_schedule: constant}
    network_settings: {hidden_units: 32, num_layers: 1}
    max_steps: 6000
    time_horizon: 64
env_settings: {num_areas: 4}
"""


def test_a_file_with_several_behaviors_gives_each_its_own_rate_and_network_and_shares_the_rest():
    """The behaviors pick their scene (BasicDuo); what a behavior may have of its own goes into behavior_settings
    and reaches RLlib as that module's overrides and network; a shared setting that differs is refused by name."""
    from unity_nb.trainer.rllib_setup import ScheduledClipPPOLearner, algorithm_config

    c = resolved(DUO, mode="inprocess")
    assert (c.scene, c.behavior, c.lr, c.hidden_units, c.num_layers, c.num_areas) == ("BasicDuo", None, 3e-3, 64, 2, 4)
    assert c.behavior_settings == {"BasicRight": {}, "BasicLeft": {"lr": 1e-3, "entropy_coeff": 5e-3,
                                                                   "clip_param": 0.3, "clip_schedule": "constant",
                                                                   "hidden_units": 32, "num_layers": 1}}
    assert "BasicLeft's own lr 0.001" in c.describe()
    algo = algorithm_config(c, ["BasicRight", "BasicLeft"])
    right, left = algo.get_config_for_module("BasicRight"), algo.get_config_for_module("BasicLeft")
    # RLlib's schedules count env steps, each an exchange of BasicDuo's 8 agents (4 areas): 6,000 agent steps is 750
    assert right.lr == [[0, 3e-3], [750, 1e-10]] and left.lr == [[0, 1e-3], [750, 1e-10]]
    assert algo.train_batch_size_per_learner == 64  # buffer_size 512 agent steps: 64 exchanges of 8 agents
    assert right.entropy_coeff[0] == [0, 1e-2] and left.entropy_coeff[0] == [0, 5e-3] and left.clip_param == 0.3
    # the clip range: BasicRight's decays (mlagents' default follows the rate), BasicLeft's stays
    assert algo.learner_class is ScheduledClipPPOLearner
    assert algo.learner_config_dict["clip_schedule"] == {"BasicRight": [[0, 0.2], [750, 0.1]]}
    specs = algo.rl_module_spec.rl_module_specs
    assert specs["BasicRight"].model_config["fcnet_hiddens"] == [64, 64]
    assert specs["BasicLeft"].model_config["fcnet_hiddens"] == [32]
    with pytest.raises(ConfigError, match=r"behaviors\.BasicLeft: num_epoch is 5 where behaviors\.BasicRight has 3"):
        resolved(DUO.replace("epsilon: 0.3,\n                      num_epoch: 3", "epsilon: 0.3,\n                      "
                                                                                "num_epoch: 5"))
    with pytest.raises(ConfigError, match=r"behaviors\.BasicLeft: max_steps is 7000 where"):
        resolved(DUO.replace("max_steps: 6000\n    time_horizon: 64\nenv", "max_steps: 7000\n    time_horizon: 64\nenv"))
    with pytest.raises(ConfigError, match=r"behaviors: BasicLeft, Walker are not the behaviors of BasicDuo"):
        resolved(DUO.replace("BasicRight:", "Walker:").replace("{num_areas: 4}", "{num_areas: 4, env_path: BasicDuo}"))


@pytest.mark.parametrize("settings, message", [
    ({"Nope": {"lr": 1e-3}}, "behavior_settings.Nope is not a behavior of BasicDuo; its behaviors: BasicRight, "
                             "BasicLeft"),
    ({"BasicLeft": {"gamma": 0.9}}, "behavior_settings.BasicLeft.gamma is shared by every behavior of a run"),
    ({"BasicLeft": {"colour": 1}}, "behavior_settings.BasicLeft.colour is not a setting"),
    ({"BasicLeft": {"lr": -1}}, "behavior_settings.BasicLeft: lr must be > 0, got -1"),
    ({"BasicLeft": 3}, "behavior_settings.BasicLeft must map settings to values"),
    ({"BasicLeft": {"lr_schedule": "cubic"}}, "lr_schedule must be 'constant' or 'linear', got 'cubic'"),
    ([1, 2], "behavior_settings must map behaviors to their own settings, got list"),
])
def test_bad_behavior_settings_are_refused_by_name(settings, message):
    from unity_nb.train import make_config

    with pytest.raises(ConfigError) as caught:
        make_config("BasicDuo", behavior_settings=settings)
    assert message in str(caught.value), str(caught.value)
    with pytest.raises(ConfigError, match="is not trained: this run trains behavior 'BasicRight' only"):
        make_config("BasicDuo", behavior="BasicRight", behavior_settings={"BasicLeft": {"lr": 1e-3}})
    with pytest.raises(ConfigError, match="clip_param is used by PPO, APPO only, not DQN"):
        make_config("BasicDuo", algorithm="DQN", behavior_settings={"BasicLeft": {"clip_param": 0.1}})


@pytest.mark.ray
def test_a_file_with_several_behaviors_trains_each_with_its_own_rate_and_network(tmp_path):
    import pickle

    import unity_nb.train as ut

    path = tmp_path / "duo.yaml"
    path.write_text(DUO)
    run = ut.train(config=str(path), runs_dir=tmp_path / "runs", mode="inprocess", target_return="off", steps=3000,
                   lr_schedule="constant")  # each rate as the file gives it, not decayed to ~0 by the end
    run.wait(timeout=600)
    assert run.state == "finished", run.status
    checkpoint = run.latest_checkpoint()
    state = pickle.loads((checkpoint / "learner_group" / "learner" / "state.pkl").read_bytes())
    rates = {k.split("_")[0]: v["state"]["param_groups"][0]["lr"] for k, v in state["optimizer"].items()}
    assert rates == {"BasicRight": 3e-3, "BasicLeft": 1e-3}
    for behavior, first_layer in (("BasicRight", (64, 20)), ("BasicLeft", (32, 20))):
        weights = pickle.loads((checkpoint / "learner_group" / "learner" / "rl_module" / behavior /
                                "module_state.pkl").read_bytes())
        assert tuple(weights["encoder.actor_encoder.net.mlp.0.weight"].shape) == first_layer
    exported = run.export()  # one ONNX per behavior, each its own network
    assert exported.ok and {b.behavior for b in exported.behaviors} == {"BasicRight", "BasicLeft"}, str(exported)
    assert "no action for agents" not in (run.path / "logs" / "driver.log").read_text()
