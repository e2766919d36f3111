"""What a person sees in JupyterLab: %unity_train's dashboard gains points while training
goes on, also while the next cell blocks (``run.wait()`` under Run All: the curve is drawn by
the browser from widget state), the Stop button and status follow the run, the Deploy button
serves the trained policy (URL, curl line, a form that gets an action back), then the rollout
video plays.

Real JupyterLab on 127.0.0.1, real kernel, real Ray and player stand-in, Debian's
chromium driven by Playwright. Screenshots go to tests/browser/screenshots/
(or $UNITY_NB_SCREENSHOTS).
"""

from __future__ import annotations

import hashlib
import re

import pytest

from labkit import (PANEL, cell_running, fail, open_notebook, outputs_text, run_all, screenshot, wait_for, wait_for_text,
                    wait_run_all, wait_video_plays, write_notebook)

CELLS = [
    "%load_ext unity_nb",
    # long enough to watch: ~30 iterations of 256 steps; the target is out of reach so it runs them all
    "run = %unity_train Basic --steps 8000 --target-return 2\nrun",
    "run.wait()  # blocks the kernel's main thread until training ends, as the quickstart does\nrun.state",
    "video = run.video(max_frames=120)\nvideo",
]

DASH = f"{PANEL} .unity-nb-dashboard"
POINTS = f"{DASH} .unity-nb-points"
STATUS = f"{DASH} .unity-nb-status"
CHART = f"{DASH} .unity-nb-chart"
VIDEO = f"{PANEL} video.unity-nb-video"

pytestmark = [pytest.mark.browser, pytest.mark.kernel, pytest.mark.ray]  # JupyterLab, its kernel, %unity_train


def _points(page) -> int:
    text = page.locator(POINTS).first.inner_text(timeout=5000).strip()
    return int(text) if text.isdigit() else -1


def _chart_digest(page) -> str:
    return hashlib.sha1(page.locator(CHART).first.evaluate("c => c.innerHTML").encode()).hexdigest()


def _chart_points(page) -> int:
    return int(page.locator(CHART).first.get_attribute("data-points") or 0)


@pytest.mark.timeout(900)
def test_unity_train_live_dashboard_then_video(jupyter_lab, lab_page, tmp_path):
    page = lab_page
    write_notebook(jupyter_lab.root, "train_live.ipynb", CELLS[:3])
    open_notebook(page, jupyter_lab, "train_live.ipynb")
    screenshot(page, "train-01-opened")
    run_all(page, wait=False)  # %unity_train returns at once; the next cell then blocks until training ends

    page.locator(DASH).first.scroll_into_view_if_needed()
    wait_for(page, "the dashboard's chart", lambda: page.locator(CHART).count() > 0, timeout=120)
    first = int(wait_for_text(page, POINTS, lambda t: t.strip().isdigit() and int(t) > 0, timeout=300))
    status = page.locator(STATUS).first.inner_text()
    if status.strip() != "running":
        fail(page, f"training was already '{status}' when the first point showed ({first} points): nothing to watch")
    image, drawn = _chart_digest(page), _chart_points(page)
    screenshot(page, "train-02-first-points")

    # while `run.wait()` blocks the kernel, the curve gains points: the counter rises and the browser redraws
    later = wait_for(page, f"more points than {first}", lambda: (n := _points(page)) > first and n, timeout=120)
    wait_for(page, "the reward curve to be redrawn", lambda: _chart_digest(page) != image and _chart_points(page) > drawn,
             timeout=60)
    assert cell_running(page, 2), "the blocking cell had already ended: the curve grew without anything blocking"
    assert page.locator(f"{CHART} path.unity-nb-line[data-key=episode_return_mean]").first.get_attribute("d").count("L") >= 1
    image = _chart_digest(page)
    screenshot(page, "train-03-more-points-while-blocked")
    assert page.locator(f"{DASH} .unity-nb-stop button, {DASH} button.unity-nb-stop").first.is_enabled()

    wait_for_text(page, STATUS, "finished", timeout=300)
    wait_run_all(page)
    final = _points(page)
    assert final >= later > first
    # the chart ends with the run's last points, not where the live updates last reached
    wait_for(page, "the final chart", lambda: _chart_points(page) == final, timeout=30)
    assert "'finished'" in outputs_text(page)  # the blocking cell's result
    screenshot(page, "train-04-finished")
    assert "/ 8,000 steps" in page.locator(f"{DASH} .unity-nb-progress").first.inner_text()

    # Deploy: export, serve, and ask the endpoint from the form under the dashboard
    page.locator(f"{DASH} button.unity-nb-deploy, {DASH} .unity-nb-deploy button").first.click()
    endpoint = f"{DASH} .unity-nb-endpoint"
    wait_for(page, lambda: f"the endpoint view (outputs: {outputs_text(page)[-500:]})",
             lambda: page.locator(endpoint).count() > 0, timeout=180)
    curl = page.locator(f"{endpoint} .unity-nb-curl textarea").first.input_value()
    assert curl.startswith("curl -s http://127.0.0.1:") and "/invocations" in curl, curl
    field = page.locator(f"{endpoint} input[type=text]").first
    field.fill("[" + ", ".join("1" if i == 10 else "0" for i in range(20)) + "]")  # the start: position 10
    page.locator(f"{endpoint} button", has_text="Ask").first.click()
    wait_for_text(page, f"{endpoint} .unity-nb-answer", "action: [2]", timeout=30)  # right, to the large goal
    screenshot(page, "train-05-deployed")
    page.locator(f"{endpoint} button", has_text="Stop endpoint").first.click()
    wait_for_text(page, f"{endpoint} button:has-text('Stopped')", "Stopped", timeout=30)

    # then the video of the trained policy plays inline
    cell = page.locator(f"{PANEL} .jp-Notebook .jp-Cell").last
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")  # a new cell below, as from the keyboard
    page.keyboard.press("Enter")
    page.keyboard.type(CELLS[3])
    page.keyboard.press("Shift+Enter")
    video = page.locator(VIDEO).first
    wait_for(page, lambda: f"the inline video (outputs: {outputs_text(page)[-500:]})", lambda: video.count() > 0,
             timeout=180)
    video.scroll_into_view_if_needed()
    state = wait_video_plays(page, video)
    screenshot(page, "train-06-video", locator=video)
    screenshot(page, "train-07-final")
    print(f"points {first} -> {later} -> {final}; video {state['w']}x{state['h']}")
