"""The ``rllib:`` section: any RLlib algorithm setting from YAML, Python, the command line and the magics,
checked before anything starts (unknown names with the nearest valid ones, wrong kinds, settings the kit
manages), applied after the kit's own in the training process, and written to the run folder."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from unity_nb.train import ConfigError, make_config
from unity_nb.train.config import TrainConfig
from unity_nb.train.rllib_settings import CATALOGUE, check, merge, parse_flag
from unity_nb.verbs import VERBS


def test_grouped_flat_and_dotted_keys_land_in_their_groups():
    settings = check({"training": {"kl_coeff": 0.3}, "grad_clip": 0.5, "evaluation.evaluation_interval": 5,
                      "rl_module": {"model_config": {"fcnet_hiddens": [64, 64]}}}, "PPO")
    assert settings == {"training": {"kl_coeff": 0.3, "grad_clip": 0.5}, "evaluation": {"evaluation_interval": 5},
                        "rl_module": {"model_config": {"fcnet_hiddens": [64, 64]}}}


@pytest.mark.parametrize("given,message", [
    ({"kl_coef": 0.3}, "rllib.kl_coef: not an RLlib PPO setting; did you mean kl_coeff"),
    ({"training": {"kl_coef": 0.3}}, "rllib.training.kl_coef: not in RLlib's training settings for PPO; did you mean kl_coeff"),
    ({"env_runners": {"kl_coeff": 0.3}}, "kl_coeff is in the training group"),
    ({"trainig.kl_coeff": 0.3}, "'trainig' is not a group of RLlib settings; did you mean training"),
    ({"training": {"kl_coeff": "high"}}, "rllib.training.kl_coeff must be a number, got 'high'"),
    ({"training": {"use_kl_loss": 1}}, "rllib.training.use_kl_loss must be true or false, got 1"),
    ({"training": 3}, "rllib.training must be a mapping of training settings, got 3"),
    ({"lr": 1e-3}, "rllib.lr is the kit's `lr` setting: give lr instead"),
    ({"training": {"train_batch_size_per_learner": 512}}, "give train_batch_size instead"),
    ({"env": "CartPole-v1"}, "rllib.env is the scene the run trains on"),
    ({"callbacks_class": "x"}, "its callbacks report each Unity episode"),
    ({"normalize_actions": True}, "ML-Agents' action contract"),
    ({"rollout_fragment_length": 64}, "give time_horizon instead"),
    ({"": 1}, "is not a setting name"),
    ([("kl_coeff", 0.3)], "rllib must be a mapping of RLlib settings"),
    ("kl_coeff=0.3", "rllib must be a mapping of RLlib settings"),
])
def test_bad_settings_are_refused_with_the_key(given, message):
    with pytest.raises(ConfigError) as err:
        make_config("Basic", rllib=given)
    assert message in str(err.value)


def test_settings_depend_on_the_algorithm():
    assert check({"training": {"twin_q": False}}, "SAC") == {"training": {"twin_q": False}}
    with pytest.raises(ConfigError, match="not an RLlib PPO setting"):
        check({"twin_q": False}, "PPO")


def test_yaml_section_and_python_keyword_agree(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("scene: Basic\nrllib:\n  training: {kl_coeff: 0.3}\n  grad_clip: 0.5\n")
    from_file = make_config(config=str(path))
    from_python = make_config("Basic", rllib={"training": {"kl_coeff": 0.3, "grad_clip": 0.5}})
    assert from_file.rllib == from_python.rllib == {"training": {"kl_coeff": 0.3, "grad_clip": 0.5}}
    # stored as it is applied, and read back the same
    assert TrainConfig.from_yaml(from_file.to_yaml()).rllib == from_file.rllib
    assert "rllib: training.kl_coeff=0.3, training.grad_clip=0.5" in from_file.describe()


def test_yaml_section_with_a_bad_key_names_it(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("scene: Basic\nrllib:\n  training: {kl_coef: 0.3}\n")
    with pytest.raises(ConfigError, match=r"run.yaml.*rllib.training.kl_coef.*did you mean kl_coeff"):
        make_config(config=str(path))


@pytest.mark.parametrize("face", ["cli", "magic"])
def test_flags_on_both_faces(face, tmp_path):
    from unity_nb.train.flags import config_overrides

    parser = VERBS["train"].parser(face)
    args = parser.parse_args(["Basic", "--rllib", "training.kl_coeff=0.3", "--rllib", "grad_clip=0.5",
                              "--rllib", "rl_module.model_config={fcnet_hiddens: [64, 64]}"])
    config = make_config("Basic", **{k: v for k, v in config_overrides(args).items() if k != "scene"})
    assert config.rllib == {"training": {"kl_coeff": 0.3, "grad_clip": 0.5},
                            "rl_module": {"model_config": {"fcnet_hiddens": [64, 64]}}}
    with pytest.raises(SystemExit):
        parser.parse_args(["Basic", "--rllib", "no-equals-sign"])


def test_flags_add_to_the_files_settings(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("scene: Basic\nrllib:\n  training: {kl_coeff: 0.3, grad_clip: 0.5}\n")
    config = make_config(config=str(path), rllib={"training.grad_clip": 1.0, "evaluation_interval": 2})
    assert config.rllib == {"training": {"kl_coeff": 0.3, "grad_clip": 1.0}, "evaluation": {"evaluation_interval": 2}}
    assert merge({"training": {"a": 1}}, {"training": {"b": 2}}) == {"training": {"a": 1, "b": 2}}


def test_flag_values_are_read_as_yaml():
    assert parse_flag("a=0.3") == ("a", 0.3)
    assert parse_flag("a=true") == ("a", True)
    assert parse_flag("a=[1, 2]") == ("a", [1, 2])
    assert parse_flag("a=hello") == ("a", "hello")
    assert parse_flag("a=") == ("a", None)
    assert parse_flag('"m={width: 96}"') == ("m", {"width": 96})  # a magic's line keeps the quotes
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_flag("=3")


def test_the_cli_refuses_before_anything_starts(tmp_path):
    done = subprocess.run([sys.executable, "-m", "unity_nb.cli", "train", "Basic", "--rllib", "kl_coef=0.3",
                           "--runs-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "rllib.kl_coef: not an RLlib PPO setting; did you mean kl_coeff" in done.stderr
    assert not any(tmp_path.iterdir())  # no run folder was made


def test_the_catalogue_matches_the_installed_rllib():
    """rllib_keys.json is what `python -m unity_nb.trainer.rllib_keys` writes from the pinned RLlib."""
    from unity_nb.trainer.rllib_keys import catalogue

    assert json.loads(CATALOGUE.read_text()) == json.loads(json.dumps(catalogue())), \
        "RLlib's settings changed: run `python -m unity_nb.trainer.rllib_keys` and review the diff"


@pytest.mark.ray
def test_a_run_trains_with_its_rllib_settings(tmp_path):
    """Through Ray: the built algorithm holds the user's values (the driver's log line reads them back
    from RLlib's config), and RLlib's own refusal of a value fails the run with the key named."""
    import unity_nb.train as ut

    run = ut.train("Basic", runs_dir=tmp_path, steps=600, target_return="off",
                   rllib={"training": {"kl_coeff": 0.37, "grad_clip": 0.5}, "shuffle_batch_per_epoch": False})
    run.wait(timeout=300)
    assert run.state == "finished", run.status
    lines = [e["message"] for e in run.events() if e["event"] == "log" and "RLlib settings" in e["message"]]
    assert lines == ["RLlib settings from rllib: training.kl_coeff=0.37, training.grad_clip=0.5, "
                     "training.shuffle_batch_per_epoch=False"], lines
    assert "kl_coeff: 0.37" in (run.path / "config.yaml").read_text()

    refused = ut.train("Basic", runs_dir=tmp_path, steps=600, rllib={"grad_clip_by": "sideways"})
    refused.wait(timeout=300)
    assert refused.state == "failed" and "grad_clip_by" in refused.status["error"], refused.status
