"""Run the notebooks under pytest (nbval) without leaving run folders in the repository.

    .venv/bin/python -m pytest --nbval-lax -p no:cacheprovider notebooks/

nbval starts each notebook's kernel with this process's environment, so setting
UNITY_NB_RUNS here, before any kernel starts, sends every run of every notebook
to a fresh temporary folder. It is removed at the end of the session unless
UNITY_NB_KEEP_RUNS is set (then its path is printed, to look at the runs).
"""

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

RUNS = tempfile.mkdtemp(prefix="unity-nb-notebook-runs-")
os.environ["UNITY_NB_RUNS"] = RUNS
HERE = Path(__file__).resolve().parent
# a code cell that starts training (so the notebook's later cells need Ray)
TRAINS = re.compile(r"%%?unity_train\b|%unity_panel\b|\.train\(|\bresume\(")


def pytest_report_header(config):
    return f"unity-nb runs: {RUNS}"


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("UNITY_NB_KEEP_RUNS"):
        print(f"\nunity-nb: runs kept in {RUNS}")
    else:
        shutil.rmtree(RUNS, ignore_errors=True)


def _trains(path: Path) -> bool:
    cells = json.loads(path.read_text()).get("cells", [])
    return any(TRAINS.search("".join(c.get("source", ""))) for c in cells if c.get("cell_type") == "code")


def pytest_collection_modifyitems(config, items):
    """Every notebook cell nbval collects is marked ``notebook`` and ``kernel`` (it runs in a
    Jupyter kernel), and ``ray`` when its notebook trains, so that
    ``-m "not ray and not kernel and not browser"`` leaves the notebooks out."""
    trains: dict[Path, bool] = {}
    for item in items:
        path = Path(str(item.path)).resolve()
        if path.suffix != ".ipynb" or HERE not in path.parents:
            continue
        item.add_marker(pytest.mark.notebook)
        item.add_marker(pytest.mark.kernel)
        if path not in trains:
            trains[path] = _trains(path)
        if trains[path]:
            item.add_marker(pytest.mark.ray)
