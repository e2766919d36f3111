"""Videos of agents that play inline in a notebook (JupyterLab, VS Code) and save to a file.

    from unity_nb.evaluate import record, encode
    record(None, "3DBall", max_frames=200)       # random actions: look at a scene before training
    record(run.latest_checkpoint(), "Basic")     # the trained policy, greedy actions
    encode(frames, fps=25).save("clip.mp4")      # any HxWx3 uint8 frames

MP4 is H.264 (libx264), yuv420p, even width and height, no audio stream and the
index up front: the one combination that plays in every browser and in VS Code's
notebook view (which ships no AAC decoder). The ffmpeg binary is imageio-ffmpeg's
(``IMAGEIO_FFMPEG_EXE`` picks another). Where it cannot be run, an animated GIF
(Pillow) is made instead, with a warning.
"""

from __future__ import annotations

import base64
import html
import math
import os
import subprocess
import tempfile
import warnings
from contextlib import closing
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from ..errors import BadValue, NotPossible
from .policy import SINGLE

FORMATS = {"mp4": "video/mp4", "gif": "image/gif"}
MAX_FPS = 120


class Video:
    """An encoded video: ``data`` (bytes), ``mime``, ``width``, ``height``, ``frames``, ``fps``.

    Shown inline by Jupyter (base64-embedded ``<video>`` or ``<img>`` for a GIF);
    ``save(path)`` writes it to a file.
    """

    def __init__(self, data: bytes, mime: str, width: int, height: int, frames: int, fps: float):
        self.data = bytes(data)
        self.mime = mime
        self.width = int(width)
        self.height = int(height)
        self.frames = int(frames)
        self.fps = float(fps)
        self.saved_to: Path | None = None  # where save() last wrote it
        self.name = ""  # what it shows, for a file name: a run's id or a scene's name

    @property
    def format(self) -> str:
        return "gif" if self.mime == "image/gif" else "mp4"

    @property
    def duration(self) -> float:
        """Seconds of playback."""
        return self.frames / self.fps

    def __len__(self) -> int:
        return self.frames

    def __repr__(self):
        return (f"Video({self.format}, {self.width}x{self.height}, {self.frames} frames at {self.fps:g} fps "
                f"= {self.duration:.1f} s, {_size(len(self.data))})")

    def _repr_html_(self) -> str:
        b64 = base64.b64encode(self.data).decode("ascii")
        size = f'width="{self.width}" height="{self.height}" style="max-width: 100%; height: auto"'
        if self.mime == "image/gif":
            alt = html.escape(repr(self))
            return f'<img class="unity-nb-video" {size} alt="{alt}" src="data:image/gif;base64,{b64}"/>'
        return (f'<video class="unity-nb-video" controls autoplay loop muted playsinline {size}>'
                f'<source type="video/mp4" src="data:video/mp4;base64,{b64}"/>'
                f"This browser cannot play an H.264 video ({html.escape(repr(self))}); save it with .save(path)."
                "</video>")

    def save(self, path: str | os.PathLike) -> Path:
        """Write the video to ``path`` (``.mp4`` or ``.gif`` is added when the name has no suffix)."""
        path = Path(path).expanduser()
        if not path.suffix:
            path = path.with_name(path.name + "." + self.format)
        elif path.suffix.lower() not in ("." + self.format, ".m4v" if self.format == "mp4" else ".gif"):
            raise BadValue(
                f"path {str(path)!r}: this video is {self.format.upper()}; save it as a .{self.format} file"
            )
        path.write_bytes(self.data)
        self.saved_to = path
        return path


def png_data_url(frame: np.ndarray) -> str:
    """One frame as a PNG ``data:`` URL (what a widget's image shows; fast compression: frames are sent live)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame)).save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


# ---- checking input
def _check_fps(fps) -> float:
    if isinstance(fps, bool) or not isinstance(fps, Real) or not math.isfinite(fps) or not 1 <= fps <= MAX_FPS:
        raise BadValue(f"fps must be a number of frames per second in 1..{MAX_FPS}, got {fps!r}")
    return float(fps)


def _check_fmt(fmt) -> str:
    if not isinstance(fmt, str) or fmt.lower().lstrip(".") not in FORMATS:
        raise BadValue(f"fmt must be one of {', '.join(map(repr, FORMATS))}, got {fmt!r}")
    return fmt.lower().lstrip(".")


def _check_frame(frame, index: int, shape: tuple | None) -> np.ndarray:
    """One frame as a contiguous HxWx3 uint8 array, or a ValueError naming what is wrong."""
    arr = np.asarray(frame)
    where = f"frames[{index}]"
    if arr.ndim != 3 or arr.shape[2] != 3:
        got = f"shape {arr.shape}"
        if arr.ndim == 3 and arr.shape[2] in (1, 4):
            got += f" ({'grey' if arr.shape[2] == 1 else 'RGBA'}: convert to RGB first)"
        raise BadValue(f"{where} must be an RGB image of shape (height, width, 3), got {got}")
    if arr.dtype != np.uint8:
        hint = " (scale floats in 0..1 with (frame * 255).astype(np.uint8))" if arr.dtype.kind == "f" else ""
        raise BadValue(f"{where} must have dtype uint8 (values 0..255), got {arr.dtype}{hint}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise BadValue(f"{where} must be at least 1x1 pixels, got shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise BadValue(
            f"frames must all have one size: frames[0] is {shape[1]}x{shape[0]} (width x height), "
            f"{where} is {arr.shape[1]}x{arr.shape[0]}"
        )
    return np.ascontiguousarray(arr)


def _frames(frames) -> Iterator[np.ndarray]:
    """Checked frames, lazily (a generator of frames is never held in memory at once)."""
    if isinstance(frames, (str, bytes)) or frames is None:
        raise BadValue(f"frames must be HxWx3 uint8 images (a list, an iterable or an array of shape (N, H, W, 3)), "
                       f"got {type(frames).__name__}")
    if isinstance(frames, np.ndarray) and frames.ndim != 4:
        hint = " (one frame? pass [frame])" if frames.ndim == 3 else ""
        raise BadValue(f"frames as an array must have shape (N, height, width, 3), got shape {frames.shape}{hint}")
    try:
        iterator = iter(frames)
    except TypeError:
        raise BadValue(f"frames must be an iterable of HxWx3 uint8 images, got {type(frames).__name__}") from None
    shape = None
    for i, frame in enumerate(iterator):
        arr = _check_frame(frame, i, shape)
        shape = arr.shape
        yield arr
    if shape is None:
        raise BadValue("frames is empty: no frames to encode")


def _even(frame: np.ndarray) -> np.ndarray:
    """Pad an odd width or height by one pixel (a copy of the edge): H.264 4:2:0 needs even sizes."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


# ---- encoding
def encode(frames: Iterable[np.ndarray], fps: float = 25, fmt: str = "mp4") -> Video:
    """Encode RGB frames (HxWx3 uint8, one size; or an array N,H,W,3) into a :class:`Video`.

    ``fmt="mp4"``: H.264 through ffmpeg (falls back to GIF, with a warning, when ffmpeg
    cannot be run). ``fmt="gif"``: an animated GIF through Pillow.
    """
    fps = _check_fps(fps)
    fmt = _check_fmt(fmt)
    stream = _frames(frames)
    first = next(stream, None)
    if first is None:  # the generator raises for an empty input; this line is for safety
        raise BadValue("frames is empty: no frames to encode")
    if fmt == "mp4":
        exe, why = _ffmpeg()
        if exe is not None:
            try:
                return _encode_mp4(exe, first, stream, fps)
            except _CannotRun as err:
                why = str(err)
        warnings.warn(
            f"ffmpeg cannot be run ({why}): making an animated GIF instead (bigger, 256 colours). "
            "Install imageio-ffmpeg (pip install imageio-ffmpeg) or set IMAGEIO_FFMPEG_EXE to an ffmpeg with libx264.",
            RuntimeWarning,
            stacklevel=2,
        )
    return _encode_gif(first, stream, fps)


class _CannotRun(Exception):
    pass


def _ffmpeg() -> tuple[str | None, str]:
    try:
        import imageio_ffmpeg
    except ImportError:
        return None, "imageio-ffmpeg is not installed"
    try:
        return imageio_ffmpeg.get_ffmpeg_exe(), ""
    except Exception as err:  # imageio_ffmpeg raises RuntimeError when it finds no binary
        return None, str(err).splitlines()[0]


def _encode_mp4(exe: str, first: np.ndarray, rest: Iterator[np.ndarray], fps: float) -> Video:
    first = _even(first)
    height, width = first.shape[:2]
    with tempfile.TemporaryDirectory(prefix="unity-nb-video-") as tmp:
        out, log = os.path.join(tmp, "video.mp4"), os.path.join(tmp, "ffmpeg.log")
        cmd = [
            exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", f"{fps:g}", "-i", "pipe:0",
            "-an", "-c:v", "libx264", "-preset", "fast", "-crf", "23",
            # BT.709 matrix, limited range, and tagged so: players convert back to the same colours
            "-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,"
                   "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv",
            "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-f", "mp4", out,
        ]
        with open(log, "wb") as err_file:
            try:
                proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err_file,
                                        bufsize=0)
            except OSError as err:
                raise _CannotRun(f"{exe}: {err.strerror or err}") from None
            count, broken = 0, False
            try:
                for frame in _chain(first, rest):
                    frame = _even(frame)
                    try:
                        proc.stdin.write(frame.data)
                    except BrokenPipeError:
                        broken = True  # ffmpeg stopped reading: it failed; its log says why
                        break
                    count += 1
            except BaseException:  # a bad frame, or the frames' source failed: no video
                proc.kill()
                proc.wait()
                raise
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    broken = True
            code = proc.wait()
        if code != 0 or broken or not os.path.exists(out):
            tail = Path(log).read_text(errors="replace").strip().splitlines()[-12:]
            raise NotPossible(
                f"ffmpeg failed to encode the video (exit code {code}, {exe}):\n" + ("\n".join(tail) or "(no output)")
            )
        data = Path(out).read_bytes()
    return Video(data, FORMATS["mp4"], width, height, count, fps)


def _chain(first, rest):
    yield first
    yield from rest


def _encode_gif(first: np.ndarray, rest: Iterator[np.ndarray], fps: float) -> Video:
    import io

    from PIL import Image

    # GIF delays are whole hundredths of a second, and browsers slow delays under 0.02 s down to 0.1 s
    centis = max(2, round(100 / fps))
    images = [Image.fromarray(f) for f in _chain(first, rest)]
    buf = io.BytesIO()
    # Pillow folds a frame identical to the previous one into it (longer delay): same playback
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=centis * 10, loop=0,
                   optimize=False)
    return Video(buf.getvalue(), FORMATS["gif"], first.shape[1], first.shape[0], len(images), 100 / centis)


# ---- recording episodes
def record(checkpoint, scene: str, *, episodes: int | None = None, max_frames: int = 500, fps: float = 25,
           mode: str = "inprocess", seed: int = 12345, num_areas: int = 1, params: dict | None = None,
           behavior: str | None = None, fmt: str = "mp4", overlay: bool = False) -> Video:
    """Record a video of a scene played by a checkpoint's policy (greedy actions).

    checkpoint: a run's checkpoint folder (``run.latest_checkpoint()``), or ``None`` for
        uniformly random actions (respecting action masks) to look at a scene before training.
    scene: a built-in scene (every agent is drawn) or the path of a Unity build (the frames
        are the first agent's camera observation: the build needs a Camera Sensor).
    episodes, max_frames: stop when the first agent has finished ``episodes`` episodes, or
        after ``max_frames`` frames (one frame per decision; the first shows the reset).
        ``episodes=None`` (default): whole episodes until the video lasts 4 s at least
        (a solved Basic episode alone is 7 frames, a blink).
    mode: ``"inprocess"`` or ``"player"`` for built-in scenes; a Unity build always runs as
        its own process (``"player"``).
    seed, num_areas, params, behavior: as for :func:`unity_nb.evaluate.evaluate`.
    fps, fmt: as for :func:`encode`.
    overlay: draw under each frame what the policy thinks: every agent's value estimate and action
        distribution (bars of a discrete branch's probabilities; a continuous action's mean and spread on a
        -1..1 track), the action taken highlighted. Needs a checkpoint.
    """
    from ..envs.scenes import find_scene

    for name, value in (("episodes", episodes), ("max_frames", max_frames)):
        if name == "episodes" and value is None:
            continue
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise BadValue(f"{name} must be a whole number >= 1, got {value!r}")
    fps, fmt = _check_fps(fps), _check_fmt(fmt)
    if not isinstance(overlay, bool):
        raise BadValue(f"overlay must be True or False, got {overlay!r}")
    if overlay and checkpoint is None:
        raise BadValue("overlay=True draws what a trained policy thinks: give a checkpoint (random actions have "
                       "no values or probabilities to show)")
    env, act, rows = open_playback(checkpoint, scene, mode=mode, seed=seed, num_areas=num_areas, params=params,
                                   behavior=behavior)
    inspect = None
    if overlay:
        from . import overlay as panel

        def inspect(frame, obs, info, actions):
            return panel.draw(frame, rows(obs, info, actions))
    frames = _play(env, act, episodes, max_frames, seed, min_frames=int(4 * fps), inspect=inspect)
    try:
        video = encode(frames, fps=fps, fmt=fmt)
        found = find_scene(scene)
        video.name = found.name if found else Path(str(scene)).name.removesuffix(".x86_64")
        return video
    finally:
        frames.close()  # stops the episode loop (and closes the env) if encoding stopped early
        env.close()


def open_playback(checkpoint, scene: str, *, mode: str = "inprocess", seed: int = 12345, num_areas: int = 1,
                  params: dict | None = None, behavior: str | None = None, sampled: bool = False):
    """A scene (rendering) played by a checkpoint's policies (greedy, or drawing from them with ``sampled``; or
    random actions: ``checkpoint=None``), as
    ``(env, act, rows)``: a vector env (one policy), or every behavior with its policy seen as one
    (``_BehaviorsPlayback``); ``act(obs, info)`` the actions (None: draw random ones); ``rows(obs, info, actions)``
    what the policies think, one (label, Look, action) per agent, the first agent first (None without a
    checkpoint)."""
    from ..envs.gym_env import UnityVectorEnv
    from ..envs.scenes import play_mode
    from ..envs.source import EnvSource

    if mode == "inprocess" and isinstance(scene, str) and scene.strip():
        mode = play_mode(scene)  # a Unity build runs as its own process
    policies = None
    if checkpoint is not None:
        from .policy import load_policies

        policies = load_policies(checkpoint)
    source = EnvSource(scene, mode=mode, seed=seed, num_areas=num_areas, params=params, render=True)
    try:
        several = reset_done = False
        if policies is None and behavior is None:  # random play of every behavior, when there are several
            source.call("reset")  # the behaviors are known once the scene has started
            several, reset_done = len(source.base.behavior_specs) > 1, True
        if several or (policies is not None and set(policies) != {SINGLE}):  # each behavior's agents with its policy
            from ..envs.behaviors_env import UnityBehaviorsEnv

            env = _BehaviorsPlayback(UnityBehaviorsEnv(source), policies or {}, sampled, seed)
            return env, env.act, env.rows if policies else None
        env = UnityVectorEnv(source, behavior=behavior, render_mode="rgb_array", reset_done=reset_done)
        if policies is None:
            return env, None, None
        policy = policies[SINGLE]

        def rows(obs, info, actions):
            from .overlay import rows_of

            return rows_of(policy.look(obs, info.get("action_mask")), actions)
        return env, (lambda obs, info: policy.act(obs, info.get("action_mask"), sampled=sampled)), rows
    except BaseException:
        source.close()
        raise


@dataclass
class Decision:
    """One decision of a played scene: the frame it was made on, the observations and infos it saw, the actions
    taken, and what followed them (the rewards, and whether the first agent's episode ended)."""

    frame: np.ndarray
    obs: Any
    info: Any
    actions: Any
    rewards: Any
    ended: bool


def decisions(env, act, seed: int) -> Iterator[Decision]:
    """The decisions of a scene opened by ``open_playback`` (``act`` None: random actions, reproducible from
    ``seed``), one after another until the caller stops; the env is closed when the generator is."""
    try:
        obs, info = env.reset()
        if act is None:
            env.action_space.seed(seed)
            env.single_action_space.seed(seed)
        while True:
            frame = as_rgb(env.render())
            actions = act(obs, info) if act is not None else random_actions(env, info)
            after, rewards, terminated, truncated, after_info = env.step(actions)
            yield Decision(frame, obs, info, actions, rewards, bool(terminated[0] or truncated[0]))
            obs, info = after, after_info
    finally:
        env.close()


def _play(env, act, episodes: int | None, max_frames: int, seed: int, min_frames: int = 0,
          inspect=None) -> Iterator[np.ndarray]:
    """Frames of the episodes: one after reset, one after each step, until the first agent's
    ``episodes``-th episode ends (the frame after that shows the next episode, so is left out).
    ``inspect(frame, obs, info, actions)``: the frame drawn with what the policy thinks (``overlay``)."""
    finished = 0
    with closing(decisions(env, act, seed)) as played:
        for shown, d in enumerate(played, start=1):
            yield d.frame if inspect is None else inspect(d.frame, d.obs, d.info, d.actions)
            if shown >= max_frames:
                return
            if d.ended:
                finished += 1
                if finished >= episodes if episodes is not None else shown >= min_frames:
                    return


class _BehaviorsPlayback:
    """A scene with several behaviors seen as ``_play`` sees a vector env: agent 0 is the first
    behavior's first agent, whose finished episodes are counted; every behavior acts with its policy."""

    def __init__(self, env, policies, sampled: bool = False, seed: int = 0):
        from .policy import for_behaviors

        self.env, self.policies, self.sampled = env, for_behaviors(policies, env.specs) or policies, sampled
        self.rng = np.random.default_rng(seed)  # no policies: random actions (masks honoured), reproducible
        self.first = f"{next(iter(env.specs))}#0."

    def reset(self):
        return self.env.reset()

    def first_of(self, keyed: dict):
        """The first agent's key among ``keyed``'s (acting agents' actions by key: one per agent), else None."""
        return next((k for k in keyed if k.startswith(self.first)), None)

    def act(self, obs, infos):
        from .rollout import joint_actions

        if not self.policies:
            return {k: self._random(k, infos.get(k, {})) for k in self.env.agents if k in obs}
        return joint_actions(self.policies, obs, infos, sampled=self.sampled, agents=self.env.agents)

    def _random(self, key, info):
        import gymnasium as gym

        space = self.env.action_spaces[key]
        if isinstance(space, gym.spaces.Discrete):
            mask = info.get("action_mask")
            allowed = np.flatnonzero(mask) if mask is not None else np.arange(space.n)
            return int(self.rng.choice(allowed))
        if isinstance(space, gym.spaces.MultiDiscrete):
            return np.array([self.rng.integers(n) for n in space.nvec])
        return self.rng.uniform(space.low, space.high).astype(np.float32)

    def rows(self, obs, infos, actions):
        """Each acting agent's (label, Look, action): its behavior's policy's view of it."""
        from ..envs.agents import behavior_of

        rows = []
        for key in [k for k in self.env.agents if k in actions]:
            policy = self.policies.get(behavior_of(key))
            if policy is not None:
                mask = infos.get(key, {}).get("action_mask")
                look = policy.look(_batch_of_one(obs[key]), None if mask is None else np.asarray(mask)[None])
                rows.append((key, look, np.atleast_1d(actions[key])))
        return rows

    def step(self, actions):
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        # the first agent's every key: an episode that ended and the next one's may both be here
        ended = any(k.startswith(self.first) and "episode_return" in info for k, info in infos.items())
        if truncated.get("__all__") or terminated.get("__all__"):
            obs, _ = self.env.reset()  # the wrapper's own cut (or all its agents ended at once); Unity carries on
        return obs, rewards, [ended], [False], infos

    def render(self):
        return self.env.render()

    def close(self):
        self.env.close()


def _batch_of_one(observation):
    """One agent's observation (an array, or a tuple of one per sensor) as a batch of one."""
    if isinstance(observation, tuple):
        return tuple(np.asarray(o)[None] for o in observation)
    return np.asarray(observation)[None]


def as_rgb(frame: np.ndarray) -> np.ndarray:
    """A grey camera observation (H, W, 1) as RGB."""
    return np.repeat(frame, 3, axis=2) if frame.ndim == 3 and frame.shape[2] == 1 else frame


def random_actions(env, info):
    import gymnasium as gym

    space = env.single_action_space
    if "action_mask" in info and isinstance(space, gym.spaces.Discrete):
        masks = info["action_mask"]
        return np.array([space.sample(mask=np.asarray(m, dtype=np.int8)) for m in masks])
    return env.action_space.sample()


__all__ = ["Video", "encode", "record"]
