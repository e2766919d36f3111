"""Process helpers shared by the player, the training process and the Ray runtime guard.

Nothing here imports the rest of the package (but its error family, ``errors``), so any layer may use it.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
import time
from typing import Callable
from .errors import BadValue


def free_port() -> int:
    """A port the OS just handed out on loopback (the kernel avoids reusing it soon)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pid_alive(pid: int | None) -> bool:
    """Whether process ``pid`` runs (a zombie, finished but not yet reaped, does not)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def split_address(address: str) -> tuple[str, int]:
    """``"HOST:PORT"`` (or ``"ray://HOST:PORT"``) as ``(host, port)``; ValueError if it is not one."""
    host, sep, port = address.replace("ray://", "").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadValue(f"address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379)")
    return host, int(port)


def port_open(address: str, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at ``HOST:PORT``."""
    try:
        reach(address, timeout)
        return True
    except (OSError, ValueError):
        return False


def reach(address: str, timeout: float = 1.0) -> None:
    """Open and close one TCP connection to ``HOST:PORT``; raise OSError (or ValueError) if that fails."""
    with socket.create_connection(split_address(address), timeout=timeout):
        pass


def log_tail(path, lines: int = 3) -> str:
    """The last ``lines`` lines of a log file, joined with " | " for a one-line message ("(no log)" if unreadable)."""
    try:
        return " | ".join(open(path, errors="replace").read().strip().splitlines()[-lines:])
    except (OSError, TypeError):
        return "(no log)"


# What a log line that gives a reason looks like: an exception's "SomeError: why", or Ray's "Failed to ..."
_CAUSE = re.compile(r"(\b\w*(Error|Exception)\b: |\bFailed to |\bfailed to |\bcannot |\bPermission denied|"
                    r"exited unexpectedly)")


def log_cause(path, lines: int = 3) -> str:
    """The last line of a log that says why something failed (an exception's message, "Failed to bind ...");
    else its last ``lines`` lines, as ``log_tail``."""
    try:
        text = open(path, errors="replace").read()
    except (OSError, TypeError):
        return "(no log)"
    rows = text.splitlines()
    causes = [i for i, line in enumerate(rows) if _CAUSE.search(line)]
    if not causes:
        return log_tail(path, lines)
    i = causes[-1]
    cause = rows[i].strip()
    if cause.endswith(":") and i + 1 < len(rows):  # "Some Ray subprocesses exited unexpectedly:" names them next
        cause += " " + rows[i + 1].strip()
    return cause


def command_lines() -> dict[int, str]:
    """Every process's command line we may read, by pid (arguments joined by NUL, as /proc has them)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    found[int(entry)] = f.read().decode(errors="replace")
            except OSError:  # gone meanwhile, or not ours to read
                continue
    return found


def group_members(pgid: int) -> list[int]:
    """The live processes of process group ``pgid`` (read from /proc; zombies are not counted)."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid and pid_alive(int(entry)):
                    members.append(int(entry))
            except OSError:  # gone meanwhile
                continue
    return members


def kill_group(pgid: int, grace: float = 5.0, spare: int | None = None) -> None:
    """End every process left in process group ``pgid`` but ``spare``: SIGTERM, then SIGKILL after ``grace`` s.
    Ray's agents outlive a raylet that dies at start-up (re-parented to init, in the group they were born in)."""
    members = [pid for pid in group_members(pgid) if pid != spare]
    deadline = time.monotonic() + grace
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in members:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        while members and time.monotonic() < deadline:
            time.sleep(0.1)
            members = [pid for pid in group_members(pgid) if pid != spare]
        if not members:
            return


def watch_parent(on_orphaned: Callable[[], None], until: threading.Event | None = None,
                 interval: float = 0.5) -> threading.Thread:
    """Call ``on_orphaned`` (in a daemon thread) when the process that started this one dies.

    A child is re-parented when its parent goes, so a changed parent pid is the sign.
    ``until``: stop watching once this event is set. Returns the watching thread.
    """
    parent = os.getppid()

    def watch():
        while not (until.wait(interval) if until is not None else time.sleep(interval)):
            if os.getppid() != parent:
                on_orphaned()
                return

    thread = threading.Thread(target=watch, name="watch-parent", daemon=True)
    thread.start()
    return thread
