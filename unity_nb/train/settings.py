"""What each training setting is, said once beside its ``TrainConfig`` field: its help, its kind, its range
or choices, and its group.

``setting(default, help, ...)`` makes the dataclass field and keeps a ``Rule`` in its metadata. From the
rules come the command-line flags and both faces' help (``train/flags.py``), the panel's tooltips and
ranges (``notebook/panel.py``), the check of each single value (``check``; checks that tie settings
together are ``train/checks.py``'s groups), and docs/settings.md (``settings_table``, written by
scripts/docs_tables.py; a test keeps the file current). Per-scene defaults live with the scenes (``Scene.training``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

from .schema import PLAYS

# ---- what some settings may be
# Algorithms known to fit each kind of action space (RLlib names).
ALGORITHMS = {
    "PPO": {"discrete", "continuous"},
    "APPO": {"discrete", "continuous"},
    "IMPALA": {"discrete", "continuous"},
    "SAC": {"continuous"},
    "DQN": {"discrete"},
}

BACKENDS = ("local", "sagemaker")
SAGEMAKER_SETTINGS = ("instance_type", "instance_count", "spot", "max_run", "role", "region", "bucket", "image")

# How a setting changes over the run (Unity's *_schedule): "linear" decays it to its floor at
# the step budget, as mlagents-learn does (learning rate 1e-10, beta 1e-5, epsilon 0.1).
SCHEDULES = ("constant", "linear")
# Camera encoders (ML-Agents' vis_encode_type), built in trainer/encoders.py
VISUAL_ENCODERS = ("simple", "nature_cnn", "resnet", "match3", "fully_connected")
SCHEDULE_FLOORS = {"lr": 1e-10, "entropy_coeff": 1e-5, "clip_param": 0.1}
TARGET_OFF = "off"  # target_return: train for the whole step budget
# How a reached target is confirmed (``confirm``): the policy played as Unity will play it. An exported model
# carries both outputs; Unity plays the sampled one unless Behavior Parameters ask for deterministic
# inference, so "both" (the default) holds whichever a game uses (docs/trainer-yaml.md, "Confirmation").
CONFIRM_PLAYS = {**{play: (play,) for play in PLAYS}, "both": PLAYS}
# The settings a behavior of a scene with several may have of its own (``behavior_settings``): what RLlib lets
# each module have, its optimiser's rate and its loss's coefficients, and its network. The rest are shared: one
# learner update goes over every behavior's samples (batch, minibatch, epochs), one advantage estimate (gamma,
# lambda), one sampling (time horizon, areas), one step budget.
PER_BEHAVIOR = ("lr", "lr_schedule", "entropy_coeff", "entropy_schedule", "clip_param", "clip_schedule",
                "hidden_units", "num_layers")
RANDOM_SEED = -1  # seed: draw one (as mlagents-learn's --seed -1); the drawn seed is what the run records

# The order settings are grouped in (help, docs)
# ML-Agents' behavioral_cloning block: its keys besides demo_path, with its defaults (None: PPO's own value)
BEHAVIORAL_CLONING = {"strength": 1.0, "steps": 0, "batch_size": None, "num_epoch": None, "samples_per_update": 0}
# ML-Agents' curiosity, rnd and gail reward signals (trainer/reward_signals.py): their keys with the kit's defaults
# (a trainer file's left-out keys take mlagents-learn's instead: train/mlagents_yaml.py). strength: as in Unity's
# Pyramids example files (mlagents-learn's own default, 1.0, drowns most scenes' rewards); gamma None: the run's.
REWARD_SIGNALS = {
    "curiosity": {"strength": 0.02, "gamma": None, "learning_rate": 3e-4, "hidden_units": 128, "num_layers": 2,
                  "normalize": False},
    "rnd": {"strength": 0.01, "gamma": None, "learning_rate": 1e-4, "hidden_units": 64, "num_layers": 3,
            "normalize": False},
    # demo_path: required
    "gail": {"demo_path": None, "strength": 1.0, "gamma": None, "learning_rate": 3e-4, "hidden_units": 128,
             "num_layers": 2, "normalize": False, "use_actions": False, "use_vail": False},
}
GROUPS = ("run", "PPO", "network", "self-play", "environment", "saving", "your code", "SageMaker")  # saving: checkpoints and logs


@dataclass(frozen=True)
class Rule:
    """What a value of one setting may be, and what it means."""

    help: str
    kind: str = "any"  # int, float, bool, choice, text, or any (checked by its own group)
    group: str = "run"
    low: float | None = None  # int: the smallest allowed (1 unless said); float: the bound
    high: float | None = None
    low_open: bool = False  # float: low itself is not allowed
    choices: tuple = ()
    why: str = ""  # said after the choices when a value is refused
    expect: str = ""  # text: what a value looks like, for a refusal
    flag: bool = True  # a --flag of its own (scene, env_params and rllib have theirs)
    fixed: str = ""  # why a fork cannot change it (its parent's checkpoint holds it); "": a fork may
    # the RLlib algorithms that use it, as the kit builds them (trainer/rllib_setup.py); (): every one. DQN and SAC
    # learn from each sampled batch once, IMPALA and APPO from whole fragments (no minibatches)
    algorithms: tuple = ()
    metavar: str = ""


def setting(default: Any = None, help: str = "", *, default_factory=dataclasses.MISSING, **rule) -> Any:
    """A TrainConfig field with its ``Rule`` (``help``, ``kind``, ``low``, ``high``, ``choices``, ``group`` ...)."""
    metadata = {"rule": Rule(help, **rule)}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def rule_of(field: dataclasses.Field) -> Rule:
    return field.metadata["rule"]


def rules(config_class) -> dict[str, tuple[dataclasses.Field, Rule]]:
    """Every setting of ``config_class`` (TrainConfig), in declaration order."""
    return {f.name: (f, rule_of(f)) for f in dataclasses.fields(config_class)}


def fixed_settings(config_class) -> dict[str, str]:
    """The settings a run's checkpoint holds, so a fork cannot change them: name -> why (``Rule.fixed``)."""
    return {name: rule.fixed for name, (_, rule) in rules(config_class).items() if rule.fixed}


def check(name: str, value: Any, rule: Rule, unset_ok: bool, fail: Callable[[str, str], None]) -> None:
    """Refuse a value the rule does not allow (``fail(name, message)`` raises). None is "not set" where
    the field's default is None (the scene's default is taken)."""
    if value is None and unset_ok:
        return
    if rule.kind == "int":
        low = 1 if rule.low is None else int(rule.low)
        if isinstance(value, bool) or not isinstance(value, int):
            fail(name, f"must be a whole number, got {value!r}")
        if value < low:
            fail(name, f"must be >= {low}, got {value}")
        if rule.high is not None and value > rule.high:
            fail(name, f"must be <= {rule.high}, got {value}")
    elif rule.kind == "float":
        check_number(name, value, fail, low=rule.low, high=rule.high, low_open=rule.low_open)
    elif rule.kind == "bool":
        if not isinstance(value, bool):
            fail(name, f"must be true or false, got {value!r}")
    elif rule.kind == "choice":
        if not isinstance(value, str) or value not in rule.choices:
            options = (f"'{rule.choices[0]}' or '{rule.choices[1]}'" if len(rule.choices) == 2
                       else f"one of {', '.join(rule.choices)}")
            fail(name, f"must be {options}{' ' + rule.why if rule.why else ''}, got {value!r}")
    elif rule.kind == "text":
        if not isinstance(value, str) or not value.strip():
            fail(name, f"must be {rule.expect}, got {value!r}")


def check_number(name, value, fail, *, low=None, high=None, low_open=False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        fail(name, f"must be a number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        fail(name, f"must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and value > high:
        fail(name, f"must be <= {high}, got {value}")


def shown(value) -> str:
    """A value as help and docs write it: on/off, 20,000, 0.0003."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, str):
        return value
    if isinstance(value, dict):  # a block a scene trains with (Pyramids' rnd)
        return "on (" + ", ".join(f"{key} {shown(v)}" for key, v in value.items()) + ")"
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def default_text(field: dataclasses.Field) -> str:
    """"default 0.95" for a setting with a fixed default; "" where the scene's default or nothing is taken."""
    if field.default is None or field.default is dataclasses.MISSING:
        return ""
    return f"default {shown(field.default)}"


def per_scene_text(name: str, tables: dict[str, dict[str, Any]]) -> str:
    """Each built-in scene's default for a setting, and a Unity build's:
    "defaults: 0.99 (Basic, 3DBall, ..., your build), 0.9 (GridWorld, SignPost)" (empty if it has none)."""
    by_value: dict[str, list[str]] = {}
    for table_name, table in tables.items():
        if name in table:
            value = table[name]
            by_value.setdefault("off" if value == "off" else shown(value), []).append(table_name)
    if not by_value:
        return ""
    return "defaults: " + ", ".join(f"{value} ({', '.join(names)})" for value, names in by_value.items())


def settings_table(config_class, tables: dict[str, dict[str, Any]]) -> str:
    """docs/settings.md: every setting by group, with its flag, what it is, what it may be and its default."""
    lines = ["# Training settings", "",
             "Every setting is a keyword of `unity_nb.train(...)`, a key of a `%%unity_train` cell or YAML file, and a",
             "`--flag` of `unity-nb train` and `%unity_train`. A setting left out takes the scene's default. Written from",
             "the code (the `TrainConfig` fields, `unity_nb/train/settings.py`) by `python scripts/docs_tables.py`;",
             "`tests/test_settings.py` checks it is current.", ""]
    everything = rules(config_class)
    for group in GROUPS:
        rows = [(n, f, r) for n, (f, r) in everything.items() if r.group == group]
        if not rows:
            continue
        lines += [f"## {group}", "", "| setting | flag | what it is | allowed | default |", "|---|---|---|---|---|"]
        for name, field, rule in rows:
            flag = f"`--{name.rstrip('_').replace('_', '-')}`" if rule.flag else "—"
            default = default_text(field).removeprefix("default ") or per_scene_text(name, tables).removeprefix(
                "defaults: ") or "—"
            lines.append(f"| `{name}` | {flag} | {rule.help.replace('|', '/')} | {allowed_text(rule)} | {default} |")
        lines.append("")
    return "\n".join(lines)


def allowed_text(rule: Rule) -> str:
    """What values a rule allows, in a few words (the docs table)."""
    if rule.kind == "int":
        low = 1 if rule.low is None else int(rule.low)
        return f"whole number >= {low}" + (f", <= {shown(rule.high)}" if rule.high is not None else "")
    if rule.kind == "float":
        parts = []
        if rule.low is not None:
            parts.append(f"{'>' if rule.low_open else '>='} {shown(rule.low)}")
        if rule.high is not None:
            parts.append(f"<= {shown(rule.high)}")
        return "number" + (" " + ", ".join(parts) if parts else "")
    if rule.kind == "bool":
        return "true or false"
    if rule.kind == "choice":
        return ", ".join(f"`{c}`" for c in rule.choices)
    if rule.kind == "text":
        return rule.expect
    return rule.expect or "see what it is"

