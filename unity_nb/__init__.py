"""unity-nb: Unity ML-Agents reinforcement learning from Jupyter notebooks.

    import unity_nb
    run = unity_nb.train("Basic", steps=20_000)   # a Run: .metrics, .wait(), .stop(), .evaluate(), .video()
    unity_nb.runs(); unity_nb.get_run(run_id)

In a notebook, ``%load_ext unity_nb`` adds the magics (%unity_train, %unity_runs,
...); ``unity_nb.notebook`` has the dashboard, the hyperparameter panel and videos.

Importing it makes the real ``mlagents_envs`` client load on modern protobuf
(see ``unity_nb.envs._protobuf_compat``); import it before ``mlagents_envs``.
"""

from importlib.metadata import PackageNotFoundError as _NotInstalled, version as _version

try:  # one source: labextension/package.json, which the package's metadata takes at install time
    __version__ = _version("unity-nb")
except _NotInstalled:  # a checkout on sys.path, not installed
    __version__ = "0+unknown"

import os as _os  # noqa: E402

# gRPC's C core logs every closed connection at INFO level; players open and close many.
# Set before grpc is first imported (by unity_nb.envs below).
_os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from .envs import _protobuf_compat as _compat  # noqa: E402

_compat.install()

from . import run as _run  # noqa: E402  (run stores hand out the user's Run, with its actions, from now on)

_TRAIN_API = ("runs", "get_run", "stop", "resume", "fork", "sweep", "warm_up", "make_config", "TrainConfig")


def __getattr__(name):
    # imported on first use: ``import unity_nb`` stays light (no pandas, no Ray)
    import importlib

    if name in _TRAIN_API:
        return getattr(importlib.import_module(".train", __name__), name)
    if name == "Run":
        return _run.Run
    if name in ("train", "envs", "evaluate", "notebook"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'unity_nb' has no attribute {name!r}")


def load_ipython_extension(ipython):
    """``%load_ext unity_nb``: register the magics (%unity_train, %unity_runs, ...)."""
    from .notebook.magics import load_ipython_extension as load

    load(ipython)


def _jupyter_server_extension_points():
    """The server extension behind JupyterLab's Unity RL sidebar (unity_nb.server)."""
    return [{"module": "unity_nb.server"}]


def _jupyter_labextension_paths():
    """The prebuilt JupyterLab extension (the sidebar) shipped in this package."""
    return [{"src": "labextension", "dest": "unity-nb"}]
