"""One training configuration, from Python, YAML, the command line or mlagents-learn YAML.

Every source ends in a validated ``TrainConfig``; a bad key or value is a
``ConfigError`` that names it and says what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field, fields
from typing import Any

import yaml

from ..envs.scenes import SCENES, find_scene, play_mode
from . import env_parameters, rllib_settings, user_code
from .errors import ConfigError
from .schema import PLAYS


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
RANDOM_SEED = -1  # seed: draw one (as mlagents-learn's --seed -1); the drawn seed is what the run records

# A Unity build the kit knows nothing about: one area, PPO settings that suit most vector
# scenes (mlagents-learn's own defaults where it has them), no target: the whole budget.
BUILD_DEFAULTS: dict[str, Any] = dict(steps=500_000, num_areas=1, lr=3e-4, train_batch_size=10240, minibatch_size=1024,
                                      num_epochs=3, entropy_coeff=5e-3, hidden_units=128, num_layers=2,
                                      gamma=0.99, shared_critic=False, normalize=False,
                                      target_return=TARGET_OFF)


# Each built-in scene's training defaults are declared beside its physics (``Scene.training``, envs/scenes/):
# settings that solve it quickly on a laptop. Training stops early once the mean return over the last
# `return_window` training episodes (actions sampled) reaches target_return and `confirm_episodes`
# episodes confirm it (see driver). A setting a scene leaves out is the one for an unknown build.
SCENE_DEFAULTS: dict[str, dict[str, Any]] = {name: {**BUILD_DEFAULTS, **scene.training} for name, scene in SCENES.items()}


@dataclass
class TrainConfig:
    """Everything a training run needs. Unset values take the scene's defaults."""

    scene: str = "Basic"  # built-in scene or path to a Unity build
    algorithm: str = "PPO"
    steps: int | None = None  # agent steps to train for
    target_return: float | str | None = None  # stop early once the windowed mean reaches it and is confirmed; "off"
    return_window: int = 100  # finished episodes in the moving return statistics (all agents count)
    confirm_episodes: int = 100  # episodes (each way played) that must confirm a reached target
    confirm: str = "both"  # how the confirmation plays the policy: deterministic, sampled or both
    lr: float | None = None
    gamma: float | None = None  # discount (scene default; 0.99 for most)
    lambda_: float = 0.95
    train_batch_size: int | None = None  # agent steps per training iteration (mlagents: buffer_size)
    minibatch_size: int | None = None  # (mlagents: batch_size)
    num_epochs: int | None = None
    entropy_coeff: float | None = None  # (mlagents: beta)
    clip_param: float = 0.2  # (mlagents: epsilon)
    lr_schedule: str = "constant"  # constant or linear (to ~0 at the step budget)
    entropy_schedule: str = "constant"  # constant or linear (to 1e-5)
    clip_schedule: str = "constant"  # constant or linear (to 0.1)
    time_horizon: int | None = None  # agent steps per trajectory piece before bootstrapping (mlagents: time_horizon)
    hidden_units: int | None = None
    num_layers: int | None = None
    normalize: bool | None = None  # normalise observations with running mean/std (scene default; false for most)
    shared_critic: bool | None = None  # policy and value function share their hidden layers (scene default)
    vis_encode_type: str = "simple"  # camera encoder (trainer/encoders.py): simple, nature_cnn, resnet, match3, fully_connected
    goal_conditioning_type: str = "hyper"  # a goal signal makes the last layer's weights (hyper) or is concatenated (none)
    num_areas: int | None = None  # copies of the training area per Unity process (more agents per step)
    num_env_runners: int = 0  # extra processes collecting experience (each with its own Unity)
    mode: str = "player"  # player (Unity protocol) or inprocess (built-in scenes only, faster)
    seed: int = 0
    address: str | None = None  # Ray cluster address (default: this machine, or $RAY_ADDRESS)
    unity_timeout: float = 30.0  # seconds a Unity process may take to start or answer a step
    checkpoint_every: int = 10  # iterations between checkpoints
    checkpoint_interval: int | None = None  # agent steps between checkpoints (mlagents); replaces checkpoint_every
    keep_checkpoints: int | None = None  # keep only the newest N checkpoints (default: all)
    summary_freq: int | None = None  # agent steps between summary lines in the log (default: none)
    init_path: str | None = None  # start from the weights of a run folder or checkpoint
    behavior: str | None = None  # behavior name (mlagents YAML); checked against the scene
    # scene parameters in ML-Agents' schema: name -> a number, a sampler or a curriculum (train/env_parameters.py)
    env_params: dict[str, Any] = field(default_factory=dict)
    # your own RLModule, by import path (my_models:ResidualMLP), or {behavior: path}; see user_code.py
    model: str | dict[str, str] | None = None
    # any RLlib algorithm setting, applied after the kit's: {group: {name: value}} (see rllib_settings.py)
    rllib: dict[str, Any] = field(default_factory=dict)
    # where the run trains: "local" (this machine, or the Ray cluster at `address`) or "sagemaker"
    backend: str = "local"
    # SageMaker only (backend: sagemaker); unset ones are resolved at launch (see unity_nb/aws.py)
    instance_type: str | None = None  # e.g. ml.c5.2xlarge (default), ml.g5.xlarge for a GPU
    instance_count: int | None = None  # instances forming one Ray cluster (default 1)
    spot: bool | None = None  # managed spot training (cheaper; resumes from the S3 checkpoints)
    max_run: int | None = None  # seconds the job may run before SageMaker stops it (default 1 day)
    role: str | None = None  # IAM role ARN the job runs as (default $SAGEMAKER_ROLE or the notebook's role)
    region: str | None = None  # AWS region (default $AWS_REGION / $AWS_DEFAULT_REGION / the AWS config)
    bucket: str | None = None  # S3 bucket for the build, code and results (default sagemaker-<region>-<account>)
    image: str | None = None  # training image URI (default the PyTorch CPU/GPU image for the region)

    # ---- construction
    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "TrainConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping of settings, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        aliases = {"lambda": "lambda_", "learning_rate": "lr", "algo": "algorithm",
                   "environment_parameters": "env_params"}
        values = {}
        for key, value in data.items():
            name = aliases.get(key, key)
            if name not in names:
                raise ConfigError(f"{source}: unknown setting {key!r}. Known settings: {', '.join(sorted(names))}")
            if name in values:
                raise ConfigError(f"{source}: {key!r} and {name!r} are the same setting; give one of them")
            values[name] = value
        config = cls(**values)
        # messages name the parameters' key as the file wrote it (Unity's trainer YAML: environment_parameters)
        config.validate(source, params_key="environment_parameters" if "environment_parameters" in data else "env_params")
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
        """A copy with the scene's defaults filled in (a Unity build gets BUILD_DEFAULTS), and a seed
        of -1 drawn (the run records the drawn one, so it can be repeated)."""
        data = self.to_dict()
        for key, value in self.defaults().items():
            if data.get(key) is None:
                data[key] = value
        if data["seed"] == RANDOM_SEED:
            import secrets

            data["seed"] = secrets.randbelow(2**31)
        return TrainConfig(**data)

    def defaults(self) -> dict[str, Any]:
        """The settings an unset value takes: the built-in scene's, or those for an unknown build."""
        return SCENE_DEFAULTS.get(self.scene_name or "", BUILD_DEFAULTS)

    @property
    def target(self) -> float | None:
        """The return to stop at, or None when early stopping is off (or not resolved yet)."""
        return None if self.target_return in (None, TARGET_OFF) else float(self.target_return)

    def describe(self) -> str:
        """The settings a resolved config trains with, in one line (shown before a run starts)."""
        def rate(value, schedule):
            return f"{value:g}" + (" (linear)" if schedule == "linear" else "")

        parts = [f"lr {rate(self.lr, self.lr_schedule)}"]
        if self.algorithm in ("PPO", "APPO", "IMPALA"):
            parts += [f"batch {self.train_batch_size}", f"minibatch {self.minibatch_size}", f"epochs {self.num_epochs}",
                      f"entropy {rate(self.entropy_coeff, self.entropy_schedule)}",
                      f"clip {rate(self.clip_param, self.clip_schedule)}"]
        parts += [f"gamma {self.gamma:g}", f"network {self.num_layers}x{self.hidden_units}"]
        if self.normalize:
            parts.append("normalised observations")
        if self.time_horizon:
            parts.append(f"time horizon {self.time_horizon}")
        parts.append(f"areas {self.num_areas}")
        parts.append("no target (all steps)" if self.target is None else
                     f"target {self.target:g} over {self.return_window} episodes, "
                     f"confirmed by {self.confirm_episodes} episodes played {' and '.join(self.confirm_plays)}")
        parts.append(f"seed {self.seed}")
        if self.env_params:
            parts.append(f"parameters {env_parameters.describe(self.env_params)}")
        if self.scene_name is None:
            parts.append("defaults for a Unity build")
        if self.model:
            models = self.model if isinstance(self.model, str) else \
                ", ".join(f"{b}: {p}" for b, p in self.model.items())
            parts.append(f"model {models}")
        if self.rllib:
            parts.append(f"rllib: {rllib_settings.describe(self.rllib)}")
        return ", ".join(parts)

    def scene_params(self, at="final") -> dict[str, Any]:
        """The parameters as a scene takes them (numbers and samplers, each with its seed): every curriculum
        at its last lesson, the task it leads to (evaluation, videos, export); ``at="first"``: where training
        starts; ``{parameter: lesson}``: the lessons reached."""
        return env_parameters.values(self.env_params, self.seed, at=at)

    @property
    def confirm_plays(self) -> tuple[str, ...]:
        """The ways a confirmation plays the policy: ("deterministic",), ("sampled",) or both."""
        return CONFIRM_PLAYS[self.confirm]

    @property
    def scene_name(self) -> str | None:
        """The built-in scene's canonical name, or None for a Unity build path."""
        found = find_scene(self.scene)
        return found.name if found else None

    def playback(self, **overrides) -> dict[str, Any]:
        """How this run's scene is played once trained (evaluation, videos, export's check, the confirmation
        of a reached target): the scene, in-process if built in (else its player), a curriculum's last
        lesson, and the behavior trained; ``overrides`` (a built-in scene through the player, other
        parameters) on top, but a Unity build always runs as its own process."""
        settings = {"mode": play_mode(self.scene), "params": self.scene_params(), "behavior": self.behavior,
                    **overrides}
        if self.scene_name is None:
            settings["mode"] = "player"
        return settings

    def validate(self, source: str = "config", params_key: str = "env_params") -> None:
        def fail(key, message):
            raise ConfigError(f"{source}: {key} {message}")

        if not isinstance(self.scene, str) or not self.scene.strip():
            fail("scene", f"must be a built-in scene ({', '.join(SCENES)}) or a path to a Unity build, got {self.scene!r}")
        if self.scene_name is None and not os.path.exists(os.path.expanduser(self.scene)) and "/" not in self.scene:
            fail("scene", f"{self.scene!r} is neither a built-in scene ({', '.join(SCENES)}) nor an existing Unity build path")
        if isinstance(self.algorithm, type) or (isinstance(self.algorithm, str) and ":" in self.algorithm):
            self.algorithm = user_code.import_path(self.algorithm, "algorithm", source)  # your own AlgorithmConfig
        elif not isinstance(self.algorithm, str) or self.algorithm.upper() not in ALGORITHMS:
            fail("algorithm", f"must be one of {', '.join(ALGORITHMS)}, or your own AlgorithmConfig subclass by "
                              f"import path (my_algos:MyConfig), got {self.algorithm!r}")
        else:
            self.algorithm = self.algorithm.upper()
        _positive_int(self.steps, "steps", fail, allow_none=True)
        if self.target_return is False or (isinstance(self.target_return, str)
                                           and self.target_return.strip().lower() in ("off", "none", "false")):
            self.target_return = TARGET_OFF  # YAML reads a bare `off` as false
        if self.target_return != TARGET_OFF:
            if isinstance(self.target_return, str):
                try:
                    self.target_return = float(self.target_return)
                except ValueError:
                    fail("target_return", f"must be a number or 'off', got {self.target_return!r}")
            _number(self.target_return, "target_return", fail, allow_none=True)
        _positive_int(self.return_window, "return_window", fail)
        _positive_int(self.confirm_episodes, "confirm_episodes", fail, allow_zero=True)
        target = self.defaults().get("target_return") if self.target_return is None else self.target_return
        if self.confirm_episodes == 0 and target not in (None, TARGET_OFF):
            fail("confirm_episodes", "must be >= 1 when a target_return is set: a target counts as reached only "
                 "once played episodes confirm it (or set target_return: off)")
        if not isinstance(self.confirm, str) or self.confirm not in CONFIRM_PLAYS:
            fail("confirm", f"must be one of {', '.join(CONFIRM_PLAYS)} (how the confirmation plays the policy), "
                            f"got {self.confirm!r}")
        _number(self.lr, "lr", fail, low=0, low_open=True, allow_none=True)
        if self.gamma is not None:
            _number(self.gamma, "gamma", fail, low=0, high=1)
        _number(self.lambda_, "lambda_", fail, low=0, high=1)
        for key in ("train_batch_size", "minibatch_size", "num_epochs", "hidden_units", "num_layers", "num_areas"):
            _positive_int(getattr(self, key), key, fail, allow_none=True)
        _number(self.entropy_coeff, "entropy_coeff", fail, low=0, allow_none=True)
        _number(self.clip_param, "clip_param", fail, low=0, low_open=True)
        for key in ("lr_schedule", "entropy_schedule", "clip_schedule"):
            if getattr(self, key) not in SCHEDULES:
                fail(key, f"must be one of {', '.join(SCHEDULES)}, got {getattr(self, key)!r}")
        if self.algorithm not in ("PPO", "APPO", "IMPALA"):
            for key in ("entropy_schedule", "clip_schedule"):
                if getattr(self, key) != "constant":
                    fail(key, f"'{getattr(self, key)}' applies to PPO, APPO and IMPALA, not {self.algorithm}")
        if self.algorithm in ("APPO", "IMPALA") and self.clip_schedule != "constant":
            fail("clip_schedule", f"'{self.clip_schedule}' applies to PPO only")
        if self.algorithm == "SAC" and self.lr_schedule != "constant":
            fail("lr_schedule", "SAC takes a constant learning rate (as in mlagents-learn's SAC)")
        _positive_int(self.time_horizon, "time_horizon", fail, allow_none=True)
        for key in ("normalize", "shared_critic"):
            if not isinstance(getattr(self, key), bool) and getattr(self, key) is not None:
                fail(key, f"must be true or false, got {getattr(self, key)!r}")
        if self.goal_conditioning_type not in ("hyper", "none"):
            fail("goal_conditioning_type", f"must be 'hyper' or 'none', got {self.goal_conditioning_type!r}")
        if self.vis_encode_type not in VISUAL_ENCODERS:
            fail("vis_encode_type", f"must be one of {', '.join(VISUAL_ENCODERS)}, got {self.vis_encode_type!r}")
        _positive_int(self.num_env_runners, "num_env_runners", fail, allow_zero=True)
        if self.mode not in ("player", "inprocess"):
            fail("mode", f"must be 'player' or 'inprocess', got {self.mode!r}")
        if self.mode == "inprocess" and self.scene_name is None:
            fail("mode", f"'inprocess' runs built-in scenes only ({', '.join(SCENES)})")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            fail("seed", f"must be a whole number (or -1 to draw one), got {self.seed!r}")
        if self.seed < RANDOM_SEED:
            fail("seed", f"must be >= 0, or -1 to draw one (the run records it), got {self.seed}")
        if self.address is not None and (not isinstance(self.address, str) or not self.address.strip()):
            fail("address", f"must be a Ray address like 10.0.0.5:6379, got {self.address!r}")
        _number(self.unity_timeout, "unity_timeout", fail, low=0, low_open=True)
        _positive_int(self.checkpoint_every, "checkpoint_every", fail)
        for key in ("checkpoint_interval", "keep_checkpoints", "summary_freq"):
            _positive_int(getattr(self, key), key, fail, allow_none=True)
        if self.init_path is not None:
            if not isinstance(self.init_path, str) or not self.init_path.strip():
                fail("init_path", f"must be the path of a run folder or checkpoint, got {self.init_path!r}")
            if not os.path.exists(os.path.expanduser(self.init_path)):
                fail("init_path", f"{self.init_path!r} does not exist; give a run folder (runs/<id>) or one of "
                     "its checkpoints/checkpoint_* folders")
        scene_cls = SCENES.get(self.scene_name or "")
        trained = [self.behavior] if self.behavior is not None else (
            [b.name for b in scene_cls.behavior_list()] if scene_cls is not None else None)
        self.env_params = env_parameters.check(self.env_params, f"{source}: {params_key}", scene_cls=scene_cls,
                                               behaviors=trained)
        if self.scene_name is not None:
            cls = SCENES[self.scene_name]
            names = [b.name for b in cls.behavior_list()]
            if self.behavior is not None and self.behavior not in names:
                fail("behavior", f"{self.behavior!r}: the {cls.name} scene has the behaviors {', '.join(map(repr, names))}")
            kind = "continuous" if cls.behavior.continuous_size else "discrete"
            if not self.custom_algorithm and kind not in ALGORITHMS[self.algorithm]:
                fits = [a for a, kinds in ALGORITHMS.items() if kind in kinds]
                fail("algorithm", f"{self.algorithm} does not handle the {kind} actions of {cls.name}; use one of {', '.join(fits)}")
            cameras = any(o.visual for b in cls.behavior_list() for o in b.observations)
            if cameras and not self.model:  # the kit's camera networks (trainer/unity_module.py) train with PPO
                if self.algorithm != "PPO" and not self.custom_algorithm:
                    fail("algorithm", f"{self.algorithm} cannot train {cls.name}'s camera observations: the kit's "
                                      "camera networks train with PPO (RLlib's default networks for it take one "
                                      "vector only); use PPO, or give your own module with model=")
                if self.normalize:
                    fail("normalize", f"true is not supported for {cls.name}'s camera observations yet (RLlib's "
                                      "filter would normalise the pixels too); set normalize false")
        self._validate_backend(fail)
        self.rllib = rllib_settings.check(self.rllib, self.algorithm, source=f"{source}: rllib")
        self._validate_model(fail, source)
        if self.minibatch_size and self.train_batch_size and self.minibatch_size > self.train_batch_size:
            fail("minibatch_size", f"({self.minibatch_size}) must not exceed train_batch_size ({self.train_batch_size})")
        given = {k: getattr(self, k) if getattr(self, k) is not None else self.defaults().get(k)
                 for k in ("time_horizon", "train_batch_size", "num_areas")}
        if self.scene_name is not None and self.algorithm == "PPO" and given["time_horizon"] and given["train_batch_size"]:
            cls = SCENES[self.scene_name]
            trained = [self.behavior] if self.behavior else [b.name for b in cls.behavior_list()]
            if len(trained) == 1:  # one policy: every agent is a sub-env of one vector env
                problem = time_horizon_misfit(given["time_horizon"], given["train_batch_size"],
                                              cls.agents_per_area_of(trained[0]) * (given["num_areas"] or 1),
                                              self.num_env_runners)
                if problem:
                    fail("time_horizon", problem)


    def _validate_model(self, fail, source: str) -> None:
        if self.model is None:
            return
        if isinstance(self.model, dict):
            if not self.model:
                fail("model", "must name a class, or map behaviors to classes; got an empty mapping")
            self.model = {b: user_code.import_path(p, f"model.{b}", source) for b, p in self.model.items()}
            if self.scene_name is not None:
                names = [b.name for b in SCENES[self.scene_name].behavior_list()]
                unknown = [b for b in self.model if b not in names]
                if unknown:
                    fail("model", f"{unknown[0]!r} is not a behavior of {self.scene_name}; its behaviors: "
                                  f"{', '.join(names)}")
        else:
            self.model = user_code.import_path(self.model, "model", source)

    @property
    def custom_algorithm(self) -> bool:
        """Whether the run trains with the user's own AlgorithmConfig subclass (an import path)."""
        return ":" in str(self.algorithm)

    def model_for(self, behavior: str) -> str | None:
        """The import path of the RLModule class ``behavior`` trains with (None: RLlib's default network)."""
        if isinstance(self.model, dict):
            return self.model.get(behavior)
        return self.model

    def _validate_backend(self, fail) -> None:
        if self.backend not in BACKENDS:
            fail("backend", f"must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.backend != "sagemaker":
            given = [key for key in SAGEMAKER_SETTINGS if getattr(self, key) is not None]
            if given:
                fail(given[0], "applies to SageMaker runs only: add backend: sagemaker (--backend sagemaker) or leave it out")
            return
        if self.address is not None:
            fail("address", "is for a Ray cluster you run; a SageMaker job forms its own cluster (use instance_count)")
        if self.instance_type is not None and (not isinstance(self.instance_type, str)
                                               or not re.fullmatch(r"ml\.[a-z0-9]+\.[a-z0-9]+", self.instance_type)):
            fail("instance_type", f"must be a SageMaker instance type like ml.c5.2xlarge, got {self.instance_type!r}")
        _positive_int(self.instance_count, "instance_count", fail, allow_none=True)
        _positive_int(self.max_run, "max_run", fail, allow_none=True)
        if self.spot is not None and not isinstance(self.spot, bool):
            fail("spot", f"must be true or false, got {self.spot!r}")
        for key in ("role", "region", "bucket", "image"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or not value.strip() or value != value.strip()):
                fail(key, f"must be a non-empty name without spaces around it, got {value!r}")


def time_horizon_misfit(time_horizon: int, train_batch_size: int, agents_per_process: int,
                        num_env_runners: int | None) -> str | None:
    """Why RLlib's PPO cannot collect ``train_batch_size`` steps in pieces of ``time_horizon`` from every agent of
    every Unity process (None: it can). Each round of sampling takes one piece from every agent, and the batch
    must be a whole number of rounds, within 10% (RLlib's rule); mlagents-learn has no such limit."""
    agents = agents_per_process * max(1, num_env_runners or 0)  # env runner 0 samples when there are no others
    round_ = time_horizon * agents
    rounds = -(-train_batch_size // round_)
    if rounds * round_ - train_batch_size <= 0.1 * train_batch_size:
        return None
    fits = train_batch_size // agents
    instead = f"time_horizon {fits} or less" if fits >= 1 else "fewer areas"
    return (f"{time_horizon} does not fit train_batch_size {train_batch_size}: each round of sampling takes "
            f"{time_horizon} steps from each of the {agents} agents ({round_} steps), and the batch must be a whole "
            f"number of rounds (within 10%). Use {instead}, or a train_batch_size of {round_} or a multiple of it")


def parse_yaml(text: str, source: str = "YAML"):
    """Parse YAML; a syntax error names the line and column."""
    try:  # libyaml's parser when PyYAML has it: ~10x faster (the sidebar reads many run settings)
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
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
