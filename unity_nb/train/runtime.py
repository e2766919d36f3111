"""The Ray runtime of this machine's training service: started once, on loopback only, gone with its owner.

``ray start --head --block`` runs under a small guard process that stops it
(SIGTERM: Ray drains and shuts every process down) when the process that
started it (the training service, ``service.py``) exits, however it exits. Runs join it by its explicit address, so
no run ever silently joins a runtime some earlier, crashed session left
behind. Its ports listen on 127.0.0.1 only: a training runtime reachable from
the network is how exposed Ray clusters were taken over.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..errors import NotPossible
from ..processes import command_lines, free_port, group_members, kill_group, log_cause, port_open, watch_parent
from .share import Share, find_share

LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # single node, 127.0.0.1 only
# A one-machine runtime needs no autoscaler monitor, no log monitor (drivers do not print workers' logs)
# and no workers started before any run asks for them (Basic's driver needs none): on two cores each of
# these Python processes competes with the run's own start-up. Measured with bench/cold_command.py.
LEAN_FLAGS = ["--no-monitor", "--include-log-monitor=False"]
LEAN_ENV = {"RAY_enable_worker_prestart": "0", "RAY_prestart_worker_first_driver": "0"}
# A start that fails ends its process at once (and says why); one still going is waited for this long:
# eight runtimes starting at once on two cores (a class, bench/class_on_one_machine.py) took over four minutes
START_TIMEOUT = 900.0
STARTED = "Ray runtime started"  # what `ray start` logs once its head is up


def own_ports() -> list[str]:
    """Ray's ports that default to fixed numbers, made this runtime's own, so that any number of runtimes
    (users of one JupyterHub, checkouts, venvs) share a host: Ray Client's (10001; `ray start` cannot switch
    it off), the dashboard's and its agent's (8265, 52365) are free ones, and workers take ports the OS
    hands out instead of the fixed range 10002-19999. Another user's runtime holding 10001 made
    ``ray start`` kill its whole runtime a second after it started."""
    return [f"--ray-client-server-port={free_port()}", f"--dashboard-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}", "--min-worker-port=0", "--max-worker-port=0"]


def ray_env(token_path: Path | None = None) -> dict[str, str]:
    """Environment for Ray processes of this kit: quiet, token-authenticated."""
    env = dict(os.environ)
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # one string hash in every run: RLlib walks a multi-agent episode's agents as sets of their names, so with
    # Python's per-process hash seed the same seed gave a different run each time (BasicDuo, Pong, Escape)
    env.setdefault("PYTHONHASHSEED", "0")
    env["RAY_AUTH_MODE"] = "token"
    if token_path is not None:
        env["RAY_AUTH_TOKEN_PATH"] = str(token_path)
    return env


def private_token(folder: Path, token: str | None = None) -> Path:
    """An auth token file readable by this user only: ``token``, or a fresh one."""
    path = folder / "auth_token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token or secrets.token_hex(32))
    return path


FOLDER_PREFIX = "unity-nb-ray-"
FAILED_KEPT_S = 86400.0  # a failed start keeps its folder (its error names the log there) for a day


def sweep_failed_folders(root: str | None = None, kept_s: float = FAILED_KEPT_S) -> list[Path]:
    """Remove this user's runtime folders older than ``kept_s`` that no process uses any more: those of failed
    starts, kept for their logs (a stopped runtime removes its own). Returns what was removed."""
    root = Path(root or tempfile.gettempdir())
    old = [p for p in root.glob(FOLDER_PREFIX + "*") if _owned_and_older(p, kept_s)]
    if not old:
        return []
    running = command_lines().values()
    removed = [p for p in old if not any(str(p) in words for words in running)]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def _owned_and_older(path: Path, kept_s: float) -> bool:
    try:
        info = path.lstat()
    except OSError:
        return False
    return path.is_dir() and not path.is_symlink() and info.st_uid == os.getuid() and \
        time.time() - info.st_mtime > kept_s


class LocalRuntime:
    """One Ray runtime for this process's training runs."""

    def __init__(self, share: Share | None = None):
        self.share = share or find_share()  # its CPUs and memory: the limits this user runs under, not the host's
        self.folder: Path | None = None
        self.address: str | None = None
        self.token: Path | None = None
        self.process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._error: str | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None and self._ready.is_set()

    def start(self, wait: bool = True) -> "LocalRuntime":
        """Start the runtime if it is not running (``wait=False``: in the background)."""
        with self._lock:
            if self.process is not None and self.process.poll() is None:
                pass  # already started (or starting)
            else:
                self._launch()
        if wait:
            self.wait_ready()
        return self

    def _launch(self) -> None:
        self._ready.clear()
        self._error = None
        sweep_failed_folders()
        self.folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
        self.token = private_token(self.folder)
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        env = {**ray_env(self.token), **LOOPBACK_ENV, **LEAN_ENV}
        ray = str(Path(sys.executable).with_name("ray"))
        command = [
            ray, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
            *self.share.ray_flags(spill_dir=self.folder), "--include-dashboard=false", "--disable-usage-stats",
            f"--temp-dir={self.folder}", *LEAN_FLAGS, *own_ports(),
        ]
        log = open(self.folder / "ray-start.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "unity_nb.train.runtime", "--owner", str(os.getpid()),
             "--log", str(self.folder / "ray-start.log"), "--", *command],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        threading.Thread(target=self._watch_start, daemon=True).start()

    def _watch_start(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                kill_group(self.process.pid)  # what the failed start left behind (Ray's agents)
                self._error = (f"Ray failed to start: {log_cause(self.folder / 'ray-start.log')} "
                               f"(exit {self.process.returncode}; the whole log: {self.folder}/ray-start.log)")
                break
            text = (self.folder / "ray-start.log").read_text(errors="replace")
            if STARTED in text and port_open(self.address):
                self._ready.set()
                return
            time.sleep(0.2)
        else:
            self._error = f"Ray did not start within {START_TIMEOUT:.0f} s; see {self.folder}/ray-start.log"
        self._ready.set()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> str:
        """Block until the runtime accepts drivers; return its address."""
        if not self._ready.wait(timeout):
            raise NotPossible(f"Ray did not start within {timeout:.0f} s")
        if self._error:
            raise NotPossible(self._error)
        return self.address

    def driver_env(self) -> dict[str, str]:
        return {**ray_env(self.token), **LOOPBACK_ENV}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.process is not None:  # no process of this runtime outlives it
            kill_group(self.process.pid)
            if not self._error and self.folder is not None:  # a failed one keeps its logs: its error names them
                shutil.rmtree(self.folder, ignore_errors=True)
        self.process = None
        self._ready.clear()


# Ray's raylet gives its dashboard agent a fixed 15 s to report its ports and aborts the start when a
# loaded machine imports the agent slower (ray-project/ray#65983). The second try finds the imports warm.
SLOW_START = ("timed out during startup", "Timed out waiting for file")
START_ATTEMPTS = 2
# Ray's head starts Python processes the kit never talks to (the Ray Client server, the dashboard's API
# server) just before the raylet; their imports (6 s and 3 s of CPU here) compete with the agents through
# their 15 s. They yield the CPU to them: niceness 10 from their first moments on.
YIELDING = ("ray.util.client.server", "ray/dashboard/dashboard.py")
YIELD_NICENESS = 10


def _yield_to_agents(pgid: int, watch_s: float = 60.0) -> None:
    """Lower the priority of this group's Ray processes in YIELDING as they appear (until each one was seen,
    or ``watch_s`` seconds)."""
    waiting = set(YIELDING)
    deadline = time.monotonic() + watch_s
    while waiting and time.monotonic() < deadline:
        for pid in group_members(pgid):
            try:  # read again each round: between fork and exec a child still shows its parent's command
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            found = {name for name in waiting if name in command}
            if found:
                waiting -= found
                try:
                    os.setpriority(os.PRIO_PROCESS, pid, YIELD_NICENESS)
                except OSError:  # gone, or not ours to change: only a slower start
                    pass
        time.sleep(0.1)


# One Ray start at a time on a host, whoever starts it: Ray gives a new raylet a fixed 30 s to register
# (ray/_private/node.py, not configurable in 2.60), and eight starts at once on two cores (a class,
# bench/class_on_one_machine.py) all missed it, twice. Taken in turn, each start has the CPU it needs.
START_TURN_LOCK = Path(tempfile.gettempdir()) / "unity-nb-ray-start.lock"
START_TURN_WAIT_S = 240.0  # a turn not given by then (a start stuck elsewhere) is taken anyway


def _start_turn(stopping: threading.Event, wait_s: float = START_TURN_WAIT_S) -> int | None:
    """Wait for this host's turn to start a Ray runtime: an exclusive lock on a shared file, which every user can
    open read-only (it is never written). Returns the descriptor holding it (closing it passes the turn on),
    or None when there is no turn to take (no such file can be made, ``wait_s`` passed, or we are stopping)."""
    fd = _open_turn_lock()
    if fd is None:
        return None
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError:
            if time.monotonic() > deadline or stopping.wait(0.2):
                os.close(fd)
                return None


def _open_turn_lock() -> int | None:
    # opened without O_CREAT when it is there: the kernel refuses O_CREAT on another user's file in a sticky
    # folder such as /tmp (fs.protected_regular), even to read it; made readable by all when we make it
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(2):
        try:
            return os.open(START_TURN_LOCK, flags)
        except FileNotFoundError:
            try:
                fd = os.open(START_TURN_LOCK, flags | os.O_CREAT | os.O_EXCL, 0o644)
                os.fchmod(fd, 0o644)  # whatever our umask
                return fd
            except FileExistsError:
                continue  # made by someone else just now: open theirs
            except OSError:
                return None
        except OSError:
            return None
    return None


def _starts_logged(log: Path | None) -> int:
    """How many times `ray start` has said "Ray runtime started" in its log so far."""
    try:
        return log.read_text(errors="replace").count(STARTED) if log is not None else 0
    except OSError:
        return 0


def _guard(owner: int, command: list[str], log: Path | None = None) -> int:
    """Run ``command`` (again once, if Ray's start timed out on a busy machine); SIGTERM it when ``owner``
    dies or when we are told to stop; then end whatever of it is left."""
    stopping = threading.Event()

    def stop(*_):
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    watch_parent(stop)
    if os.getppid() != owner:  # the owner died before the watch began
        stop()
    for attempt in range(1, START_ATTEMPTS + 1):
        started_before = _starts_logged(log)
        turn = _start_turn(stopping) if log is not None else None
        child = subprocess.Popen(command)
        threading.Thread(target=_yield_to_agents, args=(os.getpgid(0),), daemon=True).start()
        while child.poll() is None and not stopping.wait(0.5):
            if turn is not None and _starts_logged(log) > started_before:
                os.close(turn)  # started: the next runtime on this host may start
                turn = None
        if turn is not None:
            os.close(turn)
        if child.poll() is None:
            child.terminate()
        try:
            code = child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            code = child.wait()
        kill_group(os.getpgid(0), spare=os.getpid())  # Ray's processes that outlived it (its owner may be gone)
        text = log.read_text(errors="replace") if log is not None else ""
        slow = STARTED not in text and any(words in text for words in SLOW_START)
        if stopping.is_set() or code == 0 or not slow or attempt == START_ATTEMPTS:
            return code
        print(f"unity-nb: Ray's start timed out on a busy machine; starting it again (attempt {attempt + 1})",
              flush=True)
    return code


if __name__ == "__main__":
    args = sys.argv[1:]
    owner = int(args[args.index("--owner") + 1])
    log = Path(args[args.index("--log") + 1]) if "--log" in args[: args.index("--")] else None
    sys.exit(_guard(owner, args[args.index("--") + 1 :], log))
