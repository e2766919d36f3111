"""Seconds to turn 500 3DBall frames into a video embedded in a notebook (base64 HTML).

    .venv/bin/python bench/video_encode.py [--frames 500] [--repeats 3]

The frames (all 12 agents, 340x256) are collected first, outside the timing. Timed:
encoding plus the HTML a notebook embeds. Ours is ``encode(frames)._repr_html_()``;
the peer is what a notebook user would write today: matplotlib's
``FuncAnimation(...).to_html5_video()`` (imshow + set_data, the same ffmpeg binary),
and ``imageio.v2.mimwrite`` + base64 when imageio is installed. Median of
``--repeats`` runs. Target: ours <= 2 s for 500 frames.
"""

from __future__ import annotations

import argparse
import base64
import io
import statistics
import sys
import time
import warnings

import numpy as np

TARGET_S = 2.0


def collect(n: int) -> list[np.ndarray]:
    from unity_nb.envs.gym_env import UnityVectorEnv
    from unity_nb.envs.source import EnvSource

    env = UnityVectorEnv(EnvSource("3DBall", mode="inprocess", seed=1, render=True), render_mode="rgb_array")
    try:
        env.reset()
        env.action_space.seed(1)
        frames = [env.render()]
        while len(frames) < n:
            env.step(env.action_space.sample())
            frames.append(env.render())
    finally:
        env.close()
    return frames


def ours(frames, fps):
    from unity_nb.evaluate import encode

    return encode(frames, fps=fps)._repr_html_()


def ours_gif(frames, fps):
    from unity_nb.evaluate import encode

    return encode(frames, fps=fps, fmt="gif")._repr_html_()


def matplotlib_peer(frames, fps):
    import matplotlib

    matplotlib.use("Agg")
    import imageio_ffmpeg
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    plt.rcParams["animation.ffmpeg_path"] = imageio_ffmpeg.get_ffmpeg_exe()  # no system ffmpeg here
    plt.rcParams["animation.embed_limit"] = 200  # MB; the default 20 would cut long videos
    h, w = frames[0].shape[:2]
    dpi = 100
    fig = plt.figure(figsize=(w / dpi, h / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    image = ax.imshow(frames[0], interpolation="nearest")

    def update(i):
        image.set_data(frames[i])
        return (image,)

    anim = FuncAnimation(fig, update, frames=len(frames), interval=1000 / fps, blit=True)
    try:
        return anim.to_html5_video()
    finally:
        plt.close(fig)


def imageio_peer(frames, fps):
    import imageio.v2 as imageio

    buf = io.BytesIO()
    imageio.mimwrite(buf, frames, format="mp4", fps=fps)
    b64 = base64.b64encode(buf.getvalue()).decode()
    return f'<video controls><source type="video/mp4" src="data:video/mp4;base64,{b64}"></video>'


def time_it(fn, frames, fps, repeats):
    times, html = [], ""
    for _ in range(repeats):
        started = time.perf_counter()
        html = fn(frames, fps)
        times.append(time.perf_counter() - started)
    return statistics.median(times), len(html)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fps", type=float, default=25)
    args = parser.parse_args()

    started = time.perf_counter()
    frames = collect(args.frames)
    h, w = frames[0].shape[:2]
    print(f"collected {len(frames)} 3DBall frames of {w}x{h} in {time.perf_counter() - started:.2f} s (not timed)")

    cases = [("unity_nb encode (mp4)", ours), ("unity_nb encode (gif fallback)", ours_gif),
             ("matplotlib FuncAnimation.to_html5_video", matplotlib_peer)]
    try:
        import imageio.v2  # noqa: F401

        cases.append(("imageio.v2.mimwrite + base64", imageio_peer))
    except ImportError:
        print("imageio is not installed: its row is skipped")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours(frames[:5], args.fps)  # imports, the ffmpeg binary's first start: not what a user waits for each time
        results = [(name, *time_it(fn, frames, args.fps, args.repeats)) for name, fn in cases]

    peer = dict((n, s) for n, s, _ in results)["matplotlib FuncAnimation.to_html5_video"]
    print(f"\n{'method':42s} {'median s':>9s} {'vs matplotlib':>14s} {'HTML size':>10s}")
    for name, seconds, size in results:
        print(f"{name:42s} {seconds:9.3f} {seconds / peer:13.2f}x {size / 1e6:8.2f} MB")
    mine = results[0][1]
    met = mine <= TARGET_S * len(frames) / 500
    print(f"\ntarget: ours <= {TARGET_S:g} s for 500 frames -> {mine:.3f} s for {len(frames)}: "
          f"{'met' if met else 'NOT met'}; {peer / mine:.1f}x faster than matplotlib (median of {args.repeats})")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
