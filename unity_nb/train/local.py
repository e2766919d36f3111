"""Starting runs: each in its own driver process, on this machine's runtime or a Ray cluster.

Start-up is the slow part of RLlib on a small machine, so the local backend
keeps one *standby* driver ready: a process that has already imported Ray,
RLlib and torch and joined the session's Ray runtime. A new run is handed to
it, and another standby is prepared in the background for the next run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from ..processes import reach, split_address
from .config import TrainConfig
from .runtime import LocalRuntime
from .store import Run, RunStore


class ClusterUnreachable(ConnectionError):
    pass


def check_address(address: str, timeout: float = 3.0) -> None:
    """Fail fast (seconds, not minutes) when a Ray address cannot be reached."""
    try:
        _, port = split_address(address)
    except ValueError as err:
        raise ClusterUnreachable(str(err)) from None
    try:
        reach(address, timeout)
    except OSError as err:
        raise ClusterUnreachable(
            f"cannot reach a Ray cluster at {address} ({err.strerror or err}). Is the head node running "
            f"(`ray start --head --port={port}` on it)? Leave address unset to train on this machine."
        ) from None


class _Standby:
    """A driver process that is imported, joined to Ray, and waiting for a run."""

    def __init__(self, address: str, env: dict[str, str], guess: TrainConfig | None = None):
        tmp = Path(os.environ.get("TMPDIR", "/tmp"))
        self.log = open(tmp / f"unity-nb-standby-{os.getpid()}.log", "ab")
        command = [sys.executable, "-m", "unity_nb.trainer.standby", "--address", address]
        if guess is not None:  # the standby builds this run's algorithm ahead, while nobody waits
            guess_file = tmp / f"unity-nb-guess-{os.getpid()}-{id(self)}.yaml"
            guess_file.write_text(guess.to_yaml())
            command += ["--guess", str(guess_file)]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env, start_new_session=True,
            text=True,
        )
        self.ready = threading.Event()
        threading.Thread(target=self._wait_ready, daemon=True).start()

    def _wait_ready(self):
        line = self.process.stdout.readline()
        if line.strip() == "ready":
            self.ready.set()

    def usable(self) -> bool:
        return self.process.poll() is None

    def hand(self, run: Run, resume: bool) -> None:
        self.process.stdin.write(json.dumps({"run_dir": str(run.path.resolve()), "resume": resume}) + "\n")
        self.process.stdin.flush()
        self.process.stdin.close()

    def dismiss(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()  # EOF: the standby exits on its own
            except OSError:
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


class LocalBackend:
    """Runs training in driver processes joined to this session's Ray runtime (or a cluster)."""

    def __init__(self, runtime: LocalRuntime | None = None):
        self.runtime = runtime or LocalRuntime()
        self.keep_warm = True  # prepare a standby for the next run (a one-shot command turns this off)
        self.guess: TrainConfig | None = TrainConfig("Basic").resolved()  # the next run is most likely the last one again
        self._standby: _Standby | None = None
        self._lock = threading.Lock()

    def warm_up(self, wait: bool = False) -> None:
        """Start Ray and a standby driver now, so the next run starts in seconds."""
        with self._lock:
            if self._standby is None or not self._standby.usable():
                self._standby = self._new_standby()
            standby = self._standby
        if wait:
            standby.ready.wait(180)

    def _new_standby(self) -> _Standby:
        # The standby imports Ray, RLlib and torch while the runtime starts, then joins it.
        self.runtime.start(wait=False)
        return _Standby(self.runtime.address, self.runtime.driver_env(), self.guess if self.keep_warm else None)

    def start(self, run: Run, config: TrainConfig, resume: bool = False) -> Run:
        if config.address:
            check_address(config.address)
            return self._spawn(run, config.address, dict(os.environ), resume)
        with self._lock:
            self.guess = config
            standby, self._standby = self._standby, None
            if standby is None or not standby.usable():
                standby = self._new_standby()
        standby.hand(run, resume)
        run.note_launch(standby.process.pid)
        # The next standby is prepared once this run ends: on two cores, importing torch
        # beside a running training would slow it down.
        if self.keep_warm:
            threading.Thread(target=self._prepare_after, args=(run,), daemon=True).start()
        return run

    def _prepare_after(self, run: Run) -> None:
        try:
            run.wait()
        except Exception:
            return
        self.warm_up()

    def _spawn(self, run: Run, address: str, env: dict, resume: bool) -> Run:
        log = open(run.log_path(), "ab")
        args = [sys.executable, "-m", "unity_nb.trainer.driver", str(run.path.resolve()), "--address", address]
        if resume:
            args.append("--resume")
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        run.note_launch(process.pid)
        return run

    def close(self) -> None:
        """Dismiss the standby driver, then stop the session's Ray runtime."""
        with self._lock:
            if self._standby is not None:
                self._standby.dismiss()
                self._standby = None
        self.runtime.stop()


_BACKEND: LocalBackend | None = None


def backend() -> LocalBackend:
    """This process's backend: one Ray runtime per notebook session or command, stopped at exit."""
    global _BACKEND
    if _BACKEND is None:
        import atexit

        _BACKEND = LocalBackend()
        atexit.register(_BACKEND.close)
    return _BACKEND


def start_run(config: TrainConfig, runs_dir: str | os.PathLike | None = None) -> Run:
    run = RunStore(runs_dir).create(config)
    return backend().start(run, config)


def resume_run(run: Run, steps: int | None = None) -> Run:
    """Start an ended run again from its last checkpoint (``steps``: a new step budget)."""
    run.prepare_resume(steps)
    return backend().start(run, run.config, resume=True)
