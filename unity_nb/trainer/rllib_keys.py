"""Write the catalogue of RLlib algorithm settings the kit's ``rllib:`` section accepts.

    python -m unity_nb.trainer.rllib_keys    # rewrites unity_nb/train/rllib_keys.json

The kernel side never imports RLlib, yet an ``rllib:`` key must be checked before anything
starts. So the names (and the simple types) of every setting of each algorithm's
``AlgorithmConfig`` groups (``training``, ``env_runners``, ``learners`` ...) are read from the
installed RLlib once, here, and shipped as JSON; ``tests/test_rllib_settings.py`` rebuilds it
and fails if the installed RLlib says otherwise (RLlib is pinned).
"""

from __future__ import annotations

import inspect
import json
import typing
import warnings
from pathlib import Path

from ..train.settings import ALGORITHMS

# The AlgorithmConfig methods whose keywords a user may set (each a group of settings).
GROUPS = ("training", "env_runners", "learners", "rl_module", "evaluation", "resources", "framework", "debugging",
          "fault_tolerance", "reporting", "checkpointing", "multi_agent", "environment", "callbacks",
          "offline_data", "api_stack")
CATALOGUE = Path(__file__).resolve().parents[1] / "train" / "rllib_keys.json"

_KINDS = {bool: "bool", int: "int", float: "number", str: "str", dict: "dict", list: "list", tuple: "list"}


def _kinds(annotation) -> list[str]:
    """The JSON kinds an annotation allows (empty: anything, e.g. a class, a callable, a schedule)."""
    if annotation is inspect.Parameter.empty:
        return []
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        parts = [a for a in typing.get_args(annotation) if a is not type(None)]
        kinds = [_kinds(a) for a in parts]
        return [] if any(k == [] for k in kinds) else sorted({k for ks in kinds for k in ks})
    if origin is not None:
        annotation = origin
    if annotation in _KINDS:
        kind = _KINDS[annotation]
        return ["int", "number"] if kind == "number" else [kind]
    return []


def catalogue() -> dict[str, dict[str, dict[str, list[str]]]]:
    """{algorithm: {group: {setting: kinds}}} from the installed RLlib; only settings the config holds."""
    from ray.rllib.algorithms.registry import ALGORITHMS as RLLIB

    out: dict[str, dict[str, dict[str, list[str]]]] = {}
    for algorithm in ALGORITHMS:
        config = RLLIB[algorithm]()[1]
        groups: dict[str, dict[str, list[str]]] = {}
        for group in GROUPS:
            settings: dict[str, list[str]] = {}
            for klass in type(config).__mro__:  # an algorithm's own group method adds to the base one's
                method = klass.__dict__.get(group)
                if method is None:
                    continue
                try:
                    hints = typing.get_type_hints(method)
                except Exception:
                    hints = {}
                for name, param in inspect.signature(method).parameters.items():
                    if name.startswith("_") or name == "self" or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL) \
                            or name in settings:
                        continue
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            getattr(config, name)  # deprecated names raise: they are not offered
                    except Exception:
                        continue
                    settings[name] = _kinds(hints.get(name, param.annotation))
            groups[group] = dict(sorted(settings.items()))
        out[algorithm] = groups
    return out


def main() -> None:
    CATALOGUE.write_text(json.dumps(catalogue(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {CATALOGUE}")


if __name__ == "__main__":
    main()
