"""The dashboard's browser-drawn chart: what it sends, when the matplotlib figure is drawn, and refusals (no Ray).

The chart itself is drawn by the browser; tests/browser/test_lab_training.py watches it grow in
JupyterLab while a later cell blocks.
"""

import math

import pytest

from unity_nb.notebook.chart import MAX_POINTS, LiveChart, _thin
from unity_nb.notebook.dashboard import Dashboard


def test_the_chart_follows_the_run_and_the_figure_waits_for_the_end(recorded_runs):
    replay = recorded_runs(iterations=3)
    dash = Dashboard(replay.run, start=False)
    series = dash.chart.series
    assert series["x"] == [p["env_steps"] for p in dash.points] and len(series["x"]) == 3
    assert series["episode_return_mean"] == [p["episode_return_mean"] for p in dash.points]
    assert dash.draws == 0  # no matplotlib render while the run goes on: the browser draws
    assert dash.canvas is None and dash.chart in dash.widget.children

    replay.play()
    dash.update()
    assert dash.state == "finished" and len(dash.chart.series["x"]) == len(dash.points) == 23
    assert dash.chart.markers == {"x": [5982], "y": [0.9192]}  # the confirmation, at its lowest play (sampled)
    assert dash.draws == 1  # the picture of the end, for nbconvert/GitHub
    xs, ys = dash.lines["episode_return_mean"].get_data()
    assert list(xs) == dash.chart.series["x"]
    bundle = dash._bundle()
    assert {"image/png", "application/vnd.jupyter.widget-view+json", "text/plain"} <= set(bundle)


def test_a_still_running_run_is_pictured_with_what_is_there(recorded_runs):
    dash = Dashboard(recorded_runs(iterations=2).run, start=False)
    assert "image/png" in dash._bundle() and len(dash.lines["episode_return_mean"].get_data()[0]) == 2


def test_matplotlib_figure_on_request(recorded_run):
    pytest.importorskip("ipympl")
    dash = Dashboard(recorded_run, start=False, figure="matplotlib")
    assert dash.chart is None and dash.canvas is not None and dash.canvas in dash.widget.children


@pytest.mark.parametrize("figure", ["svg", "", None, 3])
def test_unknown_figure_kind_is_refused(recorded_run, figure):
    with pytest.raises(ValueError, match="figure must be 'browser'"):
        Dashboard(recorded_run, start=False, figure=figure)


def test_long_runs_are_thinned_evenly_with_the_last_point_kept():
    assert _thin(3) == [0, 1, 2]
    kept = _thin(10_000)
    assert len(kept) <= MAX_POINTS + 1 and kept[0] == 0 and kept[-1] == 9_999
    chart = LiveChart(panels=[])
    chart.set_columns({"x": list(range(5000)), "y": [float("nan"), None, math.inf] + [1.0] * 4997})
    assert len(chart.series["x"]) <= MAX_POINTS + 1 and chart.series["x"][-1] == 4999
    assert chart.series["y"][0] is None  # NaN and inf become gaps (JSON has no NaN)
