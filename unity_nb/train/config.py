"""One training configuration, from Python, YAML, the command line or mlagents-learn YAML.

Every source ends in a validated ``TrainConfig``; a bad key or value is a
``ConfigError`` that names it and says what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field, fields
from typing import Any

import yaml

from ..envs.scenes import SCENES


class ConfigError(ValueError):
    """A training configuration key is unknown or its value is wrong."""


# Algorithms known to fit each kind of action space (RLlib names).
ALGORITHMS = {
    "PPO": {"discrete", "continuous"},
    "APPO": {"discrete", "continuous"},
    "IMPALA": {"discrete", "continuous"},
    "SAC": {"continuous"},
    "DQN": {"discrete"},
}

# Settings that solve the built-in scenes quickly on a laptop. Training stops early at
# target_return (mean over the last 100 training episodes, actions sampled); the greedy
# policy then meets the benchmark (Basic: 0.93, see Run.evaluate).
SCENE_DEFAULTS: dict[str, dict[str, Any]] = {
    "Basic": dict(steps=20_000, num_areas=8, lr=3e-3, train_batch_size=256, minibatch_size=128, num_epochs=4,
                  entropy_coeff=0.01, hidden_units=32, num_layers=2, target_return=0.9),
    "BasicDuo": dict(steps=20_000, num_areas=4, lr=3e-3, train_batch_size=512, minibatch_size=128, num_epochs=6,
                     entropy_coeff=0.01, hidden_units=32, num_layers=2, target_return=0.9),
    "3DBall": dict(steps=150_000, num_areas=1, lr=3e-4, train_batch_size=2400, minibatch_size=600, num_epochs=8,
                   entropy_coeff=0.0, hidden_units=64, num_layers=2, target_return=100.0),
    "GridWorld": dict(steps=200_000, num_areas=1, lr=3e-4, train_batch_size=1800, minibatch_size=300, num_epochs=6,
                      entropy_coeff=0.01, hidden_units=128, num_layers=2, target_return=0.8),
}


@dataclass
class TrainConfig:
    """Everything a training run needs. Unset values take the scene's defaults."""

    scene: str = "Basic"  # built-in scene or path to a Unity build
    algorithm: str = "PPO"
    steps: int | None = None  # agent steps to train for
    target_return: float | None = None  # stop early when the mean return over 100 episodes reaches it
    lr: float | None = None
    gamma: float = 0.99
    lambda_: float = 0.95
    train_batch_size: int | None = None  # agent steps per training iteration (mlagents: buffer_size)
    minibatch_size: int | None = None  # (mlagents: batch_size)
    num_epochs: int | None = None
    entropy_coeff: float | None = None  # (mlagents: beta)
    clip_param: float = 0.2  # (mlagents: epsilon)
    hidden_units: int | None = None
    num_layers: int | None = None
    normalize: bool = False  # normalise observations with running mean/std
    num_areas: int | None = None  # copies of the training area per Unity process (more agents per step)
    num_env_runners: int = 0  # extra processes collecting experience (each with its own Unity)
    mode: str = "player"  # player (Unity protocol) or inprocess (built-in scenes only, faster)
    seed: int = 0
    address: str | None = None  # Ray cluster address (default: this machine, or $RAY_ADDRESS)
    unity_timeout: float = 30.0  # seconds a Unity process may take to start or answer a step
    checkpoint_every: int = 10  # iterations between checkpoints
    behavior: str | None = None  # behavior name (mlagents YAML); checked against the scene
    env_params: dict[str, float] = field(default_factory=dict)

    # ---- construction
    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "TrainConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping of settings, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        aliases = {"lambda": "lambda_", "learning_rate": "lr", "algo": "algorithm"}
        values = {}
        for key, value in data.items():
            name = aliases.get(key, key)
            if name not in names:
                raise ConfigError(f"{source}: unknown setting {key!r}. Known settings: {', '.join(sorted(names))}")
            values[name] = value
        config = cls(**values)
        config.validate(source)
        return config

    @classmethod
    def from_yaml(cls, text: str, source: str = "YAML") -> "TrainConfig":
        """A unity-nb YAML config, or Unity's mlagents-learn trainer YAML (``behaviors:``)."""
        data = parse_yaml(text, source)
        if data is None:
            data = {}
        if isinstance(data, dict) and "behaviors" in data:
            return cls.from_mlagents(data, source)
        return cls.from_dict(data, source)

    @classmethod
    def from_file(cls, path: str | os.PathLike, **overrides) -> "TrainConfig":
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise ConfigError(f"config file {str(path)!r} does not exist") from None
        except IsADirectoryError:
            raise ConfigError(f"config file {str(path)!r} is a folder, not a YAML file") from None
        config = cls.from_yaml(text, source=str(path))
        return config.replace(**overrides) if overrides else config

    @classmethod
    def from_mlagents(cls, data: dict[str, Any], source: str = "trainer config") -> "TrainConfig":
        """Read Unity's mlagents-learn trainer YAML (one behavior)."""
        from .mlagents_yaml import convert

        settings = convert(data, source)
        # a behavior named like a built-in scene's picks that scene (3DBall -> 3DBall)
        for name, scene in SCENES.items():
            if scene.behavior.name == settings["behavior"]:
                settings.setdefault("scene", name)
        return cls.from_dict(settings, source)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with ``changes`` applied (None values are ignored), validated."""
        data = self.to_dict()
        data.update({k: v for k, v in changes.items() if v is not None})
        return TrainConfig.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    # ---- defaults and checks
    def resolved(self) -> "TrainConfig":
        """A copy with the scene's defaults filled in (a user build gets Basic's)."""
        defaults = SCENE_DEFAULTS.get(self.scene_name or "", SCENE_DEFAULTS["Basic"])
        data = self.to_dict()
        for key, value in defaults.items():
            if data.get(key) is None and not (key == "target_return" and self.scene_name is None):
                data[key] = value
        if data["num_areas"] is None:
            data["num_areas"] = 1
        return TrainConfig(**data)

    @property
    def scene_name(self) -> str | None:
        """The built-in scene's canonical name, or None for a Unity build path."""
        for name in SCENES:
            if name.lower() == str(self.scene).lower():
                return name
        return None

    def validate(self, source: str = "config") -> None:
        def fail(key, message):
            raise ConfigError(f"{source}: {key} {message}")

        if not isinstance(self.scene, str) or not self.scene.strip():
            fail("scene", f"must be a built-in scene ({', '.join(SCENES)}) or a path to a Unity build, got {self.scene!r}")
        if self.scene_name is None and not os.path.exists(os.path.expanduser(self.scene)) and "/" not in self.scene:
            fail("scene", f"{self.scene!r} is neither a built-in scene ({', '.join(SCENES)}) nor an existing Unity build path")
        if not isinstance(self.algorithm, str) or self.algorithm.upper() not in ALGORITHMS:
            fail("algorithm", f"must be one of {', '.join(ALGORITHMS)}, got {self.algorithm!r}")
        self.algorithm = self.algorithm.upper()
        _positive_int(self.steps, "steps", fail, allow_none=True)
        _number(self.target_return, "target_return", fail, allow_none=True)
        _number(self.lr, "lr", fail, low=0, low_open=True, allow_none=True)
        _number(self.gamma, "gamma", fail, low=0, high=1)
        _number(self.lambda_, "lambda_", fail, low=0, high=1)
        for key in ("train_batch_size", "minibatch_size", "num_epochs", "hidden_units", "num_layers", "num_areas"):
            _positive_int(getattr(self, key), key, fail, allow_none=True)
        _number(self.entropy_coeff, "entropy_coeff", fail, low=0, allow_none=True)
        _number(self.clip_param, "clip_param", fail, low=0, low_open=True)
        if not isinstance(self.normalize, bool):
            fail("normalize", f"must be true or false, got {self.normalize!r}")
        _positive_int(self.num_env_runners, "num_env_runners", fail, allow_zero=True)
        if self.mode not in ("player", "inprocess"):
            fail("mode", f"must be 'player' or 'inprocess', got {self.mode!r}")
        if self.mode == "inprocess" and self.scene_name is None:
            fail("mode", f"'inprocess' runs built-in scenes only ({', '.join(SCENES)})")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            fail("seed", f"must be an integer, got {self.seed!r}")
        if self.address is not None and (not isinstance(self.address, str) or not self.address.strip()):
            fail("address", f"must be a Ray address like 10.0.0.5:6379, got {self.address!r}")
        _number(self.unity_timeout, "unity_timeout", fail, low=0, low_open=True)
        _positive_int(self.checkpoint_every, "checkpoint_every", fail)
        if not isinstance(self.env_params, dict):
            fail("env_params", f"must be a mapping of parameter names to numbers, got {self.env_params!r}")
        for key, value in self.env_params.items():
            _number(value, f"env_params.{key}", fail)
        if self.scene_name is not None:
            cls = SCENES[self.scene_name]
            unknown = [k for k in self.env_params if k not in cls.default_params]
            if unknown:
                fail("env_params", f"{unknown[0]!r} is not a {cls.name} parameter; its parameters: {', '.join(cls.default_params)}")
            names = [b.name for b in cls.behavior_list()]
            if self.behavior is not None and self.behavior not in names:
                fail("behavior", f"{self.behavior!r}: the {cls.name} scene has the behaviors {', '.join(map(repr, names))}")
            kind = "continuous" if cls.behavior.continuous_size else "discrete"
            if kind not in ALGORITHMS[self.algorithm]:
                fits = [a for a, kinds in ALGORITHMS.items() if kind in kinds]
                fail("algorithm", f"{self.algorithm} does not handle the {kind} actions of {cls.name}; use one of {', '.join(fits)}")
        if self.minibatch_size and self.train_batch_size and self.minibatch_size > self.train_batch_size:
            fail("minibatch_size", f"({self.minibatch_size}) must not exceed train_batch_size ({self.train_batch_size})")


def parse_yaml(text: str, source: str = "YAML"):
    """Parse YAML; a syntax error names the line and column."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{source}: not valid YAML{where}: {problem}") from None


def _number(value, key, fail, *, low=None, high=None, low_open=False, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        fail(key, f"must be a number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        fail(key, f"must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and value > high:
        fail(key, f"must be <= {high}, got {value}")


def _positive_int(value, key, fail, *, allow_none=False, allow_zero=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        fail(key, f"must be a whole number, got {value!r}")
    if value < (0 if allow_zero else 1):
        fail(key, f"must be >= {0 if allow_zero else 1}, got {value}")
