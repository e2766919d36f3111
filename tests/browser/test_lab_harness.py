"""Demo of the browser harness: what a person sees in JupyterLab when a notebook
shows a live ipympl plot fed from a background thread and an inline H.264 video.

Checks, in the browser, that
- the points counter (an ipywidgets.HTML) goes up while the thread runs,
- the ipympl canvas image changes while the thread runs,
- the inline <video> plays (readyState >= 2, videoWidth > 0, currentTime grows).
"""

from __future__ import annotations

import hashlib
import re
import time

import pytest

from labkit import (
    PANEL,
    fail,
    open_notebook,
    outputs_text,
    run_all,
    screenshot,
    wait_for,
    wait_for_text,
    write_notebook,
)

N_POINTS = 30  # one every 0.2 s: ~6 s of live updates

CELLS = [
    "%matplotlib widget",
    # The figure: made inside plt.ioff() (under %matplotlib widget plt.subplots would
    # display it already), shown once, next to the points counter.
    """\
import math, threading, time
import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

with plt.ioff():
    fig, ax = plt.subplots(figsize=(5, 3))
(line,) = ax.plot([], [], "o-", color="tab:blue")
ax.set_xlim(0, N_POINTS)
ax.set_ylim(-1.1, 1.1)
ax.set_title("live feed")
points = widgets.HTML("0")
points.add_class("unity-nb-points")
display(widgets.VBox([fig.canvas, points]))
""".replace("N_POINTS", str(N_POINTS)),
    # The feed: a background thread that only touches the figure and the widget.
    """\
xs, ys = [], []

def feed(n=N_POINTS, period=0.2):
    # Wait (up to 120 s) until the browser has drawn the canvas: ipympl stops
    # syncing its PNG fallback once the front end reports 'initialized'.
    # On a slow machine the page may show the widget seconds after the cell ran.
    deadline = time.monotonic() + 120
    while getattr(fig.canvas, "syncing_data_url", False) and time.monotonic() < deadline:
        time.sleep(0.1)
    for i in range(n):
        xs.append(i)
        ys.append(math.sin(i / 3))
        line.set_data(xs, ys)
        fig.canvas.draw_idle()
        points.value = str(len(xs))
        time.sleep(period)

feeder = threading.Thread(target=feed, name="feeder", daemon=True)
feeder.start()
""".replace("N_POINTS", str(N_POINTS)),
    # An inline video, H.264 / yuv420p / even size / no audio, embedded as base64.
    """\
import base64, os, subprocess, tempfile
import numpy as np
import imageio_ffmpeg
from IPython.display import HTML

def make_clip(path, w=128, h=96, fps=25, seconds=2):
    ff = imageio_ffmpeg.get_ffmpeg_exe()
    enc = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-an", "-movflags", "+faststart", path]
    r = subprocess.run([ff, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                        "-i", f"testsrc=size={w}x{h}:rate={fps}", "-t", str(seconds), *enc],
                       capture_output=True)
    if r.returncode == 0:
        return "lavfi"
    # This ffmpeg build has no lavfi: pipe raw RGB frames instead.
    n = fps * seconds
    x = np.arange(w)[None, :, None]
    frames = np.stack([np.broadcast_to(((x + 4 * i) % w * 255 // w), (h, w, 3)) for i in range(n)])
    subprocess.run([ff, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
                    "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "-", *enc],
                   input=frames.astype(np.uint8).tobytes(), check=True)
    return "rawvideo"

with tempfile.TemporaryDirectory() as d:
    clip = os.path.join(d, "clip.mp4")
    source = make_clip(clip)
    data = base64.b64encode(open(clip, "rb").read()).decode("ascii")
print(f"clip from {source}: {len(data)} base64 chars")
HTML('<video class="unity-nb-video" controls autoplay loop muted playsinline '
     f'src="data:video/mp4;base64,{data}"></video>')
""",
]

POINTS = f"{PANEL} .unity-nb-points"
CANVAS = f"{PANEL} .jupyter-matplotlib-canvas-div canvas"
VIDEO = f"{PANEL} video.unity-nb-video"


def _points(page) -> int | None:
    text = page.locator(POINTS).first.inner_text(timeout=5000).strip()
    m = re.search(r"\d+", text)
    return int(m.group()) if m else None


def _canvas_digest(page) -> str:
    url = page.locator(CANVAS).first.evaluate("c => c.toDataURL('image/png')")
    return hashlib.sha1(url.encode()).hexdigest()


def _video_state(page) -> dict:
    return page.locator(VIDEO).first.evaluate(
        """v => ({t: v.currentTime, ready: v.readyState, w: v.videoWidth, h: v.videoHeight,
                 paused: v.paused, error: v.error && (v.error.code + ' ' + v.error.message),
                 frames: v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : null,
                 canPlay: v.canPlayType('video/mp4; codecs="avc1.42E01E"')})"""
    )


@pytest.mark.timeout(600)
def test_live_plot_counter_and_video(jupyter_lab, lab_page):
    page = lab_page
    write_notebook(jupyter_lab.root, "harness_demo.ipynb", CELLS)
    t0 = time.monotonic()
    open_notebook(page, jupyter_lab, "harness_demo.ipynb")
    t_open = time.monotonic() - t0
    screenshot(page, "harness-01-opened")

    t1 = time.monotonic()
    run_all(page)
    t_run = time.monotonic() - t1
    screenshot(page, "harness-02-ran-all")

    # --- the counter goes up while the thread runs
    page.locator(POINTS).first.scroll_into_view_if_needed()
    first = int(wait_for_text(page, POINTS, lambda t: t.strip().isdigit() and int(t) > 0, timeout=120))
    if first >= N_POINTS:
        fail(page, f"the feed thread had already finished ({first} points) when the page was first read "
             f"(open {t_open:.1f} s, run all {t_run:.1f} s): the browser is slower than the feed")
    wait_for(page, "the ipympl canvas", lambda: page.locator(CANVAS).count() > 0, timeout=60)
    canvas = page.locator(CANVAS).first
    img1 = _canvas_digest(page)
    shot1 = canvas.screenshot()
    screenshot(page, "harness-03-live-early")

    page.wait_for_timeout(1500)
    second = _points(page)
    img2 = _canvas_digest(page)
    shot2 = canvas.screenshot()
    screenshot(page, "harness-04-live-later")
    if not (second is not None and second > first):
        fail(page, f"points counter did not go up: {first} then {second}\noutputs:\n{outputs_text(page)}")
    if img1 == img2:
        fail(page, f"the ipympl canvas image did not change while points went {first} -> {second} "
             f"(element screenshots {'differ' if shot1 != shot2 else 'are identical too'})")

    # The feed ends with all its points on screen.
    wait_for_text(page, POINTS, lambda t: t.strip() == str(N_POINTS), timeout=60)
    screenshot(page, "harness-05-live-done")

    # --- the video plays (a muted autoplay video only plays while it is on screen)
    video = page.locator(VIDEO).first
    wait_for(page, "the inline video", lambda: video.count() > 0, timeout=60)
    video.scroll_into_view_if_needed()
    state = wait_for(page, "the video to have data (readyState >= 2, videoWidth > 0)",
                     lambda: (s := _video_state(page))["ready"] >= 2 and s["w"] > 0 and s, timeout=60)
    assert state["canPlay"], f"chromium cannot play H.264: {state}"
    assert not state["error"], state
    # currentTime grows (the clip loops every 2 s: look for any increase between close samples)
    samples = []

    def advancing():
        s = _video_state(page)
        samples.append(round(s["t"], 3))
        return len(samples) >= 2 and samples[-1] > samples[-2] + 0.05

    wait_for(page, lambda: f"the video's currentTime to grow (samples {samples[-10:]}, state {_video_state(page)})",
             advancing, timeout=30, interval=0.3)
    screenshot(page, "harness-06-video", locator=video)
    screenshot(page, "harness-07-final")
    assert _video_state(page)["w"] == 128
    print(f"timings: open {t_open:.1f} s, run all {t_run:.1f} s, points {first}->{second}, "
          f"video {state['w']}x{state['h']} t={samples}")
