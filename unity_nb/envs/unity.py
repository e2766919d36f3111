"""Connecting the real mlagents-envs client to a Unity build, the Editor or the stand-in.

Everything here goes through ``mlagents_envs.environment.UnityEnvironment``;
the kit only adds what a user should not have to think about: a launchable
file per built-in scene, checks that a path really is a Linux Unity build,
free ports, a loopback-only server, fast detection of a dead player, and
errors that say what to do.
"""

from __future__ import annotations

import os
import queue
import shlex
import signal
import socket
import subprocess
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import _protobuf_compat

_protobuf_compat.install()

import grpc  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from mlagents_envs.communicator_objects.unity_to_external_pb2_grpc import (  # noqa: E402
    add_UnityToExternalProtoServicer_to_server,
)
from mlagents_envs.environment import UnityEnvironment  # noqa: E402
from mlagents_envs.exception import (  # noqa: E402
    UnityEnvironmentException,
    UnityTimeOutException,
    UnityWorkerInUseException,
)
from mlagents_envs.rpc_communicator import RpcCommunicator, UnityToExternalServicerImplementation  # noqa: E402
from mlagents_envs.side_channel.engine_configuration_channel import EngineConfigurationChannel  # noqa: E402
from mlagents_envs.side_channel.environment_parameters_channel import EnvironmentParametersChannel  # noqa: E402
from mlagents_envs.side_channel.stats_side_channel import StatsSideChannel  # noqa: E402

from .errors import UnityBuildError, UnityConnectError, UnityPlayerDied  # noqa: E402
from .scenes import SCENES, scene_class  # noqa: E402

EDITOR = "editor"
EDITOR_PORT = UnityEnvironment.DEFAULT_EDITOR_PORT
DEFAULT_CONNECT_TIMEOUT = 30.0
_ELF_MACHINES = {"x86_64": 62, "aarch64": 183, "arm64": 183}


def _cache_dir() -> Path:
    root = os.environ.get("UNITY_NB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "unity-nb"
    )
    return Path(root)


def player_file(scene: str) -> str:
    """Path of an executable that runs built-in ``scene`` like a Unity Linux build.

    Hand it to anything that launches Unity builds: ``UnityEnvironment(file_name=path)``,
    RLlib's or TorchRL's Unity wrappers, or ``unity_nb.envs.make(path)``.
    """
    cls = scene_class(scene)
    folder = _cache_dir() / "players"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{cls.name}.x86_64"
    # exec keeps one process: what the client launches (and may kill) is the player itself
    script = (
        "#!/bin/sh\n"
        f"# unity-nb stand-in for a Unity Linux build of the {cls.name} scene\n"
        f"exec {shlex.quote(sys.executable)} -m unity_nb.envs.player --scene {shlex.quote(cls.name)} \"$@\"\n"
    )
    if not path.exists() or path.read_text() != script:
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(script)
        tmp.chmod(0o755)
        os.replace(tmp, path)  # atomic: concurrent callers never see half a file
    return str(path)


def check_build(path: str | os.PathLike) -> str:
    """Return the executable of a Linux Unity build at ``path``, or raise UnityBuildError.

    ``path`` may be the executable, its name without ``.x86_64``, or the build folder.
    """
    given = str(path)
    p = Path(given).expanduser()
    if not p.exists():
        for suffix in (".x86_64", ".x86"):
            if Path(str(p) + suffix).exists():
                p = Path(str(p) + suffix)
                break
    if not p.exists():
        raise UnityBuildError(
            f"no Unity build at {given!r}: the file does not exist. "
            f"Pass the path to your build's executable (e.g. builds/MyGame.x86_64) or a built-in scene: {', '.join(SCENES)}."
        )
    if p.is_dir():
        if p.suffix == ".app" or (p / "Contents" / "MacOS").is_dir():
            raise UnityBuildError(f"{given!r} is a macOS build. On Linux, build for 'Linux' in Unity's Build Settings.")
        candidates = sorted(list(p.glob("*.x86_64")) + list(p.glob("*.x86")))
        if not candidates:
            if list(p.glob("*.exe")):
                raise UnityBuildError(
                    f"{given!r} holds a Windows build (.exe). On Linux, build for 'Linux' in Unity's Build Settings."
                )
            raise UnityBuildError(f"{given!r} is a folder with no Linux Unity executable (*.x86_64) in it.")
        if len(candidates) > 1:
            names = ", ".join(c.name for c in candidates)
            raise UnityBuildError(f"{given!r} holds several executables ({names}); pass the one to launch.")
        p = candidates[0]
    with open(p, "rb") as f:
        head = f.read(20)
    if head[:2] == b"MZ":
        raise UnityBuildError(f"{given!r} is a Windows executable. On Linux, build for 'Linux' in Unity's Build Settings.")
    if head[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        raise UnityBuildError(f"{given!r} is a macOS executable. On Linux, build for 'Linux' in Unity's Build Settings.")
    if head[:4] == b"\x7fELF":
        machine = int.from_bytes(head[18:20], "little")
        want = _ELF_MACHINES.get(os.uname().machine)
        if want is not None and machine != want:
            raise UnityBuildError(
                f"{given!r} is a Linux build for another processor (ELF machine {machine}); "
                f"this machine is {os.uname().machine}. Rebuild for it in Unity's Build Settings."
            )
    elif head[:2] != b"#!":
        raise UnityBuildError(f"{given!r} is not an executable program (neither a Linux binary nor a script).")
    if not os.access(p, os.X_OK):
        mode = p.stat().st_mode
        raise UnityBuildError(
            f"{given!r} is not executable (mode {stat.filemode(mode)}). Make it so with: chmod +x {shlex.quote(str(p))}"
        )
    return str(p.resolve())


def free_port() -> int:
    """A port the OS just handed out on loopback (the kernel avoids reusing it soon)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _PipeEnd:
    """One end of an in-process duplex pipe with multiprocessing.Connection's methods.

    mlagents hands each message between the gRPC thread and the caller through a
    multiprocessing Pipe, which pickles (serialises and parses) every protobuf
    message once more; both ends live in one process, so a queue does the same job.
    """

    def __init__(self, inbox: queue.SimpleQueue, outbox: queue.SimpleQueue):
        self._inbox, self._outbox, self._held = inbox, outbox, []

    def send(self, message) -> None:
        self._outbox.put(message)

    def recv(self):
        return self._held.pop() if self._held else self._inbox.get()

    def poll(self, timeout: float = 0.0) -> bool:
        if not self._held:
            try:
                self._held.append(self._inbox.get(timeout=timeout) if timeout else self._inbox.get_nowait())
            except queue.Empty:
                return False
        return True

    def close(self) -> None:
        pass


def _pipe() -> tuple[_PipeEnd, _PipeEnd]:
    a, b = queue.SimpleQueue(), queue.SimpleQueue()
    return _PipeEnd(a, b), _PipeEnd(b, a)


class _LoopbackCommunicator(RpcCommunicator):
    """mlagents' RpcCommunicator, listening on 127.0.0.1 only and noticing a dead player fast.

    The library binds ``[::]`` (every interface), which lets anyone on the network
    feed a trainer observations; Unity players connect to localhost anyway.
    """

    poll_interval = 0.05

    def create_server(self):
        self.check_port(self.port)
        try:
            self.server = grpc.server(thread_pool=ThreadPoolExecutor(max_workers=10))
            self.unity_to_external = UnityToExternalServicerImplementation()
            self.unity_to_external.parent_conn, self.unity_to_external.child_conn = _pipe()
            add_UnityToExternalProtoServicer_to_server(self.unity_to_external, self.server)
            if self.server.add_insecure_port(f"127.0.0.1:{self.port}") == 0:
                raise OSError("port busy")
            self.server.start()
            self.is_open = True
        except Exception:
            raise UnityWorkerInUseException(self.worker_id)
        # A script that never closes its environment must still exit: at interpreter shutdown the
        # gRPC handler thread, parked until the next message, is joined before atexit handlers run.
        # Closing first (status 400) releases it and tells the player to quit.
        register = getattr(threading, "_register_atexit", None)
        if register is not None:
            try:
                register(self.close)
            except RuntimeError:  # already shutting down
                pass

    def poll_for_timeout(self, poll_callback=None):
        # The library checks the player only every timeout/10 s; a crashed build should be
        # reported at once, not after seconds of silence.
        deadline = time.monotonic() + self.timeout_wait
        while time.monotonic() < deadline:
            if self.unity_to_external.parent_conn.poll(self.poll_interval):
                return
            if poll_callback:
                poll_callback()
        raise UnityTimeOutException(f"no answer from the Unity player within {self.timeout_wait} s")


class KitUnityEnvironment(UnityEnvironment):
    """The real ``UnityEnvironment`` with the kit's loopback communicator."""

    @staticmethod
    def _get_communicator(worker_id, base_port, timeout_wait):
        return _LoopbackCommunicator(worker_id, base_port, timeout_wait)

    def _close(self, timeout=None):
        process = self._process
        super()._close(timeout)
        if process is None:
            return
        # The player runs in its own session (start_new_session): take down anything it
        # started too (a launcher script's children), and reap it so no zombie is left.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _log_tail(log_folder: str | None, lines: int = 15) -> str:
    if not log_folder:
        return ""
    path = Path(log_folder) / "Player-0.log"
    if not path.exists():
        return ""
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return f"\nLast lines of the player log ({path}):\n  " + "\n  ".join(text) if text else ""


class UnityConnection:
    """An open ``UnityEnvironment`` plus the side channels the kit uses."""

    def __init__(
        self,
        target: str,
        *,
        seed: int = 0,
        num_areas: int = 1,
        params: dict[str, float] | None = None,
        time_scale: float = 20.0,
        no_graphics: bool = True,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        log_folder: str | None = None,
        port: int | None = None,
        additional_args: list[str] | None = None,
        side_channels: list | None = None,
    ):
        if not isinstance(connect_timeout, (int, float)) or connect_timeout <= 0:
            raise ValueError(f"connect_timeout must be a positive number of seconds, got {connect_timeout!r}")
        self.editor = target == EDITOR
        self.file_name = None if self.editor else check_build(target)
        self.log_folder = None if self.editor else (log_folder or tempfile.mkdtemp(prefix="unity-nb-player-"))
        self.params = EnvironmentParametersChannel()
        self.engine = EngineConfigurationChannel()
        self.stats = StatsSideChannel()
        self.engine.set_configuration_parameters(time_scale=time_scale)
        self.side_channels = [self.params, self.engine, self.stats, *(side_channels or [])]
        for key, value in (params or {}).items():
            self.params.set_float_parameter(key, float(value))
        self.env = self._open(seed, num_areas, no_graphics, connect_timeout, port, additional_args or [])

    def _open(self, seed, num_areas, no_graphics, connect_timeout, port, additional_args):
        attempts = 1 if (self.editor or port) else 5
        for attempt in range(attempts):
            base_port = port or (EDITOR_PORT if self.editor else free_port())
            try:
                return KitUnityEnvironment(
                    file_name=self.file_name,
                    base_port=base_port,
                    seed=seed,
                    num_areas=num_areas,
                    no_graphics=no_graphics,
                    timeout_wait=connect_timeout,
                    side_channels=list(self.side_channels),
                    log_folder=self.log_folder,
                    additional_args=additional_args,
                )
            except UnityWorkerInUseException:
                if attempt + 1 == attempts:
                    raise UnityConnectError(
                        f"port {base_port} is in use by another process. "
                        + ("Close the other trainer connected to the Editor." if self.editor else "Pass another port=.")
                    ) from None
            except UnityTimeOutException:
                if self.editor:
                    raise UnityConnectError(
                        f"the Unity Editor did not connect on port {base_port} within {connect_timeout:g} s. "
                        "Open your scene in the Editor and press Play; raise connect_timeout= to wait longer."
                    ) from None
                raise UnityConnectError(
                    f"{self.file_name} started but did not connect to the ML-Agents port {base_port} within "
                    f"{connect_timeout:g} s. Expected a Unity player built with the ML-Agents package "
                    "(com.unity.ml-agents) and Behavior Type 'Default'. If the build is just slow to start, "
                    f"raise connect_timeout=.{_log_tail(self.log_folder)}"
                ) from None
            except UnityEnvironmentException as err:
                raise UnityConnectError(
                    f"{self.file_name} exited before connecting to ML-Agents: {err}"
                    f"{_log_tail(self.log_folder)}"
                ) from None

    @property
    def process(self):
        return self.env._process

    def player_died(self, err: Exception, where: str) -> UnityPlayerDied:
        """Close what is left and describe the crash."""
        code = self.process.poll() if self.process is not None else None
        self.close()
        what = "The Unity Editor" if self.editor else f"The Unity player {self.file_name}"
        how = f"exited with code {code}" if code is not None else f"stopped answering ({err})"
        return UnityPlayerDied(f"{what} {how} {where}.{_log_tail(self.log_folder)}")

    def close(self) -> None:
        try:
            if self.env._loaded:
                self.env.close()
        except Exception:  # closing a dead player must not hide the first error
            pass
        proc = self.env._process
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
