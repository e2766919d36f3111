"""unity-nb installs and works on every Python it claims (requires-python >= 3.10), not just 3.11.

The suite itself runs on one interpreter (3.11, the one training is tested on:
the CPU torch wheel lies on disk only for it; other versions would pull a
multi-GB CUDA build). This module takes each other Python it can find (pyenv's
``/root/.pyenv/versions/3.X.*`` or ``python3.X`` on PATH), makes a fresh venv
for it, ``pip install``s this checkout into it as a user would (not editable,
with the pip that venv ships), checks that the kit's dependencies did not
pull torch, and runs ``tests/other_pythons/smoke.py`` there: the raw
mlagents-envs client and the gymnasium wrapper on every built-in scene,
``%load_ext unity_nb`` in a real Jupyter kernel, and the run store and
dashboard without Ray.

Why: each new Python breaks something old. 3.12 removed ``distutils``, which
mlagents-envs 0.28 imports (pyproject.toml now depends on setuptools there),
and 3.13 drops wheels of packages that stopped releasing.

The venvs are kept in ``~/.cache/unity-nb/test-venvs/py3.X-<hash of
pyproject.toml>`` ($UNITY_NB_TEST_VENVS overrides the folder): the first run
is a real fresh install (minutes), later runs reuse the venv and only
reinstall the kit itself when its sources changed (seconds). A changed
pyproject.toml means new dependencies, so a new venv (the old one is removed).
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOKE = Path(__file__).resolve().parent / "other_pythons" / "smoke.py"
VERSIONS = ["3.10", "3.12", "3.13"]
COMPLETE = ".unity-nb-complete"  # written last: a venv without it is half built and made anew
# What must never come with the kit's dependencies (training installs torch itself, CPU build, on 3.11)
HEAVY = ("torch", "nvidia-cublas-cu12", "nvidia-cudnn-cu12", "triton")

pytestmark = pytest.mark.kernel  # smoke.py starts a Jupyter kernel in each venv (and no Ray)


def find_python(version: str) -> str | None:
    """The newest pyenv build of ``version``, else ``python3.X`` on PATH."""
    root = os.environ.get("PYENV_ROOT") or "/root/.pyenv"
    found = glob.glob(f"{root}/versions/{version}.*/bin/python{version}")

    def key(path: str):
        release = Path(path).parents[1].name  # 3.12.1
        return [int(x) if x.isdigit() else -1 for x in re.split(r"[.]", release)]

    found = [p for p in found if re.fullmatch(rf"{re.escape(version)}\.\d+", Path(p).parents[1].name)]
    if found:
        return max(found, key=key)
    return shutil.which(f"python{version}")


def clean_env() -> dict:
    """This process's environment without what would tie a child to our venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "UNITY_NB_CACHE")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.pop("MPLBACKEND", None)
    return env


def sources_digest() -> str:
    """What a non-editable install copies: pyproject.toml, README.md and the package's files."""
    h = hashlib.sha256()
    files = [ROOT / "pyproject.toml", ROOT / "README.md"]
    files += sorted(p for p in (ROOT / "unity_nb").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for p in files:
        h.update(str(p.relative_to(ROOT)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def run(cmd: list[str], timeout: float, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout)


def must(cmd: list[str], timeout: float, what: str) -> subprocess.CompletedProcess:
    result = run(cmd, timeout)
    assert result.returncode == 0, f"{what} failed ({result.returncode}): {' '.join(cmd)}\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    return result


def install_checkout(python: str, timeout: float, *pip_args: str) -> None:
    """pip install this checkout (not editable) from a copy, so no build/ lands in the work tree."""
    with tempfile.TemporaryDirectory(prefix="unity-nb-src-") as tmp:
        src = Path(tmp) / "unity-nb"
        src.mkdir()
        for name in ("pyproject.toml", "README.md", "notebooks/01-quickstart.ipynb"):  # the wheel's quickstart
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
        # the package (with the built JupyterLab extension: the build hook then needs no Node), the
        # server extension's config, and the extension's source the hook would build from
        skip = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", "lib", "build-test")
        for folder in ("unity_nb", "jupyter-config", "labextension"):
            shutil.copytree(ROOT / folder, src / folder, ignore=skip)
        must([python, "-m", "pip", "install", *pip_args, str(src)], timeout, "pip install of the checkout")


def venv_for(version: str, base: str) -> tuple[Path, str]:
    """A venv of ``base`` with the kit installed; reused while pyproject.toml is unchanged."""
    cache = Path(os.environ.get("UNITY_NB_TEST_VENVS") or Path.home() / ".cache" / "unity-nb" / "test-venvs")
    cache.mkdir(parents=True, exist_ok=True)
    deps = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    venv = cache / f"py{version}-{deps}"
    python = str(venv / "bin" / "python")
    digest = sources_digest()
    with open(cache / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test sessions never build the same venv at once
        marker = venv / COMPLETE
        started = time.monotonic()
        if marker.exists() and Path(python).exists():
            if marker.read_text().strip() != digest:  # same dependencies, changed kit: reinstall it alone
                install_checkout(python, 600, "--no-deps", "--force-reinstall")
                marker.write_text(digest)
                print(f"py{version}: kit reinstalled in {time.monotonic() - started:.0f} s")
            else:
                print(f"py{version}: reusing {venv}")
        else:
            shutil.rmtree(venv, ignore_errors=True)  # half built: start again
            must([base, "-m", "venv", str(venv)], 300, "creating the venv")
            install_checkout(python, 1000)
            marker.write_text(digest)
            print(f"py{version}: fresh venv {venv} built in {time.monotonic() - started:.0f} s")
    for old in cache.glob(f"py{version}-*"):  # venvs of an older pyproject.toml: ~1.3 GB each
        if old.is_dir() and old != venv:
            shutil.rmtree(old, ignore_errors=True)
            Path(f"{old}.lock").unlink(missing_ok=True)
    return venv, python


@pytest.fixture(scope="module")
def venvs():
    """Every other Python's venv, built side by side (a fresh install is mostly download and unpacking: three
    at once take little longer than one); each test waits for its own."""
    from concurrent.futures import ThreadPoolExecutor

    found = {v: find_python(v) for v in VERSIONS}
    with ThreadPoolExecutor(max_workers=len(VERSIONS)) as pool:
        yield {v: pool.submit(venv_for, v, base) for v, base in found.items() if base is not None}


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("version", VERSIONS)
def test_installs_and_runs(version, venvs):
    if version not in venvs:
        pytest.skip(f"no Python {version} on this machine (looked in pyenv's versions/{version}.* and for python{version} on PATH)")
    venv, python = venvs[version].result()
    got = must([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], 60, "asking the venv's version")
    assert got.stdout.strip() == version

    # the kit's dependencies must not pull torch (or a CUDA stack with it)
    listed = must([python, "-m", "pip", "list", "--format=freeze"], 120, "pip list").stdout
    names = {line.split("==")[0].lower().replace("_", "-") for line in listed.splitlines() if "==" in line}
    assert not names & set(HEAVY), f"the kit's dependencies pulled {sorted(names & set(HEAVY))} into {venv}"
    if tuple(map(int, version.split("."))) >= (3, 12):
        assert "setuptools" in names, "setuptools (distutils for mlagents-envs) is missing on 3.12+"

    result = run([python, str(SMOKE)], timeout=600, cwd=tempfile.gettempdir())
    print(f"--- smoke.py on {version} ({python})\n{result.stdout}")
    assert result.returncode == 0, (
        f"smoke.py failed on Python {version} (exit {result.returncode}), venv {venv}\n"
        f"--- stdout\n{result.stdout}\n--- stderr (last 8000 characters)\n{result.stderr[-8000:]}"
    )
    assert re.search(r"^\d+ passed, 0 failed$", result.stdout, re.M), result.stdout
