"""Connecting the real mlagents-envs client to a Unity build, the Editor or the stand-in.

Everything here goes through ``mlagents_envs.environment.UnityEnvironment``;
the kit only adds what a user should not have to think about: free ports, a
loopback-only server, fast detection of a dead player, and errors that say
what to do. What may be launched (a checked build, a built-in scene's player
file) is decided in ``builds.py``.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
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
from mlagents_envs.communicator_objects.command_pb2 import STEP  # noqa: E402
from mlagents_envs.communicator_objects.unity_input_pb2 import UnityInputProto  # noqa: E402
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

from ..processes import free_port  # noqa: E402
from .builds import EDITOR, check_build  # noqa: E402
from . import samplers  # noqa: E402
from ..errors import BadValue  # noqa: E402
from .errors import UnityConnectError, UnityPlayerDied  # noqa: E402

EDITOR_PORT = UnityEnvironment.DEFAULT_EDITOR_PORT
DEFAULT_CONNECT_TIMEOUT = 30.0


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
    """The real ``UnityEnvironment`` with the kit's loopback communicator, and a faster step message."""

    def _generate_step_input(self, vector_action):
        """The same UnityInputProto as mlagents-envs builds, without a message and two copies per agent.

        mlagents-envs makes one AgentActionProto per agent, extends it from numpy rows element by
        element, copies it into the batch, then copies the whole input once more; on 3DBall's 12
        agents that was ~0.15 ms of each exchange. Here each row is one list and each action is
        added in place (both action fields and the deprecated one, as mlagents-envs fills them).
        """
        message = UnityInputProto()
        rl_in = message.rl_input
        for behavior, actions in vector_action.items():
            n_agents = len(self._env_state[behavior][0])
            if n_agents == 0:
                continue
            continuous = None if actions.continuous is None else actions.continuous[:n_agents].tolist()
            discrete = None if actions.discrete is None else actions.discrete[:n_agents].tolist()
            batch = rl_in.agent_actions[behavior].value
            for i in range(n_agents):
                action = batch.add()
                if continuous is not None:
                    action.vector_actions_deprecated.extend(continuous[i])
                    action.continuous_actions.extend(continuous[i])
                if discrete is not None:
                    action.vector_actions_deprecated.extend(discrete[i])
                    action.discrete_actions.extend(discrete[i])
            rl_in.command = STEP
        rl_in.side_channel = bytes(self._side_channel_manager.generate_side_channel_messages())
        return message

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
        params: dict | None = None,
        time_scale: float = 20.0,
        no_graphics: bool = True,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        log_folder: str | None = None,
        port: int | None = None,
        additional_args: list[str] | None = None,
        side_channels: list | None = None,
    ):
        if not isinstance(connect_timeout, (int, float)) or connect_timeout <= 0:
            raise BadValue(f"connect_timeout must be a positive number of seconds, got {connect_timeout!r}")
        self.editor = target == EDITOR
        self.file_name = None if self.editor else check_build(target)
        self.log_folder = None if self.editor else (log_folder or tempfile.mkdtemp(prefix="unity-nb-player-"))
        self.params = EnvironmentParametersChannel()
        self.engine = EngineConfigurationChannel()
        self.stats = StatsSideChannel()
        self.engine.set_configuration_parameters(time_scale=time_scale)
        self.side_channels = [self.params, self.engine, self.stats, *(side_channels or [])]
        for key, value in (params or {}).items():  # a number, or a sampler drawn at each episode start
            samplers.send(self.params, key, value, seed)
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
