"""What the kernel side and the SageMaker container agree on, written down once.

No AWS library is imported here: both the notebook (which builds the job request and
reads the job's log) and the container entry point (which reads the request and writes
the log) import this module.

- **Hyperparameters.** SageMaker hands every hyperparameter to the container as a string
  (``/opt/ml/input/config/hyperparameters.json``). Each training setting that differs from
  TrainConfig's default travels as one hyperparameter: strings as they are, anything else
  as JSON. ``decode_hyperparameters`` turns them back into the same TrainConfig.
- **Channels.** ``train``: the user's Unity Linux build (absent for a built-in scene);
  ``demos``: the demonstrations a run learns from (``behavioral_cloning``, ``gail``), each under
  its setting's name, the setting's ``demo_path`` then ``demos:<setting>/<name>``; the kit's
  source travels in ModelTrainer's own code channel.
- **Event lines.** The container prints each run-folder event (``schema.EVENTS``) to its log
  as one line: ``EVENT_PREFIX`` then the event's JSON. The kit parses them back into the
  local run folder, and ``metric_definitions`` lets SageMaker's console chart the same numbers.
- **The model folder.** ``/opt/ml/model`` is laid out like a run folder (``Run.pack_model``:
  the last checkpoint, ``export/<behavior>.onnx``), so the unpacked ``model.tar.gz`` drops into
  the local run folder (``Run.unpack_model``) and evaluate/video/export work there.
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from typing import Any

from ..config import TrainConfig
from ..errors import ConfigError
from ..metrics import sagemaker_keys

TRAIN_CHANNEL = "train"  # the user's Unity build
EVENT_PREFIX = "[unity-nb] "  # an event line in the job's log: the prefix, then one JSON object
BUILD_PREFIX = "channel:"  # scene = "channel:<path inside the train channel>" for an uploaded build
DEMOS_CHANNEL = "demos"  # the demonstrations a run learns from
DEMO_PREFIX = "demos:"  # demo_path = "demos:<setting>/<file or folder name>" inside the demos channel
DEMO_SETTINGS = ("behavioral_cloning", "gail")  # the settings that name a demonstration (their demo_path)
ENTRY_SCRIPT = "unity_nb_train.py"  # the script ModelTrainer runs (written into the source folder)
CHECKPOINTS_LOCAL = "/opt/ml/checkpoints"  # SageMaker keeps this folder in S3 (CheckpointConfig.local_path)
RAY_PORT = 6379  # the head node's Ray port inside the job (UNITY_NB_RAY_PORT overrides, for tests)

# Settings that say where and how the job runs (the notebook's business), never sent to the container.
LAUNCH_SETTINGS = ("backend", "instance_type", "instance_count", "spot", "max_run", "role", "region", "bucket",
                   "image", "address")

# The iteration fields SageMaker's console charts (it allows at most 40 definitions).
METRICS = sagemaker_keys()  # the iteration figures every run's metric definitions read (train/metrics.py)
_NUMBER = r"(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)"


def _str_fields() -> set[str]:
    return {f.name for f in fields(TrainConfig) if str(f.type).replace(" ", "") in ("str", "str|None")}


def encode_hyperparameters(config: TrainConfig) -> dict[str, str]:
    """The training settings a job needs, as SageMaker hyperparameters (all values strings).

    Only settings that differ from TrainConfig's defaults travel (the container resolves the
    scene's defaults itself, as a local run does); launch settings never do.
    """
    default = TrainConfig()
    out: dict[str, str] = {}
    for f in fields(TrainConfig):
        value = getattr(config, f.name)
        if f.name in LAUNCH_SETTINGS or value == getattr(default, f.name):
            continue
        if f.name in DEMO_SETTINGS:  # the file travels in the demos channel
            value = {**value, "demo_path": encode_demo_path(f.name, value["demo_path"])}
        out[f.name] = value if isinstance(value, str) else json.dumps(value)
    return out


def demo_paths(config: TrainConfig) -> dict[str, str]:
    """The demonstrations ``config`` learns from, by setting: their paths on this machine."""
    return {name: getattr(config, name)["demo_path"] for name in DEMO_SETTINGS if getattr(config, name)}


def encode_demo_path(setting: str, local_path: str) -> str:
    """Where a job finds the demonstration of ``setting`` (uploaded to the demos channel under that name)."""
    return f"{DEMO_PREFIX}{setting}/{os.path.basename(os.path.normpath(local_path))}"


def encode_build_scene(relative_path: str) -> str:
    """The scene setting of a job whose Unity build travels in the train channel."""
    return BUILD_PREFIX + relative_path.lstrip("/")


def decode_hyperparameters(hyperparameters: dict[str, Any], train_channel: str | None = None,
                           demos_channel: str | None = None) -> TrainConfig:
    """The TrainConfig a job was sent (``ConfigError`` names a bad one).

    train_channel: where the train channel is mounted; a ``channel:`` scene becomes a path in it.
    demos_channel: where the demos channel is mounted; a ``demos:`` demo_path becomes a path in it.
    """
    text_fields = _str_fields()
    values: dict[str, Any] = {}
    for key, raw in hyperparameters.items():
        if not isinstance(raw, str):  # a caller that did not go through SageMaker
            values[key] = raw
        elif key in text_fields:
            values[key] = raw
        else:
            try:
                values[key] = json.loads(raw)
            except json.JSONDecodeError:
                values[key] = raw  # e.g. target_return "off"; validate() says if it is wrong
    scene = values.get("scene")
    if isinstance(scene, str) and scene.startswith(BUILD_PREFIX):
        if not train_channel:
            raise ConfigError(f"hyperparameters.json: scene {scene!r} is an uploaded build, but the job has no "
                              f"{TRAIN_CHANNEL!r} channel")
        values["scene"] = os.path.join(train_channel, scene[len(BUILD_PREFIX):])
    for name in DEMO_SETTINGS:
        given = values.get(name)
        path = given.get("demo_path") if isinstance(given, dict) else None
        if isinstance(path, str) and path.startswith(DEMO_PREFIX):
            if not demos_channel:
                raise ConfigError(f"hyperparameters.json: {name}.demo_path {path!r} is an uploaded demonstration, but "
                                  f"the job has no {DEMOS_CHANNEL!r} channel")
            inside = os.path.normpath(path[len(DEMO_PREFIX):])
            if inside.startswith(("..", "/")):
                raise ConfigError(f"hyperparameters.json: {name}.demo_path {path!r} points outside the demos channel")
            values[name] = {**given, "demo_path": os.path.join(demos_channel, inside)}
    return TrainConfig.from_dict(values, source="hyperparameters.json")


def event_line(event: dict[str, Any]) -> str:
    """One event as the job's log shows it."""
    return EVENT_PREFIX + json.dumps(event)


def parse_event_line(line: str) -> dict[str, Any] | None:
    """The event a log line carries, or None for any other line (Ray's, Python's, a cut line)."""
    start = line.find(EVENT_PREFIX)
    if start < 0:
        return None
    try:
        event = json.loads(line[start + len(EVENT_PREFIX):])
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def metric_definitions(config=None) -> list[dict[str, str]]:
    """SageMaker metric definitions that read the entry point's own iteration lines (of a run with ``config``:
    a self-play run's ELO too)."""
    prefix = EVENT_PREFIX.strip().replace("[", r"\[").replace("]", r"\]")
    return [{"Name": name, "Regex": prefix + r' \{"event": "iteration".*"' + name + '": ' + _NUMBER}
            for name in sagemaker_keys(config)]
