"""The jupyter_server extension behind JupyterLab's "Unity RL" sidebar: a REST API over the run store.

Enabled on install (``etc/jupyter/jupyter_server_config.d/unity_nb.json``); the routes are in
``routes.py``. The run store is ``c.UnityRL.runs_dir`` if set, else ``$UNITY_NB_RUNS``, else
``runs/`` in the server's root folder; kernels this server starts are given the same
``UNITY_NB_RUNS``, so a run started from any notebook shows in the sidebar.
"""

from __future__ import annotations

import os
from pathlib import Path

from traitlets import Unicode
from traitlets.config import Configurable

from ..errors import BadValue
from .index import RunIndex
from .jobs import Jobs

MAX_STORES = 16  # run stores whose index is kept (the server's, and folders the settings name)


class UnityRL(Configurable):
    """Settings of the Unity RL server extension (``c.UnityRL.runs_dir = "..."`` in jupyter_server_config.py)."""

    runs_dir = Unicode(
        "", config=True,
        help="Folder of training runs the sidebar shows (relative: to the server's root folder). "
             "Default: $UNITY_NB_RUNS, else 'runs' in the root folder.",
    )

    def __init__(self, root_dir: str | os.PathLike, **kwargs):
        super().__init__(**kwargs)
        self.root_dir = Path(root_dir).expanduser().absolute()
        chosen = self.runs_dir or os.environ.get("UNITY_NB_RUNS") or "runs"
        self.default_root = (self.root_dir / Path(chosen).expanduser()).absolute()
        self.jobs = Jobs()
        self._indexes: dict[Path, RunIndex] = {}

    def index_for(self, runs_dir: str | None = None) -> RunIndex:
        """The index of the server's store, or of ``runs_dir`` (a folder inside the root folder)."""
        if runs_dir in (None, ""):
            root = self.default_root
        else:
            if "\0" in runs_dir or len(runs_dir) > 1024:
                raise BadValue("runs_dir is not a folder name")
            root = (self.root_dir / runs_dir).absolute()
            real, top = Path(os.path.realpath(root)), Path(os.path.realpath(self.root_dir))
            if real != top and top not in real.parents:
                raise BadValue(f"runs_dir must be a folder inside the server's root folder, got {runs_dir[:100]!r}")
        if root not in self._indexes:
            if len(self._indexes) >= MAX_STORES:  # many folders asked for: forget the oldest index
                self._indexes.pop(next(iter(self._indexes)))
            self._indexes[root] = RunIndex(root)
        return self._indexes[root]

    @staticmethod
    def quickstart_path() -> Path | None:
        """The quickstart notebook: in the wheel, or in the source checkout of an editable install."""
        here = Path(__file__).parent
        for candidate in (here / "quickstart.ipynb", here.parents[1] / "notebooks" / "01-quickstart.ipynb"):
            if candidate.is_file():
                return candidate
        return None


def _load_jupyter_server_extension(serverapp) -> None:
    from .routes import handlers

    kit = UnityRL(serverapp.root_dir, config=serverapp.config, parent=serverapp)
    # kernels inherit the server's environment: their runs land in the store the sidebar shows
    os.environ["UNITY_NB_RUNS"] = str(kit.default_root)
    serverapp.web_app.settings["unity_nb"] = kit
    serverapp.web_app.add_handlers(".*$", handlers(serverapp.web_app.settings["base_url"]))
    serverapp.log.info(f"unity-nb: Unity RL sidebar API at /unity-nb/api/ over {kit.default_root}")
