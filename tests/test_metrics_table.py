"""The metric table (unity_nb/train/metrics.py) is what every reader of an iteration's figures takes (no Ray).

A new metric is its value in the driver plus one row: these tests add one (and a panel for it) and
see it reach the dashboard's figure and browser chart, SageMaker's metric definitions and the event
schema without another edit.
"""

import dataclasses

import pytest

from unity_nb.notebook.dashboard import Dashboard
from unity_nb.train import metrics
from unity_nb.train.config import TrainConfig
from unity_nb.train.sagemaker import contract
from unity_nb.train.schema import EVENTS


def test_every_figure_a_real_iteration_writes_has_a_row(recorded_run):
    written = {k for e in recorded_run.events() if e["event"] == "iteration" for k in e} - {"event", "v", "t"}
    assert written <= set(metrics.BY_KEY), written - set(metrics.BY_KEY)
    assert set(EVENTS["iteration"]) == set(metrics.BY_KEY)


def test_each_row_names_a_panel_that_exists_and_a_side_it_can_be_drawn_on():
    panels = {p.name for p in metrics.PANELS}
    assert len(panels) == len(metrics.PANELS)
    for m in metrics.METRICS:
        assert m.panel in panels | {None}, m
        assert m.axis in ("left", "right"), m
    for p in metrics.PANELS:
        assert metrics.drawn(p.name), f"panel {p.name} draws nothing"
        if p.band:
            assert set(p.band) <= set(metrics.BY_KEY)
    assert metrics.HEADLINE in metrics.BY_KEY


def test_the_dashboard_draws_each_row_on_its_panel_in_both_figures(recorded_run):
    dash = Dashboard(recorded_run, start=False, figure="matplotlib")
    shown = metrics.panels(recorded_run.config)
    assert [p.name for p in shown] == [p.name for p in metrics.PANELS if p.name != "elo"]  # self-play's panel: off
    drawn = [m.key for m in metrics.METRICS if m.panel in {p.name for p in shown}]
    assert sorted(dash.lines) == sorted(drawn)
    dash.update(draw_figure=True)
    assert len(dash.lines["vf_loss"].get_data()[0]) == 23
    chart = Dashboard(recorded_run, start=False).chart
    assert [p["title"] for p in chart.panels] == [p.title.format(window=100) for p in shown]
    assert sorted(chart.column_keys()) == sorted(set(drawn) | {"episode_return_min", "episode_return_max"})


def test_a_new_metric_is_one_row(recorded_run, monkeypatch):
    row = metrics.Metric("kl", "mean KL divergence", panel="trust", label="KL", color=metrics.GREEN, sagemaker=True)
    table = tuple(row if m.key == "kl" else m for m in metrics.METRICS)
    monkeypatch.setattr(metrics, "METRICS", table)
    monkeypatch.setattr(metrics, "PANELS", (*metrics.PANELS, metrics.Panel("trust", "KL divergence")))
    dash = Dashboard(recorded_run, start=False, figure="matplotlib")
    assert len(dash.fig.axes) == 7  # five panels and the losses' right axis on a 3 x 2 grid, the sixth hidden
    assert sum(ax.get_visible() for ax in dash.fig.axes) == 6
    dash.update(draw_figure=True)
    assert len(dash.lines["kl"].get_data()[0]) == 23
    chart = Dashboard(recorded_run, start=False).chart
    assert chart.panels[-1]["lines"] == [{"key": "kl", "color": metrics.GREEN, "label": "KL"}]
    assert "kl" in metrics.sagemaker_keys()


@pytest.mark.parametrize("field", ["tensorboard", "sagemaker"])
def test_what_goes_out_is_read_from_the_table(field):
    wanted = tuple(m.key for m in metrics.METRICS if getattr(m, field) and (field == "tensorboard" or not m.when))
    assert wanted and (metrics.tensorboard_keys() if field == "tensorboard" else list(metrics.sagemaker_keys())) == list(wanted)
    if field == "sagemaker":
        assert contract.METRICS == wanted
        assert [d["Name"] for d in contract.metric_definitions()] == list(wanted)
        # a metric only some runs write is defined for those runs (SageMaker would chart nothing for the others)
        self_play = TrainConfig(scene="Pong", self_play=True)
        assert [d["Name"] for d in contract.metric_definitions(self_play)] == [*wanted, "elo"]


def test_a_metric_row_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        metrics.METRICS[0].key = "other"
