"""The play widget: a person plays a built-in scene in the notebook (``unity_nb.evaluate.yourself``), with the
keyboard, on-screen buttons, and sliders for continuous actions; their episodes are recorded as a ``.demo``.

An anywidget (its ES module is play.js beside this file). The browser sends a "step" message with the keys
held; the kernel steps the scene and sends the new frame and status back.
"""

from __future__ import annotations

from pathlib import Path

import anywidget
import numpy as np
import traitlets

from ..errors import BadValue
from ..evaluate.video import png_data_url
from ..evaluate.yourself import PlaySession

_ESM = (Path(__file__).parent / "play.js").read_text(encoding="utf-8")
FPS = {"3DBall": 10.0, "Pong": 12.0}  # decisions a second while playing (Unity's 3DBall decides every 0.1 s)


class PlayWidget(anywidget.AnyWidget):
    """Play ``scene`` yourself: ``PlayWidget("Basic")``, or ``%unity_play Basic --yourself``.

    Click the widget, then use the keys its buttons show (or the buttons; sliders for continuous actions).
    Scenes that move on their own (3DBall, Pong) run at ``fps`` while playing; the others take one step per key
    press. Keyword arguments are :class:`unity_nb.evaluate.yourself.PlaySession`'s (``keys``, ``opponent``,
    ``snapshot``, ``demo``, ``behavior``, ``seed``); ``realtime`` overrides how the scene moves.
    ``.session`` is the game (its ``returns``, ``demo_path``); ``.close()`` ends it.
    """

    _esm = _ESM
    title = traitlets.Unicode("").tag(sync=True)
    frame = traitlets.Unicode("").tag(sync=True)  # a PNG data URL
    status = traitlets.Dict().tag(sync=True)
    controls = traitlets.List().tag(sync=True)  # [{keys, label}]: one button per action, its keys
    axes = traitlets.Int(0).tag(sync=True)  # continuous actions: one slider each
    realtime = traitlets.Bool(False).tag(sync=True)
    fps = traitlets.Float(8.0).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(self, scene: str = "Basic", *, fps: float | None = None, realtime: bool | None = None, **session):
        if fps is not None and (isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 1 <= fps <= 60):
            raise BadValue(f"fps must be a number from 1 to 60, got {fps!r}")
        if realtime is not None and not isinstance(realtime, bool):
            raise BadValue(f"realtime must be True or False, got {realtime!r}")
        game = PlaySession(scene, **session)
        try:
            name = game.scene
            who = f"you play {game.behavior} (agent {game.agent}, the first; its tile is framed in yellow)"
            if len(game.specs) > 1 or game.others:
                who += "; the other agents: " + (", ".join(sorted(set(_who(p) for p in game.others.values())))
                                                  if game.others else "standing still")
            super().__init__(title=f"{name}: {who}", controls=_controls(game.bindings),
                             axes=game.spec.action_spec.continuous_size,
                             realtime=game.realtime if realtime is None else realtime,
                             fps=float(fps or FPS.get(name, 8.0)), status=game.status(), frame=png_data_url(game.frame()))
        except BaseException:
            game.close()
            raise
        self.session = game
        self.on_msg(self._on_message)

    def _on_message(self, _widget, content, _buffers) -> None:
        try:
            if content.get("type") == "step":
                self.status = self.session.step(content.get("held") or (), content.get("sliders"))
            elif content.get("type") == "new":
                self.status = self.session.new_episode()
            else:
                return
            self.frame = png_data_url(self.session.frame())
            self.error = ""
        except Exception as e:  # shown in the widget: a cell's traceback cannot appear for a key press
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.send({"type": "stepped"})

    def close(self) -> None:
        """End the game (its recorded episodes stay in the .demo) and remove the widget."""
        if getattr(self, "session", None) is not None:
            self.session.close()
        super().close()

    def __repr__(self) -> str:
        # what a front-end without widgets shows instead of the game
        return (f"PlayWidget({self.title}): playing needs a Jupyter widget front-end (JupyterLab, Notebook 7, or "
                "VS Code's notebooks with the Jupyter extension); this front-end shows only text. Record a "
                "demonstration without one: unity_nb.evaluate.demos.record_demo(Scene.heuristic, ...).")


def play(scene: str = "Basic", **kwargs) -> PlayWidget:
    """The play widget for ``scene`` (see :class:`PlayWidget`)."""
    return PlayWidget(scene, **kwargs)


def _controls(bindings) -> list[dict]:
    """One button per distinct action, with every key bound to it (the button holds the first)."""
    out: dict = {}
    for b in bindings:
        out.setdefault((b.kind, b.index, b.value), {"keys": [], "label": b.label})["keys"].append(b.key)
    return list(out.values())


def _who(player) -> str:
    return "a trained policy" if hasattr(player, "act") else "the scene's scripted player"
