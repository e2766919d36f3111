"""Write the docs' tables that the code says: python scripts/docs_tables.py

docs/settings.md from the TrainConfig fields' rules, and the `iteration` event's table in docs/run-folder.md
from train/metrics.py. A test keeps both current.
"""

from pathlib import Path

from unity_nb.train.config import BUILD_DEFAULTS, SCENE_DEFAULTS, TrainConfig
from unity_nb.train.metrics import METRICS
from unity_nb.train.settings import settings_table

DOCS = Path(__file__).resolve().parent.parent / "docs"
SETTINGS = DOCS / "settings.md"
RUN_FOLDER = DOCS / "run-folder.md"
ITERATION = "### `iteration`\n\n"  # the section whose table is the metrics table


def settings() -> str:
    return settings_table(TrainConfig, {**SCENE_DEFAULTS, "your build": BUILD_DEFAULTS}) + "\n"


def run_folder(text: str) -> str:
    """``text`` (docs/run-folder.md) with the `iteration` section's table written from the metrics table."""
    head, rest = text.split(ITERATION, 1)
    tail = rest[rest.index("\n\n") + 2:] if "\n\n" in rest else ""
    rows = "\n".join(f"| `{m.key}` | {m.about} |" for m in METRICS)
    return f"{head}{ITERATION}| field | meaning |\n|---|---|\n{rows}\n\n{tail}"


if __name__ == "__main__":
    SETTINGS.write_text(settings())
    RUN_FOLDER.write_text(run_folder(RUN_FOLDER.read_text()))
    print(f"wrote {SETTINGS} and the iteration table of {RUN_FOLDER}")
