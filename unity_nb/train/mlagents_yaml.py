"""Unity's mlagents-learn trainer YAML, read into unity-nb settings.

    behaviors:
      3DBall:
        trainer_type: ppo
        hyperparameters: {batch_size: 64, buffer_size: 12000, learning_rate: 3.0e-4,
                          beta: 1.0e-3, epsilon: 0.2, lambd: 0.99, num_epoch: 3}
        network_settings: {normalize: true, hidden_units: 128, num_layers: 2}
        reward_signals: {extrinsic: {gamma: 0.99, strength: 1.0}}
        max_steps: 500000
        time_horizon: 1000
        summary_freq: 12000

Settings with no RLlib counterpart that change nothing essential (summary
frequency, checkpoint keeping, learning-rate schedule) are accepted; anything
else unknown is an error naming its place in the file.
"""

from __future__ import annotations

from typing import Any

from .config import ConfigError

TRAINERS = {"ppo": "PPO", "sac": "SAC"}
HYPERPARAMETERS = {
    "batch_size": "minibatch_size",
    "buffer_size": "train_batch_size",
    "learning_rate": "lr",
    "beta": "entropy_coeff",
    "epsilon": "clip_param",
    "lambd": "lambda_",
    "num_epoch": "num_epochs",
}
ACCEPTED_HYPERPARAMETERS = {"learning_rate_schedule", "beta_schedule", "epsilon_schedule", "shared_critic"}
NETWORK = {"hidden_units": "hidden_units", "num_layers": "num_layers", "normalize": "normalize"}
ACCEPTED_NETWORK = {"vis_encode_type", "memory", "goal_conditioning_type", "deterministic"}
ACCEPTED_TOP = {"time_horizon", "summary_freq", "keep_checkpoints", "checkpoint_interval", "threaded",
                "even_checkpoints", "init_path"}
IGNORED_SECTIONS = {"env_settings", "engine_settings", "checkpoint_settings", "torch_settings", "debug",
                    "default_settings"}


def convert(data: dict[str, Any], source: str) -> dict[str, Any]:
    behaviors = data.get("behaviors")
    if not isinstance(behaviors, dict) or not behaviors:
        raise ConfigError(f"{source}: 'behaviors' must map a behavior name to its trainer settings")
    if len(behaviors) > 1:
        raise ConfigError(
            f"{source}: behaviors: {len(behaviors)} behaviors given ({', '.join(behaviors)}); "
            "unity-nb trains one behavior per run: keep the one for your scene"
        )
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "behaviors":
            continue
        if key == "environment_parameters":
            out["env_params"] = _environment_parameters(value, source)
        elif key not in IGNORED_SECTIONS:
            raise ConfigError(f"{source}: unknown top-level key {key!r}")
    (name, settings), = behaviors.items()
    where = f"{source}: behaviors.{name}"
    if not isinstance(settings, dict):
        raise ConfigError(f"{where}: expected trainer settings, got {settings!r}")
    out["behavior"] = str(name)
    for key, value in settings.items():
        if key == "trainer_type":
            if value not in TRAINERS:
                raise ConfigError(f"{where}.trainer_type: {value!r} is not supported; use one of {', '.join(TRAINERS)}")
            out["algorithm"] = TRAINERS[value]
        elif key == "hyperparameters":
            _section(value, HYPERPARAMETERS, ACCEPTED_HYPERPARAMETERS, f"{where}.hyperparameters", out)
        elif key == "network_settings":
            _section(value, NETWORK, ACCEPTED_NETWORK, f"{where}.network_settings", out)
        elif key == "reward_signals":
            _reward_signals(value, f"{where}.reward_signals", out)
        elif key == "max_steps":
            out["steps"] = int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
        elif key not in ACCEPTED_TOP:
            raise ConfigError(f"{where}: unknown key {key!r}")
    return out


def _section(values, mapping, accepted, where, out):
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, got {values!r}")
    for key, value in values.items():
        if key in mapping:
            out[mapping[key]] = value
        elif key not in accepted:
            raise ConfigError(f"{where}: unknown key {key!r}; known: {', '.join(sorted(set(mapping) | accepted))}")


def _reward_signals(values, where, out):
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, got {values!r}")
    for signal, settings in values.items():
        if signal != "extrinsic":
            raise ConfigError(f"{where}.{signal}: only the extrinsic reward signal is supported")
        if not isinstance(settings, dict):
            raise ConfigError(f"{where}.extrinsic: expected a mapping, got {settings!r}")
        for key, value in settings.items():
            if key == "gamma":
                out["gamma"] = value
            elif key == "strength":
                if value != 1.0:
                    raise ConfigError(f"{where}.extrinsic.strength: only 1.0 is supported, got {value!r}")
            elif key != "network_settings":
                raise ConfigError(f"{where}.extrinsic: unknown key {key!r}")


def _environment_parameters(values, source):
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: environment_parameters must be a mapping, got {values!r}")
    params = {}
    for key, value in values.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            params[key] = float(value)
        else:
            raise ConfigError(
                f"{source}: environment_parameters.{key}: only constant values are supported (samplers and "
                "curricula: use env.set_param / the environment parameters side channel)"
            )
    return params
