"""A live chart drawn in the browser: the dashboard's curves as SVG, fed with points through widget state.

Why not a matplotlib figure: ipympl renders each frame in the kernel (Agg, tenths of a second
on two busy cores, taken from training) and only when the browser asks for it through the
kernel's main thread, so a notebook whose next cell blocks (``run.wait()``) shows an empty
figure until training ends. Widget state, in contrast, is sent from any thread as it changes,
and the browser draws it: the curve grows under "Run All" and costs the kernel a small JSON
message per update. The same columns feed the matplotlib figure the dashboard keeps for the
static picture (nbconvert, GitHub) and for users who want a figure to play with.

An anywidget (its ES module is chart.js beside this file; nothing is fetched at run time, no build step).
"""

from __future__ import annotations

import math
from pathlib import Path

import anywidget
import traitlets

MAX_POINTS = 800  # points sent per series; longer runs are thinned evenly (the last point always kept)

# the ES module the browser runs: a file of its own in the package (read once, at import)
_ESM = (Path(__file__).parent / "chart.js").read_text(encoding="utf-8")


class LiveChart(anywidget.AnyWidget):
    """Panels of curves over a shared x (agent steps), drawn by the browser from ``series``.

    panels: a list of {"title", "lines": [{"key", "color", "label", "axis": "left"|"right", "dots", "faint"}],
    "band": [low_key, high_key, color] (optional), "hline": a value (optional), "markers": bool, "lessons": bool}.
    ``set_columns`` sends new data; ``markers`` are the confirmations (their lowest play) ({"x": [...], "y": [...]});
    ``lessons`` the curriculum's lesson changes ({"x": [...], "label": [...]}), vertical lines on the panels
    that ask for them.
    """

    _esm = _ESM
    panels = traitlets.List().tag(sync=True)
    series = traitlets.Dict().tag(sync=True)
    markers = traitlets.Dict().tag(sync=True)
    lessons = traitlets.Dict().tag(sync=True)

    def column_keys(self) -> list[str]:
        """The columns the panels draw (their lines' keys and band edges), in order, once each."""
        found = [line["key"] for p in self.panels for line in p["lines"]]
        found += [edge for p in self.panels for edge in p.get("band", [])[:2]]
        return list(dict.fromkeys(found))

    def set_columns(self, columns: dict[str, list]) -> None:
        """Show these columns (``x`` and one list per line key; None or NaN for a gap), thinned to MAX_POINTS."""
        n = len(columns.get("x", []))
        keep = _thin(n)
        self.series = {k: [_json_number(v[i]) for i in keep] for k, v in columns.items()}


def _thin(n: int) -> list[int]:
    """Indices of at most MAX_POINTS points spread evenly over n, the first and the last always kept."""
    if n <= MAX_POINTS:
        return list(range(n))
    step = (n - 1) / (MAX_POINTS - 1)
    return sorted({round(i * step) for i in range(MAX_POINTS)} | {n - 1})


def _json_number(value):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return value
