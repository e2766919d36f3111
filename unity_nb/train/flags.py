"""TrainConfig settings as command-line flags: one definition for the ``unity-nb`` command and the magics.

Every TrainConfig field becomes ``--field-name`` (``lambda_`` is ``--lambda``,
``normalize`` is ``--normalize/--no-normalize``), of the kind and with the help its
rule says (``settings.py``); scene parameters are ``--param NAME=VALUE``. Values are
parsed here only as far as their type (and choices); the ranges are checked by
``TrainConfig.validate`` so every entry point says the same.
"""

from __future__ import annotations

import argparse
from . import rllib_settings
from .config import BUILD_DEFAULTS, SCENE_DEFAULTS, TrainConfig
from .settings import default_text, per_scene_text, rules

def help_text(field_name: str) -> str:
    """A setting's help (its field's rule), with its default: the same for every scene, or each scene's
    where they differ ("defaults: 0.99 (Basic, 3DBall, ...), 0.9 (GridWorld, SignPost)")."""
    field, rule = rules(TrainConfig)[field_name]
    default = default_text(field) or per_scene_text(field_name, {**SCENE_DEFAULTS, "your build": BUILD_DEFAULTS})
    return f"{rule.help}; {default}" if default else rule.help


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


def _key_number(text: str, flag: str, example: str, alternative: str = "") -> tuple[str, object]:
    """KEY=VALUE of a flag whose values are numbers (a whole number stays whole; the key is checked later)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. {flag} {example}){alternative}, got {text!r}")
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{key}: expected a number, got {value!r}") from None
    return key, int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number


def _self_play(text: str) -> tuple[str, object]:
    """One --self-play value: on, or KEY=VALUE (a number; the key and range are checked with the run's settings)."""
    if text.strip().lower() in ("on", "true", ""):
        return ("", None)
    return _key_number(text, "--self-play", "window=5", " or on")


def _cloning(text: str) -> tuple[str, object]:
    """One --behavioral-cloning value: demo_path=FILE, or KEY=VALUE (a number; checked with the run's settings)."""
    key, sep, value = text.partition("=")
    if sep and key.strip() == "demo_path":
        return "demo_path", value
    return _key_number(text, "--behavioral-cloning", "demo_path=expert.demo")


def _signal(flag: str, example: str):
    """A --curiosity / --rnd / --gail value: on, off, demo_path=FILE, normalize|use_actions|use_vail=true|false,
    or KEY=VALUE (a number; checked with the run's settings)."""
    def read(text: str) -> tuple[str, object]:
        if text.strip().lower() in ("on", "true", ""):
            return ("", None)
        if text.strip().lower() in ("off", "false"):  # a scene that trains with it by default (Pyramids: rnd)
            return ("off", None)
        key, sep, value = text.partition("=")
        flag_value = value.strip().lower()
        if sep and key.strip() in ("normalize", "use_actions", "use_vail"):
            if flag_value not in ("true", "false"):
                raise argparse.ArgumentTypeError(f"{key.strip()}: expected true or false, got {value!r}")
            return key.strip(), flag_value == "true"
        if sep and key.strip() == "demo_path":
            return "demo_path", value
        return _key_number(text, flag, example, " or on")
    read.__name__ = flag.lstrip("-")
    return read


def _rllib(text: str) -> tuple[str, object]:
    try:
        return rllib_settings.parse_flag(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _or_space(convert):
    """An argparse type: a search space of a sweep ("loguniform(1e-4, 3e-3)"), else a value as ``convert`` reads it."""
    from .sweeps import parse_space

    def read(text: str):
        try:
            space = parse_space(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
        return space if space is not None else (convert(text) if convert else text)

    read.__name__ = getattr(convert, "__name__", "value")
    return read


def add_config_flags(parser: argparse.ArgumentParser, spaces: bool = False) -> None:
    """Add a flag for every TrainConfig setting (default None: not given), of the kind its rule says
    (``spaces``: a sweep's, where each may also be a search space)."""
    for name, (field, rule) in rules(TrainConfig).items():
        if not rule.flag:
            continue
        flag, text = flag_name(name), help_text(name)
        if rule.kind == "bool":
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif rule.kind == "choice" and not spaces:
            parser.add_argument(flag, dest=name, choices=rule.choices, help=text)
        else:
            kind = {"int": _typed("int"), "float": _typed("float"), "target": target_value}.get(rule.kind)
            if spaces:
                kind = _or_space(kind)
            metavar = rule.metavar or {"int": "N", "float": "X"}.get(rule.kind) or name.upper()
            parser.add_argument(flag, dest=name, type=kind, metavar=metavar, help=text)
    parser.add_argument("--param", dest="env_params", type=_param, action="append", metavar="NAME=VALUE",
                        help="a scene parameter (repeatable), e.g. --param mass=2.0")
    parser.add_argument("--self-play", dest="self_play", type=_self_play, action="append", nargs="?", const="on",
                        metavar="KEY=VALUE", help="adversarial self-play for a scene of two teams (Unity's ghost "
                        "trainer, ELO ratings); alone: mlagents-learn's self_play defaults; KEY=VALUE (repeatable) "
                        "sets save_steps, team_change, swap_steps, window, play_against_latest_model_ratio or "
                        "initial_elo, e.g. --self-play window=5")
    parser.add_argument("--behavioral-cloning", dest="behavioral_cloning", type=_cloning, action="append",
                        metavar="KEY=VALUE", help="clone a Unity .demo beside PPO (ML-Agents' behavioral_cloning): "
                        "demo_path=FILE, and optionally strength, steps, batch_size, num_epoch, samples_per_update "
                        "(repeatable), e.g. --behavioral-cloning demo_path=expert.demo --behavioral-cloning strength=0.5")
    for name, example, what in (("curiosity", "strength=0.02", "for what the agent cannot predict yet"),
                                ("rnd", "strength=0.01", "for observations seldom seen (random network distillation)")):
        parser.add_argument(f"--{name}", dest=name, type=_signal(f"--{name}", example), action="append", nargs="?",
                            const="on", metavar="KEY=VALUE",
                            help=f"add ML-Agents' {name} reward signal, an intrinsic reward {what}; alone: the kit's "
                            f"defaults; off: without it (Pyramids trains with rnd unless --rnd off); KEY=VALUE "
                            f"(repeatable) sets strength, gamma, learning_rate, hidden_units, num_layers or normalize, "
                            f"e.g. --{name} {example}")
    parser.add_argument("--gail", dest="gail", type=_signal("--gail", "demo_path=expert.demo"), action="append",
                        metavar="KEY=VALUE", help="add ML-Agents' gail reward signal, a reward for playing like a "
                        "Unity .demo (a discriminator of its steps from the policy's): demo_path=FILE, and optionally "
                        "strength, gamma, learning_rate, hidden_units, num_layers, normalize, use_actions, use_vail "
                        "(repeatable), e.g. --gail demo_path=expert.demo --gail strength=0.5")
    parser.add_argument("--rllib", dest="rllib", type=_rllib, action="append", metavar="KEY=VALUE",
                        help="any RLlib algorithm setting (repeatable), applied after the kit's: "
                             "--rllib training.kl_coeff=0.3, --rllib grad_clip=0.5, --rllib evaluation_interval=5")


def config_overrides(args: argparse.Namespace) -> dict:
    """The settings given on the command line, for ``make_config(**overrides)``."""
    out = {name: getattr(args, name) for name, (_, rule) in rules(TrainConfig).items()
           if rule.flag and getattr(args, name, None) is not None}
    if getattr(args, "env_params", None):
        out["env_params"] = dict(args.env_params)
    if getattr(args, "self_play", None):
        out["self_play"] = {k: v for k, v in args.self_play if k}
    if getattr(args, "behavioral_cloning", None):
        out["behavioral_cloning"] = dict(args.behavioral_cloning)
    for name in ("curiosity", "rnd", "gail"):
        given = getattr(args, name, None)
        if given:
            out[name] = False if any(k == "off" for k, _ in given) else {k: v for k, v in given if k}
    if getattr(args, "rllib", None):
        out["rllib"] = dict(args.rllib)
    return out
