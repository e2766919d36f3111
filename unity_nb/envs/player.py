"""The Unity player stand-in: a built-in scene behind the ML-Agents protocol.

``UnityEnvironment(file_name=...)`` launches this exactly as it launches a
Unity Linux build (``--mlagents-port N -nographics -batchmode -logFile F``).
Like the C# side of com.unity.ml-agents (2.x/3.x, communication version
1.5.0), it is the gRPC *client*: its first Exchange carries the
initialization output, Python answers with the seed and ``num_areas``; then
each Exchange sends agent infos and receives the next RESET/STEP/QUIT.

It quits on QUIT, on a closing header (status 400), when the gRPC connection
breaks, and when the process that launched it disappears, so it never
outlives its trainer.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import struct
import sys
import time
import zlib

import numpy as np

from . import _protobuf_compat

_protobuf_compat.install()

import grpc  # noqa: E402
from mlagents_envs.communicator_objects import command_pb2  # noqa: E402
from mlagents_envs.communicator_objects.agent_info_pb2 import AgentInfoProto  # noqa: E402
from mlagents_envs.communicator_objects.brain_parameters_pb2 import ActionSpecProto, BrainParametersProto  # noqa: E402
from mlagents_envs.communicator_objects.capabilities_pb2 import UnityRLCapabilitiesProto  # noqa: E402
from mlagents_envs.communicator_objects.observation_pb2 import ObservationProto  # noqa: E402
from mlagents_envs.communicator_objects.unity_message_pb2 import UnityMessageProto  # noqa: E402
from mlagents_envs.communicator_objects.unity_output_pb2 import UnityOutputProto  # noqa: E402
from mlagents_envs.communicator_objects.unity_to_external_pb2_grpc import UnityToExternalProtoStub  # noqa: E402
from mlagents_envs.side_channel import IncomingMessage, OutgoingMessage  # noqa: E402

from ..processes import watch_parent  # noqa: E402
from .protocol import (  # noqa: E402
    COMMUNICATION_VERSION,
    ENGINE_CHANNEL,
    ENGINE_SETTINGS,
    ENV_PARAMS_CHANNEL,
    OK,
    PACKAGE_VERSION,
    RENDER_CHANNEL,
    STATS_AVERAGE,
    STATS_CHANNEL,
    frame,
    split_frames,
)
from .scenes import ActionBatch, AgentBatch, BehaviorInfo, Scene, scene_class  # noqa: E402
from . import samplers  # noqa: E402
from ..errors import BadValue  # noqa: E402


def _kit_version() -> str:
    """The installed unity-nb's version (read from its package metadata, not from the package root)."""
    try:
        return importlib.metadata.version("unity-nb")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


class _Log:
    """Writes the player log where ``-logFile`` says (like Unity's Player.log)."""

    def __init__(self, path: str | None):
        self._file = open(path, "a", buffering=1, encoding="utf-8") if path and path != "-" else None
        self._echo = path == "-"

    def __call__(self, message: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {message}"
        if self._file:
            self._file.write(line + "\n")
        elif self._echo:
            print(line, file=sys.stderr, flush=True)


def _capabilities() -> UnityRLCapabilitiesProto:
    caps = UnityRLCapabilitiesProto()
    caps.baseRLCapabilities = True
    caps.concatenatedPngObservations = True
    caps.compressedChannelMapping = True
    caps.hybridActions = True
    caps.trainingAnalytics = True
    caps.variableLengthObservation = True
    caps.multiAgentGroups = True
    return caps


def _introduce(init, name: str):
    """Fill an initialization output with who this player is, as Unity's Academy does."""
    init.name = name
    init.communication_version = COMMUNICATION_VERSION
    init.package_version = PACKAGE_VERSION
    init.capabilities.CopyFrom(_capabilities())
    return init


def _brain_parameters(b: BehaviorInfo) -> BrainParametersProto:
    spec = ActionSpecProto(
        num_continuous_actions=b.continuous_size,
        num_discrete_actions=len(b.discrete_branches),
        discrete_branch_sizes=list(b.discrete_branches),
    )
    return BrainParametersProto(brain_name=b.name, is_training=True, action_spec=spec)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOR_TYPE = {3: 2}  # channels -> PNG colour type (2 = truecolour RGB)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


_PNG_END = _png_chunk(b"IEND", b"")


def encode_png(image: np.ndarray) -> bytes:
    """An RGB uint8 image (H, W, 3) as PNG bytes, as a Unity camera sensor sends it (``EncodeToPNG``).

    Written directly rather than through Pillow: 8-bit RGB, no row filter, zlib level 1, one IDAT
    chunk. Any PNG decoder reads it (mlagents-envs decodes it with Pillow, pixel for pixel); it
    is ~4x faster to write than Pillow's ``compress_level=1`` (~25 vs ~90 us for 84x64; Pillow
    spends most of that in Python) and no slower to read.
    """
    height, width, channels = image.shape
    if channels not in _PNG_COLOR_TYPE or image.dtype != np.uint8:
        raise BadValue(f"a camera frame must be uint8 (height, width, 3), got {image.dtype} {image.shape}")
    rows = np.empty((height, 1 + width * channels), dtype=np.uint8)
    rows[:, 0] = 0  # filter type 0 (none) on every row
    rows[:, 1:] = image.reshape(height, width * channels)
    header = struct.pack(">IIBBBBB", width, height, 8, _PNG_COLOR_TYPE[channels], 0, 0, 0)
    return (_PNG_SIGNATURE + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(rows.data, 1)) + _PNG_END)


_PNG_CACHE: dict[tuple, bytes] = {}
_PNG_CACHE_SIZE = 16384  # ~10 MB of small PNGs


def _png(image: np.ndarray) -> bytes:
    """The PNG of a camera frame. Grid scenes show the same frames again and again (of the frames
    sent, GridWorld repeats ~70%, SignPost ~85%), so frames are answered from a cache keyed by their
    bytes' hash and CRC-32 (96 bits; ~5 us for 84x64x3, a fifth of encoding it)."""
    raw = image.tobytes()
    key = (hash(raw), zlib.crc32(raw), image.shape)
    data = _PNG_CACHE.get(key)
    if data is None:
        data = encode_png(image)
        if len(_PNG_CACHE) >= _PNG_CACHE_SIZE:
            _PNG_CACHE.pop(next(iter(_PNG_CACHE)))  # the oldest entry
        _PNG_CACHE[key] = data
    return data


def agent_infos(behavior: BehaviorInfo, batch: AgentBatch, into) -> None:
    """Append one AgentInfoProto per agent to ``into`` (a repeated field), observations as Unity's sensors send them.

    Built in place, with each array turned into Python values once per batch: a message per agent,
    then copies of it, cost more than the scene's own step on 3DBall.
    """
    n = len(batch.ids)
    floats = [None if spec.visual else values.reshape(n, -1).tolist()
              for spec, values in zip(behavior.observations, batch.observations)]
    rewards, done, maxed, ids = (batch.rewards.tolist(), batch.done.tolist(), batch.max_step_reached.tolist(),
                                 batch.ids.tolist())
    masks = None if batch.action_mask is None else batch.action_mask.tolist()
    # Unity sends group fields only for an agent in a group (proto3 leaves zeros out)
    groups = None if batch.group_id is None else batch.group_id.tolist()
    group_rewards = None if batch.group_reward is None else batch.group_reward.tolist()
    for k in range(n):
        info = into.add(reward=rewards[k], done=bool(done[k]), max_step_reached=bool(maxed[k]), id=int(ids[k]))
        if groups is not None and groups[k]:
            info.group_id = int(groups[k])
        if group_rewards is not None and group_rewards[k]:
            info.group_reward = group_rewards[k]
        for spec, values, flat in zip(behavior.observations, batch.observations, floats):
            obs = info.observations.add(shape=spec.shape, name=spec.name, observation_type=int(spec.goal_signal))
            if flat is None:
                obs.compression_type = 1  # PNG
                obs.compressed_data = _png(values[k])
            else:
                obs.float_data.data.extend(flat[k])
        if masks is not None:
            info.action_mask.extend(masks[k])


def actions_from_proto(scene: Scene, rl_input) -> dict[str, ActionBatch]:
    out = {}
    for b in scene.behavior_list():
        if b.name not in rl_input.agent_actions:
            continue
        actions = rl_input.agent_actions[b.name].value
        n, c, d = len(actions), b.continuous_size, len(b.discrete_branches)
        continuous = np.fromiter((x for a in actions for x in a.continuous_actions), np.float32, n * c).reshape(n, c)
        discrete = np.fromiter((x for a in actions for x in a.discrete_actions), np.int32, n * d).reshape(n, d)
        out[b.name] = ActionBatch(continuous=continuous, discrete=discrete)
    return out


class Player:
    """Runs one scene for one Python trainer over the ML-Agents protocol."""

    def __init__(self, scene_name: str, port: int, log: _Log, params: dict[str, float]):
        self.scene_cls = scene_class(scene_name)
        self.port = port
        self.log = log
        self.params = params
        self.scene: Scene | None = None
        self.brains_sent = False
        self._stats_reported = 0
        self.engine: dict[str, float] = {}
        self.samplers: dict[str, tuple] = {}
        self.render = False

    # ---- side channels
    def _read_side_channels(self, data: bytes) -> None:
        for channel, payload in split_frames(data):
            message = IncomingMessage(payload)
            if channel == ENV_PARAMS_CHANNEL:
                self._read_env_parameter(message)
            elif channel == ENGINE_CHANNEL:
                kind = message.read_int32()
                if kind == 0:  # screen resolution: width, height
                    self.engine["width"], self.engine["height"] = message.read_int32(), message.read_int32()
                elif kind in ENGINE_SETTINGS:
                    value = message.read_float32() if kind == 2 else message.read_int32()
                    self.engine[ENGINE_SETTINGS[kind]] = value
                # time scale only matters to a rendering player; the stand-in always runs flat out
                self.log(f"engine configuration: {self.engine}")
            elif channel == RENDER_CHANNEL:
                self.render = message.read_bool()
                self.log(f"frame rendering {'on' if self.render else 'off'}")
            # other channels (e.g. training analytics) are accepted and ignored, as by a player

    def _read_env_parameter(self, message: IncomingMessage) -> None:
        key, kind = message.read_string(), message.read_int32()
        if kind == 0:  # a float value
            self._set_param(key, message.read_float32())
            return
        # a sampler, drawn again at each episode start (Unity's environment randomisation)
        seed, code = message.read_int32(), message.read_int32()
        spec = samplers.from_wire(code, message)
        if spec is None:
            self.log(f"environment parameter {key!r}: unknown sampler type {code} ignored")
            return
        self.samplers[key] = samplers.drawer(spec, seed)  # drawn as the in-process scenes draw
        self.log(f"environment parameter {key}: {samplers.describe(spec)}, seed {seed}")
        if self.scene is not None:
            self._attach_samplers()

    def _attach_samplers(self) -> None:
        for key, draw in self.samplers.items():
            if key in self.scene.default_params:
                self.scene.samplers[key] = draw
            else:
                self.log(f"environment parameter rejected: {self.scene.name} has no parameter {key!r}")

    def _set_param(self, key: str, value: float) -> None:
        self.params[key] = value
        self.samplers.pop(key, None)  # a value replaces the parameter's sampler (a later sampler message re-attaches the rest)
        if self.scene is not None:
            self.scene.samplers.pop(key, None)
            try:
                self.scene.set_param(key, value)
            except (KeyError, ValueError) as err:
                self.log(f"environment parameter rejected: {err}")
                return
        self.log(f"environment parameter {key} = {value}")

    def _stats(self) -> bytes:
        scene = self.scene
        if scene is None or len(scene.finished_returns) == self._stats_reported:
            return b""
        out = bytearray()
        for value in scene.finished_returns[self._stats_reported :]:
            msg = OutgoingMessage()
            msg.write_string(f"{scene.name}/Episode Return")
            msg.write_float32(float(value))
            msg.write_int32(STATS_AVERAGE)
            out += frame(STATS_CHANNEL, msg.buffer)
        self._stats_reported = len(scene.finished_returns)
        return bytes(out)

    def _frame(self) -> bytes:
        if not self.render:
            return b""
        return frame(RENDER_CHANNEL, encode_png(self.scene.render()))  # a new picture each step: not cached

    # ---- the exchange loop
    def _output(self, batches: dict[str, AgentBatch], out: UnityOutputProto) -> UnityOutputProto:
        """Fill ``out`` (the reply's unity_output) with this step's agents, in place."""
        if not self.brains_sent:
            init = _introduce(out.rl_initialization_output, self.scene.name)
            init.brain_parameters.extend(_brain_parameters(b) for b in self.scene.behavior_list())
            self.brains_sent = True
        rl = out.rl_output
        rl.side_channel = self._stats() + self._frame()
        for behavior in self.scene.behavior_list():
            agent_infos(behavior, batches[behavior.name], rl.agentInfos[behavior.name].value)
        return out

    def run(self) -> int:
        channel = grpc.insecure_channel(
            f"localhost:{self.port}",
            options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
        )
        try:
            grpc.channel_ready_future(channel).result(timeout=30)
        except grpc.FutureTimeoutError:
            self.log(f"no ML-Agents trainer listening on localhost:{self.port}; quitting")
            return 1
        exchange = UnityToExternalProtoStub(channel).Exchange
        self.log(f"connected to the trainer on localhost:{self.port}")
        # 1st exchange: who we are. Brains follow with the first agent infos, as in Unity.
        hello = UnityMessageProto()
        hello.header.status = OK
        _introduce(hello.unity_output.rl_initialization_output, self.scene_cls.name)
        try:
            reply = exchange(hello)
            if reply.header.status != OK:
                return 0
            settings = reply.unity_input.rl_initialization_input
            self.log(
                f"trainer: communication {settings.communication_version}, package {settings.package_version}, "
                f"seed {settings.seed}, num_areas {settings.num_areas}"
            )
            self.scene = self.scene_cls(num_areas=max(1, settings.num_areas), seed=settings.seed, params=self._valid_params())
            self._attach_samplers()
            empty = UnityMessageProto()
            empty.header.status = OK
            message = exchange(empty)
            while True:
                if message.header.status != OK:
                    self.log("trainer closed the connection")
                    return 0
                rl_input = message.unity_input.rl_input
                self._read_side_channels(rl_input.side_channel)
                if rl_input.command == command_pb2.QUIT:
                    self.log("QUIT received")
                    return 0
                if rl_input.command == command_pb2.RESET:
                    batches = self.scene.reset()
                else:
                    batches = self.scene.step(actions_from_proto(self.scene, rl_input))
                reply = UnityMessageProto()
                reply.header.status = OK
                self._output(batches, reply.unity_output)
                message = exchange(reply)
        except grpc.RpcError as err:
            self.log(f"connection to the trainer lost ({err.code().name}); quitting")
            return 0
        finally:
            channel.close()

    def _valid_params(self) -> dict[str, float]:
        valid = {}
        for key, value in self.params.items():
            try:
                self.scene_cls(params={key: value})
                valid[key] = value
            except (KeyError, ValueError) as err:
                self.log(f"environment parameter rejected: {err}")
        return valid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="unity-nb-player",
        description="Unity player stand-in: runs a built-in scene over the ML-Agents protocol, launched as a Unity build.",
    )
    parser.add_argument("--scene", required=True, help="built-in scene to run")
    parser.add_argument("--mlagents-port", type=int, default=5005, help="port of the Python trainer (5005 + worker id)")
    parser.add_argument("-logFile", "-logfile", dest="log_file", help="where to write the player log ('-' = stderr)")
    parser.add_argument("-nographics", action="store_true", help="accepted; the stand-in never opens a window")
    parser.add_argument("-batchmode", action="store_true", help="accepted, as by a Unity player")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="initial scene parameter")
    # Unity players accept many engine flags (-screen-width, -force-vulkan, ...); so do we.
    args, unknown = parser.parse_known_args(argv)
    log = _Log(args.log_file)
    log(f"unity-nb player stand-in {_kit_version()}: scene {args.scene}, port {args.mlagents_port}, pid {os.getpid()}")
    if unknown:
        log(f"ignored engine arguments: {' '.join(unknown)}")
    params = {}
    for item in args.param:
        key, _, value = item.partition("=")
        params[key] = float(value)

    def orphaned():
        log("the process that launched this player is gone; quitting")
        os._exit(0)

    watch_parent(orphaned)
    try:
        code = Player(args.scene, args.mlagents_port, log, params).run()
    except KeyError as err:  # unknown scene
        log(str(err))
        print(f"unity-nb player: {err}", file=sys.stderr)
        return 2
    log(f"exit {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
