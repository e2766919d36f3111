"""The ML-Agents protocol as the kit speaks it: versions, statuses, side channels and their framing.

Shared by the player stand-in (``envs/player.py``) and the client side
(``envs/source.py``). Light on purpose: no gRPC, no protobuf, no mlagents_envs.

A side-channel blob (``UnityRLInputProto.side_channel`` /
``UnityRLOutputProto.side_channel``) is a run of frames, each the channel's
UUID (``bytes_le``), the payload size (little-endian int32) and the payload,
as com.unity.ml-agents' SideChannelManager writes them.
"""

from __future__ import annotations

import uuid
from typing import Iterator

COMMUNICATION_VERSION = "1.5.0"
PACKAGE_VERSION = "3.0.0"  # the com.unity.ml-agents release whose protocol this speaks
OK, CLOSING = 200, 400  # message header statuses

# Side-channel ids, as defined by com.unity.ml-agents
ENGINE_CHANNEL = uuid.UUID("e951342c-4f7e-11ea-b238-784f4387d1f7")
ENV_PARAMS_CHANNEL = uuid.UUID("534c891e-810f-11ea-a9d0-822485860400")
STATS_CHANNEL = uuid.UUID("a1d8f7b7-cec8-50f9-b78b-d3e165a78520")
RENDER_CHANNEL = uuid.uuid5(uuid.NAMESPACE_URL, "unity-nb/render-frames")  # the kit's own: frames for videos
ENGINE_SETTINGS = {1: "quality_level", 2: "time_scale", 3: "target_frame_rate", 4: "capture_frame_rate"}
STATS_AVERAGE = 0  # StatsAggregationMethod.AVERAGE

_HEADER = 20  # 16 bytes of UUID, 4 of size


def frame(channel: uuid.UUID, payload: bytes) -> bytes:
    """One side-channel message, framed for the wire."""
    return channel.bytes_le + len(payload).to_bytes(4, "little", signed=True) + bytes(payload)


def split_frames(data: bytes) -> Iterator[tuple[uuid.UUID, bytes]]:
    """The ``(channel, payload)`` of each message in a side-channel blob, in order.

    A trailing fragment shorter than a header is ignored.
    """
    offset = 0
    while offset + _HEADER <= len(data):
        channel = uuid.UUID(bytes_le=bytes(data[offset : offset + 16]))
        size = int.from_bytes(data[offset + 16 : offset + _HEADER], "little", signed=True)
        yield channel, bytes(data[offset + _HEADER : offset + _HEADER + size])
        offset += _HEADER + size
