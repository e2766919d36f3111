"""Environment-parameter samplers (ML-Agents' environment randomisation), in one place.

A parameter's value is a number or a sampler, written as in ML-Agents' trainer YAML:

    {"sampler_type": "uniform", "sampler_parameters": {"min_value": 0.5, "max_value": 2.0}}
    {"sampler_type": "gaussian", "sampler_parameters": {"mean": 1.0, "st_dev": 0.2}}
    {"sampler_type": "multirangeuniform", "sampler_parameters": {"intervals": [[0.5, 1.0], [2.0, 3.0]]}}
    {"sampler_type": "constant", "sampler_parameters": {"value": 1.5}}

(``sampler_parameters`` may also hold a ``seed``.) A Unity scene draws a sampled parameter again
each time it reads it, at an agent's episode start. The client sends samplers over the
environment-parameters side channel (``send``); the player stand-in reads them back
(``from_wire``) and the in-process scenes take them directly: both draw with ``drawer``, so a
sampler and a seed give the same values either way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np
from ..errors import BadValue

# sampler_type -> its sampler_parameters and their defaults (mlagents' settings.py)
SAMPLERS: dict[str, dict[str, Any]] = {
    "uniform": {"min_value": 0.0, "max_value": 1.0},
    "gaussian": {"mean": 1.0, "st_dev": 1.0},
    "multirangeuniform": {"intervals": [[0.0, 1.0]]},
    "constant": {"value": 0.0},
}
# the side channel's sampler codes (mlagents' EnvironmentParametersChannel.SamplerTypes)
WIRE = {"uniform": 0, "gaussian": 1, "multirangeuniform": 2}
EXAMPLE = "{sampler_type: uniform, sampler_parameters: {min_value: 0.5, max_value: 2.0}}"


def is_sampler(value) -> bool:
    """Whether ``value`` is written as a sampler (a mapping with ``sampler_type``), not a number."""
    return isinstance(value, Mapping) and "sampler_type" in value


def parse(spec, where: str = "sampler") -> dict[str, Any]:
    """The sampler ``spec`` checked and written out in full (defaults filled in); ValueError naming the key."""
    if not isinstance(spec, Mapping):
        raise BadValue(f"{where}: expected a sampler like {EXAMPLE}, got {spec!r}")
    unknown = [k for k in spec if k not in ("sampler_type", "sampler_parameters")]
    if unknown:
        raise BadValue(f"{where}: unknown key {unknown[0]!r}; a sampler has sampler_type and sampler_parameters "
                       f"(e.g. {EXAMPLE})")
    kind = spec.get("sampler_type")
    if kind not in SAMPLERS:
        raise BadValue(f"{where}.sampler_type: {kind!r} is not a sampler type; use one of {', '.join(SAMPLERS)}")
    if "sampler_parameters" not in spec:
        raise BadValue(f"{where}: sampler_parameters missing; a {kind} sampler takes "
                       f"{', '.join(SAMPLERS[kind])} (as mlagents-learn, the key is required)")
    given = spec["sampler_parameters"]
    if given is None:
        given = {}
    here = f"{where}.sampler_parameters"
    if not isinstance(given, Mapping):
        raise BadValue(f"{here}: expected a mapping of {', '.join(SAMPLERS[kind])}, got {given!r}")
    allowed = [*SAMPLERS[kind], "seed"]
    for key in given:
        if key not in allowed:
            raise BadValue(f"{here}.{key}: unknown key for a {kind} sampler; its keys: {', '.join(allowed)}")
    params = {**SAMPLERS[kind], **given}
    out: dict[str, Any] = {}
    for key in SAMPLERS[kind]:
        if key == "intervals":
            out[key] = _intervals(params[key], f"{here}.intervals")
        else:
            out[key] = _number(params[key], f"{here}.{key}")
    if kind == "uniform" and out["min_value"] > out["max_value"]:
        raise BadValue(f"{here}: min_value ({out['min_value']:g}) is greater than max_value ({out['max_value']:g}); "
                       "swap them")
    if kind == "gaussian" and out["st_dev"] < 0:
        raise BadValue(f"{here}.st_dev: must be >= 0 (a standard deviation), got {out['st_dev']:g}")
    if "seed" in given and given["seed"] is not None:
        seed = given["seed"]
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise BadValue(f"{here}.seed: must be a whole number, got {seed!r}")
        if int(seed) != -1:  # -1 is mlagents' "not given": the run's seed decides
            out["seed"] = int(seed)
    return {"sampler_type": kind, "sampler_parameters": out}


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
        raise BadValue(f"{where}: must be a number, got {value!r}")
    return float(value)


def _intervals(value, where: str) -> list[list[float]]:
    shape = "a list of [min, max] pairs, e.g. [[0.5, 1.0], [2.0, 3.0]]"
    if not isinstance(value, (list, tuple)) or not value:
        raise BadValue(f"{where}: must be {shape}, got {value!r}")
    out = []
    for i, pair in enumerate(value):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise BadValue(f"{where}[{i}]: must be a [min, max] pair, got {pair!r} ({shape})")
        low, high = _number(pair[0], f"{where}[{i}][0]"), _number(pair[1], f"{where}[{i}][1]")
        if low > high:
            raise BadValue(f"{where}[{i}]: min ({low:g}) is greater than max ({high:g}); write it as [{high:g}, {low:g}]")
        out.append([low, high])
    return out


def seed_of(spec: Mapping, default: int) -> int:
    """The sampler's own seed, else ``default``."""
    return int(spec["sampler_parameters"].get("seed", default))


def with_seed(spec: Mapping, seed: int) -> dict[str, Any]:
    """The sampler with ``seed`` as its own (unless it has one)."""
    return {"sampler_type": spec["sampler_type"],
            "sampler_parameters": {"seed": int(seed), **spec["sampler_parameters"]}}


def drawer(spec: Mapping, seed: int) -> Callable[[], float]:
    """A function drawing the sampler's next value (a parsed sampler; ``seed`` unless it has its own)."""
    kind = spec["sampler_type"]
    # the side channel carries float32 numbers and int32 seeds: drawn from the same, in-process and in the
    # player stand-in the same sampler and seed give the same values
    p = {k: (np.float32(v).item() if k != "intervals" else np.float32(v).tolist())
         for k, v in spec["sampler_parameters"].items() if k != "seed"}
    rng = np.random.default_rng(seed_of(spec, seed) & 0xFFFFFFFF)
    if kind == "constant":
        return lambda: float(p["value"])
    if kind == "uniform":
        return lambda: float(rng.uniform(p["min_value"], p["max_value"]))
    if kind == "gaussian":
        return lambda: float(rng.normal(p["mean"], p["st_dev"]))
    ranges = np.asarray(p["intervals"], dtype=np.float64).reshape(-1, 2)
    widths = ranges[:, 1] - ranges[:, 0]
    # an interval is picked in proportion to its width (as Unity's MultiRangeUniformSampler); all empty: evenly
    weights = widths / widths.sum() if widths.sum() > 0 else np.full(len(ranges), 1.0 / len(ranges))

    def draw() -> float:
        low, high = ranges[rng.choice(len(ranges), p=weights)]
        return float(rng.uniform(low, high))

    return draw


def send(channel, key: str, value, seed: int) -> None:
    """Put a number or a (parsed) sampler on mlagents' EnvironmentParametersChannel."""
    if not is_sampler(value):
        channel.set_float_parameter(key, float(value))
        return
    kind, p = value["sampler_type"], value["sampler_parameters"]
    seed = (seed_of(value, seed) + 2**31) % 2**32 - 2**31  # an int32 on the wire (the same low 32 bits)
    if kind == "constant":  # as mlagents-learn: a constant goes as a plain value
        channel.set_float_parameter(key, float(p["value"]))
    elif kind == "uniform":
        channel.set_uniform_sampler_parameters(key, p["min_value"], p["max_value"], seed)
    elif kind == "gaussian":
        channel.set_gaussian_sampler_parameters(key, p["mean"], p["st_dev"], seed)
    else:
        channel.set_multirangeuniform_sampler_parameters(key, [tuple(i) for i in p["intervals"]], seed)


def from_wire(code: int, message) -> dict[str, Any] | None:
    """The sampler an environment-parameters message carries after its seed (None: unknown code).

    ``message`` is mlagents' IncomingMessage, read from the sampler code on."""
    if code == WIRE["uniform"]:
        low, high = message.read_float32(), message.read_float32()
        return {"sampler_type": "uniform", "sampler_parameters": {"min_value": low, "max_value": high}}
    if code == WIRE["gaussian"]:
        mean, std = message.read_float32(), message.read_float32()
        return {"sampler_type": "gaussian", "sampler_parameters": {"mean": mean, "st_dev": std}}
    if code == WIRE["multirangeuniform"]:
        flat = message.read_float32_list()
        return {"sampler_type": "multirangeuniform",
                "sampler_parameters": {"intervals": [list(flat[i:i + 2]) for i in range(0, len(flat), 2)]}}
    return None


def bounds(spec: Mapping) -> list[tuple[str, float]]:
    """The values a sampler reaches at its edges, by key (a gaussian: its mean), to check against a scene."""
    p = spec["sampler_parameters"]
    kind = spec["sampler_type"]
    if kind == "constant":
        return [("value", p["value"])]
    if kind == "uniform":
        return [("min_value", p["min_value"]), ("max_value", p["max_value"])]
    if kind == "gaussian":
        return [("mean", p["mean"])]
    return [(f"intervals[{i}]", v) for i, pair in enumerate(p["intervals"]) for v in pair]


def check_scene_value(scene_cls, key: str, value, where: str) -> Any:
    """A built-in scene's parameter ``key`` set to ``value`` (a number or a sampler), checked: the parsed
    value, or ValueError naming the key, the scene's known parameters and its limits."""
    if key not in scene_cls.default_params:
        known = ", ".join(scene_cls.default_params) or "none"
        raise BadValue(f"{where}: {key!r} is not a {scene_cls.name} parameter; its parameters: {known}")
    if is_sampler(value):
        value = parse(value, where)
        for name, edge in bounds(value):
            try:
                scene_cls(params={key: edge})
            except (KeyError, ValueError) as err:
                raise BadValue(f"{where}.sampler_parameters.{name}: {err}") from None
        return value
    try:
        scene_cls(params={key: value})
    except (KeyError, ValueError) as err:
        raise BadValue(f"{where}: {err}") from None
    return float(value)


def describe(value) -> str:
    """A number or a sampler in a few words: ``2``, ``uniform 0.5..2``, ``gaussian 1 ± 0.2``."""
    if not is_sampler(value):
        return f"{float(value):g}"
    kind, p = value["sampler_type"], value["sampler_parameters"]
    if kind == "constant":
        return f"{p['value']:g}"
    if kind == "uniform":
        return f"uniform {p['min_value']:g}..{p['max_value']:g}"
    if kind == "gaussian":
        return f"gaussian {p['mean']:g} ± {p['st_dev']:g}"
    return "uniform over " + " ∪ ".join(f"{a:g}..{b:g}" for a, b in p["intervals"])
