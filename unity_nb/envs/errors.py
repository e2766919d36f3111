"""Errors a user of unity_nb.envs can meet, each saying what to do."""

from __future__ import annotations

from ..errors import UnityNbError

__all__ = ["UnityNbError", "UnityBuildError", "UnityConnectError", "UnityPlayerDied"]


class UnityBuildError(UnityNbError, ValueError):
    """The path given is not a Unity build this machine can launch."""


class UnityConnectError(UnityNbError, RuntimeError):
    """A Unity player or the Editor did not connect, or connected wrongly."""


class UnityPlayerDied(UnityNbError, RuntimeError):
    """The Unity process crashed or stopped answering mid-episode."""
