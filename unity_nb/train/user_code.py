"""Your own classes named in a run's settings (``model: my_models:ResidualMLP``), checked on the kernel side.

A class is named by its import path, ``module:Class``: the training process imports it (with the
folder the run was started from on its path), never the notebook's kernel (it would import torch and
RLlib there). Here the name is checked for form and the module is looked for without running it:
in the current folder, then the installed packages. A class defined in a notebook cell lives in
``__main__``, which no other process can import: the message says how to move it into a file.
"""

from __future__ import annotations

import importlib.machinery
import os
import re
import sys

from .errors import ConfigError

IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def import_path(value, key: str, source: str = "config") -> str:
    """``value`` as ``module:Class``: a string of that form, or a class (turned into its path)."""
    if isinstance(value, type):
        module, name = value.__module__, value.__qualname__
        if module == "__main__" or "<locals>" in name:
            raise ConfigError(
                f"{source}: {key} {value.__name__} is defined in the notebook (or a function), which the training "
                f"process cannot import. Put it in a file next to the notebook (a cell starting with "
                f"`%%writefile my_models.py`, then `from my_models import {value.__name__}`), and give "
                f"{key}='my_models:{value.__name__}'")
        return f"{module}:{name}"
    if not isinstance(value, str) or not IMPORT_PATH.match(value.strip()):
        raise ConfigError(f"{source}: {key} must be an import path like my_models:ResidualMLP (a module, a colon, "
                          f"a class), got {value!r}")
    return value.strip()


def find_module(path: str, key: str, folder: str | None = None) -> str:
    """Where ``path``'s top-level module is (this folder, then the installed packages), without importing it."""
    top = path.partition(":")[0].split(".")[0]
    folder = folder or os.getcwd()
    spec = importlib.machinery.PathFinder.find_spec(top, [folder, *sys.path])
    if spec is None and top in sys.builtin_module_names:
        return top
    if spec is None:
        raise ConfigError(
            f"{key}: no module {top!r} in {folder} or the installed packages. Put {top}.py next to the notebook "
            f"(or the folder you run unity-nb from), or pip install the package that has it")
    return spec.origin or top
