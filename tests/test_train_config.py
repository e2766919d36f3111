"""TrainConfig from Python, YAML and mlagents-learn YAML; every bad value named."""

import pytest
import yaml

from unity_nb.train import ConfigError, RunNotFound, RunStore, TrainConfig, make_config

from unity_configs import BALL

MLAGENTS_3DBALL = BALL


def test_defaults_per_scene():
    basic = make_config("Basic")
    ball = make_config("3dball")
    assert basic.algorithm == "PPO" and basic.num_areas == 8 and basic.target_return == 0.9
    assert ball.scene_name == "3DBall" and ball.hidden_units == 64 and ball.steps > basic.steps


def test_mlagents_yaml_is_read():
    config = TrainConfig.from_yaml(MLAGENTS_3DBALL, source="3DBall.yaml")
    assert config.algorithm == "PPO" and config.behavior == "3DBall"
    assert (config.minibatch_size, config.train_batch_size, config.lr) == (64, 12000, 0.0003)
    assert (config.entropy_coeff, config.clip_param, config.lambda_, config.num_epochs) == (0.001, 0.2, 0.99, 3)
    assert (config.hidden_units, config.num_layers, config.normalize) == (128, 2, True)
    assert config.steps == 500000 and config.gamma == 0.99
    assert make_config("3DBall", config={**config.to_dict(), "scene": "3DBall"}).steps == 500000


def test_mlagents_yaml_file_with_overrides(tmp_path):
    path = tmp_path / "trainer.yaml"
    path.write_text(MLAGENTS_3DBALL)
    config = make_config("3DBall", config=str(path), steps=1000)
    assert config.steps == 1000 and config.minibatch_size == 64


@pytest.mark.parametrize(
    "text,message",
    [
        (MLAGENTS_3DBALL.replace("lambd:", "lamda:"), r"behaviors\.3DBall\.hyperparameters: unknown key 'lamda'"),
        (MLAGENTS_3DBALL.replace("time_horizon", "time_horizn"), r"behaviors\.3DBall: unknown key 'time_horizn'"),
        (MLAGENTS_3DBALL.replace("trainer_type: ppo", "trainer_type: poca"), r"poca needs agents in groups .* for 3DBall, use PPO"),
        (MLAGENTS_3DBALL.replace("learning_rate: 0.0003", "learning_rate: fast"), r"lr must be a number, got 'fast'"),
        (MLAGENTS_3DBALL.replace("strength: 1.0", "strength: 0.5"), r"strength: only 1.0 is supported"),
        (MLAGENTS_3DBALL.replace("extrinsic:", "gail:"), r"gail must be a mapping with demo_path"),
        ("behaviors: {}", "'behaviors' must map a behavior name"),
        ("behaviors:\n  A: {}\n  B: {}", "behaviors: A, B are not the behaviors of Basic \\(Basic\\)"),
    ],
)
def test_mlagents_yaml_errors_name_the_key(text, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_yaml(text, source="trainer.yaml")


def test_behavior_the_scene_does_not_have():
    config = TrainConfig.from_yaml(MLAGENTS_3DBALL)
    with pytest.raises(ConfigError, match="behavior '3DBall': the Basic scene has the behaviors 'Basic'"):
        config.replace(scene="Basic")


def test_yaml_syntax_error_gives_line_and_column():
    with pytest.raises(ConfigError, match=r"not valid YAML at line 3, column 6"):
        TrainConfig.from_yaml("scene: Basic\nlr: [1, 2\nsteps: 5\n", source="cell")


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"lrate": 0.1}, "unknown setting 'lrate'. Known settings: .*lr"),
        ({"lr": -1}, "lr must be > 0, got -1"),
        ({"lr": "fast"}, "lr must be a number, got 'fast'"),
        ({"gamma": 1.5}, "gamma must be <= 1, got 1.5"),
        ({"steps": 0}, "steps must be >= 1, got 0"),
        ({"steps": 2.5}, "steps must be a whole number, got 2.5"),
        ({"steps": True}, "steps must be a whole number, got True"),
        ({"num_env_runners": -1}, "num_env_runners must be >= 0"),
        ({"mode": "warp"}, "mode must be 'player' or 'inprocess'"),
        ({"algorithm": "A3C"}, "algorithm must be one of PPO, APPO, IMPALA, SAC, DQN"),
        ({"scene": "3DBall", "algorithm": "DQN"}, "DQN does not handle the continuous actions of 3DBall; use one of PPO"),
        ({"scene": "Basic", "algorithm": "SAC"}, "SAC does not handle the discrete actions of Basic"),
        ({"scene": "Soccer"}, "'Soccer' is neither a built-in scene"),
        ({"scene": ""}, "scene must be a built-in scene"),
        ({"env_params": {"masss": 1}, "scene": "3DBall"}, "'masss' is not a 3DBall parameter"),
        ({"minibatch_size": 600, "train_batch_size": 100}, "minibatch_size .600. must not exceed train_batch_size"),
        # the scene's minibatch counts too: the run would be made with it (and could not be read back)
        ({"scene": "3DBall", "train_batch_size": 256}, "minibatch_size .1200, 3DBall's default. must not exceed "
                                                       "train_batch_size .256.: give a minibatch_size of 256 or less"),
        # several behaviors: RLlib fills the batch in exchanges of all 8 agents and checks the minibatch against those
        ({"scene": "BasicDuo", "train_batch_size": 512}, "minibatch_size .128, BasicDuo's default. must not exceed 64 "
                                                        "here: .* 8 agents .64 exchanges.* minibatch_size of 64 or "
                                                        "less, or a train_batch_size of 1024 or more"),
        ({"address": ""}, "address must be a Ray address"),
        ({"unity_timeout": 0}, "unity_timeout must be > 0"),
        ({"threaded": "yes please"}, "threaded must be true or false"),
        ({"threaded": True, "rllib": {"learners": {"num_learners": 2}}},
         "threaded learns in exactly one learner process, and rllib learners.num_learners asks for its own number"),
        ({"threaded": True, "rllib": {"num_learners": 0}}, "rllib learners.num_learners asks for its own number"),
    ],
)
def test_bad_settings(settings, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(settings)


@pytest.mark.parametrize("settings,message", [
    ({"algorithm": "DQN", "num_epochs": 3}, "num_epochs is used by PPO, APPO, IMPALA only, and this run trains with "
                                            "DQN, which never reads it: leave it out, or train with PPO"),
    ({"scene": "3DBall", "algorithm": "SAC", "clip_param": 0.3}, "clip_param is used by PPO, APPO only"),
    ({"algorithm": "APPO", "minibatch_size": 64}, "minibatch_size is used by PPO only"),
    ({"algorithm": "APPO", "threaded": True}, "threaded is used by PPO only"),  # APPO learns while it samples
])
def test_a_setting_the_algorithm_never_reads_is_refused(settings, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        make_config(**settings)
    path = tmp_path / "run.yaml"  # the same from a file
    path.write_text(yaml.safe_dump(settings))
    with pytest.raises(ConfigError, match=message):
        make_config(config=str(path))
    with pytest.raises(ConfigError, match=message):  # a %%unity_train cell's settings
        make_config(config=TrainConfig.from_yaml(path.read_text()))


def test_a_small_batch_fits_an_algorithm_without_minibatches():
    """SAC and APPO take no minibatches: a batch below the scene's minibatch makes a run that reads back."""
    for algorithm in ("SAC", "APPO"):
        config = make_config("3DBall", algorithm=algorithm, train_batch_size=256)
        assert TrainConfig.from_dict(config.to_dict()).train_batch_size == 256


def test_an_algorithm_keeps_the_scene_defaults_it_does_not_read():
    """A resolved run of any algorithm carries the scene's PPO values, and a stored run is read as it is
    (one made before the refusal included); a fork of it keeps them."""
    config = make_config("Basic", algorithm="DQN")
    assert TrainConfig.from_dict(config.to_dict()).num_epochs == config.num_epochs
    assert make_config("Basic", algorithm="IMPALA", num_epochs=2).num_epochs == 2
    older = TrainConfig.from_dict({**config.to_dict(), "num_epochs": 7})  # stored before: not refused
    assert make_config(older, lr=1e-4).num_epochs == 7


def test_config_not_a_mapping_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="expected a mapping"):
        TrainConfig.from_yaml("- a\n- b\n")
    with pytest.raises(ConfigError, match="does not exist"):
        TrainConfig.from_file(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a folder"):
        TrainConfig.from_file(tmp_path)


def test_round_trip_through_yaml():
    config = make_config("3DBall", lr=1e-3, env_params={"mass": 2.0})
    again = TrainConfig.from_yaml(config.to_yaml())
    assert again == config


def test_run_store_errors(tmp_path):
    store = RunStore(tmp_path / "runs")
    with pytest.raises(RunNotFound, match="holds no runs yet"):
        store.get("Basic-20260101-000000-abcd")
    for bad in ("", "../etc", ".hidden", None):
        with pytest.raises(RunNotFound, match="is not a run id"):
            store.get(bad)
    blocked = tmp_path / "file"
    blocked.write_text("x")
    with pytest.raises(PermissionError, match="cannot write runs to .*choose another folder"):
        RunStore(blocked / "runs").create(make_config("Basic"))


def test_run_folder_layout(tmp_path):
    store = RunStore(tmp_path)
    run = store.create(make_config("Basic"))
    assert {p.name for p in run.path.iterdir()} >= {"config.yaml", "status.json", "metrics.jsonl", "checkpoints", "logs", "tb"}
    assert run.config.scene == "Basic" and store.get(run.id).id == run.id
    assert [r.id for r in store.list()] == [run.id]
    # a half-written last line (a killed writer) is skipped, the rest stays readable
    (run.path / "metrics.jsonl").write_text('{"event": "iteration", "iteration": 1}\n{"event": "itera')
    assert run.events() == [{"event": "iteration", "iteration": 1}]


def test_scene_with_several_behaviors():
    assert make_config("BasicDuo").behavior is None  # all of them, one policy each
    assert make_config("BasicDuo", behavior="BasicLeft").behavior == "BasicLeft"
    with pytest.raises(ConfigError, match="behavior 'Basic': the BasicDuo scene has the behaviors 'BasicRight', 'BasicLeft'"):
        make_config("BasicDuo", behavior="Basic")
    assert make_config("BasicDuo", normalize=True).normalize  # each behavior's statistics (trainer/normalize.py)
    assert make_config("BasicDuo", behavior="BasicLeft", normalize=True).normalize


def test_a_time_horizon_rllib_cannot_fill_a_batch_with_is_refused_with_what_fits():
    """mlagents-learn takes any time_horizon; RLlib's PPO needs the batch to be whole rounds of one piece per
    agent. Basic's 8 agents with pieces of 32 make rounds of 256: a batch of 128 cannot be collected."""
    with pytest.raises(ConfigError, match=r"time_horizon 32 does not fit train_batch_size 128: .* 8 agents \(256 steps\)"
                                          r".*Use time_horizon 16 or less, or a train_batch_size of 256"):
        make_config("Basic", train_batch_size=128, time_horizon=32)
    assert make_config("Basic", train_batch_size=512, time_horizon=32).time_horizon == 32
    assert make_config("Basic", train_batch_size=128, time_horizon=32, num_areas=4).num_areas == 4  # 128 a round
