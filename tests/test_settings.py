"""Each setting is said once, beside its TrainConfig field (unity_nb/train/settings.py); the flags, help, panel,
checks and docs are read from there (no Ray)."""

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from unity_nb.envs.scenes import SCENES
from unity_nb.train import ConfigError, TrainConfig
from unity_nb.train.flags import help_text
from unity_nb.train.settings import GROUPS, rules

ROOT = Path(__file__).resolve().parent.parent
RULES = rules(TrainConfig)


def _docs_tables():
    spec = importlib.util.spec_from_file_location("docs_tables", ROOT / "scripts" / "docs_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_docs_tables_the_code_says_are_current():
    tables = _docs_tables()
    assert (ROOT / "docs" / "settings.md").read_text() == tables.settings(), \
        "docs/settings.md is out of date: python scripts/docs_tables.py"
    run_folder = (ROOT / "docs" / "run-folder.md").read_text()
    assert run_folder == tables.run_folder(run_folder), \
        "docs/run-folder.md's iteration table is out of date: python scripts/docs_tables.py"


@pytest.mark.parametrize("name", list(RULES))
def test_each_setting_says_what_it_is_and_its_kind_fits_its_type(name):
    field, rule = RULES[name]
    assert rule.help and rule.group in GROUPS
    kind = str(field.type).replace(" ", "")
    expected = {"int": "int", "float": "float", "bool": "bool"}.get(rule.kind)
    if expected:
        assert kind.startswith(expected), (name, kind, rule.kind)
    if rule.kind == "choice":
        assert field.default in rule.choices
    if field.default not in (None, dataclasses.MISSING):
        # a fixed default is written by the help from the field, never by hand (it could go stale)
        assert "default" not in rule.help, name
        shown = ({True: "on", False: "off"}[field.default] if isinstance(field.default, bool) else
                 f"{field.default:g}" if isinstance(field.default, float) else field.default)
        assert help_text(name).endswith(f"default {shown}")


def _bad_values(rule):
    if rule.kind == "int":
        return ["3", 2.5, True, (0 if rule.low is None else int(rule.low) - 1)]
    if rule.kind == "float":
        bad = ["x", float("nan"), True]
        if rule.low is not None:
            bad.append(rule.low if rule.low_open else rule.low - 1)
        if rule.high is not None:
            bad.append(rule.high + 1)
        return bad
    if rule.kind == "bool":
        return ["yes", 1]
    if rule.kind == "choice":
        return ["nonsense", 3, ""]
    if rule.kind == "text":
        return ["", "  ", 5]
    return []


CASES = [(name, value) for name, (_, rule) in RULES.items() for value in _bad_values(rule)]


@pytest.mark.parametrize("name,value", CASES, ids=[f"{n}={v!r}" for n, v in CASES])
def test_a_value_its_rule_does_not_allow_is_refused_naming_the_setting(name, value):
    extra = {"backend": "sagemaker"} if RULES[name][1].group == "SageMaker" else {}
    with pytest.raises(ConfigError, match=rf"config: {name} "):
        TrainConfig.from_dict({name: value, **extra})


@pytest.mark.parametrize("scene", list(SCENES))
def test_each_scene_declares_defaults_that_are_settings_and_train(scene):
    training = SCENES[scene].training
    assert training and set(training) <= set(RULES), set(training) - set(RULES)
    assert "target_return" in training
    resolved = TrainConfig(scene=scene).resolved()
    TrainConfig.from_dict(resolved.to_dict(), source=f"{scene}'s defaults")  # they pass every check


def test_the_panel_tooltips_are_the_settings_help():
    pytest.importorskip("ipywidgets")
    from unity_nb.notebook.panel import Panel

    panel = Panel("3DBall")
    assert panel.gamma.tooltip == help_text("gamma")
    assert "0.9 (GridWorld, SignPost)" in panel.gamma.tooltip
    assert panel.lr.value == pytest.approx(SCENES["3DBall"].training["lr"])
