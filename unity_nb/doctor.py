"""``unity-nb doctor``: check a machine before a class, one line per thing that a first training cell needs.

Each check reports ok, a note (works, but worth knowing) or a problem with what to do. A check that
cannot even run (no Jupyter, a read-only home, no network) becomes its own problem line: the rest
still run, so a teacher sees everything that is wrong at once. ``Checkup.ok`` is False on any problem
(the command exits 1, so a hub's start-up script can use it).
"""

from __future__ import annotations

import html
import importlib.metadata
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

OK, NOTE, PROBLEM = "ok", "note", "problem"
# the packages a training cell uses, as pip names them (their versions are read, not imported)
KEY_PACKAGES = ["unity-nb", "ray", "torch", "mlagents-envs", "gymnasium", "numpy", "grpcio", "ipywidgets",
                "jupyterlab"]
MIN_FREE_DISK = 512 * 2**20  # a run folder with its checkpoints stays well under this; a class shares one disk
BASIC_ITERATIONS = 2


@dataclass(frozen=True)
class Check:
    """One line of the checkup: what was checked, how it went, what was found, what to do about it."""

    name: str
    status: str  # OK, NOTE or PROBLEM
    found: str
    todo: str = ""

    def __str__(self):
        line = f"{self.status.upper():8s} {self.name:12s} {self.found}"
        return line + (f"\n{'':21s} -> {self.todo}" if self.todo else "")


@dataclass
class Checkup:
    """Every check's line, in the order they ran."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != PROBLEM for c in self.checks)

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if c.status == PROBLEM]

    def __getitem__(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def summary(self) -> str:
        problems = len(self.problems)
        return ("unity-nb doctor: everything a first training cell needs is here" if not problems else
                f"unity-nb doctor: {problems} problem(s): {', '.join(c.name for c in self.problems)}")

    def __str__(self):
        return "\n".join([*map(str, self.checks), self.summary()])

    def __repr__(self):
        return f"Checkup({len(self.checks)} checks, {len(self.problems)} problem(s))"

    def _repr_html_(self):
        colour = {OK: "#2e7d32", NOTE: "#b26a00", PROBLEM: "#c62828"}
        rows = "".join(
            f"<tr><td style='color:{colour[c.status]};font-weight:bold'>{c.status}</td><td>{html.escape(c.name)}</td>"
            f"<td style='text-align:left'>{html.escape(c.found)}"
            + (f"<br><b>what to do:</b> {html.escape(c.todo)}" if c.todo else "") + "</td></tr>"
            for c in self.checks)
        return (f"<table><tr><th>status</th><th>check</th><th style='text-align:left'>found</th></tr>{rows}</table>"
                f"<p>{html.escape(self.summary())}</p>")


# ---------------------------------------------------------------- the checks; each returns (status, found, todo)
def check_python():
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info < (3, 10):
        return PROBLEM, f"Python {version} ({sys.executable})", "use Python 3.10 or newer"
    return OK, f"Python {version} ({sys.executable})", ""


def check_packages():
    found, missing = [], []
    for name in KEY_PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        return PROBLEM, f"missing: {', '.join(missing)}; found: {', '.join(found)}", \
            "install the kit with its dependencies: bash scripts/setup.sh (or pip install unity-nb)"
    return OK, ", ".join(found), ""


def check_torch():
    # read from torch's version.py, not imported: torch takes hundreds of MB, and in a 1 GiB session that was
    # the difference between the training check fitting and being killed for memory
    import importlib.util
    import re

    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return PROBLEM, "torch is not installed", "pip install torch (its CPU build: see the README)"
    text = (Path(spec.submodule_search_locations[0]) / "version.py").read_text()
    version = re.search(r"__version__\s*=\s*'([^']+)'", text).group(1)
    cuda = re.search(r"^cuda\b[^=]*=\s*'([^']+)'", text, re.M)
    if cuda:
        return NOTE, f"torch {version}: a CUDA {cuda.group(1)} build (the kit trains on CPU)", \
            "on a CPU-only machine the CPU build is far smaller: pip install torch --index-url https://download.pytorch.org/whl/cpu"
    return OK, f"torch {version}: CPU build", ""


def check_share():
    from .train.share import find_share

    try:
        share = find_share()
    except ValueError as err:
        return PROBLEM, str(err), "set UNITY_NB_CPUS / UNITY_NB_MEMORY to what each person may use (e.g. 2 and 2G)"
    return OK, f"the training runtime may use {share.describe()}", ""


def check_disk(runs_dir: Path):
    from .train.store import default_root

    folder = Path(os.path.abspath(runs_dir or default_root()))
    place = folder
    while not place.exists() and place != place.parent:  # the folder may not exist before the first run
        place = place.parent
    free = shutil.disk_usage(place).free
    try:
        with tempfile.NamedTemporaryFile(dir=place, prefix=".unity-nb-doctor-"):
            pass
    except OSError as err:
        return PROBLEM, f"runs go to {folder}, but {place} cannot be written: {err.strerror}", \
            "give runs a writable folder: --runs-dir DIR, UNITY_NB_RUNS=DIR, or start Jupyter in a writable folder"
    found = f"runs go to {folder}: {free / 2**30:.1f} GiB free"
    if free < MIN_FREE_DISK:
        return PROBLEM, found, f"free some space (a run with its checkpoints needs up to {MIN_FREE_DISK / 2**20:.0f} MiB)"
    return OK, found, ""


def check_shm():
    from .train.share import find_share, shm_free

    size = shm_free()
    if size is None:
        return NOTE, "no /dev/shm: Ray keeps its object store in the runtime's temp folder (slower, works)", ""
    try:
        share = find_share()
    except ValueError:  # the share line says why
        share = None
    found = f"/dev/shm has {size / 2**20:.0f} MiB free"
    if share is not None and not share.fits_shm(size):
        return NOTE, f"{found}, less than the object store's {share.object_store / 2**20:.0f} MiB: it lives in the " \
                     "runtime's temp folder instead (slower, works)", "a container can be given more: docker run --shm-size=1g"
    return OK, found, ""


def check_scene():
    from .envs.random_play import play_random

    played = play_random("Basic", episodes=2, seed=0, mode="player")
    return OK, f"Basic opened through the real ML-Agents client and played 2 episodes in {played.seconds:.1f} s", ""


def check_training():
    import unity_nb.train as ut
    from .train import service

    was_up = service.status() is not None
    batch = ut.make_config("Basic").train_batch_size
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="unity-nb-doctor-") as folder:
        run = ut.train("Basic", runs_dir=folder, steps=BASIC_ITERATIONS * batch, target_return="off")
        run.wait(timeout=600)
        last = run.last()
        state = run.state
        error = (run.status or {}).get("error")
    seconds = time.perf_counter() - started
    if state != "finished":
        return PROBLEM, f"a Basic run {state} after {last.get('env_steps', 0)} steps: {error}", \
            "see the error above; `unity-nb up` shows the training runtime"
    how = "on the running training runtime" if was_up else "starting the training runtime first"
    return OK, (f"trained {last.get('iteration')} iterations of Basic ({last.get('env_steps')} steps) in "
                f"{seconds:.1f} s, {how}; it stays up for the next runs until idle"), ""


def check_front_end():
    try:
        from jupyter_core.paths import jupyter_path
    except ImportError:
        return PROBLEM, "Jupyter is not installed (no jupyter_core)", "pip install jupyterlab"
    folders = [Path(p) for p in jupyter_path("labextensions")]
    ours = next((f / "unity-nb" for f in folders if (f / "unity-nb" / "package.json").exists()), None)
    widgets = next((f for f in folders if (f / "@jupyter-widgets" / "jupyterlab-manager").exists()), None)
    missing = [name for name, where in (("the Unity RL sidebar (unity-nb)", ours),
                                         ("the widget front-end (@jupyter-widgets/jupyterlab-manager)", widgets))
               if where is None]
    if missing:
        return PROBLEM, f"JupyterLab extensions missing: {'; '.join(missing)}", \
            "reinstall into the Python that runs JupyterLab: pip install --force-reinstall unity-nb ipywidgets"
    return OK, f"JupyterLab extensions: the Unity RL sidebar ({ours}) and the widget front-end", ""


def run_checks(runs_dir=None, quick: bool = False, report: Callable[[Check], None] = lambda check: None) -> Checkup:
    """Run every check (``quick``: all but the training run); ``report`` gets each line as soon as it is known."""
    checks: list[tuple[str, Callable]] = [
        ("python", check_python), ("packages", check_packages), ("torch", check_torch), ("share", check_share),
        ("disk", lambda: check_disk(runs_dir)), ("shm", check_shm), ("front-end", check_front_end),
        ("scene", check_scene)]
    if not quick:
        checks.append(("training", check_training))
    checkup = Checkup()
    for name, check in checks:
        try:
            status, found, todo = check()
        except Exception as err:  # noqa: BLE001 - a check that cannot run is itself the finding
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            status, found, todo = PROBLEM, f"could not check: {type(err).__name__}: {first}", \
                "see the message; `unity-nb doctor` again once it is fixed"
        checkup.checks.append(Check(name, status, found, todo))
        report(checkup.checks[-1])
    return checkup
