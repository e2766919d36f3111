"""Forking a run: the fork's settings, its folder and lineage, the refusals, and the dashboard's view of it
(no Ray: recorded runs, whose checkpoints hold the progress file but no trainer state; a fork that trains
is in tests/test_train_runs.py)."""

import json
import subprocess
import sys

import pytest

import unity_nb.train as ut
from unity_nb.errors import NotPossible
from unity_nb.notebook.dashboard import Dashboard
from unity_nb.train.config import ConfigError
from unity_nb.train.forks import fork_config, latest_checkpoint
from unity_nb.train.store import RunStore


def _fork_folder(parent, **changes):
    """A fork's folder as ``fork_run`` makes it, without starting its training."""
    checkpoint = latest_checkpoint(parent)
    config, changed = fork_config(parent, checkpoint, changes)
    return RunStore(parent.path.parent).create_fork(parent, checkpoint, config, changed)


def test_a_fork_keeps_the_parents_settings_but_those_it_changes(recorded_run):
    config, changed = fork_config(recorded_run, latest_checkpoint(recorded_run), {"lr": 1e-4, "num_epochs": 3})
    parent = recorded_run.config
    assert (config.lr, config.num_epochs) == (1e-4, 3)
    assert changed == {"lr": [parent.lr, 1e-4], "num_epochs": [parent.num_epochs, 3]}
    assert config.hidden_units == parent.hidden_units and config.seed == parent.seed
    assert config.steps == parent.steps == 20_000  # the checkpoint (5,982 steps) has not used the budget


def test_a_fork_of_a_run_that_used_its_budget_gets_as_many_steps_again(recorded_runs):
    parent = recorded_runs(steps=5000).run  # its last checkpoint is at 5,982 steps
    config, changed = fork_config(parent, latest_checkpoint(parent), {"lr": 1e-4})
    assert config.steps == 5982 + 5000 and changed["steps"] == [5000, 10_982]


def test_the_fork_folder_records_its_parent_and_stands_on_its_own(recorded_run):
    fork = _fork_folder(recorded_run, lr=1e-4)
    record = json.loads((fork.path / "fork.json").read_text())
    assert record == {"parent": recorded_run.id, "checkpoint": "checkpoint_000023", "env_steps": 5982,
                      "changed": {"lr": [recorded_run.config.lr, 1e-4]}}
    assert fork.forked_from == record
    assert [c.name for c in fork.checkpoints()] == ["checkpoint_000023"]  # copied, complete
    assert fork.config.lr == 1e-4 and fork.summary()["parent"] == recorded_run.id
    assert recorded_run.forked_from == {} and recorded_run.summary()["parent"] is None
    grandchild = _fork_folder(fork, num_epochs=4)
    assert [(r.id, at) for r, at in grandchild.ancestry()] == [(fork.id, 5982), (recorded_run.id, 5982)]


def test_a_fork_is_never_seen_without_its_record(recorded_run, monkeypatch):
    """The sidebar's index reads a run's parent once: a fork must be a run (config.yaml) only once fork.json
    is in, and a fork whose copy fails leaves no folder behind."""
    import shutil

    from unity_nb.server.index import RunIndex

    store = RunStore(recorded_run.path.parent)
    index = RunIndex(store.root)
    before = {run_id for _, run_id in store.ids()}
    seen_while_copying = []
    real_copy = shutil.copytree

    def watched_copy(src, dst, *args, **kwargs):
        seen_while_copying.extend(run_id for _, run_id in store.ids() if run_id not in before)
        index.page()  # the sidebar refreshing meanwhile
        return real_copy(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copytree", watched_copy)
    fork = _fork_folder(recorded_run, lr=1e-4)
    assert seen_while_copying == []
    assert next(r for r in index.page()["runs"] if r["id"] == fork.id)["parent"] == recorded_run.id

    def failing_copy(src, dst, *args, **kwargs):
        real_copy(src, dst, *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copytree", failing_copy)
    with pytest.raises(OSError, match="No space left"):
        _fork_folder(recorded_run, lr=3e-4)
    assert {run_id for _, run_id in store.ids()} == before | {fork.id}
    assert sorted(p.name for p in store.root.iterdir()) == sorted(before | {fork.id})


def test_a_fork_record_naming_a_folder_outside_the_store_is_not_followed(recorded_run):
    fork = _fork_folder(recorded_run, lr=1e-4)
    for hostile in ("../../etc", "/etc", "", None, 7, ".hidden", fork.id):
        (fork.path / "fork.json").write_text(json.dumps({"parent": hostile, "env_steps": 5}))
        assert fork.ancestry() == []
    (fork.path / "fork.json").write_text("{not json")
    assert fork.forked_from == {} and fork.ancestry() == []


@pytest.mark.parametrize("changes, message", [
    ({"hidden_units": 256}, "hidden_units (the checkpoint's network has this shape): cannot change in a fork"),
    ({"scene": "3DBall"}, "scene (the checkpoint learned this scene's observations and actions)"),
    ({"algorithm": "APPO"}, "algorithm (the checkpoint is this algorithm's state)"),
    ({"normalize": True, "num_layers": 3}, "normalize (the checkpoint's policy reads"),
    ({"model": "my_models:Net"}, "model (the checkpoint's network has this shape)"),
    ({"backend": "sagemaker"}, "backend (a fork trains where its parent trained)"),
    ({}, "nothing to change"),
    ({"lr": None}, "nothing to change"),
    ({"learning_rat": 1e-4}, "learning_rat: not a setting"),
    ({"lr": -1.0}, "lr must be > 0"),
    ({"lr": "fast"}, "lr must be a number"),
    ({"num_epochs": 0}, "num_epochs must be"),
    ({"steps": 5000}, "steps 5,000 is the whole budget and run"),
    ({"steps": 5982}, "give more than 5,982"),
])
def test_bad_forks_are_refused_by_name(recorded_run, changes, message):
    with pytest.raises(ConfigError, match=None) as caught:
        fork_config(recorded_run, latest_checkpoint(recorded_run), changes)
    assert message in str(caught.value), str(caught.value)


def test_a_setting_given_with_its_parents_value_is_not_a_change(recorded_run):
    same = recorded_run.config.hidden_units
    config, changed = fork_config(recorded_run, latest_checkpoint(recorded_run), {"hidden_units": same, "lr": 1e-4})
    assert "hidden_units" not in changed


def test_a_run_without_a_checkpoint_cannot_be_forked(recorded_runs):
    running = recorded_runs(iterations=3).run  # its first checkpoint comes at iteration 10
    with pytest.raises(NotPossible, match="has no checkpoint to fork from yet: wait for its first one"):
        running.fork(lr=1e-4)


def test_a_sagemaker_run_is_not_forked_and_says_what_to_do(recorded_runs):
    parent = recorded_runs(backend="sagemaker").run
    with pytest.raises(NotPossible, match="forking a SageMaker run is not supported yet.*init_path="):
        parent.fork(lr=1e-4)


def test_fork_of_a_missing_run_names_it(tmp_path):
    with pytest.raises(ut.RunNotFound, match="no run 'nope-1'"):
        ut.fork("nope-1", tmp_path, lr=1e-4)


def test_the_command_refuses_a_fixed_setting_and_an_empty_fork(recorded_run):
    command = [sys.executable, "-m", "unity_nb.cli", "fork", recorded_run.id, "--runs-dir", str(recorded_run.path.parent)]
    out = subprocess.run([*command, "--hidden-units", "64"], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "hidden_units (the checkpoint's network has this shape)" in out.stderr
    assert "Traceback" not in out.stderr
    out = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "nothing to change" in out.stderr
    out = subprocess.run([*command, "--lr", "abc"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "argument --lr: expected a number, got 'abc'" in out.stderr
    out = subprocess.run([sys.executable, "-m", "unity_nb.cli", "fork", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--lr" in out.stdout and "cannot change" in out.stdout


def test_a_forks_dashboard_draws_its_parents_curve_faint_before_its_own(recorded_run):
    fork = _fork_folder(recorded_run, lr=1e-4)
    dash = Dashboard(fork, start=False)
    parent_points = [e for e in recorded_run.events() if e["event"] == "iteration"]
    assert dash.before == parent_points and dash.points == []
    series = dash.chart.series
    assert series["x"] == [p["env_steps"] for p in parent_points]
    assert series["before:episode_return_mean"] == [p["episode_return_mean"] for p in parent_points]
    assert set(series["episode_return_mean"]) == {None}  # the fork's own curve has not begun
    faint = [line for panel in dash.chart.panels for line in panel["lines"] if line.get("faint")]
    assert faint and all("label" not in line for line in faint)
    assert f"fork of <b>{recorded_run.id}</b> at 5,982 steps" in dash.title.value
    assert "lr 0.001 -&gt; 0.0001" in dash.title.value or "lr 0.001 -> 0.0001" in dash.title.value
    plain = Dashboard(recorded_run, start=False, figure="matplotlib")
    assert plain.before == [] and not any(k.startswith("before:") for k in plain.lines)
    drawn = Dashboard(fork, start=False, figure="matplotlib")
    drawn._draw()
    xs, _ = drawn.lines["before:episode_return_mean"].get_data()
    assert list(xs) == [p["env_steps"] for p in parent_points]


def test_the_fork_button_refuses_with_a_message_on_the_dashboard(recorded_run):
    dash = Dashboard(recorded_run, start=False)
    assert dash.fork_button.layout.display is None  # an ended run with a checkpoint can be forked
    dash.fork_button.click()
    assert dash.fork_settings in dash.fork_area.children
    for text, message in [("--hidden-units 64", "hidden_units (the checkpoint"), ("", "nothing to change"),
                          ("--lr", "argument --lr: expected one argument"), ("Basic-1 --lr 1e-4", "unrecognized arguments: Basic-1"),
                          ("--lr 'unclosed", "No closing quotation"),
                          ("--lr 1e-4 --wait", "unrecognized arguments: --wait"), ("--help", "unrecognized arguments: --help"),
                          ("--runs-dir /tmp --lr 1e-4", "unrecognized arguments: --runs-dir")]:
        dash.fork_settings.value = text
        dash.fork_start.click()
        assert "fork refused" in dash.message.value and message in dash.message.value, (text, dash.message.value)
        assert dash.forked is None


@pytest.mark.parametrize("schedule, expected", [(1e-4, 1e-4), ([[0, 1e-4], [20_000, 1e-10]], 1e-4 * (1 - 5982 / 20_000))])
def test_after_a_restore_the_forks_learning_rate_rules_from_the_first_update(schedule, expected):
    """RLlib restores an optimizer's state with the checkpoint's learning rate, and sets its schedule's only
    after an update: the fork's first update would use the parent's rate. The driver sets it at once
    (``_rates_at``). Here the learner is a stand-in holding what ``_rates_at`` reads: a real torch optimizer
    restored as RLlib restores it, RLlib's own Scheduler and TorchLearner's setter (a whole Learner needs a
    Ray runtime; the fork that trains is in tests/test_train_runs.py)."""
    from types import SimpleNamespace

    import torch
    from ray.rllib.core.learner.torch.torch_learner import TorchLearner
    from ray.rllib.utils.schedules.scheduler import Scheduler

    from unity_nb.trainer.driver import _rates_at

    net = torch.nn.Linear(2, 1)
    parents = torch.optim.Adam(net.parameters(), lr=1e-3)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)  # built from the fork's settings
    optimizer.load_state_dict(parents.state_dict())  # the checkpoint's state
    assert optimizer.param_groups[0]["lr"] == 1e-3
    learner = SimpleNamespace(_optimizer_lr_schedules={optimizer: Scheduler(schedule)},
                              _set_optimizer_lr=TorchLearner._set_optimizer_lr)
    _rates_at(learner, steps=5982)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(expected, rel=1e-3)
