"""The training runtime that outlives one command: Ray plus a ready driver, until it has been idle a while.

``python -m unity_nb.train.service`` (started by the first run, by ``unity-nb up`` or by a
notebook session) starts the Ray runtime on loopback (``runtime.LocalRuntime``) and keeps one
*standby* driver ready: a process that has imported Ray, RLlib and torch and joined the
runtime. A run is handed to the standby, which becomes its driver; the next standby is
prepared once that run ends (on two cores, importing torch beside a running training would
slow it down). So a second ``unity-nb train`` within the idle time, or any run while a
notebook session holds the runtime, starts in about a second, as tensorboard's notebook
reuses a running server.

Clients talk to it over a Unix socket in a folder only this user can open (mode 0700), one
JSON line per request (see ``Service.handle``). It stops by itself when no run is active, no
session holds it and nothing was asked of it for ``idle`` seconds; ``unity-nb down`` stops it
at once. One runtime per user, Python and kit checkout (their hash names the folder), so two
checkouts never share processes running each other's code.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..errors import BadValue, NotPermitted, NotPossible, Unreachable
from ..processes import pid_alive
from .share import find_share
from .store import RunFolder

DEFAULT_IDLE = 600.0  # seconds a runtime nobody uses stays up (UNITY_NB_IDLE, `unity-nb up --idle`)
START_TIMEOUT = 60.0  # for the service's socket to answer (Ray itself starts behind it)
REQUEST_TIMEOUT = 30.0


class RuntimeRefused(NotPossible):
    """The training runtime could not start or refused a request (the message says why)."""


# What a run's processes read from their environment, which they take from the runtime (started by the first
# command): Ray's, torch's and its thread pools' settings, the kit's own, Python's path and hash seed. Not the
# variables only a client reads (where runs go, which runtime, a cluster's address and token, SageMaker's).
RUN_ENV_PREFIXES = ("UNITY_NB_", "RAY_", "OMP_", "MKL_", "OPENBLAS_", "TORCH_", "CUDA_")
RUN_ENV_NAMES = ("PYTHONPATH", "PYTHONHASHSEED")
CLIENT_ONLY_ENV = {"UNITY_NB_RUNS", "UNITY_NB_RUNTIME_DIR", "UNITY_NB_IDLE", "UNITY_NB_CLUSTER_AUTH",
                   "UNITY_NB_SAGEMAKER_POLL", "UNITY_NB_BUCKET", "UNITY_NB_IMAGE", "RAY_ADDRESS", "RAY_AUTH_MODE",
                   "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"}


def run_environment(environ) -> dict[str, str]:
    """The variables of ``environ`` that a run's processes read."""
    return {k: v for k, v in environ.items() if k not in CLIENT_ONLY_ENV
            and (k.startswith(RUN_ENV_PREFIXES) or k in RUN_ENV_NAMES)}


def environment_differences(runtime: dict[str, str] | None, here) -> str | None:
    """What a run started from ``here`` (an environment) would not see because the runtime started with another
    (None: nothing). A run's processes take the runtime's environment, not the caller's."""
    if runtime is None:  # a runtime of an earlier kit, which did not say
        return None
    mine = run_environment(here)
    differ = sorted(k for k in set(mine) | set(runtime) if mine.get(k) != runtime.get(k))
    if not differ:
        return None
    shown = ", ".join(f"{k}={mine[k]!r} here" + (f" ({runtime[k]!r} in the runtime)" if k in runtime else
                                                 " (unset in the runtime)") if k in mine else
                      f"{k} unset here ({runtime[k]!r} in the runtime)" for k in differ[:4])
    more = f" and {len(differ) - 4} more" if len(differ) > 4 else ""
    return (f"the training runtime started with another environment than this one: {shown}{more}. Runs take the "
            "runtime's; to train with this one, stop it (`unity-nb down`, or %unity_down) and train again")


def runtime_dir() -> Path:
    """This user's runtime folder for this Python and this checkout of the kit (``UNITY_NB_RUNTIME_DIR`` overrides)."""
    chosen = os.environ.get("UNITY_NB_RUNTIME_DIR")
    if chosen:
        folder = Path(chosen)
    else:
        key = f"{os.path.realpath(sys.executable)}|{Path(__file__).resolve().parents[1]}"
        base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"unity-nb-{os.getuid()}"
        base.mkdir(mode=0o700, exist_ok=True)
        folder = base / hashlib.sha256(key.encode()).hexdigest()[:12]
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_uid != os.getuid() or folder.stat().st_mode & 0o077:
        raise NotPermitted(f"{folder} must belong to you and be private (chmod 700): the training runtime's "
                           f"socket and token live there")
    return folder


def idle_default() -> float:
    text = os.environ.get("UNITY_NB_IDLE")
    if not text:
        return DEFAULT_IDLE
    return parse_idle(text, "UNITY_NB_IDLE")


def parse_idle(text: str | float, name: str = "--idle") -> float:
    """An idle time as seconds: ``600``, ``90s``, ``10m``, ``1h`` (at least 1 s, at most a week)."""
    raw = str(text).strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600}.get(raw[-1:], None)
    number = raw[:-1] if scale else raw
    try:
        seconds = float(number) * (scale or 1)
    except ValueError:
        raise BadValue(f"{name} must be a time such as 600, 90s, 10m or 1h, got {text!r}") from None
    if not 1 <= seconds <= 7 * 86400 or seconds != seconds:
        raise BadValue(f"{name} must be between 1 s and 7 days, got {text!r}")
    return seconds


# ---------------------------------------------------------------- client side
def _socket_path(folder: Path) -> Path:
    return folder / "sock"


def request(op: str, folder: Path | None = None, timeout: float = REQUEST_TIMEOUT, **fields) -> dict:
    """Send one request to the running runtime and return its answer; ConnectionError if none runs."""
    folder = folder or runtime_dir()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(_socket_path(folder)))
        s.sendall((json.dumps({"op": op, **fields}) + "\n").encode())
        answer = s.makefile("r").readline()
    if not answer:
        raise Unreachable("the training runtime closed the connection without answering")
    reply = json.loads(answer)
    if not reply.get("ok"):
        raise RuntimeRefused(reply.get("error", "the training runtime refused the request"))
    return reply


def status(folder: Path | None = None) -> dict | None:
    """The running runtime's status, or None when none runs."""
    try:
        return request("status", folder, timeout=5)
    except (ConnectionError, FileNotFoundError, OSError):
        return None


def ensure(idle: float | None = None, folder: Path | None = None) -> dict:
    """The runtime's status, starting it first if none runs (``idle``: its idle timeout, in seconds)."""
    folder = folder or runtime_dir()
    found = status(folder)
    if found is None:
        try:  # a teacher's UNITY_NB_CPUS / UNITY_NB_MEMORY that cannot be read stops us here, by name
            find_share()
        except ValueError as err:
            raise RuntimeRefused(str(err)) from None
    if found is not None:
        if idle is not None and idle != found["idle_s"]:
            found = request("set", folder, idle_s=idle)
        return found
    with open(folder / "lock", "w") as lock:  # two clients starting at once start one runtime
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = status(folder)
        if found is not None:
            return found
        with open(folder / "service.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "unity_nb.train.service", "--dir", str(folder),
                 "--idle", str(idle if idle is not None else idle_default())],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=folder,  # not the caller's folder: it may be deleted while the runtime lives on
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            found = status(folder)
            if found is not None:
                return found
            if process.poll() is not None:
                break
            time.sleep(0.05)
    tail = (folder / "service.log").read_text(errors="replace")[-2000:]
    raise RuntimeRefused(f"the training runtime did not start; its log ({folder / 'service.log'}) ends:\n{tail}")


def stop(folder: Path | None = None, force: bool = False, timeout: float = 150.0) -> dict | None:
    """Stop the running runtime and wait until its process is gone; its answer, or None if none was running.

    ``force``: also stop the runs still training (each checkpoints first, hence the long ``timeout``).
    """
    found = status(folder)
    if found is None:
        return None
    answer = request("down", folder, force=force)
    deadline = time.monotonic() + timeout
    while pid_alive(found["pid"]) and time.monotonic() < deadline:  # its socket goes first, then the process
        time.sleep(0.1)
    return answer


class Hold:
    """Keeps the runtime up while this object lives (a notebook session): an open connection."""

    def __init__(self, folder: Path | None = None):
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.socket.connect(str(_socket_path(folder or runtime_dir())))
        self.socket.sendall(b'{"op": "hold"}\n')

    def alive(self) -> bool:
        try:
            return self.socket.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) != b""
        except BlockingIOError:
            return True
        except OSError:
            return False

    def release(self) -> None:
        try:
            self.socket.close()
        except OSError:
            pass


# ---------------------------------------------------------------- the service
class _Standby:
    """A driver process that is imported, joined to Ray, and waiting for a run on stdin."""

    def __init__(self, address: str, env: dict[str, str], folder: Path, guess_yaml: str | None,
                 ray_process: subprocess.Popen | None = None, ray_log: Path | None = None):
        command = [sys.executable, "-m", "unity_nb.trainer.standby", "--address", address]
        if ray_process is not None:  # a Ray that fails to start fails the run at once, with Ray's own words
            command += ["--ray-pid", str(ray_process.pid), "--ray-log", str(ray_log)]
        if guess_yaml is not None:  # the standby builds this run's algorithm ahead, while nobody waits
            guess_file = folder / f"guess-{time.monotonic_ns()}.yaml"
            guess_file.write_text(guess_yaml)
            command += ["--guess", str(guess_file)]
        with open(folder / "standby.log", "ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                            env=env, start_new_session=True, text=True)
        self.ready = threading.Event()
        self.failed = False  # it could not import or join Ray (its log, standby.log, says why)
        threading.Thread(target=self._wait_ready, daemon=True).start()

    def _wait_ready(self):
        # Ray or RLlib may print to stdout before the standby's own word: read on until it comes
        for line in self.process.stdout:
            if line.strip() == "ready":
                self.ready.set()
                return
            if line.strip() == "failed":
                break
        self.failed = True

    def usable(self) -> bool:
        return self.process.poll() is None and not self.failed

    def state(self) -> str:
        return "ready" if self.ready.is_set() else "failed" if self.failed else "starting"

    def hand(self, order: dict) -> None:
        self.process.stdin.write(json.dumps(order) + "\n")
        self.process.stdin.flush()
        self.process.stdin.close()

    def dismiss(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()  # EOF: the standby exits on its own
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()


class Service:
    """The runtime process: Ray, one standby driver, the runs it handed out, and its clients."""

    def __init__(self, folder: Path, idle_s: float):
        from .runtime import LocalRuntime

        self.folder = folder
        self.idle_s = idle_s
        self.started = time.time()
        self.last_activity = time.monotonic()
        self.runtime = LocalRuntime()
        self.guess: str | None = None  # the config of the last run: the next one is most likely the same
        self.standby: _Standby | None = None
        self.drivers: dict[int, str] = {}  # pid -> run folder, for runs still training
        self.holds = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.stopped = threading.Event()

    # ---- the runtime
    def prepare(self) -> _Standby:
        """The standby, started if there is none (the caller holds the lock)."""
        if self.standby is None or not self.standby.usable():
            if self.standby is not None:
                self.standby.dismiss()  # it failed: a run handed to it would fail the same way
            if self.guess is None:  # nothing ran yet: the quickstart's run is the likeliest first one
                from .config import TrainConfig

                self.guess = TrainConfig("Basic").resolved().to_yaml()
            self.runtime.start(wait=False)  # the standby's imports overlap Ray's start-up
            self.standby = _Standby(self.runtime.address, self.runtime.driver_env(), self.folder, self.guess,
                                    self.runtime.process, self.runtime.folder / "ray-start.log")
        return self.standby

    def train(self, order: dict) -> dict:
        with self.lock:
            if self.stopping.is_set():
                raise RuntimeRefused("the training runtime is stopping; start the run again")
            if order.get("guess"):
                self.guess = order["guess"]
            standby, self.standby = self.prepare(), None
            warm = standby.ready.is_set()
            # noted before the order leaves: a driver that fails at once finds (and keeps) its pid there
            RunFolder(order["run_dir"]).note_launch(standby.process.pid)
            standby.hand({"run_dir": order["run_dir"], "resume": bool(order.get("resume")), "cwd": order.get("cwd"),
                          "launched": order.get("launched") or time.time(), "warm": warm})
            self.drivers[standby.process.pid] = order["run_dir"]
        threading.Thread(target=self._after, args=(standby.process,), daemon=True).start()
        return {"pid": standby.process.pid, "warm": warm, "address": self.runtime.address}

    def _after(self, process: subprocess.Popen) -> None:
        process.wait()
        with self.lock:
            self.drivers.pop(process.pid, None)
            self.last_activity = time.monotonic()
            if not self.stopping.is_set() and not self.drivers:
                self.prepare()

    def status(self) -> dict:
        with self.lock:
            standby = self.standby
            return {"pid": os.getpid(), "address": self.runtime.address, "folder": str(self.folder),
                    "token": str(self.runtime.token) if self.runtime.token else None,
                    "started": self.started, "idle_s": self.idle_s,
                    "idle_for_s": round(time.monotonic() - self.last_activity, 1) if self._idle() else 0.0,
                    "runs": sorted(self._training()), "holds": self.holds,
                    "standby": "none" if standby is None or standby.process.poll() is not None else standby.state(),
                    "ray": "ready" if self.runtime.alive else "starting", "share": self.runtime.share.describe(),
                    "env": run_environment(os.environ)}

    def _training(self) -> list[str]:
        """The run folders still training (a driver whose run has ended may be tidying up a moment longer)."""
        from .schema import ACTIVE
        from .store import RunFolder

        training = []
        for pid, run in self.drivers.items():
            try:
                if pid_alive(pid) and RunFolder(run).state in ACTIVE:
                    training.append(run)
            except Exception:  # a run folder deleted under it
                continue
        return training

    def _idle(self) -> bool:
        return not self.drivers and self.holds == 0  # _after forgets each driver as it ends

    def handle(self, message: dict, connection) -> dict | None:
        """One request: status | set (idle_s) | warm (guess) | train (run_dir, resume, guess, cwd, launched) | hold |
        down (force)."""
        op = message.get("op")
        if op == "status":  # looking does not count as using: a watcher never keeps it up
            return self.status()
        self.last_activity = time.monotonic()
        if op == "set":
            self.idle_s = parse_idle(message.get("idle_s"), "idle")
            return self.status()
        if op == "warm":
            with self.lock:
                if message.get("guess"):
                    self.guess = message["guess"]
                if not self.drivers:
                    self.prepare()
            return self.status()
        if op == "train":
            if not isinstance(message.get("run_dir"), str):
                raise BadValue("train needs run_dir")
            return self.train(message)
        if op == "hold":
            return self._hold(connection)
        if op == "down":
            with self.lock:
                active = self._training()
            if active and not message.get("force"):
                raise RuntimeRefused(f"{len(active)} run(s) still training ({', '.join(Path(r).name for r in active)}): "
                                    f"stop them first, or use --force (each checkpoints, then stops)")
            threading.Thread(target=self.shutdown, daemon=True).start()
            return {"stopping": True, "runs_stopped": [Path(r).name for r in active]}
        raise BadValue(f"unknown request {op!r}")

    def _hold(self, connection) -> None:
        with self.lock:
            self.holds += 1
        try:
            while connection.recv(1024):  # until the session closes its end
                pass
        except OSError:
            pass
        finally:
            with self.lock:
                self.holds -= 1
                self.last_activity = time.monotonic()
        return None

    def watch_idle(self) -> None:
        while not self.stopping.wait(1.0):
            with self.lock:
                idle = self._idle()
            if idle and time.monotonic() - self.last_activity > self.idle_s:
                print(f"idle for {self.idle_s:.0f} s: stopping", flush=True)
                self.shutdown()
                return

    def shutdown(self) -> None:
        """Stop the runs still training (each checkpoints first), the standby, then Ray."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        try:
            with self.lock:
                standby, self.standby = self.standby, None
                drivers = dict(self.drivers)
            if standby is not None:
                standby.dismiss()
            for pid in drivers:
                try:
                    os.kill(pid, signal.SIGTERM)  # the driver checkpoints, then ends as "stopped"
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 120
            while any(pid_alive(p) for p in drivers) and time.monotonic() < deadline:
                time.sleep(0.2)
            self.runtime.stop()
        finally:
            try:
                _socket_path(self.folder).unlink()
            except FileNotFoundError:
                pass
            self.stopped.set()


def serve(folder: Path, idle_s: float) -> int:
    service = Service(folder, idle_s)
    path = _socket_path(folder)
    if path.exists():
        if status(folder) is not None:
            print("another runtime already answers here", flush=True)
            return 1
        path.unlink()  # left by a runtime that died

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            line = self.rfile.readline()
            try:
                reply = service.handle(json.loads(line), self.connection)
                if reply is None:
                    return
                reply = {"ok": True, **reply}
            except Exception as err:  # every refusal goes back as a message
                reply = {"ok": False, "error": str(err)}
            self.wfile.write((json.dumps(reply) + "\n").encode())

    server = socketserver.ThreadingUnixStreamServer(str(path), Handler)
    server.daemon_threads = True
    os.chmod(path, 0o600)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=service.shutdown, daemon=True).start())
    with service.lock:
        service.prepare()  # Ray and a standby start now: the first run is on its way
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"runtime {os.getpid()} serving at {path} (idle timeout {idle_s:.0f} s)", flush=True)
    service.watch_idle()
    service.stopped.wait()  # shutdown() may run in another thread (`down`, SIGTERM): let it finish
    server.shutdown()
    print("stopped", flush=True)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="The unity-nb training runtime (started by runs and `unity-nb up`).")
    parser.add_argument("--dir", type=Path, required=True, help="the runtime folder (socket, token, logs)")
    parser.add_argument("--idle", type=float, default=DEFAULT_IDLE, help="seconds unused before it stops itself")
    args = parser.parse_args(argv)
    return serve(args.dir, args.idle)


if __name__ == "__main__":
    sys.exit(main())
