"""Curriculum lessons while a run trains: when each parameter moves on, and telling the env runners.

mlagents-learn's EnvironmentParameterManager, checked once per training iteration (mlagents-learn
checks after every environment step; here a lesson lasts at least one iteration):

- each behavior named by a completion_criteria keeps a buffer of its most recent episode returns,
  as long as the largest ``min_lesson_length`` of the criteria naming it (at least 1); every buffer
  is emptied when any lesson changes;
- a lesson can end only once its behavior's buffer holds ``min_lesson_length`` episodes;
- ``measure: progress`` ends it when the run's agent steps over its step budget exceed ``threshold``;
- ``measure: elo`` (the kit's own; self-play runs) ends it when the learning policy of the behavior's game is
  rated above ``threshold`` (Unity's ELO cannot drive a curriculum);
- ``measure: reward`` ends it when the buffer's mean exceeds ``threshold``; with ``signal_smoothing``
  the mean is first blended with the parameter's previous measure, ``0.25 * previous + 0.75 * mean``
  (the previous measure starts at 0 and carries over lessons);
- a parameter moves on by one lesson per check; ``require_reset`` restarts every env runner's
  environments before the next sample (every agent starts a new episode with the new lesson; the
  episodes cut short count in no window, as mlagents-learn's reset drops them).

The state (lessons reached, smoothing, buffers) travels in every checkpoint's progress, so a resumed
run continues from the lesson reached. Plain Python: tests drive it with synthetic episodes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import numpy as np

from ..envs.teams import split_team
from ..train import env_parameters
from ..train.errors import ConfigError


@dataclass
class LessonChange:
    """One parameter entering a lesson (at the start or resume of a run too: ``previous`` None)."""

    parameter: str
    lesson: int  # index, from 0
    lessons: int  # how many the curriculum has
    name: str
    value: Any  # a number or a sampler (with its seed)
    previous: int | None
    reason: str
    measured: float | None = None  # the progress or (smoothed) mean reward that ended the previous lesson
    require_reset: bool = False

    def event(self, **extra) -> dict[str, Any]:
        """The run folder's ``lesson`` event."""
        return {"event": "lesson", **asdict(self), **extra}

    def text(self) -> str:
        from ..envs.samplers import describe

        head = f"{self.parameter}: lesson {self.name} ({self.lesson + 1} of {self.lessons}), value {describe(self.value)}"
        return f"{head} — {self.reason}" if self.previous is not None else f"{head} ({self.reason})"


class Curriculum:
    """The lessons of every curriculum parameter of a run (its checked ``env_params``)."""

    def __init__(self, params: dict[str, Any], *, steps: int, seed: int, behaviors: list[str] | None = None):
        self.params = params
        self.steps = int(steps)
        self.seed = int(seed)
        self.lessons = env_parameters.curricula(params)  # parameter -> its lessons (only those with several)
        self.lesson = {p: 0 for p in self.lessons}
        self.smoothed = {p: 0.0 for p in self.lessons}
        caps: dict[str, int] = {}
        for p, steps_ in self.lessons.items():
            for i, lesson in enumerate(steps_[:-1]):
                c = lesson["completion_criteria"]
                if behaviors is not None and c["behavior"] not in behaviors:
                    raise ConfigError(
                        f"env_params.{p}.curriculum[{i}] ({lesson['name']}).completion_criteria.behavior: "
                        f"{c['behavior']!r} is not trained in this run, so its lesson could never end; this run "
                        f"trains {', '.join(map(repr, behaviors))}")
                caps[c["behavior"]] = max(caps.get(c["behavior"], 1), c["min_lesson_length"])
        self.buffers: dict[str, deque[float]] = {b: deque(maxlen=cap) for b, cap in caps.items()}
        self.ratings: dict[str, float] = {}  # self-play: each game's ELO, as of the last update

    def __bool__(self) -> bool:
        return bool(self.lessons)

    # ---- what the scene gets
    def values(self) -> dict[str, Any]:
        """Every parameter's value in the lesson reached (constants and samplers as they are)."""
        return env_parameters.values(self.params, self.seed, at=self.lesson)

    @property
    def finished(self) -> bool:
        """Every curriculum is in its last lesson."""
        return all(self.lesson[p] == len(s) - 1 for p, s in self.lessons.items())

    def current(self, reason: str) -> list[LessonChange]:
        """Each parameter's lesson now, as events without a previous lesson (a run starting or resuming)."""
        values = self.values()
        return [LessonChange(p, i, len(self.lessons[p]), self.lessons[p][i]["name"], values[p], None, reason)
                for p, i in self.lesson.items()]

    # ---- moving on
    def update(self, episodes: Iterable[tuple[str, float, int]], env_steps: int,
               ratings: dict[str, float] | None = None) -> list[LessonChange]:
        """Take the episodes that ended since the last call ((behavior, return, length)), the run's agent
        steps and (self-play) each game's ELO rating; return the lessons that begin now."""
        self.ratings = ratings or {}
        for behavior, ret, _length in episodes:
            if behavior in self.buffers:
                self.buffers[behavior].append(float(ret))
        progress = env_steps / self.steps if self.steps else 1.0
        changes = []
        for p, steps_ in self.lessons.items():
            i = self.lesson[p]
            if i >= len(steps_) - 1:
                continue
            c = steps_[i]["completion_criteria"]
            done, measured, why = self._check(p, c, progress, env_steps)
            if done:
                self.lesson[p] = i + 1
                changes.append(LessonChange(p, i + 1, len(steps_), steps_[i + 1]["name"], None, i, why, measured,
                                            c["require_reset"]))
        if changes:
            values = self.values()
            for change in changes:
                change.value = values[change.parameter]
            for buffer in self.buffers.values():  # as mlagents-learn: every behavior's episodes start over
                buffer.clear()
        return changes

    def _check(self, p: str, c: dict, progress: float, env_steps: int) -> tuple[bool, float | None, str]:
        buffer = self.buffers[c["behavior"]]
        if len(buffer) < c["min_lesson_length"]:
            return False, None, ""
        since = f" ({len(buffer)} episodes >= min_lesson_length {c['min_lesson_length']})" \
            if c["min_lesson_length"] else ""
        if c["measure"] == "progress":
            if progress > c["threshold"]:
                return True, round(progress, 6), (f"progress {progress:.3f} > {c['threshold']:g} "
                                                  f"({env_steps} of {self.steps} steps){since}")
            return False, None, ""
        if c["measure"] == "elo":  # the kit's own measure: ELO rises as the policy beats its own snapshots
            game = split_team(c["behavior"])[0]
            rating = self.ratings.get(game)
            if rating is not None and rating > c["threshold"]:
                return True, round(rating, 3), f"ELO {rating:.1f} > {c['threshold']:g} ({game}'s learning policy){since}"
            return False, None, ""
        if not buffer:
            return False, None, ""
        measure = float(np.mean(buffer))
        if c["signal_smoothing"]:
            measure = 0.25 * self.smoothed[p] + 0.75 * measure
            self.smoothed[p] = measure
        if measure > c["threshold"]:
            kind = "smoothed mean reward" if c["signal_smoothing"] else "mean reward"
            return True, round(measure, 6), (f"{kind} {measure:.3f} > {c['threshold']:g} over the last "
                                             f"{len(buffer)} episodes of {c['behavior']}")
        return False, None, ""

    # ---- carried in checkpoints
    def state(self) -> dict[str, Any]:
        return {"lesson": dict(self.lesson), "smoothed": dict(self.smoothed),
                "buffers": {b: list(v) for b, v in self.buffers.items()}}

    def restore(self, state: dict[str, Any] | None) -> "Curriculum":
        """Go on from a checkpoint's state (a curriculum changed since keeps what still fits)."""
        state = state or {}
        for p, i in (state.get("lesson") or {}).items():
            if p in self.lesson:
                self.lesson[p] = min(max(int(i), 0), len(self.lessons[p]) - 1)
        for p, v in (state.get("smoothed") or {}).items():
            if p in self.smoothed:
                self.smoothed[p] = float(v)
        for b, values in (state.get("buffers") or {}).items():
            if b in self.buffers:
                self.buffers[b].extend(float(x) for x in values)
        return self


# ---- in each env runner (a function Ray sends to the runner's process)
def unity_sources(env) -> list:
    """The EnvSources (Unity processes) behind an env runner's env: a vector env's, or each sub-env's of a
    multi-agent vector env."""
    from ..envs.source import EnvSource

    if env is None:
        return []
    found = []
    for candidate in [env, *getattr(env, "envs", [])]:
        for view in (candidate, getattr(candidate, "unwrapped", None)):
            source = getattr(view, "source", None)
            if isinstance(source, EnvSource) and source not in found:
                found.append(source)
    return found


def apply_to_runner(runner, *, values: dict[str, Any], reset: bool) -> int:
    """Give an env runner's Unity processes ``values`` (from each agent's next episode), make a Unity process
    RLlib starts again later (after a crash) start with them, and with ``reset`` restart the environments
    before the runner's next sample. Returns how many Unity processes got them."""
    env_config = getattr(runner.config, "env_config", None)
    if isinstance(env_config, dict):
        env_config["env_params"] = dict(values)
    sources = unity_sources(getattr(runner, "env", None))
    for source in sources:
        for key, value in values.items():
            source.set_param(key, value)
    if reset and sources:
        runner._needs_initial_reset = True  # RLlib resets every sub-env (new episodes) at its next sample()
    return len(sources)
