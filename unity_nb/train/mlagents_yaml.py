"""Unity's mlagents-learn trainer YAML, read into unity-nb settings, key by key.

    behaviors:
      3DBall:
        trainer_type: ppo
        hyperparameters: {batch_size: 64, buffer_size: 12000, learning_rate: 3.0e-4,
                          beta: 1.0e-3, epsilon: 0.2, lambd: 0.99, num_epoch: 3,
                          learning_rate_schedule: linear}
        network_settings: {normalize: true, hidden_units: 128, num_layers: 2}
        reward_signals: {extrinsic: {gamma: 0.99, strength: 1.0}}
        max_steps: 500000
        time_horizon: 1000
        summary_freq: 12000

Every key either means here what it means in mlagents-learn or is refused with
a message naming it; nothing is accepted and ignored. A key the file leaves out
takes mlagents-learn's default (so the same file trains the same way), except
the kit's own settings (early stopping, mode, ...), which keep the kit's. The
table of keys, what the kit does with each and how it differs is in
``docs/trainer-yaml.md``.
"""

from __future__ import annotations

import random
from typing import Any

from .errors import ConfigError
from .settings import PER_BEHAVIOR

TRAINERS = {"ppo": "PPO", "sac": "SAC", "poca": "PPO"}

# mlagents-learn's defaults (ml-agents settings.py), for keys a file leaves out.
COMMON_DEFAULTS: dict[str, Any] = {
    "lr": 3e-4, "hidden_units": 128, "num_layers": 2, "normalize": False, "gamma": 0.99, "steps": 500_000,
    "time_horizon": 64, "summary_freq": 50_000, "checkpoint_interval": 500_000, "keep_checkpoints": 5, "num_areas": 1,
}
TRAINER_DEFAULTS: dict[str, dict[str, Any]] = {
    "ppo": {**COMMON_DEFAULTS, "minibatch_size": 1024, "train_batch_size": 10240, "entropy_coeff": 5e-3,
            "clip_param": 0.2, "lambda_": 0.95, "num_epochs": 3, "shared_critic": False},
    "sac": {**COMMON_DEFAULTS, "train_batch_size": 128},  # SAC's batch_size: steps per update from its replay
}

PPO_HYPERPARAMETERS = {
    "batch_size": "minibatch_size",
    "buffer_size": "train_batch_size",
    "learning_rate": "lr",
    "beta": "entropy_coeff",
    "epsilon": "clip_param",
    "lambd": "lambda_",
    "num_epoch": "num_epochs",
    "shared_critic": "shared_critic",
    "learning_rate_schedule": "lr_schedule",
    "beta_schedule": "entropy_schedule",
    "epsilon_schedule": "clip_schedule",
}
SAC_HYPERPARAMETERS = {"batch_size": "train_batch_size", "learning_rate": "lr", "learning_rate_schedule": "lr_schedule"}
# SAC keys whose RLlib counterpart goes in the ``rllib:`` section (checked there against RLlib's own settings)
SAC_LATER = {"buffer_size": "rllib: {training: {replay_buffer_config: {capacity: N}}}",
             "buffer_init_steps": "rllib: {num_steps_sampled_before_learning_starts: N}",
             "tau": "rllib: {tau: X}",
             "steps_per_update": "rllib: {training_intensity: X} (RLlib's ratio of trained to sampled steps)",
             "init_entcoef": "rllib: {initial_alpha: X}",
             "save_replay_buffer": None, "reward_signal_steps_per_update": None}
NETWORK = {"hidden_units": "hidden_units", "num_layers": "num_layers", "normalize": "normalize"}
BEHAVIOR_TOP = {"max_steps": "steps", "time_horizon": "time_horizon", "summary_freq": "summary_freq",
                "checkpoint_interval": "checkpoint_interval", "keep_checkpoints": "keep_checkpoints",
                "init_path": "init_path"}
REWARD_LATER: set[str] = set()
# curiosity, rnd and gail (trainer/reward_signals.py): mlagents-learn's defaults for the keys a file leaves out
SIGNAL_DEFAULTS = {"curiosity": {"strength": 1.0, "gamma": 0.99, "learning_rate": 3e-4},
                   "rnd": {"strength": 1.0, "gamma": 0.99, "learning_rate": 1e-4},
                   "gail": {"strength": 1.0, "gamma": 0.99, "learning_rate": 3e-4, "use_actions": False,
                            "use_vail": False}}
SIGNAL_NETWORK_DEFAULTS = {"hidden_units": 128, "num_layers": 2, "normalize": False}
ENV_SETTINGS = {"env_path": "scene", "num_areas": "num_areas", "seed": "seed", "timeout_wait": "unity_timeout"}
# Keys refused unless they hold mlagents-learn's default (which asks for nothing the kit does not do):
# key -> (that default, why and what to do instead).
_RESTARTS = "a crashed Unity process is always replaced (player_restarts counts them); remove it"
ENV_REFUSED = {
    "base_port": (5005, "the kit picks free ports on 127.0.0.1 itself; remove base_port"),
    "env_args": (None, "extra command-line arguments for the build are not passed on; remove env_args"),
    "max_lifetime_restarts": (10, _RESTARTS),
    "restarts_rate_limit_n": (1, _RESTARTS),
    "restarts_rate_limit_period_s": (60, _RESTARTS),
}
CHECKPOINT_REFUSED = {
    "run_id": ("ppo", "run ids are made by the run store; remove it"),
    "results_dir": ("results", "use --runs-dir / runs_dir= / UNITY_NB_RUNS"),
    "resume": (False, "use `unity-nb resume RUN_ID` (or unity_nb.resume)"),
    "force": (False, "every run gets a new folder; remove it"),
    "inference": (False, "use run.evaluate() or `%unity_eval` to play a trained policy"),
    "load_model": (False, "use init_path (or checkpoint_settings.initialize_from) to start from trained weights"),
    "train_model": (False, "remove it: every unity-nb run trains"),
}


def convert(data: dict[str, Any], source: str) -> dict[str, Any]:
    """unity-nb settings (TrainConfig keys) for an mlagents-learn trainer file. One behavior: its settings, and
    ``behavior`` naming it. Several: the settings they share, and ``behavior_settings`` for what one has of its
    own (``PER_BEHAVIOR``); a shared setting that differs between them is refused by name."""
    behaviors = data.get("behaviors")
    if not isinstance(behaviors, dict) or not behaviors:
        raise ConfigError(f"{source}: 'behaviors' must map a behavior name to its trainer settings")
    defaults = data.get("default_settings") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{source}: default_settings: expected trainer settings, got {defaults!r}")
    top = _top_level(data, source)  # under each behavior's keys and over mlagents-learn's defaults, as it reads
    each = {str(name): _behavior(settings, defaults, f"{source}: behaviors.{name}", dict(top))
            for name, settings in behaviors.items()}
    if len(each) == 1:
        (name, settings), = each.items()
        return {**settings, "behavior": name}
    first, *others = each
    for name in others:
        for key in sorted(set(each[first]) | set(each[name])):
            mine, theirs = each[name].get(key), each[first].get(key)
            if key not in PER_BEHAVIOR and mine != theirs:
                raise ConfigError(
                    f"{source}: behaviors.{name}: {_unity_key(key)} is {mine!r} where behaviors.{first} has "
                    f"{theirs!r}: unity-nb trains a run's behaviors with one {key} (one learner update goes over all "
                    f"their samples); give them the same, or train each in a run of its own (a file with that behavior "
                    f"alone). A "
                    f"behavior may have its own {', '.join(_unity_key(k) for k in PER_BEHAVIOR)}")
    own = {name: {k: v for k, v in settings.items() if k in PER_BEHAVIOR and v != each[first].get(k)}
           for name, settings in each.items()}
    return {**each[first], "behavior_settings": own}  # every behavior named, so the scene's are checked


def _unity_key(key: str) -> str:
    """The trainer file's name for a unity-nb setting (learning_rate for lr ...)."""
    for table in (PPO_HYPERPARAMETERS, NETWORK, BEHAVIOR_TOP):
        for unity, ours in table.items():
            if ours == key:
                return unity
    return key


def _top_level(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The file's keys beside ``behaviors``: the environment, checkpoints, engine and torch settings."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("behaviors", "default_settings"):
            continue
        elif key == "environment_parameters":  # checked with the run's scene and behavior (train/env_parameters.py)
            out["environment_parameters"] = value
        elif key == "env_settings":
            _env_settings(value, f"{source}: env_settings", out)
        elif key == "checkpoint_settings":
            _checkpoint_settings(value, f"{source}: checkpoint_settings", out)
        elif key == "engine_settings":
            _engine_settings(value, f"{source}: engine_settings")
        elif key == "torch_settings":
            _mapping(value, f"{source}: torch_settings")
            for k, v in value.items():
                if k != "device" or v not in (None, "cpu"):
                    raise ConfigError(f"{source}: torch_settings.{k}: {v!r} is not supported; unity-nb trains on "
                                      "the CPU (remove torch_settings or set device: cpu)")
        elif key == "debug":
            if value not in (False, None):
                raise ConfigError(f"{source}: debug: {value!r} is not supported; the run's logs/ folder holds the "
                                  "driver's log (remove debug)")
        else:
            raise ConfigError(f"{source}: unknown top-level key {key!r}")
    return out


def _behavior(settings, defaults: dict, where: str, out: dict[str, Any]) -> dict[str, Any]:
    """One behavior's trainer settings (``default_settings`` under them, as mlagents-learn does) as unity-nb's,
    added to ``out`` (the file's top-level settings)."""
    if not isinstance(settings, dict):
        raise ConfigError(f"{where}: expected trainer settings, got {settings!r}")
    settings = _merged(defaults, settings)
    trainer = settings.get("trainer_type", "ppo")
    if trainer not in TRAINERS:
        raise ConfigError(f"{where}.trainer_type: {trainer!r} is not supported; use one of {', '.join(TRAINERS)}")
    out["algorithm"] = TRAINERS[trainer]
    if trainer == "poca":  # PPO's policy with POCA's group critic (trainer/poca.py); its hyperparameters are PPO's
        out["poca"] = True
        trainer = "ppo"
    for key, value in TRAINER_DEFAULTS[trainer].items():
        out.setdefault(key, value)
    for key, value in settings.items():
        if key == "trainer_type":
            continue
        elif key == "hyperparameters":
            _hyperparameters(value, trainer, f"{where}.hyperparameters", out)
        elif key == "network_settings":
            _network_settings(value, f"{where}.network_settings", out)
        elif key == "reward_signals":
            _reward_signals(value, f"{where}.reward_signals", out)
        elif key in BEHAVIOR_TOP:
            out[BEHAVIOR_TOP[key]] = _whole(value) if key != "init_path" else value
        elif key == "even_checkpoints":
            if value not in (True, False):
                raise ConfigError(f"{where}.even_checkpoints: must be true or false, got {value!r}")
            out["_even_checkpoints"] = value
        elif key == "threaded":
            if value not in (False, True):
                raise ConfigError(f"{where}.threaded: must be true or false, got {value!r}")
            out["threaded"] = value  # PPO learning in a process of its own while it samples (trainer/overlap.py)
        elif key == "self_play":  # checked with the scene's teams (train/self_play.py)
            out["self_play"] = True if value is None else value
        elif key == "behavioral_cloning":  # checked with the demonstration and the scene (checks.py)
            out["behavioral_cloning"] = value
        else:
            raise ConfigError(f"{where}: unknown key {key!r}")
    for signal in SIGNAL_DEFAULTS:  # the file's reward signals are all it trains with (not a scene's default's)
        out.setdefault(signal, False)
    if out.pop("_even_checkpoints", False):  # keep_checkpoints evenly spaced over the budget
        steps, keep = out.get("steps"), out.get("keep_checkpoints")
        if isinstance(steps, int) and isinstance(keep, int) and keep > 0:
            out["checkpoint_interval"] = max(1, steps // keep)
    if trainer == "ppo":  # beta and epsilon follow the learning rate's schedule unless given (mlagents-learn)
        out.setdefault("lr_schedule", "linear")
        out.setdefault("entropy_schedule", out["lr_schedule"])
        out.setdefault("clip_schedule", out["lr_schedule"])
    else:
        out.setdefault("lr_schedule", "constant")
    return out


def _later(where: str, key: str, hint: str) -> ConfigError:
    """A key that belongs to work still to come: refused by name, never ignored."""
    return ConfigError(f"{where}: not yet supported: {key} ({hint})")


def _merged(base: dict, top: dict) -> dict:
    out = dict(base)
    for key, value in top.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _mapping(values, where):
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, got {values!r}")


def _whole(value):
    """mlagents-learn reads 5.0e5 as 500000; anything else is left for TrainConfig to refuse by name."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _schedule(value, where):
    if value not in ("constant", "linear"):
        raise ConfigError(f"{where}: must be 'constant' or 'linear', got {value!r}")
    return value


def _hyperparameters(values, trainer, where, out):
    _mapping(values, where)
    mapping = PPO_HYPERPARAMETERS if trainer == "ppo" else SAC_HYPERPARAMETERS
    for key, value in values.items():
        if key in mapping:
            name = mapping[key]
            out[name] = _schedule(value, f"{where}.{key}") if name.endswith("_schedule") else _whole(value)
        elif trainer == "sac" and key in SAC_LATER:
            instead = SAC_LATER[key]
            raise _later(where, key, "trainer_type sac: the replay settings are RLlib's own; " + (
                f"give RLlib's in the kit's YAML instead: {instead}" if instead else "remove it (RLlib has none)"))
        else:
            known = sorted(set(mapping) | (SAC_LATER if trainer == "sac" else set()))
            raise ConfigError(f"{where}: unknown key {key!r} for trainer_type {trainer}; known: {', '.join(known)}")


def _network_settings(values, where, out):
    _mapping(values, where)
    for key, value in values.items():
        if key in NETWORK:
            out[NETWORK[key]] = _whole(value)
        elif key == "vis_encode_type":
            out["vis_encode_type"] = value  # checked by TrainConfig
        elif key == "goal_conditioning_type":
            out["goal_conditioning_type"] = value  # checked by TrainConfig
        elif key == "memory":
            if value is not None:
                raise _later(where, "memory", "recurrent policies; remove it")
        elif key == "deterministic":
            if value not in (False, True):
                raise ConfigError(f"{where}.deterministic: must be true or false, got {value!r}")
            if value:
                raise ConfigError(f"{where}.deterministic: true is not supported: training samples its actions "
                                  "(to confirm a target on greedy play only, use the kit's confirm: deterministic; "
                                  "the export carries both outputs); remove it")
        else:
            known = sorted(set(NETWORK) | {"vis_encode_type", "goal_conditioning_type", "memory", "deterministic"})
            raise ConfigError(f"{where}: unknown key {key!r}; known: {', '.join(known)}")


def _reward_signals(values, where, out):
    _mapping(values, where)
    for signal, settings in values.items():
        if signal in REWARD_LATER:
            raise _later(where, signal, "remove it to train with the extrinsic reward alone")
        if signal in SIGNAL_DEFAULTS:
            out[signal] = _intrinsic(settings, f"{where}.{signal}", signal)
            continue
        if signal != "extrinsic":
            known = ", ".join(["extrinsic", *sorted(set(SIGNAL_DEFAULTS) | REWARD_LATER)])
            raise ConfigError(f"{where}.{signal}: unknown reward signal; known: {known}")
        _mapping(settings, f"{where}.extrinsic")
        for key, value in settings.items():
            if key == "gamma":
                out["gamma"] = value
            elif key == "strength":
                if value != 1.0:
                    raise ConfigError(f"{where}.extrinsic.strength: only 1.0 is supported, got {value!r} "
                                      "(scale the rewards in your scene instead)")
            elif key == "network_settings":
                # mlagents-learn builds no network for the extrinsic signal: these settings do nothing there either
                _network_settings(settings[key] or {}, f"{where}.extrinsic.network_settings", {})
            else:
                raise ConfigError(f"{where}.extrinsic: unknown key {key!r}; known: gamma, strength, network_settings")


def _intrinsic(values, where, signal) -> dict:
    """A curiosity, rnd or gail block as the kit's setting of that name (checked by TrainConfig), with mlagents-learn's
    defaults for what it leaves out (the deprecated encoding_size sizes the network when network_settings is not
    given, as mlagents-learn reads it)."""
    _mapping(values or {}, where)
    out = {**SIGNAL_DEFAULTS[signal], **SIGNAL_NETWORK_DEFAULTS}
    for key, value in (values or {}).items():
        if key in SIGNAL_DEFAULTS[signal] or (signal == "gail" and key == "demo_path"):  # checked by TrainConfig
            out[key] = value
        elif key == "encoding_size":
            if "network_settings" not in values:
                out["hidden_units"] = _whole(value)
        elif key == "network_settings":
            for name, setting in (value or {}).items():
                if name in SIGNAL_NETWORK_DEFAULTS:
                    out[name] = _whole(setting)
                elif name == "memory" and setting is None or name == "vis_encode_type" and setting == "simple" or (
                        name == "goal_conditioning_type" and setting == "hyper") or (
                        name == "deterministic" and setting is False):
                    continue  # mlagents-learn's default, which asks for nothing
                else:
                    raise ConfigError(f"{where}.network_settings.{name}: only hidden_units, num_layers and normalize "
                                      f"are supported in a reward signal's network (its networks read one vector "
                                      f"observation, with no memory), got {setting!r}; remove it")
        else:
            known = ", ".join([*SIGNAL_DEFAULTS[signal], *(["demo_path"] if signal == "gail" else []), "encoding_size",
                               "network_settings"])
            raise ConfigError(f"{where}: unknown key {key!r}; known: {known}")
    return out


def _env_settings(values, where, out):
    _mapping(values, where)
    for key, value in values.items():
        if key in ENV_SETTINGS:
            if key == "seed" and value == -1:  # mlagents-learn: -1 draws a seed (the run folder records it)
                value = random.randrange(2**31)
            out[ENV_SETTINGS[key]] = value
        elif key == "num_envs":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{where}.num_envs: must be a whole number >= 1, got {value!r}")
            out["num_env_runners"] = 0 if value == 1 else value  # one Unity process per env runner
        elif key in ENV_REFUSED:
            _refuse_unless_default(ENV_REFUSED[key], value, f"{where}.{key}")
        else:
            raise ConfigError(f"{where}: unknown key {key!r}; known: {', '.join(sorted(set(ENV_SETTINGS) | set(ENV_REFUSED) | {'num_envs'}))}")


def _checkpoint_settings(values, where, out):
    _mapping(values, where)
    for key, value in values.items():
        if key == "initialize_from":
            if value is not None:
                out["init_path"] = value
        elif key in CHECKPOINT_REFUSED:
            _refuse_unless_default(CHECKPOINT_REFUSED[key], value, f"{where}.{key}")
        else:
            raise ConfigError(f"{where}: unknown key {key!r}")


def _refuse_unless_default(rule, value, where):
    default, why = rule
    if value != default or type(value) is not type(default):
        raise ConfigError(f"{where}: {value!r} is not supported: {why}")


def _engine_settings(values, where):
    _mapping(values, where)
    for key, value in values.items():
        if key == "no_graphics" and value in (True, False):
            continue  # training runs without graphics anyway; videos render in the kit
        raise ConfigError(f"{where}.{key}: not supported: the kit runs Unity with its own engine settings "
                          "(no graphics, fastest time scale); remove it")
