"""The run store: one folder per run, the single source of truth every viewer reads.

    runs/<id>/config.yaml     the resolved TrainConfig
              status.json     state (starting, running, finished, stopped, failed), pid, times, error
              metrics.jsonl   one JSON event per line, appended and flushed as it happens
              checkpoints/    RLlib checkpoints (checkpoint_000010, ...), the latest is the one to load
              logs/           the driver's log
              tb/             TensorBoard event files
              stop            present when a stop was requested

The location is ``./runs`` unless ``UNITY_NB_RUNS`` or an explicit root says otherwise.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any, Iterator

from .config import TrainConfig

TERMINAL_STATES = ("finished", "stopped", "failed")


class RunNotFound(KeyError):
    def __str__(self):
        return self.args[0]


def default_root() -> Path:
    return Path(os.environ.get("UNITY_NB_RUNS", "runs"))


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


class Run:
    """A handle on one run folder (live or finished)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).absolute()  # still right if the notebook changes folder later
        self.id = self.path.name

    def __repr__(self):
        return f"Run({self.id!r}, state={self.state!r})"

    # ---- what is stored
    @property
    def config(self) -> TrainConfig:
        return TrainConfig.from_yaml((self.path / "config.yaml").read_text(), source=f"run {self.id}")

    @property
    def status(self) -> dict[str, Any]:
        try:
            status = json.loads((self.path / "status.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            status = {"state": "unknown"}
        if status.get("state") in ("starting", "running") and not _pid_alive(status.get("pid")):
            status["state"] = "failed"
            status.setdefault("error", "the training process ended without saying why (killed?)")
        return status

    @property
    def state(self) -> str:
        return self.status["state"]

    def events(self) -> list[dict[str, Any]]:
        """Every event so far; a half-written last line (a killed writer) is skipped."""
        path = self.path / "metrics.jsonl"
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    @property
    def metrics(self):
        """Iteration metrics as a pandas DataFrame (a list of dicts without pandas)."""
        rows = [{k: v for k, v in e.items() if k != "event"} for e in self.events() if e.get("event") == "iteration"]
        try:
            import pandas as pd
        except ImportError:
            return rows
        return pd.DataFrame(rows)

    def last(self) -> dict[str, Any]:
        rows = [e for e in self.events() if e.get("event") == "iteration"]
        return rows[-1] if rows else {}

    def checkpoints(self) -> list[Path]:
        folder = self.path / "checkpoints"
        return sorted(p for p in folder.glob("checkpoint_*") if (p / ".complete").exists()) if folder.exists() else []

    def latest_checkpoint(self) -> Path | None:
        found = self.checkpoints()
        return found[-1] if found else None

    # ---- watching and control
    def read_events(self, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Events appended since byte ``offset``, and the offset to read from next (never blocks).

        A line still being written is left for the next call.
        """
        path = self.path / "metrics.jsonl"
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read()
        except FileNotFoundError:
            return [], offset
        complete = chunk.rfind(b"\n") + 1
        events = []
        for line in chunk[:complete].splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return events, offset + complete

    def follow(self, poll: float = 0.2, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Yield events as they are appended, until the run ends (or ``timeout`` seconds pass)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        offset = 0
        while True:
            ended = self.state in TERMINAL_STATES  # checked first: no event written before the end is missed
            events, offset = self.read_events(offset)
            yield from events
            if ended and not events:
                return
            if deadline is not None and time.monotonic() > deadline:
                return
            if not events:
                time.sleep(poll)

    def wait(self, timeout: float | None = None) -> "Run":
        """Block until the run ends; raise TimeoutError after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.state not in TERMINAL_STATES:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {self.id} still {self.state} after {timeout} s")
            time.sleep(0.2)
        return self

    def stop(self, wait: bool = True, timeout: float = 120.0) -> "Run":
        """Ask the run to checkpoint and stop. Stopping a run that has ended does nothing."""
        if self.state in TERMINAL_STATES:
            return self
        (self.path / "stop").touch()
        status = self.status
        pid = status.get("pid")
        # Only a running driver has its signal handlers; a starting one reads the stop file
        # before training (a signal could kill it mid-import, and nothing would be saved).
        if status["state"] == "running" and pid and _pid_alive(pid):
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
        return self.wait(timeout) if wait else self

    def evaluate(self, episodes: int = 100, mode: str = "inprocess", **kwargs):
        """Play ``episodes`` deterministic episodes with the latest checkpoint's policy.

        Takes the keyword arguments of :func:`unity_nb.evaluate.evaluate` (``seed``, ``params``
        to try other scene parameters, ...); the run's own are the defaults.
        """
        from ..evaluate import evaluate

        checkpoint, scene, kwargs = self._playback("evaluating", dict(kwargs, mode=mode))
        return evaluate(checkpoint, scene, episodes=episodes, **kwargs)

    def video(self, episodes: int | None = None, max_frames: int = 500, **kwargs):
        """A video (inline in a notebook) of the latest checkpoint's policy playing.

        episodes: whole episodes to show (default: enough for 4 s of video).
        Takes the keyword arguments of :func:`unity_nb.evaluate.record` (``fps``, ``fmt``, ``seed``, ``params`` ...).
        """
        from ..evaluate import record

        checkpoint, scene, kwargs = self._playback("videos of", kwargs)
        return record(checkpoint, scene, episodes=episodes, max_frames=max_frames, **kwargs)

    def _playback(self, what: str, kwargs: dict):
        """The checkpoint, scene and settings to play the trained policy with."""
        checkpoint = self.latest_checkpoint()
        if checkpoint is None:
            raise RuntimeError(f"run {self.id} has no checkpoint yet: wait for its first one or for the end")
        config = self.config
        # a run with one policy per behavior plays each behavior's agents with its own policy
        settings = {"params": config.env_params, "behavior": config.behavior, **kwargs}
        if config.scene_name is None:
            settings["mode"] = "player"  # a Unity build runs as its own process
        return checkpoint, config.scene, settings

    def summary(self) -> dict[str, Any]:
        """One row about the run: ``return_mean`` is over the last ``episodes_window`` episodes;
        ``confirmed_return`` is the mean of the latest deterministic check of a reached target."""
        last, status, config = self.last(), self.status, self.config
        check = status.get("confirmation") or {}
        return {
            "id": self.id,
            "scene": config.scene,
            "algorithm": config.algorithm,
            "state": status["state"],
            "iterations": last.get("iteration", 0),
            "env_steps": last.get("env_steps", 0),
            "return_mean": last.get("episode_return_mean"),
            "episodes_window": last.get("episodes_window"),
            "target": config.target,
            "confirmed_return": check.get("mean"),
            "target_reached": status.get("target_reached"),
            "elapsed_s": last.get("time_s"),
        }


class RunStore:
    """All runs under one root folder."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_root()

    def create(self, config: TrainConfig) -> Run:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{os.getpid()}"
            probe.touch()
            probe.unlink()
        except OSError as err:
            raise PermissionError(
                f"cannot write runs to {str(self.root)!r} ({err.strerror}); choose another folder with "
                "runs_dir= / --runs-dir or UNITY_NB_RUNS"
            ) from None
        name = os.path.basename(str(config.scene).rstrip("/")).replace(".x86_64", "") or "run"
        run_id = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        path = self.root / run_id
        for sub in ("checkpoints", "logs", "tb"):
            (path / sub).mkdir(parents=True)
        (path / "config.yaml").write_text(config.to_yaml())
        (path / "metrics.jsonl").touch()
        write_json_atomic(path / "status.json", {"state": "starting", "created": time.time()})
        return Run(path)

    def get(self, run_id: str) -> Run:
        if not isinstance(run_id, str) or not run_id or "/" in run_id or run_id.startswith("."):
            raise RunNotFound(f"{run_id!r} is not a run id (ids look like Basic-20260101-120000-ab12)")
        path = self.root / run_id
        if not (path / "config.yaml").exists():
            known = [r.id for r in self.list()[-5:]]
            hint = f"; recent runs: {', '.join(known)}" if known else f"; {self.root} holds no runs yet"
            raise RunNotFound(f"no run {run_id!r} in {str(self.root)!r}{hint}")
        return Run(path)

    def list(self) -> list[Run]:
        if not self.root.exists():
            return []
        runs = [Run(p) for p in self.root.iterdir() if (p / "config.yaml").exists()]
        return sorted(runs, key=lambda r: (r.path / "config.yaml").stat().st_mtime)

    def compare(self, run_ids: list[str]) -> list[dict[str, Any]]:
        """One summary row per run, to put side by side."""
        return [self.get(i).summary() for i in run_ids]
