"""The run store: one folder per run, and the only code that reads or writes one.

    runs/<id>/config.yaml     the resolved TrainConfig (its ``steps`` is the step budget)
              status.json     state, pid, times, error, final figures (see schema.State)
              metrics.jsonl   one JSON event per line, appended and flushed as it happens (schema.EVENTS)
              checkpoints/    checkpoint_<iteration>/: RLlib's files, our progress file, then ``.complete``
              logs/           the training process's log (driver.log), error.txt after a failure
              tb/             TensorBoard event files
              stop            present when a stop was requested
              backend.json    where a remote run lives (SageMaker: job name, region, S3 paths, log positions)
              fork.json       a fork's parent: its id, the checkpoint it went on from, its steps, the settings changed

The kernel side creates runs, records the launched process, asks for stops and
changes the step budget (``RunStore``, ``RunFolder``); the training process appends
events, moves the state on and saves checkpoints (``RunWriter``). Each file has
one writer: status.json the launcher until the training process starts, then
the training process; ``stop`` and config.yaml the kernel side. The location is
``./runs`` unless ``UNITY_NB_RUNS`` or an explicit root says otherwise.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import NotFound, NotPermitted, NotPossible, TimedOut
from ..processes import pid_alive
from .config import TrainConfig
from .schema import ACTIVE, SCHEMA_VERSION, TERMINAL, State, confirmation_plays
from .share import silent_death

PROGRESS_FILE = "unity_nb_progress.json"  # in a checkpoint: what RLlib does not restore (wall time, window)
COMPLETE_MARK = ".complete"  # written last into a checkpoint folder: only then is it a checkpoint
FORK_FILE = "fork.json"
MAX_ID_LENGTH = 200  # run ids the kit makes are ~30 characters; anything much longer is not one


class RunNotFound(NotFound):
    """No run of that id in the store (the message lists what to do)."""


def default_root() -> Path:
    return Path(os.environ.get("UNITY_NB_RUNS", "runs"))


def _write_text_atomic(path: Path, text: str) -> None:
    """Write ``path`` whole: a reader sees the old file or the new one, never half of it."""
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_json_atomic(path: Path, data: dict) -> None:
    _write_text_atomic(path, json.dumps(data, indent=1))


def parse_events(lines) -> tuple[list[dict[str, Any]], int]:
    """The events of ``lines``, and how many lines were not events (a killed writer's half line,
    a corrupted one): those are skipped, never fatal."""
    out, bad = [], 0
    for line in lines:
        try:
            event = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            bad += 1
            continue
        if isinstance(event, dict):
            out.append(event)
        else:
            bad += 1
    return out, bad


class RunFolder:
    """A handle on one run folder (live or finished): its files, state, events and checkpoints.

    What a person does with a trained run (evaluate, video, export, deploy) is added above the
    layers that do it, by ``unity_nb.run.Run``; the stores hand that out (``RunStore.opens``)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).absolute()  # still right if the notebook changes folder later
        self.id = self.path.name
        self._config: tuple[tuple, TrainConfig] | None = None  # (file signature, parsed)

    def __repr__(self):
        return f"{type(self).__name__}({self.id!r}, state={str(self.state)!r})"

    # ---- where things are
    @property
    def events_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def tb_dir(self) -> Path:
        return self.path / "tb"

    def log_path(self, name: str = "driver") -> Path:
        return self.path / "logs" / f"{name}.log"

    @property
    def error_path(self) -> Path:
        """The whole story of a failure (a traceback, or a remote job's reason and last log lines)."""
        return self.path / "logs" / "error.txt"

    @property
    def export_dir(self) -> Path:
        return self.path / "export"

    @property
    def videos_dir(self) -> Path:
        """Rollout videos kept with the run (the JupyterLab sidebar's, named after their checkpoint)."""
        return self.path / "videos"

    def artifacts(self) -> list[Path]:
        """The run's files worth downloading: exported models and kept videos (no symlinks)."""
        found = []
        for folder, patterns in ((self.export_dir, ("*.onnx",)), (self.videos_dir, ("*.mp4", "*.gif"))):
            if folder.is_dir() and not folder.is_symlink():
                found += sorted(p for pattern in patterns for p in folder.glob(pattern)
                                if p.is_file() and not p.is_symlink())
        return found

    def export_path(self, behavior: str) -> Path:
        """Where a behavior's exported model goes: ``export/<behavior>.onnx`` (unsafe characters as ``_``)."""
        safe = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in behavior).lstrip(".") or "policy"
        return self.export_dir / f"{safe}.onnx"

    # ---- what is stored
    @property
    def config(self) -> TrainConfig:
        """The run's settings (parsed once, again only if config.yaml changes)."""
        path = self.path / "config.yaml"
        info = path.stat()
        signature = (info.st_mtime_ns, info.st_size)
        if self._config is None or self._config[0] != signature:
            self._config = (signature, TrainConfig.from_yaml(path.read_text(), source=f"run {self.id}"))
        return self._config[1]

    @property
    def status(self) -> dict[str, Any]:
        """status.json as written, with what a reader can tell besides: a live run with a stop
        pending is ``stopping``; a run whose process is gone without a word is ``failed``."""
        try:
            status = json.loads((self.path / "status.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            status = {"state": State.FAILED, "error": "status.json is missing or unreadable"}
        try:
            status["state"] = State(status.get("state"))
        except ValueError:
            status["error"] = f"unknown state {status.get('state')!r} in status.json"
            status["state"] = State.FAILED
        if status["state"] in ACTIVE and not pid_alive(status.get("pid")) and self.backend_state.get("job_name"):
            # a remote job goes on without the process that follows it; get_run() re-attaches
            status["attached"] = False
        elif status["state"] in ACTIVE and not pid_alive(status.get("pid")):
            status["state"] = State.FAILED
            status.setdefault("error", silent_death(status.get("runtime")))
        elif status["state"] == State.RUNNING and self.stop_requested:
            status["state"] = State.STOPPING
        return status

    @property
    def state(self) -> State:
        return self.status["state"]

    @property
    def stop_requested(self) -> bool:
        return (self.path / "stop").exists()

    def events(self) -> list[dict[str, Any]]:
        """Every event so far; a half-written last line (a killed writer) is skipped."""
        try:
            return parse_events(self.events_path.read_text().splitlines())[0]
        except FileNotFoundError:
            return []

    @property
    def metrics(self):
        """Iteration metrics as a pandas DataFrame (a list of dicts without pandas)."""
        rows = [{k: v for k, v in e.items() if k not in ("event", "v")} for e in self.events()
                if e.get("event") == "iteration"]
        try:
            import pandas as pd
        except ImportError:
            return rows
        return pd.DataFrame(rows)

    def last(self) -> dict[str, Any]:
        rows = [e for e in self.events() if e.get("event") == "iteration"]
        return rows[-1] if rows else {}

    def checkpoints(self) -> list[Path]:
        """The complete checkpoints, oldest first (a save cut short is never one)."""
        folder = self.checkpoints_dir
        if not folder.exists():
            return []
        return sorted(p for p in folder.glob("checkpoint_*") if (p / COMPLETE_MARK).exists())

    def latest_checkpoint(self) -> Path | None:
        found = self.checkpoints()
        return found[-1] if found else None

    @staticmethod
    def progress(checkpoint: Path) -> dict[str, Any]:
        """What a checkpoint holds beyond RLlib's state: ``env_steps``, ``time_s``, ``window``, and with a
        curriculum ``curriculum`` (the lessons reached)."""
        return json.loads((Path(checkpoint) / PROGRESS_FILE).read_text())

    # ---- watching
    def read_events(self, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Events appended since byte ``offset``, and the offset to read from next (never blocks).

        A line still being written is left for the next call.
        """
        events, offset, _ = self.scan_events(offset)
        return events, offset

    def scan_events(self, offset: int = 0, limit: int | None = None) -> tuple[list[dict[str, Any]], int, int]:
        """``read_events``, plus how many complete lines were not events (corrupt: skipped).
        ``limit``: read at most this many bytes (whole lines; the rest on the next call)."""
        try:
            with open(self.events_path, "rb") as f:
                f.seek(offset)
                chunk = f.read() if limit is None else f.read(limit)
        except FileNotFoundError:
            return [], offset, 0
        complete = chunk.rfind(b"\n") + 1
        events, bad = parse_events(chunk[:complete].splitlines())
        return events, offset + complete, bad

    def poll_events(self, offset: int = 0) -> tuple[list[dict[str, Any]], int, bool]:
        """One look for a follower: the events since ``offset``, the next offset, and whether the run had
        ended before they were read (then, once a look finds no events, none will come)."""
        ended = self.state in TERMINAL  # checked first: no event written before the end is missed
        events, offset = self.read_events(offset)
        return events, offset, ended

    def follow(self, poll: float = 0.2, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Yield events as they are appended, until the run ends (or ``timeout`` seconds pass)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        offset = 0
        while True:
            events, offset, ended = self.poll_events(offset)
            yield from events
            if ended and not events:
                return
            if deadline is not None and time.monotonic() > deadline:
                return
            if not events:
                time.sleep(poll)

    def wait(self, timeout: float | None = None) -> "RunFolder":
        """Block until the run ends; raise TimeoutError after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.state not in TERMINAL:
            if deadline is not None and time.monotonic() > deadline:
                raise TimedOut(f"run {self.id} still {self.state} after {timeout} s")
            time.sleep(0.2)
        return self

    # ---- control (the kernel side)
    def stop(self, wait: bool = True, timeout: float = 120.0) -> "RunFolder":
        """Ask the run to checkpoint and stop. Stopping a run that has ended does nothing."""
        if self.state in TERMINAL:
            return self
        (self.path / "stop").touch()
        status = self.status
        pid = status.get("pid")
        # Only a running driver has its signal handlers; a starting one reads the stop file
        # before training (a signal could kill it mid-import, and nothing would be saved).
        if status["state"] in (State.RUNNING, State.STOPPING) and pid and pid_alive(pid):
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
        return self.wait(timeout) if wait else self

    def prepare_resume(self, steps: int | None = None) -> None:
        """Make an ended run ready to go on: no stop pending; ``steps`` a new step budget."""
        if self.state in ACTIVE:
            raise NotPossible(f"run {self.id} is still {self.state}; stop it before resuming")
        if self.latest_checkpoint() is None:
            raise NotPossible(f"run {self.id} has no checkpoint to resume from")
        if steps is not None:
            (self.path / "config.yaml").write_text(self.config.replace(steps=steps).to_yaml())
        (self.path / "stop").unlink(missing_ok=True)

    def say(self, message: str) -> None:
        """Put a line in the run's log as the one who starts it (before its training process writes): shown with
        the run's progress in the terminal and on its dashboard."""
        with open(self.events_path, "a", encoding="utf-8") as events:
            events.write(event_line({"event": "log", "message": message}))

    def note_launch(self, pid: int) -> None:
        """Record the training process's pid at once, so one that dies before it writes is noticed.
        Once that process has written its own status (the same pid), its word stands: a run that
        failed within milliseconds is never turned back into a starting one."""
        status = self._stored_status()
        if status.get("pid") == pid:
            return
        if status.get("state") in (State.STARTING, *TERMINAL, None):
            status.update(state=State.STARTING, pid=pid)
            status.pop("error", None)
            _write_json_atomic(self.path / "status.json", status)

    @property
    def backend_state(self) -> dict[str, Any]:
        """What a remote backend recorded about the run (SageMaker: ``job_name``, ``region``,
        ``bucket``, ``role``, ``model_artifacts``, ``log_positions``); empty for a local run."""
        try:
            return json.loads((self.path / "backend.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    @property
    def forked_from(self) -> dict[str, Any]:
        """Where a fork went on from (``parent``: a run id of the same store, ``checkpoint``, ``env_steps``,
        ``changed``: setting -> [parent's, fork's]); empty for a run that started afresh."""
        try:
            return json.loads((self.path / FORK_FILE).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def ancestry(self) -> list[tuple["RunFolder", int]]:
        """The runs this one goes on from, nearest first, each with the steps it was forked at (a parent
        deleted since ends the line)."""
        line, run, seen = [], self, {self.id}
        while (fork := run.forked_from) and RunStore.valid_id(fork.get("parent")) and fork["parent"] not in seen:
            parent = RunFolder(self.path.parent / fork["parent"])
            if not (parent.path / "config.yaml").exists():
                break
            line.append((parent, int(fork.get("env_steps") or 0)))
            seen.add(parent.id)
            run = parent
        return line

    def note_backend(self, **fields) -> dict[str, Any]:
        """Add to backend.json (written by the kernel side and the process that follows the job)."""
        state = {**self.backend_state, **fields}
        _write_json_atomic(self.path / "backend.json", state)
        return state

    def _stored_status(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / "status.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def discard(self) -> None:
        """Remove a run that never started (its launch was refused before anything ran)."""
        if self.events() and any(e.get("event") == "iteration" for e in self.events()):
            raise NotPossible(f"run {self.id} has trained: it is not discarded")
        shutil.rmtree(self.path, ignore_errors=True)

    def writer(self) -> "RunWriter":
        """The training process's pen for this folder (one per process)."""
        return RunWriter(self)

    # ---- a run's model as one folder (a SageMaker job's /opt/ml/model, unpacked here from model.tar.gz)
    MODEL_PARTS = ("checkpoints", "export")  # what of a model folder belongs in the run folder

    def pack_model(self, model_dir: Path) -> Path | None:
        """Copy the run's model into ``model_dir``, laid out like this folder: the latest checkpoint,
        ``export/`` if exported, and the events and settings for the record. The checkpoint, or None."""
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        checkpoint = self.latest_checkpoint()
        if checkpoint is None:
            return None
        shutil.copytree(checkpoint, model_dir / "checkpoints" / checkpoint.name, dirs_exist_ok=True)
        if self.export_dir.exists():
            shutil.copytree(self.export_dir, model_dir / "export", dirs_exist_ok=True)
        for path in (self.events_path, self.path / "config.yaml"):
            shutil.copy2(path, model_dir / path.name)
        return checkpoint

    def unpack_model(self, archive: Path) -> Path | None:
        """Unpack a model.tar.gz made from ``pack_model``'s folder into this run: its checkpoints and
        export (this folder's own events and settings stay). The latest checkpoint afterwards."""
        import tarfile

        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.lstrip("./").split("/")[0] in self.MODEL_PARTS]
            tar.extractall(self.path, members=members, filter="data")
        return self.latest_checkpoint()

    def summary(self) -> dict[str, Any]:
        """One row about the run: ``parent`` the run a fork goes on from (else None); ``return_mean`` is over the
        last ``episodes_window`` episodes;
        ``confirmed_deterministic`` / ``confirmed_sampled``: the means of the latest check of a reached target,
        played each way (None where it was not played that way); ``elo``: a self-play run's latest rating."""
        last, status, config = self.last(), self.status, self.config
        plays = confirmation_plays(status.get("confirmation"))
        return {
            "id": self.id,
            "scene": config.scene,
            "algorithm": config.algorithm,
            "state": status["state"].value,
            "parent": self.forked_from.get("parent"),
            "iterations": last.get("iteration", 0),
            "env_steps": last.get("env_steps", 0),
            "return_mean": last.get("episode_return_mean"),
            "episodes_window": last.get("episodes_window"),
            "target": config.target,
            "confirmed_deterministic": plays.get("deterministic", {}).get("mean"),
            "confirmed_sampled": plays.get("sampled", {}).get("mean"),
            "target_reached": status.get("target_reached"),
            "elapsed_s": last.get("time_s"),
            "elo": last.get("elo"),  # self-play: the learning policy's rating (None otherwise)
        }


# A class shares one disk: when it fills, a run must still say why it failed. Each writer keeps this much
# space taken in its run folder, and gives it back to write the failure.
RESERVE_FILE, RESERVE_BYTES = ".space-reserve", 256 * 1024
FULL_BELOW = 1024 * 1024  # bytes free under which a failure is put down to a full disk


def event_line(event: dict[str, Any]) -> str:
    """One event as the run's events file holds it (a JSON line, versioned and timed)."""
    return json.dumps({"event": event["event"], "v": SCHEMA_VERSION, "t": event.get("t", time.time()), **event}) + "\n"


class RunWriter:
    """What the training process writes: state changes, events, checkpoints, the error."""

    def __init__(self, run: RunFolder):
        self.run = run
        self._events = open(run.events_path, "a", buffering=1, encoding="utf-8")
        old = run._stored_status()
        self.status = {"state": State.STARTING, "pid": os.getpid(), "started": time.time(),
                       "created": old.get("created")}

    def keep_space(self) -> None:
        """Take RESERVE_BYTES in the run folder, given back (``fail``, ``close``) to say why a full disk failed it."""
        try:
            with open(self.run.path / RESERVE_FILE, "wb") as reserve:
                reserve.write(bytes(RESERVE_BYTES))
        except OSError:  # a disk already this full: the run will fail at once, and may not say why
            pass

    def emit(self, event: dict[str, Any]) -> None:
        """Append one event (``schema.EVENTS``) and flush it, so viewers see it at once."""
        self._events.write(event_line(event))
        self._events.flush()

    def set_state(self, state: State, **extra) -> None:
        """Move the run to ``state`` (status.json, then a status event)."""
        state = State(state)
        self.status.update(state=state, updated=time.time(), **extra)
        _write_json_atomic(self.run.path / "status.json", self.status)
        self.emit({"event": "status", "state": state, **extra})

    def fail(self, err: BaseException | str, details: str | None = None) -> None:
        """The run failed: the traceback (or ``details``) to logs/error.txt, the one-line reason to the status.
        On a full disk the reason says so (and how to go on), written in the space the writer kept for it."""
        if isinstance(err, BaseException):
            details = details or "".join(traceback.format_exception(type(err), err, err.__traceback__))
            err = f"{type(err).__name__}: {err}"
        full = self.disk_full()
        if full:
            err = f"{full} ({err})"
        try:
            self.run.error_path.write_text(details or err)
            self.set_state(State.FAILED, error=err)
        except OSError:
            (self.run.path / RESERVE_FILE).unlink(missing_ok=True)
            self.run.error_path.write_text(details or err)
            self.set_state(State.FAILED, error=err)

    def disk_full(self) -> str | None:
        """What to tell a person whose run's disk is full; None while it is not."""
        try:
            free = shutil.disk_usage(self.run.path).free
        except OSError:  # the run folder itself is gone
            return None
        if free >= FULL_BELOW:
            return None
        checkpoint = self.run.latest_checkpoint()
        kept = f"its last complete checkpoint, {checkpoint.name}" if checkpoint else "the start (no checkpoint was complete)"
        return (f"no space left on the disk of {self.run.path.parent} ({free:,} bytes free): free some space, then "
                f"`unity-nb resume {self.run.id}` goes on from {kept}")

    def guard(self, work: Callable[[], int]) -> int:
        """Do the process's ``work`` (its exit code); whatever goes wrong, the run folder says why. Closes."""
        try:
            return work()
        except BaseException as err:
            self.fail(err)
            return 1
        finally:
            self.close()

    # ---- for a process that follows a run somewhere else (a SageMaker job) and may be restarted
    def adopt(self) -> None:
        """Take over from an earlier writer of this run: its status stands (no event), with this pid."""
        self.status = {**self.run._stored_status(), "pid": os.getpid()}
        _write_json_atomic(self.run.path / "status.json", self.status)

    def note(self, **fields) -> None:
        """Add fields to status.json without a state change (e.g. the remote job's own status)."""
        self.status.update(fields, updated=time.time())
        _write_json_atomic(self.run.path / "status.json", self.status)

    def events_size(self) -> int:
        """Bytes of metrics.jsonl written so far (a position to come back to with ``rewind``)."""
        self._events.flush()
        return self.run.events_path.stat().st_size

    def rewind(self, size: int) -> None:
        """Drop events written after ``size`` bytes (ones a restarted follower will read again)."""
        self._events.flush()
        if self.run.events_path.stat().st_size > size:
            os.truncate(self.run.events_path, size)

    def save_checkpoint(self, iteration: int, save: Callable[[Path], None], progress: dict[str, Any],
                        keep: int | None = None) -> Path | None:
        """Save a checkpoint: ``save(folder)`` writes the trainer's state, then our progress file,
        then the mark that makes it complete. ``keep``: the newest complete ones to keep.
        Returns the folder, or None when this iteration's checkpoint exists already."""
        path = self.run.checkpoints_dir / f"checkpoint_{iteration:06d}"
        if (path / COMPLETE_MARK).exists():
            return None
        save(path)
        (path / PROGRESS_FILE).write_text(json.dumps(progress))
        (path / COMPLETE_MARK).touch()  # written last: a killed save is never taken for a checkpoint
        self.emit({"event": "checkpoint", "path": str(path), "env_steps": progress.get("env_steps")})
        if keep:  # a half-written one is never what is removed
            for old in self.run.checkpoints()[:-keep]:
                (old / COMPLETE_MARK).unlink()  # first: a removal cut short never leaves a "complete" one
                shutil.rmtree(old, ignore_errors=True)
        return path

    def close(self) -> None:
        try:
            self._events.close()
        except OSError:  # its last line could not be written (a full disk): the status says why
            pass
        (self.run.path / RESERVE_FILE).unlink(missing_ok=True)


class RunStore:
    """All runs under one root folder."""

    # What ``create``, ``get`` and ``list`` hand out: the folder here; ``unity_nb.run`` (above evaluation
    # and deploy) makes it the user's ``Run``, whose actions live there, when ``unity_nb`` is imported.
    opens: type[RunFolder] = RunFolder

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_root()

    def create(self, config: TrainConfig, run_id: str | None = None, fill=None) -> RunFolder:
        """A new run folder for ``config`` (``run_id``: a fixed name, as the SageMaker container uses;
        ``fill(path)``: puts in what the run must hold before anyone sees it, as a fork's record).

        ``config.yaml`` makes a folder a run for every reader (the sidebar's index among them), so it is
        written last, whole: a run is never seen half made."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{os.getpid()}"
            probe.touch()
            probe.unlink()
        except OSError as err:
            raise NotPermitted(
                f"cannot write runs to {str(self.root)!r} ({err.strerror}); choose another folder with "
                "runs_dir= / --runs-dir or UNITY_NB_RUNS"
            ) from None
        if run_id is None:
            name = os.path.basename(str(config.scene).rstrip("/")).replace(".x86_64", "") or "run"
            run_id = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        path = self.root / run_id
        for sub in ("checkpoints", "logs", "tb"):
            (path / sub).mkdir(parents=True)
        try:
            (path / "metrics.jsonl").touch()
            _write_json_atomic(path / "status.json", {"state": State.STARTING, "created": time.time()})
            if fill is not None:
                fill(path)
            _write_text_atomic(path / "config.yaml", config.to_yaml())
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        return self.opens(path)

    def create_fork(self, parent: RunFolder, checkpoint: Path, config: TrainConfig, changed: dict) -> RunFolder:
        """A new run folder that goes on from ``parent``'s ``checkpoint`` (copied in, so the fork stands on its
        own) with ``config``; ``changed``: the settings that differ from the parent's (name -> [old, new])."""
        def fill(path: Path) -> None:  # the fork is a run only once its checkpoint and record are in
            copy = path / "checkpoints" / checkpoint.name
            shutil.copytree(checkpoint, copy)
            if not (copy / COMPLETE_MARK).exists():  # a running parent removed it while it was copied
                raise NotPossible(f"run {parent.id}'s checkpoint {checkpoint.name} went away while it was copied "
                                  "(the run keeps only its newest checkpoints); fork again")
            _write_json_atomic(path / FORK_FILE, {
                "parent": parent.id, "checkpoint": checkpoint.name,
                "env_steps": self.opens.progress(copy).get("env_steps", 0), "changed": changed})

        return self.create(config, fill=fill)

    @staticmethod
    def valid_id(run_id) -> bool:
        """Whether ``run_id`` can name a folder directly under the store (nothing else is ever opened)."""
        return (isinstance(run_id, str) and 0 < len(run_id) <= MAX_ID_LENGTH and run_id == run_id.strip()
                and not run_id.startswith(".") and not any(c in run_id for c in "/\\\0")
                and run_id.isprintable())

    def get(self, run_id: str) -> RunFolder:
        if not self.valid_id(run_id):
            shown = repr(run_id) if len(str(run_id)) <= 80 else repr(str(run_id)[:60]) + f"... ({len(run_id)} characters)"
            raise RunNotFound(f"{shown} is not a run id (ids look like Basic-20260101-120000-ab12)")
        path = self.root / run_id
        if path.is_symlink():  # a run folder is never a link: nothing outside the store is read
            raise RunNotFound(f"{run_id!r} is a link, not a run folder of {str(self.root)!r}")
        if not (path / "config.yaml").exists():
            known = [r.id for r in self.list()[-5:]]
            hint = f"; recent runs: {', '.join(known)}" if known else f"; {self.root} holds no runs yet"
            raise RunNotFound(f"no run {run_id!r} in {str(self.root)!r}{hint}")
        return self.opens(path)

    def list(self) -> list[RunFolder]:
        """Every run, oldest first."""
        return [self.opens(self.root / run_id) for _, run_id in self.ids()]

    def ids(self) -> list[tuple[float, str]]:
        """(settings file's modification time, id) of every run, oldest first (the order ``list`` gives):
        one stat per run, nothing opened.
        A link is never a run; a folder deleted meanwhile is left out."""
        return self.folders_with("config.yaml")

    def folders_with(self, name: str) -> list[tuple[float, str]]:
        """(modification time of ``name`` in it, folder) of every folder of the store that holds a file
        ``name``, oldest first: runs hold config.yaml, sweeps sweep.json. A link is never one."""
        found = []
        try:
            entries = list(os.scandir(self.root))
        except (FileNotFoundError, NotADirectoryError):
            return []
        for entry in entries:
            if entry.is_symlink() or not self.valid_id(entry.name):
                continue
            try:
                found.append((os.stat(os.path.join(entry.path, name)).st_mtime, entry.name))
            except OSError:
                continue
        return sorted(found)
