"""The kit's one error family: everything it raises for a person to fix derives from ``UnityNbError``.

The faces (the CLI, the magics) show these as one line (which argument, what was wrong, what to do);
any other exception is a bug of the kit's and shows its traceback. ``unity-nb --debug`` and
``%unity_debug on`` show the traceback of these too.

Each class also derives from the builtin a caller would catch (``except ValueError`` still catches a
bad value), so code written against the builtins keeps working. Nothing here imports the rest of the
package, so any layer may use it.
"""

from __future__ import annotations


class UnityNbError(Exception):
    """Base of the kit's own errors: something a person can fix, said in one line."""


class BadValue(UnityNbError, ValueError):
    """A value given (an argument, a setting, a file's content) is wrong; the message says what fits."""


class WrongType(UnityNbError, TypeError):
    """A value given is of the wrong kind; the message says which kinds fit."""


class NotFound(UnityNbError, KeyError):
    """A name given (a run, a behavior, a parameter, a scene) is not there; the message lists what is."""

    def __str__(self):  # KeyError's own str() would show the message in quotes
        return str(self.args[0]) if self.args else ""


class MissingFile(UnityNbError, FileNotFoundError):
    """A file or folder given is not there."""


class NotPossible(UnityNbError, RuntimeError):
    """Something cannot be done now (a run still starting, a closed environment, a start that failed)."""


class TimedOut(UnityNbError, TimeoutError):
    """Something did not happen in the time allowed; the message says where to look."""


class NotPermitted(UnityNbError, PermissionError):
    """A file or folder has the wrong owner or permissions for what the kit must do with it."""


class Unreachable(UnityNbError, ConnectionError):
    """A server the kit needs (a Ray cluster, the training runtime) does not answer."""


class NotSupported(UnityNbError, NotImplementedError):
    """A combination the kit does not handle (yet); the message says what does work."""


class PortInUse(UnityNbError, OSError):
    """A port asked for is taken on this machine; the message says to choose another or leave it out."""
