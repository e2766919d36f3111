"""Your own RLModule (``model: user_models:ResidualMLP``): named from every front end, found before anything
starts, imported and checked in the training process, trained, and carried by the checkpoint (evaluation
and export work without the file). Bad input: no such module, no such class, not an RLModule, a class
defined in a notebook cell, a module that raises while being built, outputs that do not fit the scene."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from unity_nb.train import ConfigError, make_config
from unity_nb.verbs import VERBS

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "tests" / "data" / "user_models.py"


@pytest.fixture
def here(tmp_path, monkeypatch):
    """A folder with the notebook's my_models.py and my_algos.py and the mistakes in user_models.py, as the
    notebook's folder (runs start from here)."""
    for path in (MODELS, REPO / "notebooks" / "my_models.py", REPO / "notebooks" / "my_algos.py"):
        shutil.copy(path, tmp_path / path.name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_model_from_yaml_python_and_flags(here):
    (here / "run.yaml").write_text("scene: Basic\nmodel: user_models:ResidualMLP\n")
    assert make_config(config="run.yaml").model == "user_models:ResidualMLP"
    assert make_config("Basic", model="user_models:ResidualMLP").model == "user_models:ResidualMLP"
    for face in ("cli", "magic"):
        args = VERBS["train"].parser(face).parse_args(["Basic", "--model", "user_models:ResidualMLP"])
        assert args.model == "user_models:ResidualMLP"
    per_behavior = make_config("BasicDuo", model={"BasicLeft": "user_models:ResidualMLP"})
    assert per_behavior.model_for("BasicLeft") == "user_models:ResidualMLP" and per_behavior.model_for("BasicRight") is None
    assert "model user_models:ResidualMLP" in make_config("Basic", model="user_models:ResidualMLP").describe()


def test_a_class_object_becomes_its_import_path(here):
    import sys

    sys.path.insert(0, str(here))
    try:
        from my_models import ResidualMLP
    finally:
        sys.path.remove(str(here))
    assert make_config("Basic", model=ResidualMLP).model == "my_models:ResidualMLP"


def test_a_class_from_a_notebook_cell_is_explained():
    cls = type("MyNet", (), {"__module__": "__main__"})
    with pytest.raises(ConfigError) as err:
        make_config("Basic", model=cls)
    assert "defined in the notebook" in str(err.value) and "%%writefile my_models.py" in str(err.value)
    assert "model='my_models:MyNet'" in str(err.value)


@pytest.mark.parametrize("given,message", [
    ("user_models", "must be an import path like my_models:ResidualMLP"),
    ("user_models:Res idual", "must be an import path"),
    ({"Nobody": "user_models:ResidualMLP"}, "'Nobody' is not a behavior of Basic"),
    (42, "must be an import path"),
])
def test_malformed_model_settings(given, message):
    with pytest.raises(ConfigError, match=message):
        make_config("Basic", model=given)


def test_a_missing_module_is_refused_before_anything_starts(here):
    import unity_nb.train as ut

    with pytest.raises(ConfigError) as err:
        ut.train("Basic", runs_dir=here / "runs", model="no_such_models:Net")
    assert "no module 'no_such_models' in" in str(err.value) and "next to the notebook" in str(err.value)
    assert not (here / "runs").exists()


def test_sagemaker_with_a_model_is_refused_for_now(here):
    import unity_nb.train as ut

    with pytest.raises(ConfigError, match="not supported yet"):
        ut.train("Basic", backend="sagemaker", model="user_models:ResidualMLP", dry_run=True)


@pytest.mark.ray
def test_a_custom_module_trains_evaluates_and_exports_without_its_file(here):
    import unity_nb.train as ut

    # the learning rate and epochs this budget was sized for, not whatever Basic's defaults become
    run = ut.train("Basic", runs_dir=here / "runs", steps=3000, target_return="off", lr=3e-3, num_epochs=4,
                   model="user_models:ResidualMLP", rllib={"rl_module": {"model_config": {"width": 32}}})
    run.wait(timeout=300)
    assert run.state == "finished", run.status
    assert run.last()["episode_return_mean"] > 0.5  # Basic's optimum is 0.93; random play scores below 0
    logs = [e["message"] for e in run.events() if e["event"] == "log"]
    assert "RLlib settings from rllib: rl_module.model_config={'width': 32}" in logs, logs  # as the module got it
    # user_models:ResidualMLP is my_models' class (a sibling module): the checkpoint carries both by value
    for name in ("user_models.py", "my_models.py"):
        (here / name).rename(here / f"moved_away_{name}")
    result = run.evaluate(episodes=10)
    assert result.mean > 0.5
    exported = run.export(verify=200)
    assert exported.ok, str(exported)


@pytest.mark.ray
@pytest.mark.parametrize("path,message", [
    ("user_models:NoSuchClass", "user_models has no NoSuchClass; its RLModule classes: RaisesInSetup, TenInputs, "
                                "WrongWidth"),
    ("user_models:NotAModule", "user_models:NotAModule is a class (object"),
    ("user_models:RaisesInSetup", "ValueError: width must be even (user_models.py, line"),
    ("user_models:WrongWidth", "gives action-distribution inputs of shape (7,) per observation; the scene's actions"),
    ("user_models:TenInputs", "mat1 and mat2 shapes cannot be multiplied"),
])
def test_bad_modules_fail_the_run_with_the_users_terms(here, path, message):
    import unity_nb.train as ut

    run = ut.train("Basic", runs_dir=here / "runs", steps=600, model=path)
    run.wait(timeout=300)
    assert run.state == "failed"
    assert message in run.status["error"], run.status["error"]
    assert "site-packages" not in run.status["error"]


# ---- your own algorithm: an AlgorithmConfig subclass by import path (the notebook's my_algos.py)


def test_algorithm_by_import_path_from_each_front_end(here):
    assert make_config("Basic", algorithm="my_algos:SteadyPPOConfig").custom_algorithm
    args = VERBS["train"].parser("cli").parse_args(["Basic", "--algorithm", "my_algos:SteadyPPOConfig"])
    assert make_config("Basic", algorithm=args.algorithm).algorithm == "my_algos:SteadyPPOConfig"
    with pytest.raises(ConfigError, match="or your own AlgorithmConfig subclass by import path"):
        make_config("Basic", algorithm="PPOO")
    # its own settings go to RLlib (which checks them); the kit still refuses the ones it manages
    assert make_config("Basic", algorithm="my_algos:SteadyPPOConfig",
                       rllib={"training.my_own_knob": 3}).rllib == {"training": {"my_own_knob": 3}}
    with pytest.raises(ConfigError, match="give lr instead"):
        make_config("Basic", algorithm="my_algos:SteadyPPOConfig", rllib={"lr": 0.1})
    with pytest.raises(ConfigError, match="threaded replaces PPO's training step, and my_algos:SteadyPPOConfig is "
                                          "your own algorithm with its own: leave threaded out"):
        make_config("Basic", algorithm="my_algos:SteadyPPOConfig", threaded=True)


@pytest.mark.ray
def test_your_own_algorithm_trains_stops_and_resumes(here):
    import unity_nb.train as ut

    run = ut.train("Basic", runs_dir=here / "runs", steps=1500, target_return="off",
                   algorithm="my_algos:SteadyPPOConfig")
    run.wait(timeout=300)
    assert run.state == "finished", run.status
    first = run.last()
    assert first["env_steps"] >= 1500 and first["episode_return_mean"] is not None
    resumed = ut.resume(run.id, runs_dir=here / "runs", steps=2500)
    resumed.wait(timeout=300)
    assert resumed.state == "finished" and resumed.last()["env_steps"] >= 2500
    assert resumed.last()["iteration"] > first["iteration"]

    bad = ut.train("Basic", runs_dir=here / "runs", steps=600, algorithm="user_models:NotAModule")
    bad.wait(timeout=300)
    assert bad.state == "failed" and "is a class (object" in bad.status["error"] and "AlgorithmConfig" in bad.status["error"]


@pytest.mark.ray
def test_a_model_for_one_behavior_of_two(here):
    """BasicDuo trains one policy per behavior: BasicLeft with the user's module, BasicRight with RLlib's."""
    import unity_nb.train as ut
    from unity_nb.evaluate.policy import load_policies

    run = ut.train("BasicDuo", runs_dir=here / "runs", steps=1500, target_return="off",
                   model={"BasicLeft": "user_models:ResidualMLP"})
    run.wait(timeout=300)
    assert run.state == "finished", run.status
    policies = load_policies(run.latest_checkpoint())
    assert type(policies["BasicLeft"].module).__name__ == "ResidualMLP"
    assert type(policies["BasicRight"].module).__name__ != "ResidualMLP"
