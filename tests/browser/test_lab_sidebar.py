"""The "Unity RL" sidebar in a real JupyterLab: a run started from a notebook appears and its
sparkline grows while it trains; Stop stops it; Fork starts a run from its checkpoint; Video plays it in a main-area tab; Deploy
serves it and the endpoint's Stop ends it; Dashboard re-attaches in the notebook; the launcher
card copies the quickstart; the palette has the commands. Also measures how long an event
written to a run folder takes to show in the sidebar.

Real JupyterLab with the prebuilt extension (scripts/build_labextension.sh) and its server
extension, real kernel, Ray and player stand-in, Debian's chromium. Screenshots go to
tests/browser/screenshots/ (sidebar-*.png).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from labkit import (PANEL, fail, open_notebook, run_all, screenshot, wait_for, wait_for_text, wait_video_plays,
                    write_notebook)

from unity_nb.train import make_config
from unity_nb.train.store import RunStore

pytestmark = [pytest.mark.browser, pytest.mark.kernel, pytest.mark.ray]

SIDEBAR = "#unity-nb-sidebar"
TAB = '.lm-TabBar-tab[data-id="unity-nb-sidebar"]'
CELLS = [
    "%load_ext unity_nb",
    # long enough to watch and stop: the target is out of reach, so it would run all 20,000 steps
    "run = %unity_train Basic --steps 20000 --target-return 2\nrun.id",
]


def _row(run_id: str) -> str:
    return f'{SIDEBAR} li.unity-nb-run[data-id="{run_id}"]'


def _spark_points(page, run_id: str) -> int:
    found = page.locator(f"{_row(run_id)} svg.unity-nb-sparkline")
    return int(found.first.get_attribute("data-points") or 0) if found.count() else -1


def _state(page, run_id: str) -> str | None:
    found = page.locator(_row(run_id))
    return found.first.get_attribute("data-state") if found.count() else None


def _fork_story(page, lab, run_id: str) -> str:
    """What a fork that did not appear left behind: the page's notices and its command's log."""
    notices = [t.strip() for t in page.locator(".Toastify__toast").all_inner_texts()]
    logs = sorted((_store(lab) / run_id / "logs").glob("sidebar-fork-*.log"))
    told = "\n".join(f"--- {p.name} ---\n{p.read_text()[-4000:]}" for p in logs) or "no fork command log"
    return f"notices on the page: {notices}\n{told}"


def _store(lab) -> Path:
    """The folder of runs the server shows (its root's runs/, unless UNITY_NB_RUNS named another)."""
    return Path(lab.api("unity-nb/api/runs")["root"])


def _event_latency(page, lab, samples: int = 5) -> list[float]:
    """Seconds from an iteration event written to a run folder to the sidebar showing its steps."""
    run = RunStore(_store(lab)).create(make_config("Basic", steps=10_000),
                                    run_id=f"Basic-latency-probe-{time.strftime('%H%M%S')}")
    writer = run.writer()
    writer.set_state("running")
    delays = []
    try:
        wait_for(page, "the probe run in the sidebar", lambda: page.locator(_row(run.id)).count() > 0, timeout=30)
        figures = f"{_row(run.id)} .unity-nb-figures"
        for i in range(1, samples + 1):
            steps = 1000 * i
            written = time.monotonic()
            writer.emit({"event": "iteration", "iteration": i, "env_steps": steps, "episode_return_mean": 0.1 * i})
            wait_for(page, f"the sidebar to show {steps} steps",
                     lambda: page.locator(figures).first.get_attribute("data-steps") == str(steps),
                     timeout=30, interval=0.02)
            delays.append(time.monotonic() - written)
            time.sleep(0.37)  # not in step with the refresh
        writer.set_state("finished")
    finally:
        writer.close()
    return delays


def _sweep_around(root: Path, run_ids: list[str]):
    """A sweep's folder naming ``run_ids`` as its trials, written through the sweep's own writer."""
    import json

    from unity_nb.train.sweeps import Sweep, make_plan

    sweep = Sweep(root / f"sweep-Basic-{time.strftime('%Y%m%d-%H%M%S')}-cafe")
    sweep.log_path.parent.mkdir(parents=True)
    plan = make_plan("Basic", lr="loguniform(1e-4, 1e-3)", trials=len(run_ids), concurrent=1)
    (sweep.path / "sweep.json").write_text(json.dumps(plan.to_dict()))
    sweep.write_status({"state": "finished"})
    for i, run_id in enumerate(run_ids):
        sweep.record_trial(trial=f"t{i}", run=run_id, settings={"lr": 1e-4})
    return sweep


@pytest.mark.timeout(900)
def test_sidebar_follows_stops_films_and_serves_a_run(jupyter_lab, lab_page):
    page = lab_page
    write_notebook(jupyter_lab.root, "sidebar_train.ipynb", CELLS)
    open_notebook(page, jupyter_lab, "sidebar_train.ipynb")
    page.locator(TAB).first.click()
    wait_for(page, "the Unity RL sidebar", lambda: page.locator(f"{SIDEBAR} .unity-nb-summary").count() > 0 and
             page.locator(SIDEBAR).first.is_visible(), timeout=60)
    wait_for_text(page, f"{SIDEBAR} .unity-nb-summary", lambda t: "No runs yet" in t or " run" in t, timeout=30)
    screenshot(page, "sidebar-01-before")
    before = {r["id"] for r in jupyter_lab.api("unity-nb/api/runs?limit=500")["runs"]}

    run_all(page, wait=False)
    run_id = wait_for(page, "the new run in the sidebar's API", lambda: next(
        (r["id"] for r in jupyter_lab.api("unity-nb/api/runs")["runs"] if r["id"] not in before), None), timeout=180)
    wait_for(page, "the run to be running in the sidebar", lambda: _state(page, run_id) == "running", timeout=300)
    first = wait_for(page, "the first sparkline points", lambda: (n := _spark_points(page, run_id)) > 1 and n,
                     timeout=120)
    screenshot(page, "sidebar-02-running")
    later = wait_for(page, f"the sparkline to grow past {first} points",
                     lambda: (n := _spark_points(page, run_id)) > first and n, timeout=120)
    polyline = page.locator(f"{_row(run_id)} svg.unity-nb-sparkline polyline").first.get_attribute("points")
    assert polyline and polyline.count(",") >= 2, polyline
    assert "Basic" in page.locator(f"{_row(run_id)} .unity-nb-figures").first.inner_text()
    screenshot(page, "sidebar-03-growing")

    # a write from the page without Jupyter's token and XSRF header is refused (the sidebar's own requests carry them)
    refused = page.evaluate(
        "async id => (await fetch(`/unity-nb/api/runs/${id}/stop`, {method: 'POST', credentials: 'same-origin'})).status",
        run_id)
    assert refused == 403, refused
    assert _state(page, run_id) == "running"

    # Stop: the run checkpoints and stops; the badge follows
    page.locator(f"{_row(run_id)} button.unity-nb-stop").first.click()
    wait_for(page, "the run to be stopped", lambda: _state(page, run_id) == "stopped", timeout=180)
    assert page.locator(f"{_row(run_id)} button.unity-nb-stop").first.is_disabled()
    assert page.locator(f"{_row(run_id)} .unity-nb-badge").first.inner_text().strip() == "stopped"
    screenshot(page, "sidebar-04-stopped")

    # Fork: typed settings in a dialog; the new run trains from the checkpoint and says whose fork it is
    stopped_at = next(r["steps"] for r in jupyter_lab.api("unity-nb/api/runs")["runs"] if r["id"] == run_id)
    page.locator(f"{_row(run_id)} button.unity-nb-fork").first.click()
    dialog = page.locator(".jp-Dialog")
    wait_for(page, "the fork dialog", lambda: dialog.count() > 0, timeout=30)
    dialog.locator("input").first.fill(f"--lr 1e-4 --steps {stopped_at + 1000}")
    screenshot(page, "sidebar-04b-fork-dialog")
    dialog.locator(".jp-Dialog-button.jp-mod-accept").first.click()
    fork_id = wait_for(page, lambda: f"the fork in the sidebar's API; {_fork_story(page, jupyter_lab, run_id)}", lambda: next(
        (r["id"] for r in jupyter_lab.api("unity-nb/api/runs")["runs"] if r.get("parent") == run_id), None),
        timeout=120)
    wait_for(page, "the fork to finish", lambda: _state(page, fork_id) == "finished", timeout=240)
    assert f"fork of {run_id}" in page.locator(f"{_row(fork_id)} .unity-nb-figures").first.inner_text()
    screenshot(page, "sidebar-04c-forked")

    # Video: made by `unity-nb video` in its own process, played in a main-area tab
    page.locator(f"{_row(run_id)} button.unity-nb-video").first.click()
    wait_for(page, "the video tab", lambda: page.locator(".unity-nb-video-tab video").count() > 0, timeout=240)
    state = wait_video_plays(page, page.locator(".unity-nb-video-tab video").first)
    screenshot(page, "sidebar-05-video")
    assert (_store(jupyter_lab) / run_id / "videos").is_dir()

    # Deploy: export + a local endpoint; it shows under Endpoints, and its Stop ends it
    page.locator(f"{_row(run_id)} button.unity-nb-deploy").first.click()
    endpoint = f"{SIDEBAR} li.unity-nb-endpoint[data-port]"
    wait_for(page, "the endpoint in the sidebar", lambda: page.locator(endpoint).count() > 0, timeout=240)
    port = page.locator(endpoint).first.get_attribute("data-port")
    assert f"127.0.0.1:{port}" in page.locator(endpoint).first.inner_text()
    assert (_store(jupyter_lab) / run_id / "export").is_dir()
    screenshot(page, "sidebar-06-deployed")
    page.locator(f"{endpoint} button.unity-nb-stop-endpoint").first.click()
    wait_for(page, "the endpoint to go", lambda: page.locator(endpoint).count() == 0, timeout=60)

    # Dashboard: %unity_dashboard ID runs in the notebook on screen
    dashboards = page.locator(f"{PANEL} .unity-nb-dashboard").count()
    page.locator(f"{_row(run_id)} button.unity-nb-dashboard").first.click()
    wait_for(page, "a second dashboard in the notebook",
             lambda: page.locator(f"{PANEL} .unity-nb-dashboard").count() > dashboards, timeout=120)
    sources = page.locator(f"{PANEL} .jp-Cell .jp-InputArea-editor").all_inner_texts()
    assert any(f"%unity_dashboard {run_id}" in s for s in sources), sources
    screenshot(page, "sidebar-07-dashboard")

    # an event written to a run folder shows in the sidebar within the refresh interval
    delays = _event_latency(page, jupyter_lab)
    print(f"event -> sidebar: median {statistics.median(delays):.2f} s, max {max(delays):.2f} s ({len(delays)} events)")
    assert max(delays) < 10, delays

    # a sweep's trials are grouped under it, the best marked; its group folds (its folder written as a sweep's
    # driver writes it, around the run and its fork: a real sweep is tests/test_sweep.py's)
    sweep = _sweep_around(_store(jupyter_lab), [run_id, fork_id])
    group = f'{SIDEBAR} li.unity-nb-sweep[data-id="{sweep.id}"]'
    wait_for(page, "the sweep's group with its two trials",
             lambda: page.locator(f"{group} li.unity-nb-run").count() == 2, timeout=30)
    best = page.locator(group).first.get_attribute("data-best")
    assert best in (run_id, fork_id), best
    assert page.locator(f'{group} li.unity-nb-run[data-best="true"]').first.get_attribute("data-id") == best
    assert "2 trials of Basic" in page.locator(f"{group} .unity-nb-sweep-about").first.inner_text()
    assert page.locator(f"{SIDEBAR} ul.unity-nb-runs > li.unity-nb-run").count() >= 1  # the others stay on top
    screenshot(page, "sidebar-07b-sweep")
    page.locator(f"{group} button.unity-nb-fold").first.click()
    wait_for(page, "the sweep's trials folded", lambda: not page.locator(f"{group} ul.unity-nb-sweep-runs").first
             .is_visible(), timeout=10)

    # the palette has the commands; the launcher card copies the quickstart and opens it
    page.keyboard.press("Control+Shift+C")
    page.keyboard.type("Unity RL")
    wait_for(page, "the Unity RL palette entries",
             lambda: page.locator(".lm-CommandPalette-item", has_text="Unity RL: Refresh Runs").count() > 0, timeout=30)
    page.keyboard.press("Escape")
    page.evaluate("() => { window.jupyterapp.commands.execute('launcher:create'); }")
    card = page.locator(".jp-LauncherCard", has_text="Unity RL quickstart")
    wait_for(page, "the quickstart launcher card", lambda: card.count() > 0, timeout=60)
    screenshot(page, "sidebar-08-launcher")
    card.first.click()
    tab = '.lm-TabBar-tab .lm-TabBar-tabLabel:text-is("unity-rl-quickstart.ipynb")'
    wait_for(page, "the quickstart notebook tab", lambda: page.locator(tab).count() > 0, timeout=60)
    if not (jupyter_lab.root / "unity-rl-quickstart.ipynb").is_file():
        fail(page, "the quickstart was not copied into the root folder")
    print(f"sparkline {first} -> {later} points; video {state['w']}x{state['h']}; endpoint port {port}")
