"""Figures that are live widgets in JupyterLab/VS Code and still images everywhere else.

A figure is drawn by matplotlib; where ipympl is installed it gets an ipympl
canvas (a widget that redraws in place), without switching the user's
matplotlib backend. ``bundle`` builds a display bundle with both the widget
view and a PNG, so a front-end without widgets (nbconvert, a notebook
rendered on the web) shows the picture instead of "Loading widget...".
"""

from __future__ import annotations

import base64
import io
import sys
import threading
import time

from matplotlib.figure import Figure

# matplotlib's Agg renderer is not thread-safe: one lock for every figure the kit draws
DRAW_LOCK = threading.RLock()


def live_figure(width: float, height: float, nrows: int = 1, ncols: int = 1, widget: bool = True, **margins):
    """A figure with its axes, and its ipympl canvas widget (None without ipympl, or with ``widget=False``).

    Fixed margins (``subplots_adjust`` keywords) rather than a layout engine: a constrained
    layout is worked out again at every redraw, a third of the cost of drawing a live figure.
    The canvas counts what its renders cost (``canvas.render_seconds``), so viewers can pace
    their redraws and leave the CPU to training.
    """
    fig = Figure(figsize=(width, height), dpi=80)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    fig.subplots_adjust(**{"left": 0.08, "right": 0.97, "bottom": 0.12, "top": 0.92, **margins})
    canvas = None
    if not widget:
        return fig, axes, canvas
    try:
        Canvas, FigureManager = _ipympl()
        canvas = Canvas(fig)
        canvas.header_visible = False
        canvas.footer_visible = False
        canvas.toolbar_visible = "fade-in-fade-out"
        canvas.resizable = False
        FigureManager(canvas, num=id(fig))  # wires the canvas to the front-end's draw requests
        canvas.render_seconds = 0.0
        draw = canvas.draw

        def timed_draw(*args, **kwargs):  # ipympl renders through canvas.draw when the front-end asks
            started = time.perf_counter()
            with DRAW_LOCK:
                draw(*args, **kwargs)
            canvas.render_seconds = time.perf_counter() - started

        canvas.draw = timed_draw
    except ImportError:
        pass
    return fig, axes, canvas


def _ipympl():
    """ipympl's canvas classes, imported without switching the user's matplotlib backend
    (importing the ipympl package calls matplotlib.use when matplotlib is loaded)."""
    if "ipympl.backend_nbagg" not in sys.modules:
        import matplotlib

        before = matplotlib.get_backend()
        import ipympl.backend_nbagg  # noqa: F401

        if matplotlib.get_backend() != before:
            matplotlib.use(before)
    from ipympl.backend_nbagg import Canvas, FigureManager

    return Canvas, FigureManager


def png(fig: Figure) -> bytes:
    with DRAW_LOCK:
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()


def bundle(widget, fig: Figure | None, text: str) -> dict:
    """A display bundle: the widget where widgets render, else the PNG of ``fig``."""
    data = {"text/plain": text}
    if fig is not None:
        data["image/png"] = base64.b64encode(png(fig)).decode()
    if widget is not None and getattr(widget, "_model_id", None):
        data["application/vnd.jupyter.widget-view+json"] = {
            "version_major": 2, "version_minor": 0, "model_id": widget._model_id,
        }
    return data
