"""Environment parameters of a run: constants, samplers and curricula, in ML-Agents' own schema.

``TrainConfig.env_params`` (the kit's YAML ``env_params:`` or ``environment_parameters:``, Unity's
trainer YAML ``environment_parameters:``, ``unity_nb.train(env_params=...)``, ``--param NAME=VALUE``)
maps each parameter to one of

    2.0                                                    a constant
    {sampler_type: uniform, sampler_parameters: {...}}     a sampler, drawn at each episode start
    {curriculum: [{name, completion_criteria: {...}, value: <number or sampler>}, ..., {name, value}]}

This module reads and checks them (every message names the key path, what is wrong, what to
do), writes them out in full (defaults filled in) so the run folder says what trained, tells a
lesson's value with its seed, and describes them in a line. The lessons' logic while training
is ``unity_nb/trainer/curriculum.py``; samplers themselves are ``unity_nb/envs/samplers.py``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..envs import samplers
from .errors import ConfigError

MEASURES = ("reward", "progress", "elo")  # elo: a self-play run's rating of the behavior's game (the kit's own)
# completion_criteria keys and mlagents-learn's defaults (behavior has none: it is required there)
CRITERIA_DEFAULTS: dict[str, Any] = {"measure": "reward", "threshold": 0.0, "min_lesson_length": 0,
                                     "signal_smoothing": True, "require_reset": False}
CRITERIA_KEYS = ("behavior", *CRITERIA_DEFAULTS)
LESSON_KEYS = ("name", "completion_criteria", "value")
VALUE_SHAPES = ("a number, a sampler ({sampler_type: uniform, sampler_parameters: {min_value: 0.5, max_value: 2}}) "
                "or a curriculum ({curriculum: [{name: Lesson0, completion_criteria: {...}, value: 1.0}, "
                "{name: Lesson1, value: 2.0}]})")


def is_curriculum(value) -> bool:
    return isinstance(value, Mapping) and "curriculum" in value


def check(values, where: str, *, scene_cls=None, behaviors: list[str] | None = None) -> dict[str, Any]:
    """``values`` checked and written out in full; a ConfigError names the key path.

    where: the prefix of messages (``"trainer.yaml: environment_parameters"``).
    scene_cls: the built-in scene (its parameters and their limits are checked), or None (a Unity build).
    behaviors: the behaviors the run trains, when known (each completion_criteria.behavior must be one;
    one behavior: the criteria may leave it out).
    """
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: must map parameter names to {VALUE_SHAPES}; got {values!r}")
    out = {}
    for name, value in values.items():
        here = f"{where}.{name}"
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: parameter names must be text, got {name!r}")
        if scene_cls is not None and name not in scene_cls.default_params:
            raise ConfigError(f"{here}: {name!r} is not a {scene_cls.name} parameter; its parameters: "
                              f"{', '.join(scene_cls.default_params)}")
        if is_curriculum(value):
            out[name] = _curriculum(value, here, name, scene_cls, behaviors)
        else:
            out[name] = _value(value, here, name, scene_cls)
    return out


def _value(value, here: str, name: str, scene_cls):
    """A number or a sampler, checked against the scene's limits when it is a built-in one."""
    if not samplers.is_sampler(value):
        if isinstance(value, Mapping):
            keys = ", ".join(map(str, value)) or "none"
            raise ConfigError(f"{here}: expected {VALUE_SHAPES}; got a mapping with the keys {keys} "
                              "(a sampler needs sampler_type, a curriculum the key curriculum)")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{here}: expected {VALUE_SHAPES}; got {value!r}")
    try:
        if scene_cls is not None:
            return samplers.check_scene_value(scene_cls, name, value, here)
        return samplers.parse(value, here) if samplers.is_sampler(value) else float(value)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _curriculum(value: Mapping, here: str, name: str, scene_cls, behaviors) -> dict[str, Any]:
    extra = [k for k in value if k != "curriculum"]
    if extra:
        raise ConfigError(f"{here}: unknown key {extra[0]!r} beside curriculum; a curriculum parameter holds only "
                          "curriculum: [lessons]")
    lessons = value["curriculum"]
    if not isinstance(lessons, list) or not lessons:
        raise ConfigError(f"{here}.curriculum: must be a list of lessons ({{name, completion_criteria, value}}, the "
                          f"last without completion_criteria); got {lessons!r}")
    out = []
    for i, lesson in enumerate(lessons):
        at = f"{here}.curriculum[{i}]"
        if not isinstance(lesson, Mapping):
            raise ConfigError(f"{at}: a lesson must be a mapping with name, completion_criteria and value; got {lesson!r}")
        unknown = [k for k in lesson if k not in LESSON_KEYS]
        if unknown:
            raise ConfigError(f"{at}.{unknown[0]}: unknown key; a lesson has {', '.join(LESSON_KEYS)}")
        label = lesson.get("name")
        if not isinstance(label, str) or not label.strip():
            raise ConfigError(f"{at}.name: every lesson needs a name (text, e.g. Lesson{i}); got {label!r}")
        at = f"{here}.curriculum[{i}] ({label})"
        if "value" not in lesson:
            raise ConfigError(f"{at}: value missing; give the parameter's value in this lesson ({VALUE_SHAPES[:60]}...)")
        last = i == len(lessons) - 1
        criteria = lesson.get("completion_criteria")
        if last and criteria is not None:
            raise ConfigError(f"{at}.completion_criteria: the last lesson has no lesson after it, so its completion "
                              "criteria would never apply (mlagents-learn ignores them with a warning); remove them")
        if not last and criteria is None:
            raise ConfigError(f"{at}: completion_criteria missing; every lesson but the last needs one to say when "
                              "the next lesson starts, e.g. {behavior: 3DBall, measure: reward, threshold: 50, "
                              "min_lesson_length: 100}")
        entry: dict[str, Any] = {"name": label}
        if criteria is not None:
            entry["completion_criteria"] = _criteria(criteria, f"{at}.completion_criteria", behaviors)
        entry["value"] = _value(lesson["value"], f"{at}.value", name, scene_cls)
        out.append(entry)
    return {"curriculum": out}


def _criteria(criteria, at: str, behaviors: list[str] | None) -> dict[str, Any]:
    if not isinstance(criteria, Mapping):
        raise ConfigError(f"{at}: must be a mapping of {', '.join(CRITERIA_KEYS)}; got {criteria!r}")
    unknown = [k for k in criteria if k not in CRITERIA_KEYS]
    if unknown:
        raise ConfigError(f"{at}.{unknown[0]}: unknown key; completion_criteria has {', '.join(CRITERIA_KEYS)}")
    out = {**CRITERIA_DEFAULTS, **{k: v for k, v in criteria.items() if v is not None or k == "behavior"}}
    behavior = out.get("behavior")
    if behavior is None:
        if behaviors is not None and len(behaviors) == 1:
            behavior = behaviors[0]  # the run trains one behavior: its episodes are the ones measured
        else:
            which = f" (this run trains {', '.join(behaviors)})" if behaviors else ""
            raise ConfigError(f"{at}.behavior: missing; name the behavior whose episodes decide the lesson{which}")
    if not isinstance(behavior, str) or not behavior:
        raise ConfigError(f"{at}.behavior: must be a behavior name, got {behavior!r}")
    if behaviors is not None and behavior not in behaviors:
        raise ConfigError(f"{at}.behavior: {behavior!r} is not trained in this run, so its lesson could never end; "
                          f"this run trains {', '.join(map(repr, behaviors))}")
    out["behavior"] = behavior
    if out["measure"] not in MEASURES:
        raise ConfigError(f"{at}.measure: must be reward (the mean return of the behavior's recent episodes), "
                          f"progress (the fraction of the step budget trained) or elo (a self-play run's rating of "
                          f"the behavior's game); got {out['measure']!r}")
    threshold = out["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise ConfigError(f"{at}.threshold: must be a number, got {threshold!r}")
    out["threshold"] = float(threshold)
    if out["measure"] == "progress" and not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"{at}.threshold: with measure progress it is a fraction of the step budget, in [0, 1]; "
                          f"got {threshold:g} (0.3 starts the next lesson after 30% of the steps)")
    length = out["min_lesson_length"]
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise ConfigError(f"{at}.min_lesson_length: must be a whole number of episodes >= 0, got {length!r}")
    for key in ("signal_smoothing", "require_reset"):
        if not isinstance(out[key], bool):
            raise ConfigError(f"{at}.{key}: must be true or false, got {out[key]!r}")
    return {k: out[k] for k in CRITERIA_KEYS}


# ---- reading checked parameters
def lessons(value) -> list[dict[str, Any]]:
    """A checked parameter's lessons: a constant or a sampler is one lesson without criteria."""
    return list(value["curriculum"]) if is_curriculum(value) else [{"name": None, "value": value}]


def curricula(params: Mapping) -> dict[str, list[dict[str, Any]]]:
    """The parameters with a curriculum of more than one lesson, and their lessons."""
    return {name: value["curriculum"] for name, value in params.items()
            if is_curriculum(value) and len(value["curriculum"]) > 1}


def seeds(params: Mapping, run_seed: int) -> dict[str, list[int]]:
    """Each lesson's sampler seed, as mlagents-learn gives them: a sampler's own, else the run's seed plus
    an offset counted over the lessons without one (parameters in order, lessons in order)."""
    out, offset = {}, 0
    for name, value in params.items():
        out[name] = []
        for lesson in lessons(value):
            own = lesson["value"]["sampler_parameters"].get("seed") if samplers.is_sampler(lesson["value"]) else None
            if own is None:
                own, offset = run_seed + offset, offset + 1
            out[name].append(int(own))
    return out


def values(params: Mapping, run_seed: int, at: Mapping[str, int] | str = "first") -> dict[str, Any]:
    """What each parameter is in a lesson: a float or a sampler carrying its seed.

    at: "first" (training starts there), "final" (evaluation, videos, export: the task the curriculum
    leads to), or {parameter: lesson index} (the lessons reached)."""
    found = seeds(params, run_seed)
    out = {}
    for name, value in params.items():
        steps = lessons(value)
        index = 0 if at == "first" else len(steps) - 1 if at == "final" else int(at.get(name, 0))
        index = min(max(index, 0), len(steps) - 1)
        v = steps[index]["value"]
        out[name] = samplers.with_seed(v, found[name][index]) if samplers.is_sampler(v) else float(v)
    return out


def describe(params: Mapping) -> str:
    """The parameters in a line: ``scale: curriculum 3 → 2 → 1 (reward), mass: uniform 0.5..2``."""
    parts = []
    for name, value in params.items():
        if is_curriculum(value):
            steps = value["curriculum"]
            measures = sorted({s["completion_criteria"]["measure"] for s in steps if "completion_criteria" in s})
            parts.append(f"{name}: curriculum " + " → ".join(samplers.describe(s["value"]) for s in steps)
                         + (f" ({', '.join(measures)})" if measures else ""))
        else:
            parts.append(f"{name}: {samplers.describe(value)}")
    return ", ".join(parts)
