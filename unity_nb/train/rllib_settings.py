"""The ``rllib:`` section of a run's settings: any RLlib algorithm setting, checked before anything starts.

    rllib:                                  # YAML (unity-nb format)
      training: {kl_coeff: 0.3, grad_clip: 0.5}
      evaluation_interval: 5                # a flat name: its group is found for you
    unity_nb.train("3DBall", rllib={"training": {"kl_coeff": 0.3}})
    unity-nb train 3DBall --rllib training.kl_coeff=0.3 --rllib grad_clip=0.5

Keys are the algorithm config's own parameter names, grouped as RLlib groups them (``training``,
``env_runners``, ``learners``, ``rl_module``, ``evaluation`` ...) or flat. They are applied after the
kit's own settings, in the training process. Here, with no RLlib imported, each key is checked
against the catalogue of the pinned RLlib (``rllib_keys.json``): unknown names get the nearest
valid ones, values of the wrong kind are refused, and settings the kit manages itself are refused
with the reason (and the kit setting to use instead).
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ..errors import BadValue
from .errors import ConfigError

CATALOGUE = Path(__file__).with_name("rllib_keys.json")

# Settings the kit sets itself, and why (a kit setting in backquotes is the one to use instead).
MANAGED: dict[str, str] = {
    **{name: f"is the kit's `{kit}` setting: give {kit} instead (one place for each setting)" for name, kit in {
        "lr": "lr", "lr_schedule": "lr_schedule", "gamma": "gamma", "lambda_": "lambda_",
        "train_batch_size": "train_batch_size", "train_batch_size_per_learner": "train_batch_size",
        "minibatch_size": "minibatch_size", "num_epochs": "num_epochs", "entropy_coeff": "entropy_coeff",
        "entropy_coeff_schedule": "entropy_schedule", "clip_param": "clip_param",
        "num_env_runners": "num_env_runners", "rollout_fragment_length": "time_horizon", "seed": "seed",
        "vf_share_layers": "shared_critic", "actor_lr": "lr", "critic_lr": "lr", "alpha_lr": "lr",
    }.items()},
    "env": "is the scene the run trains on: set scene instead",
    "env_config": "is built by the kit from the run's settings (scene, num_areas, env_params, mode, seed)",
    "env_runner_cls": "is the kit's: env runners drive Unity processes",
    "num_envs_per_env_runner": "is the number of agents in a Unity process (set num_areas for more)",
    "gym_env_vectorize_mode": "is the kit's: every agent of a Unity process is one sub-environment",
    "callbacks_class": "is the kit's: its callbacks report each Unity episode to the run folder",
    "policies": "is one policy per trained behavior (set behavior to train one)",
    "policy_mapping_fn": "maps each agent to its behavior's policy",
    "policies_to_train": "is every trained behavior's policy (set behavior to train one)",
    "normalize_actions": "is off: the kit applies ML-Agents' action contract (clamp(x, -3, 3) / 3)",
    "clip_actions": "is off: the kit applies ML-Agents' action contract (clamp(x, -3, 3) / 3)",
    "restart_failed_sub_environments": "is on: a crashed Unity process is replaced (set unity_timeout)",
    "env_to_module_connector": "is the kit's observation normaliser when normalize is on",
    "log_level": "is the kit's (the run's log is logs/driver.log)",
    "framework": "is torch (the kit exports torch policies to Unity's ONNX contract)",
    "enable_rl_module_and_learner": "is on: the kit uses RLlib's new API stack",
    "enable_env_runner_and_connector_v2": "is on: the kit uses RLlib's new API stack",
    "rl_module_spec": "is built by the kit from the scene's spaces (your own model: model: in a later release)",
}

_KIND_NAMES = {"bool": "true or false", "int": "a whole number", "number": "a number", "str": "text",
               "dict": "a mapping", "list": "a list"}


@lru_cache(maxsize=None)
def catalogue() -> dict[str, dict[str, dict[str, list[str]]]]:
    """{algorithm: {group: {setting: kinds}}} of the pinned RLlib (kinds empty: any value)."""
    return json.loads(CATALOGUE.read_text())


def _kind(value) -> str | None:
    if isinstance(value, bool):
        return "bool"
    for kind, types in (("int", int), ("number", float), ("str", str), ("dict", dict), ("list", (list, tuple))):
        if isinstance(value, types):
            return kind
    return None


def parse_flag(text: str) -> tuple[str, Any]:
    """``--rllib KEY=VALUE``: the key, and the value read as YAML (0.3, true, [64, 64], {a: 1})."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":  # a magic's line keeps the quotes
        text = text[1:-1]
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise BadValue(f"expected KEY=VALUE (e.g. --rllib training.kl_coeff=0.3), got {text!r}")
    try:
        return key.strip(), yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        return key.strip(), raw


def merge(base: dict | None, extra: dict | None) -> dict:
    """``extra``'s settings over ``base``'s (a group given in both is merged key by key)."""
    out = dict(base or {})
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def check(settings, algorithm: str, source: str = "rllib") -> dict[str, dict[str, Any]]:
    """``settings`` grouped as ``{group: {name: value}}``, each name and value checked for ``algorithm``.

    Raises ConfigError naming the key (and the nearest valid ones) for an unknown name, a value of
    the wrong kind, or a setting the kit manages.
    """
    if settings in (None, {}):
        return {}
    if not isinstance(settings, dict):
        raise ConfigError(f"{source} must be a mapping of RLlib settings (e.g. training: {{kl_coeff: 0.3}}), "
                          f"got {type(settings).__name__}")
    groups = catalogue().get(algorithm)
    custom = groups is None and ":" in str(algorithm)
    if custom:  # your own AlgorithmConfig: every group's names known to any algorithm (RLlib checks the rest)
        groups = {}
        for known in catalogue().values():
            for group, names in known.items():
                groups.setdefault(group, {}).update(names)
    elif groups is None:
        raise ConfigError(f"{source}: no RLlib settings are known for the algorithm {algorithm!r}")
    home = {}  # setting -> its group (the first group that has it)
    for group, names in groups.items():
        for name in names:
            home.setdefault(name, group)
    out: dict[str, dict[str, Any]] = {}

    def place(group: str | None, name: str, value, shown: str) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{source}: {shown!r} is not a setting name")
        if name in MANAGED:
            raise ConfigError(f"{source}.{shown} {MANAGED[name]}")
        if group is None:
            if name not in home:
                near = difflib.get_close_matches(name, list(home) + list(groups), n=3, cutoff=0.6)
                hint = f"; did you mean {', '.join(near)}?" if near else ""
                raise ConfigError(f"{source}.{shown}: not an RLlib {algorithm} setting{hint} "
                                  f"(all of them: {CATALOGUE.name} in the unity_nb package)")
            group = home[name]
        elif name not in groups[group] and custom:  # a setting of your own algorithm's: RLlib will say
            out.setdefault(group, {})[name] = value
            return
        elif name not in groups[group]:
            near = difflib.get_close_matches(name, list(groups[group]), n=3, cutoff=0.6)
            elsewhere = f"; {name} is in the {home[name]} group" if name in home else ""
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise ConfigError(f"{source}.{shown}: not in RLlib's {group} settings for {algorithm}{elsewhere}{hint}")
        kinds = groups[group][name]
        if value is not None and kinds and _kind(value) not in kinds:
            wanted = " or ".join(dict.fromkeys(_KIND_NAMES[k] for k in kinds if not (k == "int" and "number" in kinds)))
            raise ConfigError(f"{source}.{shown} must be {wanted}, got {value!r}")
        if value is not None and _kind(value) is None:
            raise ConfigError(f"{source}.{shown}: {value!r} is not a plain value (numbers, text, true/false, "
                              "lists and mappings only)")
        out.setdefault(group, {})[name] = value

    for key, value in settings.items():
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(f"{source}: {key!r} is not a setting name")
        if key in groups and key not in home:  # a group of settings
            if not isinstance(value, dict):
                raise ConfigError(f"{source}.{key} must be a mapping of {key} settings, got {value!r}")
            for name, inner in value.items():
                place(key, name, inner, f"{key}.{name}")
        elif "." in key:  # group.name, as --rllib gives it
            group, _, name = key.partition(".")
            if group not in groups:
                near = difflib.get_close_matches(group, list(groups), n=3, cutoff=0.6)
                hint = f"; did you mean {', '.join(near)}?" if near else f"; the groups: {', '.join(groups)}"
                raise ConfigError(f"{source}.{key}: {group!r} is not a group of RLlib settings{hint}")
            place(group, name, value, key)
        else:
            place(None, key, value, key)
    return out


def describe(settings: dict[str, dict[str, Any]]) -> str:
    """``training.kl_coeff=0.3, evaluation.evaluation_interval=5`` (for the settings line)."""
    return ", ".join(f"{group}.{name}={value!r}" if isinstance(value, str) else f"{group}.{name}={value}"
                     for group, names in settings.items() for name, value in names.items())
