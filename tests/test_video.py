"""Rollout videos: H.264 MP4s (checked by decoding them with the same ffmpeg), the GIF fallback, bad input."""

import base64
import io
import re
import subprocess

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from unity_nb.envs import player_file
from unity_nb.evaluate import Video, encode, record
from unity_nb.train import RunStore, TrainConfig


def probe(data: bytes, tmp_path) -> dict:
    """Decode a video with imageio-ffmpeg's binary; its streams, codec, pixel format, size and frame count."""
    path = tmp_path / "probe.mp4"
    path.write_bytes(data)
    out = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr
    inputs = out.split("Stream mapping:")[0]
    video = [line for line in inputs.splitlines() if re.search(r"Stream #0:\d+.*: Video:", line)]
    assert len(video) == 1, out
    width, height = map(int, re.search(r", (\d+)x(\d+)", video[0]).groups())
    return {
        "codec": re.search(r"Video: (\w+)", video[0]).group(1),
        "pix_fmt": re.search(r"Video: [^,]+, (\w+)", video[0]).group(1),
        "size": (width, height),
        "frames": int(re.findall(r"frame=\s*(\d+)", out)[-1]),
        "audio": "Audio:" in inputs,
    }


def gradient(n=12, height=48, width=64):
    """Frames that differ from each other (so no encoder or GIF writer folds two into one)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([np.stack([(x * 4 + 9 * i) % 256, (y * 5) % 256, np.full_like(x, 20 * i % 256)], axis=-1)
                     for i in range(n)]).astype(np.uint8)


# ---- encode
def test_mp4_is_h264_yuv420p_with_frames_and_no_audio(tmp_path):
    video = encode(gradient(12), fps=25)
    assert isinstance(video, Video) and video.mime == "video/mp4"
    assert (video.width, video.height, video.frames, video.fps) == (64, 48, 12, 25)
    info = probe(video.data, tmp_path)
    assert info == {"codec": "h264", "pix_fmt": "yuv420p", "size": (64, 48), "frames": 12, "audio": False}
    assert video.data.find(b"moov") < video.data.find(b"mdat")  # +faststart: the index comes first
    assert video.duration == pytest.approx(0.48)
    assert re.fullmatch(r"Video\(mp4, 64x48, 12 frames at 25 fps = 0\.5 s, [\d.]+ kB\)", repr(video))


def test_mp4_embeds_in_html_and_saves(tmp_path):
    video = encode(gradient(4))
    page = video._repr_html_()
    assert page.startswith('<video class="unity-nb-video" controls autoplay loop muted playsinline')
    src = re.search(r'<source type="video/mp4" src="data:video/mp4;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(src) == video.data
    assert video.save(tmp_path / "clip.mp4").read_bytes() == video.data
    assert video.save(tmp_path / "noext").name == "noext.mp4"
    with pytest.raises(ValueError, match=r"path .*clip\.gif.*save it as a \.mp4 file"):
        video.save(tmp_path / "clip.gif")


def test_odd_sizes_are_padded_to_even(tmp_path):
    video = encode(gradient(5, height=33, width=45))
    assert (video.width, video.height) == (46, 34)
    assert probe(video.data, tmp_path)["size"] == (46, 34)
    tiny = encode([np.full((1, 1, 3), 200, np.uint8)] * 3)
    assert probe(tiny.data, tmp_path)["size"] == (2, 2) and tiny.frames == 3


def test_frames_may_be_a_generator_or_a_list_of_views(tmp_path):
    frames = gradient(6)
    video = encode(frame[:, ::-1] for frame in frames)  # lazily, non-contiguous
    assert probe(video.data, tmp_path)["frames"] == 6


def test_gif_has_every_frame(tmp_path):
    video = encode(gradient(9), fps=20, fmt="gif")
    assert video.mime == "image/gif" and video.frames == 9 and video.fps == 20
    image = Image.open(io.BytesIO(video.data))
    assert image.format == "GIF" and image.n_frames == 9 and image.size == (64, 48)
    assert image.info["duration"] == 50
    assert video._repr_html_().startswith('<img class="unity-nb-video"')
    assert video.save(tmp_path / "clip").suffix == ".gif"


def test_gif_fallback_when_ffmpeg_cannot_run(monkeypatch):
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", "/nonexistent/ffmpeg")
    with pytest.warns(RuntimeWarning, match="ffmpeg cannot be run .*animated GIF instead"):
        video = encode(gradient(5))
    assert video.mime == "image/gif"
    assert Image.open(io.BytesIO(video.data)).n_frames == 5


def test_ffmpeg_failure_shows_its_error(monkeypatch, tmp_path):
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\necho 'Unknown encoder libx264' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(fake))
    with pytest.raises(RuntimeError, match="ffmpeg failed to encode the video .*\n.*Unknown encoder libx264"):
        encode(gradient(50, 240, 320))


def f(h=4, w=4, c=3, dtype=np.uint8):
    return np.zeros((h, w, c), dtype)


BAD = [
    ({"frames": []}, r"frames is empty"),
    ({"frames": np.zeros((0, 4, 4, 3), np.uint8)}, r"frames is empty"),
    ({"frames": None}, r"frames must be HxWx3 uint8 images"),
    ({"frames": 5}, r"frames must be an iterable"),
    ({"frames": f()}, r"frames as an array must have shape \(N, height, width, 3\), got shape \(4, 4, 3\) \(one frame"),
    ({"frames": [f(dtype=np.float32)]}, r"frames\[0\] must have dtype uint8 .*got float32 .*\* 255"),
    ({"frames": [f(), f(dtype=np.int64)]}, r"frames\[1\] must have dtype uint8 .*got int64"),
    ({"frames": [np.zeros((4, 4), np.uint8)]}, r"frames\[0\] must be an RGB image of shape \(height, width, 3\)"),
    ({"frames": [f(c=4)]}, r"frames\[0\] must be an RGB image .*RGBA"),
    ({"frames": [f(), f(), f(4, 6)]}, r"frames must all have one size: frames\[0\] is 4x4 .*frames\[2\] is 6x4"),
    ({"fps": 0}, r"fps must be a number of frames per second in 1\.\.120, got 0"),
    ({"fps": 121}, r"fps must be .*got 121"),
    ({"fps": "25"}, r"fps must be .*got '25'"),
    ({"fps": True}, r"fps must be .*got True"),
    ({"fps": float("nan")}, r"fps must be .*got nan"),
    ({"fmt": "webm"}, r"fmt must be one of 'mp4', 'gif', got 'webm'"),
    ({"fmt": None}, r"fmt must be one of"),
]


@pytest.mark.parametrize("fmt", ["mp4", "gif"])
@pytest.mark.parametrize("kwargs,message", BAD, ids=[m[:30] for _, m in BAD])
def test_bad_input_names_the_argument(kwargs, message, fmt):
    args = {"frames": [f()] * 2, "fps": 25, "fmt": fmt, **kwargs}
    with pytest.raises(ValueError, match=message):
        encode(**args)


@pytest.mark.parametrize("kwargs,message", [
    ({"episodes": 0}, r"episodes must be a whole number >= 1, got 0"),
    ({"max_frames": 0}, r"max_frames must be a whole number >= 1, got 0"),
    ({"max_frames": 2.5}, r"max_frames must be a whole number >= 1, got 2\.5"),
    ({"fps": 500}, r"fps must be .*got 500"),
    ({"fmt": "avi"}, r"fmt must be one of"),
    ({"mode": "remote"}, r"mode must be one of"),
])
def test_record_checks_its_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        record(None, "Basic", **kwargs)


# ---- record
@pytest.mark.parametrize("mode", ["inprocess", "player"])
def test_record_random_basic_episode(mode, tmp_path):
    video = record(None, "Basic", mode=mode, episodes=1)
    assert (video.width, video.height) == (328, 54)  # one track of 20 cells, its 14-px caption under it, 4 px around
    assert 1 < video.frames <= 100  # one episode: ends at a goal or after max_step 100 decisions
    assert record(None, "Basic", mode=mode).frames >= 100  # default: whole episodes filling 4 s at 25 fps
    info = probe(video.data, tmp_path)
    assert info["codec"] == "h264" and info["frames"] == video.frames


@pytest.mark.parametrize("mode", ["inprocess", "player"])
def test_record_3dball_shows_all_twelve_agents(mode, tmp_path):
    video = record(None, "3DBall", max_frames=30, mode=mode)
    assert (video.width, video.height) == (532, 382)  # 4 x 3 tiles of 128 x 108, 14-px captions, 4-px gaps
    assert video.frames == 30
    assert probe(video.data, tmp_path)["frames"] == 30


def test_record_is_the_same_in_process_and_through_the_player():
    a = record(None, "GridWorld", max_frames=12, mode="inprocess", fmt="gif")
    b = record(None, "GridWorld", max_frames=12, mode="player", fmt="gif")
    assert (a.width, a.height) == (400, 310)  # 3 x 3 cameras of 64x84 in caption-wide tiles (128 px), 14-px captions
    assert a.data == b.data


def test_record_a_build_uses_its_camera_or_says_to_add_one():
    video = record(None, str(player_file("GridWorld")), max_frames=10)  # a "Unity build": mode player by itself
    assert (video.width, video.height) == (64, 84)  # the first agent's camera sensor
    with pytest.raises(RuntimeError, match=r"has no frames to show: its agents have no camera observation\. Add a "
                                           r"Camera Sensor component to an agent in Unity"):
        record(None, str(player_file("Basic")), max_frames=10)


# ---- runs
def test_run_without_checkpoint_has_no_video(tmp_path):
    run = RunStore(tmp_path).create(TrainConfig(scene="Basic").resolved())
    with pytest.raises(RuntimeError, match=r"run .* has no checkpoint yet: wait for its first one"):
        run.video()


@pytest.mark.ray
def test_trained_basic_video(trained_basic, tmp_path):
    video = trained_basic.video(episodes=1)
    info = probe(video.data, tmp_path)
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p" and not info["audio"]
    # the solved policy walks from 10 straight to the large goal at 17: 7 decisions; the
    # frame after the last shows the next episode's start, so the video has the 7 before it
    assert video.frames == info["frames"] == 7
    assert trained_basic.video(episodes=3).frames == 21
    assert trained_basic.video().frames == 105  # default: whole episodes until 4 s (100 frames at 25 fps)
