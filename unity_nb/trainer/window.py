"""The moving window of finished episodes behind every "mean return over the last N episodes".

Every agent's finished episode counts (12 per 3DBall area), across iterations and
across a resume; a run with several behaviors also keeps one window per behavior.
Plain Python: the training process fills it, and tests and viewers can rebuild it
from the ``iteration_returns`` the run folder records.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Iterable

import numpy as np
from ..errors import BadValue


class EpisodeWindow:
    """Returns and lengths of the last ``size`` finished episodes (overall and per behavior)."""

    def __init__(self, size: int = 100):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise BadValue(f"the episode window must hold at least 1 episode, got {size!r}")
        self.size = size
        self.returns: deque[float] = deque(maxlen=size)
        self.lengths: deque[int] = deque(maxlen=size)
        self.by_behavior: dict[str, deque[float]] = {}
        self.total = 0  # episodes finished over the whole run

    def add(self, episodes: Iterable[tuple[str, float, int]]) -> list[float]:
        """Take the episodes that ended (behavior, return, length); returns their returns."""
        added = []
        for behavior, ret, length in episodes:
            self.returns.append(float(ret))
            self.lengths.append(int(length))
            self.by_behavior.setdefault(behavior, deque(maxlen=self.size)).append(float(ret))
            added.append(float(ret))
        self.total += len(added)
        return added

    @property
    def full(self) -> bool:
        return len(self.returns) == self.size

    def reached(self, target: float, behaviors: list[str] | None = None) -> bool:
        """A full window whose mean is at the target; with several behaviors, each one's too."""
        if not self.full or float(np.mean(self.returns)) < target - 1e-6:
            return False
        for b in behaviors or []:
            window = self.by_behavior.get(b, ())
            if len(window) < self.size or float(np.mean(window)) < target - 1e-6:
                return False
        return True

    def stats(self, behaviors: list[str] | None = None) -> dict[str, Any]:
        """The window's statistics under the run folder's event names (None before any episode)."""
        r = np.asarray(self.returns, dtype=float)
        out: dict[str, Any] = {
            "episode_return_mean": _round(r.mean()) if len(r) else None,
            "episode_return_min": _round(r.min()) if len(r) else None,
            "episode_return_max": _round(r.max()) if len(r) else None,
            "episode_return_std": _round(r.std()) if len(r) else None,
            "episode_length_mean": _round(np.mean(self.lengths)) if len(r) else None,
            "episodes_window": len(r),
            "return_window": self.size,
            "episodes": self.total,
        }
        for b in behaviors or []:
            window = self.by_behavior.get(b, ())
            out[f"episode_return_mean/{b}"] = _round(np.mean(window)) if len(window) else None
            out[f"episodes_window/{b}"] = len(window)
        return out

    # ---- carried in checkpoints, so a resumed run goes on with the same window
    def state(self) -> dict[str, Any]:
        return {"size": self.size, "returns": list(self.returns), "lengths": list(self.lengths),
                "by_behavior": {b: list(w) for b, w in self.by_behavior.items()}, "total": self.total}

    @classmethod
    def from_state(cls, state: dict[str, Any] | None, size: int) -> "EpisodeWindow":
        """The saved window, resized to ``size`` (the newest episodes kept)."""
        window = cls(size)
        if state:
            window.returns.extend(state.get("returns", []))
            window.lengths.extend(state.get("lengths", []))
            for b, values in state.get("by_behavior", {}).items():
                window.by_behavior[b] = deque(values, maxlen=size)
            window.total = int(state.get("total", len(window.returns)))
        return window


def iteration_stats(returns: list[float]) -> dict[str, Any]:
    """Statistics of the episodes that ended in one iteration (labelled as such, never as the window)."""
    r = np.asarray(returns, dtype=float)
    return {
        "iteration_episodes": len(r),
        "iteration_return_mean": _round(r.mean()) if len(r) else None,
        "iteration_return_min": _round(r.min()) if len(r) else None,
        "iteration_return_max": _round(r.max()) if len(r) else None,
        "iteration_returns": [_round(x) for x in r],
    }


def _round(value) -> float:
    return round(float(value), 6)
