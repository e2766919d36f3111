"""Unity's demonstration files (``.demo``), read and written as Unity's recorder writes them.

A ``.demo`` file is one agent's recorded play (Unity's ``DemonstrationRecorder`` writes one per agent):

- a length-delimited ``DemonstrationMetaProto`` at offset 0, inside 32 reserved bytes;
- a length-delimited ``BrainParametersProto`` (the behavior's name and action spec) at offset 33;
- one length-delimited ``AgentInfoActionPairProto`` per decision: what the agent saw (observations, the
  reward that came with them, done, max step reached, its id and action mask) and the action it took.

Unity's ``DemonstrationWriter`` quirks, kept in both directions: the metadata is written once more at the very
end of the file, *without* its length prefix, before it is rewritten at offset 0 (a reader stops after
``number_steps`` records: the trailing bytes are not a record); closing counts one more episode than ended
(``number_episodes`` = episodes that ended + 1) and ``mean_reward`` is the summed reward over that count. A
folder of ``.demo`` files is one dataset. Learning from a file pairs each record's observation and action with
the *next* record's reward and done, drops the last record and splits episodes at done (``Demonstration.episodes``),
as ML-Agents' loader does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from google.protobuf.internal.decoder import _DecodeVarint32
from google.protobuf.internal.encoder import _VarintBytes
from mlagents_envs.base_env import BehaviorSpec
from mlagents_envs.communicator_objects.agent_action_pb2 import AgentActionProto
from mlagents_envs.communicator_objects.agent_info_action_pair_pb2 import AgentInfoActionPairProto
from mlagents_envs.communicator_objects.agent_info_pb2 import AgentInfoProto
from mlagents_envs.communicator_objects.brain_parameters_pb2 import ActionSpecProto, BrainParametersProto
from mlagents_envs.communicator_objects.demonstration_meta_pb2 import DemonstrationMetaProto
from mlagents_envs.communicator_objects.observation_pb2 import ObservationProto
from mlagents_envs.rpc_utils import behavior_spec_from_proto, steps_from_proto

from ..errors import BadValue, MissingFile, NotSupported

META_BYTES = 32  # reserved for the metadata at the start of a file
BRAIN_AT = META_BYTES + 1  # where the behavior's parameters begin
API_VERSION = 1  # what Unity's recorder writes
READABLE_VERSIONS = (0, 1)  # what Unity's loader reads
# the longest name whose final metadata (version, name, steps and episodes up to 2^32, mean reward) still ends
# before the behavior's parameters
MAX_NAME = 12
SUFFIX = ".demo"


@dataclass
class Episode:
    """One demonstrated episode as a learner sees it: each step's observations (one array per sensor, first axis
    the step), the action taken, and the reward and done that followed."""

    observations: list[np.ndarray]
    continuous: np.ndarray  # (steps, continuous size)
    discrete: np.ndarray  # (steps, branches)
    rewards: np.ndarray
    done: bool  # it ended in the recording (not cut off by the recording's end)
    # what a replay adds (unity_nb.evaluate.episode): the picture each decision was made on (RGB), and what the
    # policy thought of each step (its value estimate, and its Look: probabilities, or mean and spread)
    frames: list[np.ndarray] | None = None
    values: np.ndarray | None = None
    looks: list | None = None

    @property
    def steps(self) -> int:
        return len(self.rewards)

    @property
    def total_reward(self) -> float:
        return float(self.rewards.sum())

    @property
    def actions(self) -> np.ndarray:
        """The action taken at each step (a row per step): the continuous ones, else the discrete ones."""
        return self.continuous if self.continuous.size else self.discrete


@dataclass
class Demonstration:
    """A ``.demo`` file, or a folder of them recorded from one behavior."""

    files: list[Path]
    behavior: str
    spec: BehaviorSpec
    api_version: int
    number_steps: int  # records, as the metadata says
    number_episodes: int  # as the metadata says (Unity counts one more than ended)
    mean_reward: float  # as the metadata says
    records: list[AgentInfoActionPairProto] = field(repr=False, default_factory=list)
    compared: tuple[str, list[str]] | None = None  # (a scene, what differs from its behavior), once compared

    def episodes(self) -> list[Episode]:
        """The recorded steps as ML-Agents' loader pairs them (see the module's text), one episode each."""
        out, rows = [], []

        def close(done: bool):
            if rows:
                out.append(_episode(self.spec, rows, done))
            rows.clear()

        for current, following in zip(self.records, self.records[1:]):
            obs = _observations(self.spec, current.agent_info)
            reward, done = float(following.agent_info.reward), bool(following.agent_info.done)
            rows.append((obs, current.action_info, reward))
            if done:
                close(True)
        close(False)
        return out

    def summary(self) -> dict:
        """What ``unity-nb demo inspect`` prints: the metadata, the spec, and the episodes as a learner sees them."""
        episodes = self.episodes()
        ended = [e for e in episodes if e.done]
        spec = self.spec
        return {
            "files": [str(f) for f in self.files], "behavior": self.behavior, "api_version": self.api_version,
            "steps": self.number_steps, "episodes": self.number_episodes, "mean_reward": self.mean_reward,
            "episodes_ended": len(ended),
            "mean_return": float(np.mean([e.total_reward for e in ended])) if ended else None,
            "observations": [(o.name, tuple(o.shape)) for o in spec.observation_specs],
            "continuous_actions": spec.action_spec.continuous_size,
            "discrete_branches": tuple(spec.action_spec.discrete_branches),
        }

    def differences(self, spec: BehaviorSpec, behavior: str | None = None) -> list[str]:
        """What differs from a scene's (or build's) behavior, field by field ([] when the file fits it)."""
        out = []
        if behavior is not None and behavior != self.behavior:
            out.append(f"behavior: the file records {self.behavior!r}, the scene has {behavior!r}")
        mine, theirs = self.spec.observation_specs, spec.observation_specs
        if len(mine) != len(theirs):
            out.append(f"observations: the file has {len(mine)} sensors, the scene {len(theirs)}")
        for i, (a, b) in enumerate(zip(mine, theirs)):
            if tuple(a.shape) != tuple(b.shape):
                out.append(f"observation {i} ({a.name}): shape {tuple(a.shape)} in the file, {tuple(b.shape)} in the scene")
            if a.observation_type != b.observation_type:
                out.append(f"observation {i} ({a.name}): type {a.observation_type.name} in the file, "
                           f"{b.observation_type.name} in the scene")
        a, b = self.spec.action_spec, spec.action_spec
        if a.continuous_size != b.continuous_size:
            out.append(f"continuous actions: {a.continuous_size} in the file, {b.continuous_size} in the scene")
        if tuple(a.discrete_branches) != tuple(b.discrete_branches):
            out.append(f"discrete branches: {tuple(a.discrete_branches)} in the file, {tuple(b.discrete_branches)} "
                       "in the scene")
        return out

    def __repr__(self) -> str:
        s = self.summary()
        returns = "no episode ended" if s["mean_return"] is None else \
            f"{s['episodes_ended']} ended, mean return {s['mean_return']:.3f}"
        fits = ""
        if self.compared is not None:
            scene, found = self.compared
            fits = f"; fits {scene}" if not found else f"; differs from {scene}: {'; '.join(found)}"
        return (f"Demonstration({s['behavior']}: {s['steps']} steps in {len(self.files)} file(s); metadata: "
                f"{s['episodes']} episodes, mean reward {s['mean_reward']:.3f}; as a learner reads it: {returns}{fits})")


def demo_files(path: str | Path) -> list[Path]:
    """The ``.demo`` files of a path: the file itself, or every one in a folder (sorted)."""
    path = Path(path).expanduser()
    if path.is_file():
        if path.suffix != SUFFIX:
            raise BadValue(f"{path} is not a {SUFFIX} file (Unity's recorder writes NAME{SUFFIX})")
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix == SUFFIX and p.is_file())
        if not found:
            raise MissingFile(f"{path} has no {SUFFIX} files")
        return found
    raise MissingFile(f"demonstration {path} does not exist (give a {SUFFIX} file or a folder of them)")


def load_demo(path: str | Path) -> Demonstration:
    """Read a ``.demo`` file, or a folder of them (one behavior). A truncated file, a version Unity's loader
    does not read, or files of different behaviors are refused, saying which."""
    files = demo_files(path)
    demos = [_read(f) for f in files]
    first = demos[0]
    for other, f in zip(demos[1:], files[1:]):
        if other[1].brain_name != first[1].brain_name:
            raise BadValue(f"{f.name} records behavior {other[1].brain_name!r}, {files[0].name} "
                           f"{first[1].brain_name!r}: a folder is one behavior's dataset")
    metas = [d[0] for d in demos]
    episodes = sum(m.number_episodes for m in metas)
    mean = (sum(m.mean_reward * m.number_episodes for m in metas) / episodes) if episodes else 0.0
    records = [r for d in demos for r in d[2]]
    spec = behavior_spec_from_proto(first[1], records[0].agent_info) if records else None
    if spec is None:
        raise BadValue(f"{files[0]} has no recorded step: nothing to learn from")
    for f, (_, _, recs) in zip(files, demos):
        if recs and len(recs[0].agent_info.observations) != len(spec.observation_specs):
            raise BadValue(f"{f.name}: its steps have {len(recs[0].agent_info.observations)} observations where "
                           f"{files[0].name} has {len(spec.observation_specs)}")
    return Demonstration(files, first[1].brain_name, spec, metas[0].api_version,
                         sum(m.number_steps for m in metas), episodes, mean, records)


def _read(path: Path) -> tuple[DemonstrationMetaProto, BrainParametersProto, list[AgentInfoActionPairProto]]:
    data = path.read_bytes()
    meta = DemonstrationMetaProto()
    try:
        size, at = _DecodeVarint32(data, 0)
        meta.ParseFromString(data[at:at + size])
    except Exception:
        raise BadValue(f"{path}: not a Unity demonstration (its first bytes are not one's metadata)") from None
    if meta.api_version not in READABLE_VERSIONS:
        raise NotSupported(f"{path}: demonstration format version {meta.api_version}; Unity's loader (and the kit) "
                           f"read versions {', '.join(map(str, READABLE_VERSIONS))}")
    brain = BrainParametersProto()
    at = BRAIN_AT
    size, at = _delimited(data, at, path, "the behavior's parameters")
    brain.ParseFromString(data[at:at + size])
    at += size
    records = []
    while len(records) < meta.number_steps:
        if at >= len(data):
            raise BadValue(f"{path} is truncated: its metadata says {meta.number_steps} steps, it holds "
                           f"{len(records)}")
        size, at = _delimited(data, at, path, f"step {len(records)}")
        record = AgentInfoActionPairProto()
        record.ParseFromString(data[at:at + size])
        records.append(record)
        at += size
    return meta, brain, records  # what follows (Unity's copy of the metadata) is not a record


def _delimited(data: bytes, at: int, path: Path, what: str) -> tuple[int, int]:
    """The size and start of the length-delimited message at ``at``, or why the file is broken there."""
    try:
        size, start = _DecodeVarint32(data, at)
    except Exception:
        raise BadValue(f"{path} is truncated in {what} (byte {at} of {len(data)})") from None
    if start + size > len(data):
        raise BadValue(f"{path} is truncated in {what}: it needs {size} bytes from byte {start}, the file has "
                       f"{len(data)}")
    return size, start


def _observations(spec: BehaviorSpec, info: AgentInfoProto) -> list[np.ndarray]:
    decision, terminal = steps_from_proto([info], spec)
    steps = terminal if len(terminal) else decision
    return [o[0] for o in steps.obs]


def _episode(spec: BehaviorSpec, rows: list, done: bool) -> Episode:
    c, d = spec.action_spec.continuous_size, spec.action_spec.discrete_size

    def sized(values, n):  # a record without an action (a writer that stored none) counts as zeros
        values = list(values)
        return values if len(values) == n else [0] * n

    return Episode(
        observations=[np.stack([r[0][i] for r in rows]) for i in range(len(spec.observation_specs))],
        continuous=np.array([sized(r[1].continuous_actions, c) for r in rows], np.float32).reshape(len(rows), c),
        discrete=np.array([sized(r[1].discrete_actions, d) for r in rows], np.int32).reshape(len(rows), d),
        rewards=np.array([r[2] for r in rows], np.float32), done=done)


class DemoWriter:
    """Write one agent's play as Unity's recorder does: ``record`` every decision, then ``close``."""

    def __init__(self, path: str | Path, behavior: str, spec: BehaviorSpec, name: str | None = None):
        self.path = Path(path).expanduser()
        if self.path.suffix != SUFFIX:
            raise BadValue(f"a demonstration file's name ends in {SUFFIX}, got {self.path.name!r}")
        if not self.path.parent.is_dir():
            raise MissingFile(f"folder {self.path.parent} does not exist")
        if name is not None and len(name.encode()) > MAX_NAME:
            raise BadValue(f"a demonstration's name is at most {MAX_NAME} bytes (its metadata must fit the file's "
                           f"first {META_BYTES}), got {name!r}")
        self.spec = spec
        self.meta = DemonstrationMetaProto(api_version=API_VERSION,
                                           demonstration_name=name or self.path.stem.encode()[:MAX_NAME].decode(errors="ignore"))
        self._total_reward = 0.0
        self._file = open(self.path, "wb")
        self._file.write(_VarintBytes(self.meta.ByteSize()) + self.meta.SerializeToString())
        self._file.seek(BRAIN_AT)
        a = spec.action_spec
        brain = BrainParametersProto(brain_name=behavior, is_training=False, action_spec=ActionSpecProto(
            num_continuous_actions=a.continuous_size, num_discrete_actions=a.discrete_size,
            discrete_branch_sizes=list(a.discrete_branches)))
        self._write(brain)

    def record(self, observations: list[np.ndarray], reward: float, done: bool, *, max_step_reached: bool = False,
               agent_id: int = 0, action_mask: np.ndarray | None = None, continuous=(), discrete=()) -> None:
        """One decision: what the agent saw (one array per sensor, as mlagents-envs gives them: camera frames
        float in [0, 1], height x width x channels), the reward that came with it, whether its episode ended
        here, and the action it took."""
        info = AgentInfoProto(reward=float(reward), done=bool(done), max_step_reached=bool(max_step_reached),
                              id=int(agent_id))
        for spec, values in zip(self.spec.observation_specs, observations):
            info.observations.append(_observation_proto(spec, np.asarray(values)))
        if action_mask is not None:
            info.action_mask.extend(bool(m) for m in np.asarray(action_mask).reshape(-1))
        action = AgentActionProto(continuous_actions=[float(x) for x in np.asarray(continuous).reshape(-1)],
                                  discrete_actions=[int(x) for x in np.asarray(discrete).reshape(-1)])
        self.meta.number_steps += 1
        self._total_reward += float(reward)
        if done:
            self.meta.number_episodes += 1
        self._write(AgentInfoActionPairProto(agent_info=info, action_info=action))

    def close(self) -> Path:
        """Finish the file as Unity does: one more episode counted, the mean reward, the metadata at the end
        (no length prefix) and at offset 0."""
        if self._file.closed:
            return self.path
        self.meta.number_episodes += 1
        self.meta.mean_reward = self._total_reward / self.meta.number_episodes
        self._file.write(self.meta.SerializeToString())
        self._file.seek(0)
        self._file.write(_VarintBytes(self.meta.ByteSize()) + self.meta.SerializeToString())
        self._file.close()
        return self.path

    def _write(self, message) -> None:
        self._file.write(_VarintBytes(message.ByteSize()) + message.SerializeToString())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _observation_proto(spec, values: np.ndarray) -> ObservationProto:
    """A sensor's observation as Unity sends it: camera frames PNG-compressed, everything else as floats."""
    from .player import encode_png

    proto = ObservationProto(shape=list(spec.shape), name=spec.name, observation_type=spec.observation_type.value)
    if len(spec.shape) == 3 and spec.shape[2] == 3:
        proto.compression_type = 1  # PNG
        proto.compressed_data = encode_png(np.clip(np.rint(values * 255), 0, 255).astype(np.uint8))
    else:
        proto.float_data.data.extend(values.astype(np.float32).reshape(-1).tolist())
    return proto
