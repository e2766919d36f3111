"""What a person does in JupyterLab with the play widget and the episode scrubber: real key presses (Playwright's
keyboard, through chromium's input pipeline) and button clicks play Basic to the goal, the finished episode lands
in a .demo, the notebook's own shortcuts stay out of the game; 3DBall runs on its own while a key is held; the
scrubber steps through an episode with the arrow keys.

Real JupyterLab on 127.0.0.1, real kernel, the built-in scenes in the kernel (no Ray). Screenshots go to
tests/browser/screenshots/ (or $UNITY_NB_SCREENSHOTS).
"""

from __future__ import annotations

import pytest

import shutil

from labkit import PANEL, open_notebook, run_all, screenshot, screenshot_dir, wait_for, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.kernel]

CELLS = [
    "%load_ext unity_nb",
    "game = %unity_play Basic --yourself --demo played.demo\ngame",
    "ball = %unity_play 3DBall --yourself --no-record\nball",
    "%unity_episode Basic --seed 3",
]
PLAY = f"{PANEL} .unity-nb-play"
SCRUB = f"{PANEL} .unity-nb-scrubber"


def _data(locator, name: str) -> int:
    value = locator.get_attribute(f"data-{name}")
    return int(value) if value not in (None, "undefined") else -1


@pytest.mark.timeout(600)
def test_play_basic_with_the_keyboard_then_scrub_an_episode(jupyter_lab, lab_page):
    page = lab_page
    write_notebook(jupyter_lab.root, "play.ipynb", CELLS)
    open_notebook(page, jupyter_lab, "play.ipynb")
    run_all(page)
    basic, ball = page.locator(PLAY).nth(0), page.locator(PLAY).nth(1)
    wait_for(page, "the two play widgets", lambda: page.locator(PLAY).count() == 2, timeout=60)
    cells = page.locator(f"{PANEL} .jp-Notebook .jp-Cell").count()
    basic.scroll_into_view_if_needed()
    basic.click()
    screenshot(page, "play-01-basic-opened", locator=basic)

    # a turn-by-turn scene: each key press is one step; the keys arrive faster than the kernel answers
    for _ in range(6):
        page.keyboard.press("ArrowRight")
    wait_for(page, "six steps", lambda: _data(basic, "step") == 6, timeout=30)
    screenshot(page, "play-02-basic-six-steps", locator=basic)
    page.keyboard.press("d")  # the goal, with the other key of "right"
    wait_for(page, "the first finished episode", lambda: _data(basic, "episodes") == 1, timeout=30)
    status = basic.locator(".unity-nb-status").inner_text()
    assert "episodes 1 (last: 0.93)" in status and "recorded 8 steps to played.demo" in status, status
    # "a" is JupyterLab's "insert a cell above" in command mode; inside the game it is "left"
    page.keyboard.press("a")
    wait_for(page, "a step to the left", lambda: _data(basic, "step") == 1, timeout=30)
    assert page.locator(f"{PANEL} .jp-Notebook .jp-Cell").count() == cells, "a key reached the notebook's shortcuts"
    # the on-screen buttons play too: two more lefts reach the small goal (+0.1)
    left = basic.locator("button.unity-nb-key", has_text="left")
    left.click()
    left.click()
    wait_for(page, "the second finished episode", lambda: _data(basic, "episodes") == 2, timeout=30)
    assert "(last: 0.93, 0.07)" in basic.locator(".unity-nb-status").inner_text()
    screenshot(page, "play-03-basic-two-episodes", locator=basic)
    from unity_nb.envs.demo import load_demo

    demo = load_demo(jupyter_lab.root / "played.demo")
    assert [round(e.total_reward, 2) for e in demo.episodes() if e.done] == [0.93, 0.07]
    shutil.copy(jupyter_lab.root / "played.demo", screenshot_dir() / "played-basic.demo")  # kept beside the pictures

    # a scene that moves on its own: holding a key plays it at its pace (10 decisions a second)
    ball.scroll_into_view_if_needed()
    ball.click()
    page.keyboard.down("ArrowLeft")
    wait_for(page, "3DBall running while the key is held", lambda: _data(ball, "step") >= 8, timeout=30)
    held = ball.locator("button.unity-nb-key", has_text="ball left")  # the button of the key held looks pressed
    assert "unity-nb-held" in (held.get_attribute("class") or "")
    page.keyboard.up("ArrowLeft")
    screenshot(page, "play-04-3dball-held-left", locator=ball)
    assert ball.locator("input.unity-nb-axis").count() == 2  # a slider per continuous action
    ball.locator("button.unity-nb-run").click()  # pause

    # the scrubber: arrow keys step through a kept episode, each step's frame and numbers shown
    scrub = page.locator(SCRUB).first
    scrub.scroll_into_view_if_needed()
    scrub.click()
    first = scrub.locator("img.unity-nb-frame").get_attribute("src")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    wait_for(page, "the scrubber at step 3", lambda: _data(scrub, "index") == 3, timeout=15)
    assert scrub.locator("img.unity-nb-frame").get_attribute("src") != first
    assert scrub.locator(".unity-nb-slider").input_value() == "3"
    assert scrub.locator(".unity-nb-reward").inner_text().strip() in ("-0.010", "0.090", "0.990")
    screenshot(page, "scrub-01-basic-step-3", locator=scrub)
