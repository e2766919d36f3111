"""One training configuration, from Python, YAML, the command line or mlagents-learn YAML.

Every source ends in a validated ``TrainConfig``; a bad key or value is a
``ConfigError`` that names it and says what is allowed.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from ..envs.scenes import SCENES, find_scene, play_mode
from . import checks, env_parameters, rllib_settings, self_play
from .errors import ConfigError
from .mlagents_yaml import TRAINER_DEFAULTS
from .settings import (BACKENDS, CONFIRM_PLAYS, PER_BEHAVIOR, RANDOM_SEED, REWARD_SIGNALS, SCHEDULES, TARGET_OFF,
                       VISUAL_ENCODERS, check, rules, setting)


# A Unity build the kit knows nothing about: mlagents-learn's own PPO defaults (one area, batch 10240, minibatch
# 1024, 128x2 network) and no target: the whole budget.
BUILD_DEFAULTS: dict[str, Any] = {
    **{key: TRAINER_DEFAULTS["ppo"][key] for key in (
        "steps", "num_areas", "lr", "train_batch_size", "minibatch_size", "num_epochs", "entropy_coeff", "hidden_units",
        "num_layers", "gamma", "shared_critic", "normalize")},
    "target_return": TARGET_OFF, "poca": False}


# Each built-in scene's training defaults are declared beside its physics (``Scene.training``, envs/scenes/):
# settings that solve it quickly on a laptop. Training stops early once the mean return over the last
# `return_window` training episodes (actions sampled) reaches target_return and `confirm_episodes`
# episodes confirm it (see driver). A setting a scene leaves out is the one for an unknown build.
SCENE_DEFAULTS: dict[str, dict[str, Any]] = {name: {**BUILD_DEFAULTS, **scene.training} for name, scene in SCENES.items()}


NETWORK = "the checkpoint's network has this shape"  # why a fork keeps it (settings.Rule.fixed)


@dataclass
class TrainConfig:
    """Everything a training run needs. Unset values take the scene's defaults.

    Each field says what it is and what it may be (``settings.setting``): the flags, help, panel, checks
    of single values and docs/settings.md are read from there."""

    scene: str = setting("Basic", "built-in scene (Basic, 3DBall, GridWorld, ...) or the path of a Linux Unity build",
                         expect="a built-in scene or a Unity build's path", flag=False,
                         fixed="the checkpoint learned this scene's observations and actions")
    algorithm: str = setting("PPO", "RLlib algorithm: PPO, APPO, IMPALA, SAC (continuous actions), DQN (discrete "
                             "actions), or your own AlgorithmConfig subclass by import path (my_algos:MyConfig)",
                             expect="an algorithm's name or an import path",
                             fixed="the checkpoint is this algorithm's state")
    steps: int | None = setting(None, "agent steps to train for (every agent's step counts)", kind="int", metavar="N")
    target_return: float | str | None = setting(
        None, "stop early once the mean return over the last --return-window episodes reaches this and "
              "--confirm-episodes played episodes confirm it; 'off' trains for all --steps",
        kind="target", expect="a number or off", metavar="X|off")
    return_window: int = setting(100, "finished episodes in the moving mean/min/max return (every agent's episode "
                                      "counts)", kind="int", metavar="N")
    confirm_episodes: int = setting(100, "episodes (each way --confirm plays) that must confirm a reached target "
                                         "before training stops", kind="int", low=0, metavar="N")
    confirm: str = setting("both", "how the confirmation plays the policy: both (greedy and sampled, as Unity may play "
                                   "an exported model either way), deterministic or sampled",
                           kind="choice", choices=tuple(CONFIRM_PLAYS), why="(how the confirmation plays the policy)")
    lr: float | None = setting(None, "learning rate (e.g. 3e-4)", kind="float", low=0, low_open=True, group="PPO")
    gamma: float | None = setting(None, "discount factor, 0-1", kind="float", low=0, high=1, group="PPO")
    lambda_: float = setting(0.95, "GAE lambda, 0-1", kind="float", low=0, high=1, group="PPO",
                             algorithms=("PPO", "APPO"))
    train_batch_size: int | None = setting(None, "agent steps per training iteration (mlagents: buffer_size)",
                                           kind="int", group="PPO", metavar="N")
    minibatch_size: int | None = setting(None, "steps per gradient step (mlagents: batch_size)", kind="int",
                                         group="PPO", metavar="N", algorithms=("PPO",))
    num_epochs: int | None = setting(None, "passes over each batch", kind="int", group="PPO", metavar="N",
                                     algorithms=("PPO", "APPO", "IMPALA"))
    entropy_coeff: float | None = setting(None, "entropy bonus (mlagents: beta)", kind="float", low=0, group="PPO",
                                          algorithms=("PPO", "APPO", "IMPALA"))
    clip_param: float = setting(0.2, "PPO clip range (mlagents: epsilon)", kind="float", low=0, low_open=True,
                                group="PPO", algorithms=("PPO", "APPO"))
    lr_schedule: str = setting("constant", "learning rate over the run: constant or linear (decays to ~0 at --steps)",
                               kind="choice", choices=SCHEDULES, group="PPO")
    entropy_schedule: str = setting("constant", "entropy bonus over the run: constant or linear (decays to 1e-5 at "
                                                "--steps)", kind="choice", choices=SCHEDULES, group="PPO")
    clip_schedule: str = setting("constant", "PPO clip range over the run: constant or linear (decays to 0.1 at "
                                             "--steps)", kind="choice", choices=SCHEDULES, group="PPO")
    threaded: bool = setting(False, "learn from each batch while the next is collected, in a learner process of its "
                                    "own (mlagents' threaded): more steps a second, but the collecting policy is one "
                                    "update behind, so learning takes more steps (bench/threaded.md)", kind="bool",
                             group="PPO", algorithms=("PPO",))
    time_horizon: int | None = setting(None, "agent steps collected per trajectory piece before the value function "
                                             "bootstraps (mlagents: time_horizon; unset: the batch spread over the "
                                             "agents)", kind="int", group="PPO", metavar="N")
    hidden_units: int | None = setting(None, "units per hidden layer of the policy network", kind="int",
                                       group="network", metavar="N", fixed=NETWORK)
    num_layers: int | None = setting(None, "hidden layers of the policy network", kind="int", group="network",
                                     metavar="N", fixed=NETWORK)
    normalize: bool | None = setting(None, "normalise observations with a running mean/std", kind="bool",
                                     group="network", fixed="the checkpoint's policy reads normalised observations, or raw ones")
    shared_critic: bool | None = setting(None, "policy and value function share their hidden layers", kind="bool",
                                         group="network", fixed=NETWORK)
    vis_encode_type: str = setting("simple", "camera encoder (mlagents' vis_encode_type, trainer/encoders.py)",
                                   kind="choice", choices=VISUAL_ENCODERS, group="network", fixed=NETWORK)
    goal_conditioning_type: str = setting("hyper", "how a goal signal steers the network (mlagents' "
                                                   "goal_conditioning_type): hyper (it makes the last layer's weights) "
                                                   "or none (concatenated)",
                                          kind="choice", choices=("hyper", "none"), group="network", fixed=NETWORK)
    num_areas: int | None = setting(None, "copies of the training area per Unity process (more agents per step)",
                                    kind="int", group="environment", metavar="N")
    num_env_runners: int = setting(0, "extra processes collecting experience, each with its own Unity", kind="int",
                                   low=0, group="environment", metavar="N")
    mode: str = setting("player", "built-in scenes: player (through the Unity protocol) or inprocess (faster, "
                                  "same trajectories)", kind="choice", choices=("player", "inprocess"),
                        group="environment")
    seed: int = setting(0, "random seed (-1 draws one, shown in the settings line so the run can be repeated)",
                        kind="int", low=RANDOM_SEED)
    address: str | None = setting(None, "Ray cluster address, e.g. 10.0.0.5:6379 (default: this machine, or "
                                        "$RAY_ADDRESS)", kind="text", expect="a Ray address like 10.0.0.5:6379",
                                  group="environment")
    unity_timeout: float = setting(30.0, "seconds a Unity process may take to start or answer a step", kind="float",
                                   low=0, low_open=True, group="environment")
    checkpoint_every: int = setting(10, "training iterations between checkpoints", kind="int", group="saving",
                                    metavar="N")
    checkpoint_interval: int | None = setting(None, "agent steps between checkpoints (mlagents' checkpoint_interval; "
                                                    "replaces --checkpoint-every)", kind="int", group="saving",
                                              metavar="N")
    keep_checkpoints: int | None = setting(None, "keep only the newest N checkpoints (default: keep all)", kind="int",
                                           group="saving", metavar="N")
    summary_freq: int | None = setting(None, "agent steps between summary lines in the run's log (mlagents' "
                                             "summary_freq)", kind="int", group="saving", metavar="N")
    init_path: str | None = setting(None, "start from the trained weights of a run folder or checkpoint (mlagents' "
                                          "init_path)", expect="an existing run folder or checkpoint",
                                    group="saving", fixed="a fork starts from its parent's checkpoint")
    behavior: str | None = setting(None, "train only this behavior of a scene with several",
                                   expect="a behavior of the scene", group="environment",
                                   fixed="the checkpoint holds the policies of the behaviors it trained")
    env_params: dict[str, Any] = setting(
        help="scene parameters in ML-Agents' schema: name -> a number, a sampler or a curriculum "
             "(train/env_parameters.py); --param NAME=VALUE", default_factory=dict, group="environment",
        expect="a mapping of the scene's parameters", flag=False)
    model: str | dict[str, str] | None = setting(
        None, "your own RLModule class by import path, e.g. my_models:ResidualMLP (a file next to the notebook or an "
              "installed package), or {behavior: path}; default: RLlib's network of --hidden-units x --num-layers",
        expect="an import path, or behaviors mapped to import paths", group="your code", fixed=NETWORK)
    behavior_settings: dict[str, dict[str, Any]] = setting(
        help="settings of its own for a behavior of a scene with several: {behavior: {lr: 1e-3, hidden_units: 256}}; "
             f"{', '.join(PER_BEHAVIOR)} may differ, every other setting is shared by the behaviors "
             "(a Unity trainer file with several behaviors fills it)", default_factory=dict,
        expect="behaviors mapped to their own settings", group="network", flag=False,
        fixed="the checkpoint holds each behavior's network")
    self_play: dict[str, Any] | None = setting(
        None, "adversarial self-play for a scene of two teams (Unity's ghost trainer): one team learns at a time "
              "against snapshots of its own policy, rated by ELO; Unity's self_play block {save_steps, team_change, "
              "swap_steps, window, play_against_latest_model_ratio, initial_elo}, or true for its defaults; "
              "--self-play [KEY=VALUE]", expect="a mapping of self-play settings, or true", group="self-play",
        flag=False, fixed="the checkpoint holds the policies of the game (self-play) or of each team")
    poca: bool | None = setting(None, "train a cooperative scene's groups with POCA (ML-Agents' trainer_type: poca): "
                                      "PPO's policy with a critic over the whole group and a baseline per agent, so "
                                      "an agent gets credit for what its group earns after it leaves", kind="bool",
                                group="PPO", algorithms=("PPO",), fixed="the checkpoint holds POCA's group critic")
    behavioral_cloning: dict[str, Any] | None = setting(
        None, "learn from a Unity .demo file (or a folder of them) beside PPO, as ML-Agents' behavioral_cloning "
              "block: {demo_path, strength, steps, batch_size, num_epoch, samples_per_update}; "
              "--behavioral-cloning demo_path=FILE [--behavioral-cloning KEY=VALUE]",
        expect="a mapping with demo_path", group="PPO", flag=False, algorithms=("PPO",))
    curiosity: dict[str, Any] | None = setting(
        None, "an intrinsic reward for what the agent cannot predict yet, for scenes whose own reward is rare "
              "(ML-Agents' curiosity reward signal): {strength, gamma, learning_rate, hidden_units, num_layers, "
              "normalize}, or true for the kit's defaults; --curiosity [KEY=VALUE]",
        expect="a mapping of curiosity settings, or true", group="PPO", flag=False, algorithms=("PPO",))
    rnd: dict[str, Any] | None = setting(
        None, "an intrinsic reward for observations seldom seen, by random network distillation (ML-Agents' rnd "
              "reward signal): {strength, gamma, learning_rate, hidden_units, num_layers, normalize}, or true for "
              "the kit's defaults; --rnd [KEY=VALUE]",
        expect="a mapping of rnd settings, or true", group="PPO", flag=False, algorithms=("PPO",))
    gail: dict[str, Any] | None = setting(
        None, "a reward for playing like a Unity .demo file (or a folder of them), by a discriminator of its steps "
              "from the policy's (ML-Agents' gail reward signal): {demo_path, strength, gamma, learning_rate, "
              "hidden_units, num_layers, normalize, use_actions, use_vail}; --gail demo_path=FILE [--gail KEY=VALUE]",
        expect="a mapping with demo_path", group="PPO", flag=False, algorithms=("PPO",))
    rllib: dict[str, Any] = setting(
        help="any RLlib algorithm setting, applied after the kit's: {group: {name: value}} (rllib_settings.py); "
             "--rllib KEY=VALUE", default_factory=dict, expect="a mapping of RLlib settings", group="your code",
        flag=False)
    backend: str = setting("local", "where to train: local (this machine or --address's Ray cluster) or sagemaker",
                           kind="choice", choices=BACKENDS,
                           fixed="a fork trains where its parent trained")
    # SageMaker only (backend: sagemaker); unset ones are resolved at launch (see unity_nb/aws.py)
    instance_type: str | None = setting(None, "SageMaker: the instance type (default ml.c5.2xlarge; ml.g5.xlarge for "
                                              "a GPU)", expect="a SageMaker instance type like ml.c5.2xlarge",
                                        group="SageMaker")
    instance_count: int | None = setting(None, "SageMaker: instances that form one Ray cluster (default 1)",
                                         kind="int", group="SageMaker", metavar="N")
    spot: bool | None = setting(None, "SageMaker: managed spot training (cheaper; resumes from its S3 checkpoints "
                                      "when interrupted)", kind="bool", group="SageMaker")
    max_run: int | None = setting(None, "SageMaker: seconds the job may run (default 86400)", kind="int",
                                  group="SageMaker", metavar="N")
    role: str | None = setting(None, "SageMaker: the IAM role ARN the job runs as (default $SAGEMAKER_ROLE, or this "
                                     "notebook instance's role)", expect=checks.NAME, group="SageMaker")
    region: str | None = setting(None, "SageMaker: AWS region (default $AWS_REGION, $AWS_DEFAULT_REGION or your AWS "
                                       "config)", expect=checks.NAME, group="SageMaker")
    bucket: str | None = setting(None, "SageMaker: S3 bucket for the build, code and results (default "
                                       "sagemaker-REGION-ACCOUNT)", expect=checks.NAME, group="SageMaker")
    image: str | None = setting(None, "SageMaker: training image URI (default the PyTorch CPU/GPU training image of "
                                      "the region)", expect=checks.NAME, group="SageMaker")

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
            if key == "sweep":  # train/sweeps.py reads this section; a run cannot
                raise ConfigError(f"{source}: a `sweep:` section starts a sweep, not one run: use %%unity_sweep, "
                                  "`unity-nb sweep --config FILE` or unity_nb.sweep(config=...)")
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
        return cls.from_data({} if data is None else data, source)

    @classmethod
    def from_data(cls, data: dict[str, Any], source: str = "config") -> "TrainConfig":
        """Parsed YAML of either format: unity-nb's keys, or Unity's trainer YAML (``behaviors:``)."""
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
        """Read Unity's mlagents-learn trainer YAML (one behavior, or several: ``behavior_settings``)."""
        from .mlagents_yaml import convert

        settings = convert(data, source)
        # the file's behaviors pick the built-in scene that has them (3DBall -> 3DBall; BasicRight and
        # BasicLeft -> BasicDuo), unless it names its scene
        named = {settings["behavior"]} if settings.get("behavior") else set(map(str, data["behaviors"]))
        game = False  # the file names a game (Pong), as Unity's trainer files do, for its teams (Pong?team=0, ...)
        for name, scene in SCENES.items():
            if (scene.behavior.name in named if len(named) == 1 else
                    named == {b.name for b in scene.behavior_list()}):
                settings.setdefault("scene", name)
            elif named == set(self_play.games(b.name for b in scene.behavior_list())) and "scene" not in settings:
                settings["scene"], game = name, True
        if game or (settings.get("self_play") is not None and "scene" in settings):
            settings.pop("behavior", None)  # every team of the game trains (self-play: one policy for a game)
        scene = find_scene(settings.get("scene") or cls().scene)
        if len(named) > 1 and scene is not None and named != {b.name for b in scene.behavior_list()}:
            raise ConfigError(f"{source}: behaviors: {', '.join(sorted(named))} are not the behaviors of "
                              f"{scene.name} ({', '.join(b.name for b in scene.behavior_list())}): give each of "
                              "the scene's behaviors its settings (or one behavior, to train it alone)")
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
        of -1 drawn (the run records the drawn one, so it can be repeated). A resolved config is its own
        resolution (a run's config.yaml is resolved once, on the kernel side, and read as it is after)."""
        unset = [key for key in self.defaults() if getattr(self, key) is None]
        if not unset and self.seed != RANDOM_SEED:
            return self
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

    def reward_signals(self) -> dict[str, dict[str, Any]]:
        """The reward signals this run trains with beside the scene's, by name (``curiosity``, ``rnd``, ``gail``),
        every key filled (a scene's default, true, takes the kit's defaults)."""
        given = {name: getattr(self, name) for name in REWARD_SIGNALS}
        return {name: {**REWARD_SIGNALS[name], **(value if isinstance(value, dict) else {})}
                for name, value in given.items() if value is True or isinstance(value, dict)}

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
        if self.threaded:
            parts.append("threaded (learning beside sampling)")
        parts += [f"gamma {self.gamma:g}", f"network {self.num_layers}x{self.hidden_units}"]
        if self.normalize:
            parts.append("normalised observations")
        if self.time_horizon:
            parts.append(f"time horizon {self.time_horizon}")
        if self.poca:
            parts.append("POCA (a critic over each group)")
        if self.behavioral_cloning:
            parts.append(f"cloning {Path(self.behavioral_cloning['demo_path']).name} "
                         f"(strength {self.behavioral_cloning['strength']:g})")
        for name, signal in self.reward_signals().items():
            source = f" of {Path(signal['demo_path']).name}" if signal.get("demo_path") else ""
            parts.append(f"{name} reward{source} (strength {signal['strength']:g})")
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
        for behavior, own in self.behavior_settings.items():
            if own:
                parts.append(f"{behavior}'s own " + " ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                                                             for k, v in own.items()))
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
        """Refuse what cannot train, naming the setting (``source``: where the settings came from). Each value
        is checked against its field's rule; then the groups of settings that must agree with each other."""
        def fail(key, message):
            raise ConfigError(f"{source}: {key} {message}")

        checks.check_scene(self, fail)
        checks.check_algorithm(self, fail, source)
        checks.normalize_target(self, fail)
        checks.check_seed(self, fail)
        for name, (f, rule) in rules(TrainConfig).items():
            check(name, getattr(self, name), rule, f.default is None, fail)
        checks.check_confirmation(self, fail)
        checks.check_schedules(self, fail)
        checks.check_place(self, fail)
        checks.check_scene_fit(self, fail, source, params_key)
        checks.check_backend(self, fail)
        self.rllib = rllib_settings.check(self.rllib, self.algorithm, source=f"{source}: rllib")
        checks.check_model(self, fail, source)
        checks.check_behavior_settings(self, fail)
        checks.check_self_play(self, fail)
        checks.check_poca(self, fail)
        checks.check_threaded(self, fail)
        checks.check_behavioral_cloning(self, fail)
        checks.check_reward_signals(self, fail)
        checks.check_batches(self, fail)

    @property
    def custom_algorithm(self) -> bool:
        """Whether the run trains with the user's own AlgorithmConfig subclass (an import path)."""
        return ":" in str(self.algorithm)

    def for_behavior(self, behavior: str) -> "TrainConfig":
        """The settings ``behavior`` trains with: these, with its own ``behavior_settings`` in place."""
        own = self.behavior_settings.get(behavior)
        if own is None:  # a Unity trainer file names a team's game (Striker for Striker?team=0)
            own = self.behavior_settings.get(self_play.split_team(behavior)[0])
        return dataclasses.replace(self, **own, behavior_settings={}) if own else self

    def model_for(self, behavior: str) -> str | None:
        """The import path of the RLModule class ``behavior`` trains with (None: RLlib's default network)."""
        if isinstance(self.model, dict):
            return self.model.get(behavior)
        return self.model

def parse_yaml(text: str, source: str = "YAML"):
    """Parse YAML; a syntax error names the line and column."""
    try:  # libyaml's parser when PyYAML has it: ~10x faster (the sidebar reads many run settings)
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{source}: not valid YAML{where}: {problem}") from None
