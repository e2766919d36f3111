"""What the JupyterLab sidebar lists: one short summary per run, kept up to date cheaply.

A list request must stay fast with a thousand runs in the store, on a slow disk too: the
index stats each run once per request to order them (newest first) and reads only the page
asked for; each run's events are read from where the last request stopped, so a summary
costs one status read plus the new events. Everything it reads goes through the run store
(``unity_nb.train.store``).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..train.metrics import HEADLINE
from ..train.schema import ACTIVE, SWEEP_TRIALS, confirmation_plays
from ..run import Run
from ..train.store import RunNotFound, RunStore
from ..train.sweeps import sweeps_in

SERIES_POINTS = 200  # reward points kept per run for the sparkline (the sidebar draws fewer)
PAGE_LIMIT = 50  # runs per list request unless asked otherwise
MAX_PAGE_LIMIT = 500
READ_CHUNK = 8 << 20  # bytes of events read per request and run (a huge file is read over several)


def backend_of(config) -> str:
    """Where a run trains, as the sidebar names it: this machine, a Ray cluster, SageMaker."""
    if config.backend == "sagemaker":
        return "sagemaker"
    return "cluster" if config.address else "local"


def thin(points: list, keep: int) -> list:
    """At most ``keep`` of ``points``, evenly spread, always with the first and the last."""
    if len(points) <= keep:
        return list(points)
    step = (len(points) - 1) / (keep - 1)
    return [points[round(i * step)] for i in range(keep)]


@dataclass
class _Digest:
    """What the index remembers of one run between requests."""

    run: Run
    offset: int = 0  # bytes of the event file read so far
    skipped: int = 0  # lines of the event file that were not events (corrupt)
    last: dict[str, Any] = field(default_factory=dict)  # the latest iteration event
    series: list = field(default_factory=list)  # [env_steps, the headline figure (mean return)] per iteration
    lessons: dict[str, dict[str, Any]] = field(default_factory=dict)  # a curriculum parameter -> its lesson now
    parent: str | None = None  # the run a fork goes on from (read once: a fork's record never changes)

    def __post_init__(self):
        self.parent = self.run.forked_from.get("parent")

    def update(self) -> None:
        events, self.offset, bad = self.run.scan_events(self.offset, READ_CHUNK)
        self.skipped += bad
        for event in events:
            if event.get("event") == "iteration":
                self.last = event
                mean = event.get(HEADLINE)
                if isinstance(mean, (int, float)):
                    self.series.append([event.get("env_steps", 0), mean])
            elif event.get("event") == "lesson" and isinstance(event.get("parameter"), str):
                self.lessons[event["parameter"]] = {k: event.get(k) for k in ("lesson", "lessons", "name")}
        if len(self.series) > 4 * SERIES_POINTS:  # bounded memory for a very long run
            self.series = thin(self.series, 2 * SERIES_POINTS)


class RunIndex:
    """Summaries of the runs under one store root, for the server's handlers (thread-safe)."""

    def __init__(self, root: str | Path):
        self.store = RunStore(Path(root))
        self._digests: dict[str, _Digest] = {}
        self._sweeps: dict[str, tuple] = {}  # sweep id -> (its trials file's signature, plan, trials)
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        return self.store.root

    def get(self, run_id: str) -> Run:
        """The run of that id (``RunNotFound`` for a bad id, a link, or a folder that is gone)."""
        run = self.store.get(run_id)
        with self._lock:
            digest = self._digests.get(run_id)
        return digest.run if digest is not None else run  # the same handle: its parsed settings are kept

    def page(self, offset: int = 0, limit: int = PAGE_LIMIT, points: int = 60) -> dict[str, Any]:
        """Runs newest first, ``limit`` of them from ``offset``, each with ``points`` reward points."""
        started = time.perf_counter()
        ids = [run_id for _, run_id in reversed(self.store.ids())]
        chosen = ids[offset:offset + limit]
        runs = []
        for run_id in chosen:
            try:
                runs.append(self.summary(run_id, points))
            except (RunNotFound, FileNotFoundError):  # deleted while we looked
                continue
        with self._lock:  # forget runs whose folders are gone
            for gone in set(self._digests) - set(ids):
                del self._digests[gone]
        sweeps = self.sweeps(runs)
        return {"root": str(self.root.absolute()), "total": len(ids), "offset": offset, "limit": limit,
                "runs": runs, "sweeps": sweeps, "server_ms": round((time.perf_counter() - started) * 1000, 2)}

    def sweeps(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The store's sweeps that have a trial among ``rows``, newest first, each with its trials' run ids and,
        of those rows, the best by the sweep's metric; each row of a trial gets its sweep's id (``sweep``)."""
        by_id = {row["id"]: row for row in rows}
        found = []
        every = sweeps_in(self.root)
        with self._lock:  # forget sweeps whose folders are gone
            for gone in set(self._sweeps) - {sweep.id for sweep in every}:
                del self._sweeps[gone]
        for sweep in reversed(every):
            try:
                plan, trials = self._sweep_files(sweep)
                status = sweep.status
            except (OSError, ValueError, KeyError, TypeError):  # half written, or not the kit's
                continue
            runs = [t["run"] for t in trials]
            shown = [by_id[r] for r in runs if r in by_id]
            if not shown:
                continue
            for row in shown:
                row["sweep"] = sweep.id
            scored = [(self._last(row["id"]).get(plan.metric), row["id"]) for row in shown]
            scored = [(v, run_id) for v, run_id in scored if isinstance(v, (int, float))]
            pick = max if plan.mode == "max" else min
            best = pick(scored, key=lambda pair: pair[0])[1] if scored else None
            found.append({"id": sweep.id, "state": status["state"], "about": plan.describe(),
                          "scheduler": plan.scheduler, "trials": plan.trials, "runs": runs, "best": best,
                          "error": status.get("error")})
        return found

    def _sweep_files(self, sweep) -> tuple[Any, list[dict[str, Any]]]:
        """A sweep's plan and trials, read again only when its trials file changed (the plan never does): a
        refresh of the sidebar reads no sweep's files that did not move."""
        try:
            info = os.stat(sweep.path / SWEEP_TRIALS)
            signature = (info.st_mtime_ns, info.st_size)
        except FileNotFoundError:
            signature = None
        with self._lock:
            kept = self._sweeps.get(sweep.id)
        if kept is not None and kept[0] == signature:
            return kept[1], kept[2]
        plan = kept[1] if kept is not None else sweep.plan
        trials = sweep.trials()
        with self._lock:
            self._sweeps[sweep.id] = (signature, plan, trials)
        return plan, trials

    def _last(self, run_id: str) -> dict[str, Any]:
        """A run's latest iteration event as last read (empty for a run not read yet)."""
        with self._lock:
            digest = self._digests.get(run_id)
            return dict(digest.last) if digest is not None else {}

    def summary(self, run_id: str, points: int = 60) -> dict[str, Any]:
        """One run's row: state, backend, steps, the latest mean return, a short reward series."""
        with self._lock:
            digest = self._digests.get(run_id)
            if digest is None:
                digest = self._digests[run_id] = _Digest(self.store.get(run_id))
            digest.update()
            run, last, series, skipped = digest.run, dict(digest.last), list(digest.series), digest.skipped
            parent = digest.parent
            lessons = {p: dict(v) for p, v in digest.lessons.items()}
        status, config = run.status, run.config
        state = status["state"]
        return {
            "id": run.id,
            "state": state.value,
            "active": state in ACTIVE,
            "backend": backend_of(config),
            "scene": config.scene,
            "algorithm": config.algorithm,
            "parent": parent,  # a fork's parent run id, else None
            "sweep": None,  # the sweep a trial's run belongs to (set by ``page``)
            "steps": last.get("env_steps", 0),
            "step_budget": config.steps,
            "iterations": last.get("iteration", 0),
            "return_mean": last.get(HEADLINE),
            "episodes_window": last.get("episodes_window"),
            "target": config.target,
            "target_reached": status.get("target_reached"),
            # the last confirmation's mean return by play ({"deterministic": 100.0, "sampled": 99.2}), or {}
            "confirmed": {p: t["mean"] for p, t in confirmation_plays(status.get("confirmation")).items()},
            "error": status.get("error"),
            "created": status.get("created"),
            "updated": last.get("t") or status.get("updated") or status.get("created"),
            "series": thin(series, max(2, points)) if points else [],
            "lessons": lessons,  # each curriculum parameter's current lesson: {lesson, lessons, name}
            "skipped_lines": skipped,
        }
