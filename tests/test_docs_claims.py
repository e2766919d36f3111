"""Concrete claims of the README, docs/ and the notebooks, checked against the code (a claim the code
contradicts is a bug): the defaults they quote, the settings line they show, the flags and files they name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from unity_nb.train import make_config
from unity_nb.train.config import SCENE_DEFAULTS

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _rate(x: float) -> str:
    """A learning rate as the texts write it: 3e-4."""
    return f"{x:.0e}".replace("e-0", "e-")


def _markdown(notebook: str) -> str:
    cells = json.loads((ROOT / "notebooks" / notebook).read_text())["cells"]
    return " ".join(" ".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown").split())


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_every_relative_link_leads_somewhere(page):
    text = page.read_text()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{page.name} links to {target}, which is not there"


def test_readme_transcript_shows_the_settings_basic_runs_with():
    line = next(s for s in (ROOT / "README.md").read_text().splitlines() if s.startswith("unity-nb: settings: "))
    assert line == "unity-nb: settings: " + make_config("Basic").describe()


def test_notebooks_quote_the_scenes_defaults():
    ball, basic = SCENE_DEFAULTS["3DBall"], SCENE_DEFAULTS["Basic"]
    many = _markdown("03-many-agents-3dball.ipynb")
    assert (f"up to {ball['steps']:,} steps" in many and f"{ball['num_areas']} areas" in many
            and f"batches of {ball['train_batch_size']:,} steps" in many and f"learning rate {_rate(ball['lr'])}" in many)
    assert ball["normalize"] and "normalised observations" in many
    quick = _markdown("01-quickstart.ipynb")
    assert f"learning rate {_rate(basic['lr'])}" in quick and f"{basic['num_areas']} copies" in quick
    workshop = _markdown("workshop/03-tune-and-compare.ipynb")
    assert f"Basic's default of {_rate(basic['lr'])}" in workshop
    assert f"{basic['num_layers']} hidden layers of {basic['hidden_units']} units by default" in workshop


def test_the_cheat_sheets_flags_exist():
    import subprocess
    import sys

    page = (ROOT / "docs" / "coming-from-mlagents.md").read_text()
    kit_side = [row.split("|")[2] for row in page.splitlines() if row.startswith("| `--") or row.startswith("| `mlagents")]
    flags = set(re.findall(r"(--[a-z][a-z-]+)", " ".join(kit_side)))
    helps = {verb: subprocess.run([sys.executable, "-m", "unity_nb.cli", verb, "--help"], capture_output=True,
                                  text=True, timeout=120).stdout for verb in ("train", "resume", "video")}
    missing = [f for f in flags if not any(re.search(rf"{f}\b", text) for text in helps.values())]
    assert flags and not missing, missing
