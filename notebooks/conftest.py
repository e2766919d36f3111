"""Run the notebooks under pytest (nbval) without leaving run folders in the repository.

    .venv/bin/python -m pytest --nbval-lax -p no:cacheprovider notebooks/

nbval starts each notebook's kernel with this process's environment, so setting
UNITY_NB_RUNS here, before any kernel starts, sends every run of every notebook
to a fresh temporary folder. It is removed at the end of the session unless
UNITY_NB_KEEP_RUNS is set (then its path is printed, to look at the runs).
"""

import os
import shutil
import tempfile

RUNS = tempfile.mkdtemp(prefix="unity-nb-notebook-runs-")
os.environ["UNITY_NB_RUNS"] = RUNS


def pytest_report_header(config):
    return f"unity-nb runs: {RUNS}"


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("UNITY_NB_KEEP_RUNS"):
        print(f"\nunity-nb: runs kept in {RUNS}")
    else:
        shutil.rmtree(RUNS, ignore_errors=True)
