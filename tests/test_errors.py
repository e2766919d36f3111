"""One error family: every error the kit raises for a person derives from UnityNbError (and keeps its builtin
base); the faces show those as one line, a bug's traceback in full, and ``--debug`` shows the kit's too."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import unity_nb
from unity_nb import cli
from unity_nb.errors import BadValue, NotFound, UnityNbError
from unity_nb.verbs import VERBS

PACKAGE = Path(unity_nb.__file__).parent
BUILTINS = {"ValueError", "TypeError", "KeyError", "LookupError", "RuntimeError", "FileNotFoundError",
            "TimeoutError", "PermissionError", "ConnectionError", "NotImplementedError"}
# raised and caught inside the kit, never shown to a person
INTERNAL = {("envs/unity.py", "OSError")}


def test_the_kits_named_errors_are_one_family_and_keep_their_builtin_bases():
    from unity_nb.aws import SageMakerSetupError
    from unity_nb.deploy.export import NotExportable
    from unity_nb.deploy.sagemaker import EndpointGone
    from unity_nb.envs.errors import UnityBuildError, UnityConnectError, UnityPlayerDied
    from unity_nb.envs.scenes import UnknownSceneError
    from unity_nb.train.config import ConfigError
    from unity_nb.train.local import ClusterUnreachable
    from unity_nb.train.service import RuntimeRefused
    from unity_nb.train.store import RunNotFound
    from unity_nb.verbs import NoRunError

    bases = {ConfigError: ValueError, RunNotFound: KeyError, NotExportable: ValueError, SageMakerSetupError: ValueError,
             RuntimeRefused: RuntimeError, UnknownSceneError: KeyError, NoRunError: ValueError,
             ClusterUnreachable: ConnectionError, EndpointGone: LookupError, UnityBuildError: ValueError,
             UnityConnectError: RuntimeError, UnityPlayerDied: RuntimeError}
    for error, builtin in bases.items():
        assert issubclass(error, UnityNbError) and issubclass(error, builtin), error
    # a name that is not there reads as its message, not as KeyError's quoted repr
    assert str(RunNotFound("no run 'x'")) == "no run 'x'" and str(NotFound("no behavior 'y'")) == "no behavior 'y'"


def test_no_module_raises_a_bare_builtin_for_a_person_to_read():
    """A builtin raised by the kit itself would print as a bug's traceback on the faces: each raise is one of the
    family (unity_nb/errors.py), so this keeps new code from slipping back."""
    bare = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and isinstance(node.exc.func, ast.Name):
                name, where = node.exc.func.id, str(path.relative_to(PACKAGE))
                if name in BUILTINS | {"OSError"} and (where, name) not in INTERNAL:
                    bare.append(f"{where}:{node.lineno} raise {name}")
    assert not bare, bare


def _failing(monkeypatch, error):
    """`unity-nb runs` made to raise ``error``."""
    def call(*args, **kwargs):
        raise error

    monkeypatch.setitem(VERBS, "runs", dataclasses.replace(VERBS["runs"], call=call))


def test_the_cli_shows_a_kit_error_in_one_line_and_its_traceback_with_debug(monkeypatch, capsys):
    _failing(monkeypatch, BadValue("--thing must be small, got 7"))
    assert cli.main(["runs"]) == 2
    err = capsys.readouterr().err
    assert err == "unity-nb runs: error: --thing must be small, got 7\n"
    assert cli.main(["--debug", "runs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and err.endswith(
        "unity-nb runs: error: --thing must be small, got 7\n")


def test_a_bug_is_not_dressed_as_a_users_mistake(monkeypatch):
    """Before, any ValueError or KeyError printed as one line, so a bug of the kit's read like bad input."""
    _failing(monkeypatch, KeyError("episode_return_mean"))
    with pytest.raises(KeyError):
        cli.main(["runs"])
