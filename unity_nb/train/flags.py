"""TrainConfig settings as command-line flags: one definition for the ``unity-nb`` command and the magics.

Every TrainConfig field becomes ``--field-name`` (``lambda_`` is ``--lambda``,
``normalize`` is ``--normalize/--no-normalize``) and scene parameters are
``--param NAME=VALUE``. Values are parsed here only as far as their type; the
ranges are checked by ``TrainConfig.validate`` so every entry point says the same.
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from . import rllib_settings
from .config import BACKENDS, BUILD_DEFAULTS, SCENE_DEFAULTS, SCHEDULES, TARGET_OFF, TrainConfig

# What each setting means, for --help, `%unity_train?` and the widget panel.
HELP = {
    "algorithm": "RLlib algorithm: PPO (default), APPO, IMPALA, SAC (continuous actions), DQN (discrete actions)",
    "steps": "agent steps to train for (every agent's step counts)",
    "target_return": "stop early once the mean return over the last --return-window episodes reaches this and "
                     "--confirm-episodes played episodes confirm it; 'off' trains for all --steps",
    "return_window": "finished episodes in the moving mean/min/max return (default 100; every agent's episode counts)",
    "confirm_episodes": "episodes (each way --confirm plays) that must confirm a reached target before training "
                        "stops (default 100)",
    "confirm": "how the confirmation plays the policy: both (default: greedy and sampled, as Unity may play an "
               "exported model either way), deterministic or sampled",
    "lr": "learning rate (e.g. 3e-4)",
    "gamma": "discount factor, 0-1",
    "lambda_": "GAE lambda, 0-1 (default 0.95)",
    "train_batch_size": "agent steps per training iteration (mlagents: buffer_size)",
    "minibatch_size": "steps per gradient step (mlagents: batch_size)",
    "num_epochs": "passes over each batch",
    "entropy_coeff": "entropy bonus (mlagents: beta)",
    "clip_param": "PPO clip range (mlagents: epsilon; default 0.2)",
    "lr_schedule": "learning rate over the run: constant (default) or linear (decays to ~0 at --steps)",
    "entropy_schedule": "entropy bonus over the run: constant (default) or linear (decays to 1e-5 at --steps)",
    "clip_schedule": "PPO clip range over the run: constant (default) or linear (decays to 0.1 at --steps)",
    "time_horizon": "agent steps collected per trajectory piece before the value function bootstraps (mlagents: "
                    "time_horizon; unset: the batch spread over the agents)",
    "hidden_units": "units per hidden layer of the policy network",
    "num_layers": "hidden layers of the policy network",
    "normalize": "normalise observations with a running mean/std",
    "shared_critic": "policy and value function share their hidden layers",
    "goal_conditioning_type": "how a goal signal steers the network (mlagents' goal_conditioning_type): hyper "
                              "(default: it makes the last layer's weights) or none (concatenated)",
    "vis_encode_type": "camera encoder (mlagents' vis_encode_type): simple (default), nature_cnn, resnet, match3, "
                       "fully_connected",
    "num_areas": "copies of the training area per Unity process (more agents per step)",
    "num_env_runners": "extra processes collecting experience, each with its own Unity (default 0)",
    "mode": "built-in scenes: 'player' through the Unity protocol (default) or 'inprocess' (faster, same trajectories)",
    "seed": "random seed (default 0; -1 draws one, shown in the settings line so the run can be repeated)",
    "address": "Ray cluster address, e.g. 10.0.0.5:6379 (default: this machine, or $RAY_ADDRESS)",
    "unity_timeout": "seconds a Unity process may take to start or answer a step (default 30)",
    "checkpoint_every": "training iterations between checkpoints (default 10)",
    "checkpoint_interval": "agent steps between checkpoints (mlagents' checkpoint_interval; replaces --checkpoint-every)",
    "keep_checkpoints": "keep only the newest N checkpoints (default: keep all)",
    "summary_freq": "agent steps between summary lines in the run's log (mlagents' summary_freq)",
    "init_path": "start from the trained weights of a run folder or checkpoint (mlagents' init_path)",
    "behavior": "train only this behavior of a scene with several",
    "model": "your own RLModule class by import path, e.g. my_models:ResidualMLP (a file next to the notebook "
             "or an installed package); default: RLlib's network of --hidden-units x --num-layers",
    "backend": "where to train: local (this machine or --address's Ray cluster, default) or sagemaker",
    "instance_type": "SageMaker: the instance type (default ml.c5.2xlarge)",
    "instance_count": "SageMaker: instances that form one Ray cluster (default 1)",
    "spot": "SageMaker: managed spot training (cheaper; resumes from its S3 checkpoints when interrupted)",
    "max_run": "SageMaker: seconds the job may run (default 86400)",
    "role": "SageMaker: the IAM role ARN the job runs as (default $SAGEMAKER_ROLE, or this notebook instance's role)",
    "region": "SageMaker: AWS region (default $AWS_REGION, $AWS_DEFAULT_REGION or your AWS config)",
    "bucket": "SageMaker: S3 bucket for the build, code and results (default sagemaker-REGION-ACCOUNT)",
    "image": "SageMaker: training image URI (default the PyTorch CPU/GPU training image of the region)",
}

_SKIP = {"scene", "env_params", "rllib"}


def scene_defaults(field_name: str) -> str:
    """Each built-in scene's default for a setting, and a Unity build's, from the code's own tables:
    "defaults: 0.99 (Basic, 3DBall, ..., your build), 0.9 (GridWorld, SignPost)" (empty if it has none)."""
    tables = {**SCENE_DEFAULTS, "your build": BUILD_DEFAULTS}
    by_value: dict[str, list[str]] = {}
    for name, table in tables.items():
        if field_name in table:
            by_value.setdefault(_shown(table[field_name]), []).append(name)
    if not by_value:
        return ""
    return "defaults: " + ", ".join(f"{value} ({', '.join(names)})" for value, names in by_value.items())


def _shown(value) -> str:
    """A default as --help writes it: on/off, 20,000, 0.0003."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value == TARGET_OFF:
        return "off"
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def help_text(field_name: str) -> str:
    """A setting's help, with the scenes' defaults where the code's tables have them."""
    defaults = scene_defaults(field_name)
    return f"{HELP[field_name]}; {defaults}" if defaults else HELP[field_name]


def flag_name(field_name: str) -> str:
    return "--" + field_name.rstrip("_").replace("_", "-")


def _typed(kind: str):
    def convert(text: str):
        try:
            return int(text) if kind == "int" else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'a whole number' if kind == 'int' else 'a number'}, got {text!r}"
            ) from None

    convert.__name__ = kind  # argparse names the type in its messages
    return convert


def target_value(text: str):
    """An argparse type for --target-return: a number, or 'off' (train for all the steps)."""
    if text.strip().lower() == "off":
        return "off"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'off', got {text!r}") from None


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _param(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. --param mass=2.0), got {text!r}")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name.strip()}: expected a number, got {value!r}") from None


def _rllib(text: str) -> tuple[str, object]:
    try:
        return rllib_settings.parse_flag(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """Add a flag for every TrainConfig setting (default None: not given)."""
    for f in fields(TrainConfig):
        if f.name in _SKIP:
            continue
        flag, kind = flag_name(f.name), str(f.type)
        if f.name == "target_return":
            parser.add_argument(flag, dest=f.name, type=target_value, metavar="X|off", help=help_text(f.name))
        elif kind.startswith("bool"):
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text(f.name))
        elif kind.startswith("int"):
            parser.add_argument(flag, dest=f.name, type=_typed("int"), metavar="N", help=help_text(f.name))
        elif kind.startswith("float"):
            parser.add_argument(flag, dest=f.name, type=_typed("float"), metavar="X", help=help_text(f.name))
        elif f.name == "backend":
            parser.add_argument(flag, dest=f.name, choices=BACKENDS, help=help_text(f.name))
        elif f.name.endswith("_schedule"):
            parser.add_argument(flag, dest=f.name, choices=SCHEDULES, help=help_text(f.name))
        else:
            parser.add_argument(flag, dest=f.name, metavar=f.name.upper(), help=help_text(f.name))
    parser.add_argument("--param", dest="env_params", type=_param, action="append", metavar="NAME=VALUE",
                        help="a scene parameter (repeatable), e.g. --param mass=2.0")
    parser.add_argument("--rllib", dest="rllib", type=_rllib, action="append", metavar="KEY=VALUE",
                        help="any RLlib algorithm setting (repeatable), applied after the kit's: "
                             "--rllib training.kl_coeff=0.3, --rllib grad_clip=0.5, --rllib evaluation_interval=5")


def config_overrides(args: argparse.Namespace) -> dict:
    """The settings given on the command line, for ``make_config(**overrides)``."""
    out = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
           if f.name not in _SKIP and getattr(args, f.name, None) is not None}
    if getattr(args, "env_params", None):
        out["env_params"] = dict(args.env_params)
    if getattr(args, "rllib", None):
        out["rllib"] = dict(args.rllib)
    return out
