"""Starting runs: each in its own driver process, on this machine's shared runtime or a Ray cluster.

Start-up is the slow part of RLlib on a small machine, so runs on this machine go to
the shared runtime (``service``): Ray plus a *standby* driver that has already imported
Ray, RLlib and torch, kept for the next run until the runtime has been idle a while.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..errors import Unreachable
from ..processes import log_tail, reach, split_address
from .config import TrainConfig
from . import service
from .runtime import START_TIMEOUT
from .store import RunFolder, RunStore


READY_TIMEOUT_S = START_TIMEOUT  # `up --wait` waits as long as a run would for its starting runtime


class ClusterUnreachable(Unreachable):
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


class LocalBackend:
    """Runs training on this machine's shared runtime (``service``), or in a driver joined to a Ray cluster.

    A notebook session *holds* the runtime (it stays up while the session lives); a one-shot
    command does not, and the runtime then stays up for its idle time, ready for the next run.
    """

    def __init__(self, hold: bool = True):
        self.hold = hold
        self.guess: TrainConfig | None = None
        self._hold: service.Hold | None = None
        self._lock = threading.Lock()

    def _ensure(self, idle: float | None = None) -> dict:
        found = service.ensure(idle)
        with self._lock:
            if self.hold and (self._hold is None or not self._hold.alive()):
                self._hold = service.Hold()
        return found

    def warm_up(self, wait: bool = False, idle: float | None = None) -> None:
        """Start the runtime (Ray and a ready driver) now, so the next run starts in about a second
        (``idle``: its idle time in seconds, if it should change)."""
        found = self._ensure(idle)
        # the next run is most likely this session's last one (the runtime remembers the machine's last)
        service.request("warm", guess=self.guess.to_yaml() if self.guess is not None else None)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while wait and found.get("standby") != "ready":
            if found.get("standby") == "failed":
                log = Path(found["folder"]) / "standby.log"
                raise service.RuntimeRefused(f"the training runtime's driver could not start: {log_tail(log)} (see {log})")
            if time.monotonic() > deadline:
                raise service.RuntimeRefused(
                    f"the training runtime was not ready within {READY_TIMEOUT_S:.0f} s (a busy machine, or many "
                    f"runtimes starting at once); `unity-nb up` shows how far it got, its logs are in {found['folder']}")
            time.sleep(0.1)
            found = service.request("status")

    def start(self, run: RunFolder, config: TrainConfig, resume: bool = False) -> RunFolder:
        if config.address:
            check_address(config.address)
            env = dict(os.environ)
            for key, value in CLUSTER_AUTH.items():
                if value is None:
                    env.pop(key, None)
                else:
                    env[key] = value
            return self._spawn(run, config.address, env, resume)
        self.guess = config
        found = self._ensure()
        differs = service.environment_differences(found.get("env"), os.environ)
        if differs:  # said, not refused: the run is as good, only without this session's variables
            run.say(differs)
        # the driver works in the caller's folder, as a process started here would (relative build paths)
        # the runtime notes the driver's pid in the run folder before the driver starts
        service.request("train", run_dir=str(run.path.resolve()), resume=resume, guess=config.to_yaml(),
                        launched=run.status.get("created"), cwd=_cwd())
        return run

    def _spawn(self, run: RunFolder, address: str, env: dict, resume: bool) -> RunFolder:
        log = open(run.log_path(), "ab")
        args = [sys.executable, "-m", "unity_nb.trainer.driver", str(run.path.resolve()), "--address", address]
        if resume:
            args.append("--resume")
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        run.note_launch(process.pid)
        return run

    def close(self) -> None:
        """Let go of the runtime: it stays up for its idle time, then stops by itself."""
        with self._lock:
            if self._hold is not None:
                self._hold.release()
                self._hold = None


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except FileNotFoundError:  # this process's folder was deleted under it
        return None


_BACKEND: LocalBackend | None = None
HOLD = True  # a notebook session holds the runtime while it lives; one `unity-nb` command does not (cli.py)
# how a run on a Ray cluster authenticates, where it differs from this process's environment: a sweep's trial
# runs inside this machine's runtime (its token in the environment) and starts runs as the session that started
# the sweep would (train/sweeps.CLUSTER_AUTH)
CLUSTER_AUTH: dict[str, str | None] = {}


def backend() -> LocalBackend:
    """This process's backend; at exit it lets go of the shared runtime (which stays up for its idle time)."""
    global _BACKEND
    if _BACKEND is None:
        import atexit

        _BACKEND = LocalBackend(hold=HOLD)
        atexit.register(_BACKEND.close)
    return _BACKEND


def start_run(config: TrainConfig, runs_dir: str | os.PathLike | None = None) -> RunFolder:
    run = RunStore(runs_dir).create(config)
    return backend().start(run, config)


def resume_run(run: RunFolder, steps: int | None = None) -> RunFolder:
    """Start an ended run again from its last checkpoint (``steps``: a new step budget)."""
    run.prepare_resume(steps)
    return backend().start(run, run.config, resume=True)
