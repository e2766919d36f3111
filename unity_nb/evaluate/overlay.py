"""What a policy thinks, drawn under a scene's frame: each agent's value estimate and its action distribution
(a discrete branch's probabilities, the action taken highlighted; a continuous action's mean, spread and the
value taken), one row per agent."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .policy import Look

ROW = 22  # pixels per agent row
MAX_ROWS = 8  # agents drawn; the rest are summed up in one line
LABEL = 118  # the row's text (agent and value), at least
BAR, BAR_GAP, BRANCH_GAP = 9, 2, 10  # a discrete action's bar, between bars, between branches
TRACK = 56  # a continuous action's track (-1 .. 1)
BACK, TEXT, FAINT = (24, 24, 30), (230, 230, 230), (120, 120, 140)
TAKEN, OTHER, SPREAD = (250, 160, 40), (110, 150, 210), (70, 90, 130)

_font = None


def font() -> ImageFont.ImageFont:
    global _font
    if _font is None:
        _font = ImageFont.load_default(size=11)
    return _font


def width_needed(look: Look) -> int:
    """The width a look's actions need, in pixels."""
    if look.probs is not None:
        return sum(p.shape[1] * (BAR + BAR_GAP) for p in look.probs) + BRANCH_GAP * (len(look.probs) - 1) + 6
    return look.mean.shape[1] * (TRACK + BRANCH_GAP) + 6


def _text(label: str, look: Look) -> str:
    return label + ("" if look.value is None else f"   V {float(look.value[0]):+.2f}")


def rows_of(look: Look, actions, names: list[str] | None = None) -> list[tuple[str, Look, np.ndarray]]:
    """One (label, look of one agent, action taken) per agent of a batch."""
    actions = np.asarray(actions)
    n = len(actions) if actions.ndim else 1
    return [(names[i] if names else f"agent {i}", look.row(i), np.atleast_1d(actions[i] if actions.ndim else actions))
            for i in range(n)]


def draw(frame: np.ndarray, rows: list[tuple[str, Look, np.ndarray]]) -> np.ndarray:
    """``frame`` with a panel under it: a row per agent (at most MAX_ROWS) with its label, value and action
    distribution, and the action it took (``rows_of`` makes the rows of a batch)."""
    shown = rows[:MAX_ROWS]
    label = max([LABEL] + [int(font().getlength(_text(name, look))) + 12 for name, look, _ in shown])
    width = max([frame.shape[1]] + [label + width_needed(look) for _, look, _ in shown])
    width += width % 2
    height = frame.shape[0] + len(shown) * ROW + (ROW if len(rows) > len(shown) else 0) + 4
    height += height % 2
    image = Image.new("RGB", (width, height), BACK)
    image.paste(Image.fromarray(np.ascontiguousarray(frame[..., :3])), ((width - frame.shape[1]) // 2, 0))
    pen = ImageDraw.Draw(image)
    for i, (name, look, taken) in enumerate(shown):
        y = frame.shape[0] + 2 + i * ROW
        pen.text((4, y + 5), _text(name, look), fill=TEXT, font=font())
        if look.probs is not None:
            _discrete(pen, label, y, [p[0] for p in look.probs], taken)
        else:
            _continuous(pen, label, y, look.mean[0], look.std[0], taken)
    if len(rows) > len(shown):
        pen.text((4, frame.shape[0] + 2 + len(shown) * ROW + 5), f"... and {len(rows) - len(shown)}  more agents",
                 fill=FAINT, font=font())
    return np.asarray(image)


def _discrete(pen, x, y, branches: list[np.ndarray], taken: np.ndarray) -> None:
    """Each branch's probabilities as bars (full height = 1), the action taken highlighted."""
    top, full = y + 2, ROW - 5
    for b, probs in enumerate(branches):
        for a, p in enumerate(probs):
            h = max(int(round(float(p) * full)), 1)
            color = TAKEN if b < len(taken) and int(taken[b]) == a else OTHER
            pen.rectangle([x, top + full - h, x + BAR - 1, top + full], fill=color)
            x += BAR + BAR_GAP
        x += BRANCH_GAP


def _continuous(pen, x, y, mean: np.ndarray, std: np.ndarray, taken: np.ndarray) -> None:
    """Each continuous action on a -1..1 track: the spread (mean +- std) as a band, the mean as a white tick,
    the action taken as an orange one."""
    mid = y + ROW // 2
    to_x = lambda v, x0: x0 + (float(np.clip(v, -1, 1)) + 1) / 2 * (TRACK - 1)  # noqa: E731
    for d in range(len(mean)):
        pen.line([x, mid, x + TRACK - 1, mid], fill=FAINT)
        pen.line([to_x(0, x), mid - 3, to_x(0, x), mid + 3], fill=FAINT)
        pen.rectangle([to_x(mean[d] - std[d], x), mid - 4, to_x(mean[d] + std[d], x), mid + 4], fill=SPREAD)
        if d < len(taken):
            t = to_x(taken[d], x)
            pen.line([t, mid - 7, t, mid + 7], fill=TAKEN, width=2)
        m = to_x(mean[d], x)
        pen.line([m, mid - 5, m, mid + 5], fill=TEXT, width=2)
        x += TRACK + BRANCH_GAP
