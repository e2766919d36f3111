"""Sweeps: search spaces as text, the checks of a sweep's plan, the sweep folder's readers (no Ray), and one real
sweep through Ray Tune on this machine's runtime (marked ray)."""

import html
import json
import subprocess
import sys
import time

import pytest

import unity_nb.train as ut
from unity_nb.errors import BadValue, NotFound, NotPossible
from unity_nb.train.config import ConfigError
from unity_nb.train.sweeps import Space, Sweep, SweepPlan, find_sweep, make_plan, parse_space


@pytest.mark.parametrize("text, space", [
    ("loguniform(1e-4, 3e-3)", Space("loguniform", (1e-4, 3e-3))),
    (" uniform(0.9,0.99) ", Space("uniform", (0.9, 0.99))),
    ("choice(3, 8)", Space("choice", (3, 8))),
    ("choice('linear', 'constant')", Space("choice", ("linear", "constant"))),
    ("grid(1, 2, 4)", Space("grid", (1, 2, 4))),
    ("randint(1, 5)", Space("randint", (1, 5))),
    ("qloguniform(1e-4, 1e-2, 1e-4)", Space("qloguniform", (1e-4, 1e-2, 1e-4))),
    ("3e-4", None), ("off", None), ("0.99", None), ("__import__('os')", None),
])
def test_search_spaces_are_tunes_written_as_text(text, space):
    assert parse_space(text) == space


@pytest.mark.parametrize("text, message", [
    ("normal(0, 1)", "normal() is not a search space; use one of uniform()"),
    ("loguniform(1e-4)", "loguniform() takes 2 numbers, got 1"),
    ("loguniform(0, 1)", "a log scale starts above 0"),
    ("uniform(3, 1)", "the low end must be below the high end"),
    ("uniform('a', 'b')", "uniform() takes numbers"),
    ("choice()", "choice() needs at least one value"),
    ("choice(os.system('x'))", "the arguments must be numbers or quoted words"),
    ("randint(1.5, 4)", "randint() takes whole numbers"),
    ("quniform(0, 1, 0)", "the step q must be above 0"),
])
def test_a_space_that_is_not_tunes_is_refused(text, message):
    with pytest.raises(BadValue, match=None) as caught:
        parse_space(text)
    assert message in str(caught.value)


def test_a_plan_checks_every_value_a_trial_may_draw():
    plan = make_plan("Basic", lr="loguniform(1e-4, 3e-3)", num_epochs="choice(1, 2)", steps=2000, trials=3,
                     concurrent=1)
    assert plan.base.steps == 2000 and plan.base.scene == "Basic" and plan.trials == 3
    assert set(plan.spaces) == {"lr", "num_epochs"} and plan.scheduler == "asha"
    assert SweepPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    assert "3 trials of Basic (lr loguniform(0.0001, 0.003), num_epochs choice(1, 2)), scheduler asha" in plan.describe()


def test_threaded_trials_count_their_learner_process_among_the_cpus(monkeypatch):
    """A threaded trial holds two CPUs (its run, its learner process): more at once than the runtime has would
    wait for one another forever, so the default runs fewer, and a larger concurrent is refused."""
    monkeypatch.setenv("UNITY_NB_CPUS", "2")
    assert make_plan("Basic", lr="loguniform(1e-4, 1e-3)", trials=4).concurrent == 2
    assert make_plan("Basic", lr="loguniform(1e-4, 1e-3)", trials=4, threaded=True).concurrent == 1
    assert make_plan("Basic", threaded=Space("choice", (True, False)), trials=4).concurrent == 1
    with pytest.raises(ConfigError, match="sweep: concurrent 2 trials need 4 CPUs .2 each: one for the trial, one "
                                          "for its learner process .threaded.., and this machine's training runtime "
                                          "has 2: set concurrent to 1"):
        make_plan("Basic", lr="loguniform(1e-4, 1e-3)", trials=4, threaded=True, concurrent=2)


def test_a_trials_env_runners_count_among_the_cpus(monkeypatch):
    """A trial's run samples in its env runners, each holding a CPU beside the trial's own: the default runs as
    many trials at once as fit, a larger concurrent is refused, and a trial that cannot fit at all says what to
    give up."""
    monkeypatch.setenv("UNITY_NB_CPUS", "4")
    assert make_plan("Basic", lr="loguniform(1e-4, 1e-3)", trials=4, num_env_runners=1).concurrent == 2
    assert make_plan("Basic", num_env_runners=Space("choice", (0, 3)), trials=4).concurrent == 1  # its largest
    with pytest.raises(ConfigError, match="sweep: concurrent 3 trials need 6 CPUs .2 each: one for the trial, 1 for "
                                          "its env runner., and this machine's training runtime has 4: set "
                                          "concurrent to 2, or sweep on a Ray cluster"):
        make_plan("Basic", lr="loguniform(1e-4, 1e-3)", trials=4, num_env_runners=1, concurrent=3)
    with pytest.raises(ConfigError, match="sweep: concurrent 1 trial needs 5 CPUs .5 each: one for the trial, 3 for "
                                          "its env runners, one for its learner process .threaded.., .* has 4: give "
                                          "fewer num_env_runners or leave threaded out"):
        make_plan("Basic", lr="loguniform(1e-4, 1e-3)", trials=4, num_env_runners=3, threaded=True)


@pytest.mark.parametrize("settings, message", [
    ({"lr": "3e-4"}, "nothing to search"),
    ({"learning_rat": "loguniform(1e-4, 1e-3)"}, "learning_rat: not a setting"),
    ({"scene": "choice('Basic', '3DBall')", "lr": "loguniform(1e-4, 1e-3)"}, "scene cannot be swept"),
    ({"lr": "__import__('os')", "gamma": "uniform(0.9, 0.99)"}, "lr must be a number"),
    ({"backend": "choice('local', 'sagemaker')"}, "backend cannot be swept"),
    ({"num_epochs": "choice(0, 2)"}, "num_epochs choice(0, 2) can draw 0, which is refused: config: num_epochs must be"),
    ({"gamma": "uniform(0.9, 1.5)"}, "gamma uniform(0.9, 1.5) can draw 1.5, which is refused"),
    ({"lr": "loguniform(1e-4, 1e-3)", "trials": 0}, "trials must be a whole number >= 1, got 0"),
    ({"lr": "loguniform(1e-4, 1e-3)", "trials": "8"}, "trials must be a whole number >= 1, got '8'"),
    ({"lr": "loguniform(1e-4, 1e-3)", "scheduler": "hyperband"}, "scheduler must be one of fifo, asha, median, pbt"),
    ({"hidden_units": "choice(32, 64)", "scheduler": "pbt"}, "hidden_units cannot change in a fork (the checkpoint's"),
    ({"lr": "loguniform(1e-4, 1e-3)", "scheduler": "pbt", "trials": 1}, "PBT needs at least 2 trials"),
    ({"lr": "loguniform(1e-4, 1e-3)", "metric": "wins"}, "metric 'wins' is not a figure the runs record"),
    ({"lr": "loguniform(1e-4, 1e-3)", "metric_mode": "up"}, "metric_mode must be 'max' or 'min'"),
    ({"lr": "loguniform(1e-4, 1e-3)", "concurrent": 0}, "concurrent must be a whole number >= 1"),
    ({"lr": "loguniform(1e-4, 1e-3)", "backend": "sagemaker"}, "on SageMaker it is not supported yet"),
    ({"num_epochs": "choice(1, 2)", "algorithm": "DQN"}, "num_epochs cannot be swept with DQN: it is used by PPO, "
                                                          "APPO, IMPALA only"),
    ({"scene": "3DBall", "clip_param": "uniform(0.1, 0.3)", "algorithm": "SAC"}, "clip_param cannot be swept with SAC"),
])
def test_bad_sweeps_are_refused_by_name(settings, message):
    scene = settings.pop("scene", "Basic")
    with pytest.raises(ConfigError) as caught:
        make_plan(scene, **settings)
    assert message in str(caught.value), str(caught.value)


SWEEP_YAML = """\
scene: 3DBall
steps: 20000
gamma: 0.98
sweep:
  trials: 6
  scheduler: median
  concurrent: 1
  search:
    lr: loguniform(1e-4, 3e-3)
    num_epochs: choice(3, 8)
"""


def test_a_yaml_sweep_section_gives_the_options_and_spaces_and_flags_win(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP_YAML)
    plan = make_plan(None, config=str(path))
    assert (plan.trials, plan.scheduler, plan.concurrent) == (6, "median", 1)
    assert plan.base.scene == "3DBall" and plan.base.steps == 20000 and plan.base.gamma == 0.98
    assert plan.spaces == {"lr": Space("loguniform", (1e-4, 3e-3)), "num_epochs": Space("choice", (3, 8))}
    # given as arguments (flags): they win over the file, setting by setting
    plan = make_plan("Basic", config=str(path), trials=2, lr="uniform(1e-4, 2e-4)", steps=3000)
    assert plan.trials == 2 and plan.scheduler == "median" and plan.base.scene == "Basic" and plan.base.steps == 3000
    assert plan.spaces["lr"] == Space("uniform", (1e-4, 2e-4)) and plan.spaces["num_epochs"] == Space("choice", (3, 8))
    # the same as a cell's parsed YAML
    import yaml

    assert make_plan(None, config=yaml.safe_load(SWEEP_YAML)).spaces == make_plan(None, config=str(path)).spaces
    # a run cannot be trained from it: it says where a sweep starts
    with pytest.raises(ConfigError, match="a `sweep:` section starts a sweep, not one run: use %%unity_sweep"):
        ut.make_config(config=str(path))


@pytest.mark.parametrize("section, message", [
    ("sweep: 8", "sweep: expected the sweep's options (trials, scheduler"),
    ("sweep:\n  trails: 8", "sweep: unknown option 'trails'; the options are trials"),
    ("sweep:\n  lr: loguniform(1e-4, 3e-3)", "unknown option 'lr'; the options are"),
    ("sweep:\n  search: [lr]", "sweep: search: expected each swept setting with its space"),
    ("sweep:\n  search:\n    lr: 3e-4", "sweep: search: lr: '3e-4' is not a search space"),
    ("sweep:\n  search:\n    lr: normal(0, 1)", "sweep: search: lr: 'normal(0, 1)': normal() is not a search space"),
    ("sweep:\n  trials: 0\n  search:\n    lr: loguniform(1e-4, 3e-3)", "trials must be a whole number >= 1"),
    ("sweep:\n  scheduler: hyperband\n  search:\n    lr: loguniform(1e-4, 3e-3)", "scheduler must be one of"),
    ("sweep:\n  search:\n    colour: choice(1, 2)", "sweep: colour: not a setting"),
])
def test_bad_yaml_sweep_sections_are_refused_by_name(tmp_path, section, message):
    path = tmp_path / "bad.yaml"
    path.write_text("scene: Basic\n" + section + "\n")
    with pytest.raises(ConfigError) as caught:
        make_plan(None, config=str(path))
    assert message in str(caught.value), str(caught.value)
    out = subprocess.run([sys.executable, "-m", "unity_nb.cli", "sweep", "--config", str(path), "--runs-dir",
                          str(tmp_path / "runs")], capture_output=True, text=True)
    assert out.returncode != 0 and message in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert not (tmp_path / "runs").exists()


def test_the_panels_sweep_tab_searches_what_it_names_and_fixes_the_rest_from_the_train_tab():
    from unity_nb.notebook.panel import Panel

    panel = Panel("Basic")
    panel.lr.value, panel.gamma.value, panel.steps.value = 1e-3, 0.97, 5000
    panel.search.value = "lr: loguniform(1e-4, 3e-3)\nnum_epochs: choice(2, 4)"
    panel.trials.value, panel.scheduler.value = 3, "median"
    plan = panel.sweep_plan()
    assert plan.spaces == {"lr": Space("loguniform", (1e-4, 3e-3)), "num_epochs": Space("choice", (2, 4))}
    assert (plan.trials, plan.scheduler, plan.base.gamma, plan.base.steps) == (3, "median", 0.97, 5000)
    assert not panel.sweep_button.disabled and panel.sweep_error.value == ""
    for text, message in [("lr: 3e-4", "search: lr: '3e-4' is not a search space"),
                          ("lr: normal(0, 1)", "normal() is not a search space"),
                          ("- lr", "search: expected each swept setting with its space"),
                          ("colour: choice(1, 2)", "sweep: colour: not a setting"),
                          ("lr: [1", "search: not valid YAML at line")]:
        panel.search.value = text
        assert panel.sweep_button.disabled and message in html.unescape(panel.sweep_error.value), \
            (text, panel.sweep_error.value)
    panel.search.value = "lr: loguniform(1e-4, 3e-3)"
    panel.backend.value = "Amazon SageMaker (instances below)"
    panel.widget.selected_index = 1  # the Sweep tab checks again what the Train tab changed
    assert "on SageMaker it is not supported yet" in html.unescape(panel.sweep_error.value)


def test_a_sweep_on_a_cluster_that_cannot_be_reached_starts_nothing(tmp_path):
    from unity_nb.train.local import ClusterUnreachable
    from unity_nb.processes import free_port

    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(ClusterUnreachable, match=f"cannot reach a Ray cluster at {address}"):
        ut.sweep("Basic", runs_dir=tmp_path, lr="loguniform(1e-4, 1e-3)", address=address, trials=2)
    assert not list(tmp_path.iterdir())


def test_the_command_reads_spaces_in_the_setting_flags_and_refuses_bad_ones(tmp_path):
    command = [sys.executable, "-m", "unity_nb.cli", "sweep", "Basic", "--runs-dir", str(tmp_path)]
    for args, message in [(["--lr", "normal(0, 1)"], "argument --lr: 'normal(0, 1)': normal() is not a search space"),
                          (["--lr", "fast"], "argument --lr: expected a number, got 'fast'"),
                          (["--lr", "1e-3", "--trials", "0"], "argument --trials: must be at least 1, got 0"),
                          (["--lr", "1e-3"], "nothing to search"),
                          (["--lr", "loguniform(1e-4,1e-3)", "--scheduler", "hyperband"], "argument --scheduler: invalid choice")]:
        out = subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)
        assert out.returncode != 0 and message in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)
    assert not list(tmp_path.iterdir())  # nothing was started


def test_a_sweep_folder_lists_its_trials_and_picks_the_best(recorded_runs, tmp_path):
    """A sweep's folder as its driver writes it, around two recorded runs (no Ray)."""
    root = tmp_path / "runs"
    good, poor = recorded_runs(root=root).run, recorded_runs(root=root, lr=1e-4).run
    (poor.path / "metrics.jsonl").write_text((poor.path / "metrics.jsonl").read_text().replace(
        '"episode_return_mean": 0.9', '"episode_return_mean": 0.1'))
    folder = root / "sweep-Basic-20261203-000000-abcd"
    (folder / "logs").mkdir(parents=True)
    plan = make_plan("Basic", lr="loguniform(1e-4, 1e-3)", trials=2, concurrent=1)
    (folder / "sweep.json").write_text(json.dumps(plan.to_dict()))
    (folder / "status.json").write_text(json.dumps({"state": "finished"}))
    (folder / "trials.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"trial": "t1", "run": good.id, "settings": {"lr": 1e-3}},
        {"trial": "t2", "run": poor.id, "settings": {"lr": 1e-4}},
        {"trial": "t2", "run": poor.id, "stopped_early": True}, {"trial": "t3"}, "{half a line"]))
    sweep = find_sweep(folder.name, root)
    table = sweep.table()
    assert list(table["run"]) == [good.id, poor.id] and list(table["lr"]) == [1e-3, 1e-4]
    assert list(table["stopped_early"]) == [False, True]
    assert sweep.best().id == good.id and sweep.state == "finished"
    assert "<table" in sweep._repr_html_() and good.id in sweep._repr_html_()
    assert [r.id for r in ut.runs(root)] == [good.id, poor.id]  # the sweep's folder is not a run
    with pytest.raises(NotFound, match="no sweep 'nope'"):
        find_sweep("nope", root)
    with pytest.raises(NotFound, match="no sweep"):
        find_sweep("../etc", root)


@pytest.mark.ray
def test_a_sweep_runs_its_trials_as_ordinary_runs(tmp_path):
    sweep = ut.sweep("Basic", runs_dir=tmp_path, lr="loguniform(3e-4, 3e-3)", num_epochs="choice(1, 2)", steps=2000,
                     target_return="off", trials=3, scheduler="asha", concurrent=2)
    sweep.wait(timeout=600)
    assert sweep.state == "finished", (sweep.status, (sweep.path / "logs" / "sweep.log").read_text()[-3000:])
    trials = sweep.trials()
    assert len(trials) == 3 and len({t["run"] for t in trials}) == 3
    for trial in trials:
        run = ut.get_run(trial["run"], tmp_path)  # an ordinary run of the store
        assert run.config.lr == pytest.approx(trial["settings"]["lr"]) and 3e-4 <= run.config.lr <= 3e-3
        assert run.config.num_epochs in (1, 2) and run.latest_checkpoint() is not None
        assert run.state == ("stopped" if trial.get("stopped_early") else "finished"), (trial, run.status)
    best = sweep.best()
    assert best.last()["episode_return_mean"] == max(r.last()["episode_return_mean"] for r in sweep.runs())
    assert best.evaluate(episodes=3).mean is not None
    assert len(sweep.table()) == 3


@pytest.mark.ray
def test_a_stopped_sweep_resumes_its_trials_where_they_were(tmp_path):
    """Stop a sweep while its first trial trains: the trial's run checkpoints and stops (not "stopped early"), the
    other trials have not started; resumed, the same run goes on and the rest start, and the sweep finishes."""
    sweep = ut.sweep("Basic", runs_dir=tmp_path, lr="loguniform(3e-4, 3e-3)", steps=4000, target_return="off",
                     trials=3, scheduler="fifo", concurrent=1)
    deadline = time.monotonic() + 300
    while not (sweep.runs() and sweep.runs()[0].last().get("env_steps")):
        assert time.monotonic() < deadline and sweep.state not in ("failed", "finished"), sweep.status
        time.sleep(0.3)
    assert ut.stop(sweep.id, tmp_path) is not None and sweep.state == "stopped"
    [first] = sweep.runs()
    stopped_at = first.last()["env_steps"]
    assert first.state == "stopped" and first.latest_checkpoint() is not None and stopped_at < 4000
    assert not sweep.trials()[0].get("stopped_early")
    with pytest.raises(NotPossible, match="still"):  # a resumed sweep cannot be resumed twice
        ut.resume(sweep.id, tmp_path).resume()
    sweep.wait(timeout=600)
    assert sweep.state == "finished", (sweep.status, sweep.log_path.read_text()[-3000:])
    trials = sweep.trials()
    assert len(trials) == 3 and trials[0]["run"] == first.id and trials[0].get("resumed")
    assert [t["trial"] for t in trials] == sorted({t["trial"] for t in trials})  # one run per trial
    for run in sweep.runs():
        assert run.state == "finished" and run.last()["env_steps"] >= 4000
    steps = [e["env_steps"] for e in first.events() if e.get("event") == "iteration"]
    assert steps == sorted(steps) and any(s > stopped_at for s in steps)  # it went on, it did not start over
    with pytest.raises(NotPossible, match="has finished: every trial ended"):
        sweep.resume()


def test_resume_and_stop_take_a_sweeps_id_and_refuse_what_cannot_be_done(tmp_path, capsys):
    folder = tmp_path / "sweep-Basic-20261203-000000-abcd"
    (folder / "logs").mkdir(parents=True)
    (folder / "sweep.json").write_text(json.dumps(make_plan("Basic", lr="loguniform(1e-4, 1e-3)", trials=2,
                                                            concurrent=1).to_dict()))
    (folder / "status.json").write_text(json.dumps({"state": "finished"}))
    with pytest.raises(NotPossible, match="has finished"):
        ut.resume(folder.name, tmp_path)
    with pytest.raises(ConfigError, match="steps: .* is a sweep; its trials keep the budget"):
        ut.resume(folder.name, tmp_path, steps=10)
    assert ut.stop(folder.name, tmp_path).state == "finished"  # stopping an ended sweep does nothing
    assert not (folder / "stop").exists()
    out = subprocess.run([sys.executable, "-m", "unity_nb.cli", "resume", folder.name, "--runs-dir", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode != 0 and "has finished: every trial ended" in out.stderr and "Traceback" not in out.stderr
    with pytest.raises(NotFound):  # a folder that only looks like a sweep is not one
        ut.resume("sweep-nothing-here", tmp_path)


def _synthetic_sweep(root, rows):
    """A sweep folder and its trials' run folders as the driver and the runs write them (no Ray): ``rows`` are
    (settings, final return) per trial; each run climbs to its return over 3 iterations."""
    from unity_nb.train.store import RunStore

    store = RunStore(root)
    plan = make_plan("Basic", lr="loguniform(1e-4, 3e-3)", num_epochs="choice(1, 2, 4)", trials=len(rows),
                     concurrent=1)
    folder = root / "sweep-Basic-20261203-000000-beef"
    (folder / "logs").mkdir(parents=True)
    (folder / "sweep.json").write_text(json.dumps(plan.to_dict()))
    (folder / "status.json").write_text(json.dumps({"state": "finished"}))
    records = []
    for i, (settings, final) in enumerate(rows):
        run = store.create(plan.base.replace(**settings), run_id=f"Basic-20261203-0000{i:02d}-beef")
        writer = run.writer()
        writer.set_state("running")
        for k in (1, 2, 3):
            writer.emit({"event": "iteration", "iteration": k, "env_steps": 500 * k,
                         "episode_return_mean": round(final * k / 3, 4), "episodes_window": 10 * k})
        writer.set_state("finished")
        writer.close()
        records.append({"trial": f"t{i}", "run": run.id, "settings": settings})
    (folder / "trials.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    return Sweep(folder)


def test_the_sweep_view_shows_curves_a_sortable_table_coordinates_and_promotes_the_best(tmp_path):
    from unity_nb.notebook.sweep_view import SweepView

    sweep = _synthetic_sweep(tmp_path, [({"lr": 1e-3, "num_epochs": 2}, 0.9), ({"lr": 2e-4, "num_epochs": 1}, 0.3)])
    view = SweepView(sweep, start=False)
    assert list(view.table()["run"]) == [r.id for r in sweep.runs()]  # best first (episode_return_mean, max)
    view.sort.value, view.order.value = "lr", False
    assert list(view.table()["lr"]) == [2e-4, 1e-3] and "<table" in view.table_html.value
    series = view.chart.series
    assert series["x"] == [500, 1000, 1500, 500, 1000, 1500]
    first, second = (r.id for r in sweep.runs())
    assert series[first][:3] == [0.3, 0.6, 0.9] and series[first][3:] == [None] * 3
    assert [line["key"] for line in view.chart.panels[0]["lines"]] == [first, second]
    assert view.coords.value[:4] == b"\x89PNG" and view.draws == 1
    assert view.importance() is None and "shown once 3 trials" in view.importance_html.value
    assert view.promote().id == first and view.promoted.id == first and first in view.message.value


def test_importance_ranks_a_setting_that_does_not_matter_below_one_that_does(tmp_path):
    """A planted setting: the result follows lr alone; num_epochs is drawn but changes nothing."""
    import math
    import random

    from unity_nb.notebook.sweep_view import SweepView

    draw = random.Random(0)
    rows = []
    for _ in range(12):
        lr = 10 ** draw.uniform(-4, math.log10(3e-3))
        rows.append(({"lr": lr, "num_epochs": draw.choice([1, 2, 4])}, round(1 - abs(math.log10(lr) + 3) / 2, 4)))
    view = SweepView(_synthetic_sweep(tmp_path, rows), start=False)
    found = view.importance()
    assert found["lr"] > 0.8 > found["num_epochs"], found
    assert "which setting mattered" in view.importance_html.value and "<code>lr</code>" in view.importance_html.value
