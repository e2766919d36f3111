"""Write docs/settings.md from the TrainConfig fields' rules: python scripts/settings_doc.py"""

from pathlib import Path

from unity_nb.train.config import BUILD_DEFAULTS, SCENE_DEFAULTS, TrainConfig
from unity_nb.train.settings import settings_table

DOC = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def table() -> str:
    return settings_table(TrainConfig, {**SCENE_DEFAULTS, "your build": BUILD_DEFAULTS}) + "\n"


if __name__ == "__main__":
    DOC.write_text(table())
    print(f"wrote {DOC}")
