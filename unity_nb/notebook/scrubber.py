"""The episode scrubber: step through one kept episode frame by frame (its observation, action, reward, the
return so far, and what the policy thought: value and action distribution).

An anywidget (its ES module is scrubber.js beside this file); every step is sent once, so moving the slider
needs no kernel (it works while another cell runs, and in a saved notebook's widget state).
"""

from __future__ import annotations

from pathlib import Path

import anywidget
import numpy as np
import traitlets

from ..evaluate.video import png_data_url

from ..envs.demo import Episode
from ..errors import BadValue

_ESM = (Path(__file__).parent / "scrubber.js").read_text(encoding="utf-8")
OBSERVATION_SHOWN = 48  # numbers of a step's vector observation shown (the rest counted)


class Scrubber(anywidget.AnyWidget):
    """A kept episode, one step at a time: ``Scrubber(episode)`` (an ``Episode`` from
    :func:`unity_nb.evaluate.episode.replay` or :func:`~unity_nb.evaluate.episode.from_demo`).

    ``index`` is the step shown (set it to move, read it to know where the slider is); ``episode`` the data.
    The arrow keys step, the space bar plays and pauses (click the widget first).
    """

    _esm = _ESM
    title = traitlets.Unicode("").tag(sync=True)
    frames = traitlets.List().tag(sync=True)  # PNG data URLs, one per step (empty: no pictures)
    steps = traitlets.List().tag(sync=True)
    index = traitlets.Int(0).tag(sync=True)
    fps = traitlets.Float(8.0).tag(sync=True)

    def __init__(self, episode: Episode, title: str = "", fps: float = 8.0, **kwargs):
        if not isinstance(episode, Episode):
            raise BadValue(f"Scrubber shows an Episode (unity_nb.evaluate.episode.replay or from_demo), "
                            f"got {type(episode).__name__}")
        super().__init__(title=title or f"{episode.steps} steps, return {episode.total_reward:.3f}"
                         + ("" if episode.done else " (cut before its end)"),
                         frames=[png_data_url(f) for f in episode.frames or []], steps=_steps(episode), fps=fps, **kwargs)
        self.episode = episode

    def __repr__(self) -> str:
        # what a front-end without widgets shows instead of the scrubber
        return (f"Scrubber: {self.title}. The scrubber needs a Jupyter widget front-end (JupyterLab, Notebook 7, "
                "VS Code's notebooks); unity_nb.evaluate.episode.table(scrubber.episode) has the steps as a table.")


def _steps(episode: Episode) -> list[dict]:
    """Each step as the browser shows it (plain JSON numbers)."""
    actions = episode.actions
    returns = np.cumsum(episode.rewards)
    vector = next((o for o in episode.observations if o.ndim == 2), None)
    out = []
    for i in range(episode.steps):
        step = {"action": [float(a) if episode.continuous.size else int(a) for a in actions[i]],
                "reward": float(episode.rewards[i]), "ret": float(returns[i])}
        if episode.values is not None:
            step["value"] = float(episode.values[i])
        if episode.looks is not None:
            look = episode.looks[i]
            if look.probs is not None:
                step["probs"] = [[round(float(p), 4) for p in branch[0]] for branch in look.probs]
            else:
                step["mean"] = [round(float(m), 4) for m in look.mean[0]]
                step["std"] = [round(float(s), 4) for s in look.std[0]]
        if vector is not None:
            step["obs"] = [round(float(v), 4) for v in vector[i][:OBSERVATION_SHOWN]]
            step["obs_more"] = max(0, vector.shape[1] - OBSERVATION_SHOWN)
        out.append(step)
    return out
