"""The magics, the dashboard, the panel and the Python API, in a real IPython kernel."""

from __future__ import annotations

import json

import pytest

from kernel import Kernel

MAGICS = ["unity_envs", "unity_train", "unity_runs", "unity_stop", "unity_eval", "unity_video", "unity_dashboard",
          "unity_compare", "unity_panel", "unity_doctor", "unity_debug"]

pytestmark = pytest.mark.kernel  # every test talks to a real IPython kernel; those that train are also `ray`


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """One kernel for the module, with the magics loaded and runs in a temporary folder."""
    root = tmp_path_factory.mktemp("nb")
    k = Kernel(root)
    k.ok("%load_ext unity_nb")
    k.ok(f"%config UnityMagics.runs_dir = {str(root / 'runs')!r}")
    yield k
    k.run("import unity_nb; [r.stop() for r in unity_nb.runs() if r.state in ('starting', 'running')]")
    k.close()


def usage_error(kernel, code) -> str:
    reply = kernel.run(code)
    assert reply.status == "error" and reply.error["ename"] == "UsageError", reply.text
    return reply.error["evalue"]


@pytest.mark.parametrize("name", MAGICS)
def test_every_magic_has_help(kernel, name):
    reply = kernel.ok(f"%{name}?")
    text = reply.payload[0]["data"]["text/plain"]
    assert f"%{name}" in text and "options:" in text or "positional arguments:" in text, text


def test_train_help_names_every_setting(kernel):
    text = kernel.ok("%unity_train?").payload[0]["data"]["text/plain"]
    for flag in ("--steps", "--lr", "--gamma", "--train-batch-size", "--hidden-units", "--num-env-runners",
                 "--address", "--param", "--wait", "learning rate"):
        assert flag in text


def test_envs_lists_scenes_and_builds(kernel, tmp_path):
    from unity_nb.envs import player_file

    build_dir = tmp_path / "builds"
    build_dir.mkdir()
    (build_dir / "MyGame.x86_64").symlink_to(player_file("Basic"))
    kernel.ok(f"envs = %unity_envs --path {build_dir}")
    rows = json.loads(kernel.ok("envs.to_json(orient='records')").value.strip("'"))
    names = {r["name"]: r for r in rows}
    assert {"Basic", "3DBall", "GridWorld"} <= set(names)
    assert names["3DBall"]["agents"] == 12 and names["MyGame"]["kind"] == "Unity build"
    assert "no such folder" in usage_error(kernel, "%unity_envs --path /no/such/dir")


@pytest.mark.parametrize("line, message", [
    ("%unity_train Basic --bogus 3", "unrecognized arguments: --bogus 3"),
    ("%unity_train Basic --lr abc", "argument --lr: expected a number, got 'abc'"),
    ("%unity_train Basic --steps 2.5", "argument --steps: expected a whole number, got '2.5'"),
    ("%unity_train Basic --steps 0", "steps must be >= 1, got 0"),
    ("%unity_train Basic --gamma 2", "gamma must be <= 1, got 2.0"),
    ("%unity_train Basic --minibatch-size 512 --train-batch-size 256", "minibatch_size (512) must not exceed"),
    ("%unity_train Basic --algorithm SAC", "SAC does not handle the discrete actions of Basic"),
    ("%unity_train NoSuchScene", "neither a built-in scene"),
    ("%unity_train Basic --config /no/such.yaml", "config file '/no/such.yaml' does not exist"),
    ("%unity_train Basic --param x", "expected NAME=VALUE"),
    ("%unity_train Basic --var 1run", "--var '1run': not a Python variable name"),
    ("%unity_train Basic --param nope=1", "'nope' is not a Basic parameter"),
    ("%unity_train ./missing/Game.x86_64", "does not exist"),
    ("%unity_stop NoSuch-20260101-000000-0000", "no run 'NoSuch-20260101-000000-0000'"),
    ("%unity_eval ../../etc", "is not a run id"),
    ("%unity_video NoSuch-20260101-000000-0000", "no run 'NoSuch-20260101-000000-0000'"),
    ("%unity_dashboard NoSuch", "no run 'NoSuch'"),
    ("%unity_compare NoSuch", "no run 'NoSuch'"),
    ("%unity_eval --episodes -3", "argument --episodes: must be at least 1"),
    ("%unity_video --max-frames many", "argument --max-frames: expected a whole number"),
    ("%unity_panel NoScene", "scene must be a built-in scene"),
    ("%unity_train Basic --target-return soon", "argument --target-return: expected a number or 'off', got 'soon'"),
    ("%unity_train Basic --return-window 0", "return_window must be >= 1, got 0"),
    ("%unity_train Basic --confirm-episodes 0", "confirm_episodes must be >= 1 when a target_return is set"),
    ("%unity_train Basic --lr-schedule cosine", "argument --lr-schedule: invalid choice: 'cosine'"),
    ("%unity_train Basic --init-path /no/such/run", "init_path '/no/such/run' does not exist"),
    ("%unity_fork NoSuch-20260101-000000-0000 --lr 1e-4", "no run 'NoSuch-20260101-000000-0000'"),
    ("%unity_fork NoSuch --lr abc", "argument --lr: expected a number, got 'abc'"),
    ("%unity_fork NoSuch --hidden-units 64 --var 2x", "--var '2x': not a Python variable name"),
    ("%unity_play Basic --yourself --episodes 3", "--episodes: only random play takes them"),
    ("%unity_play Basic --yourself --key ArrowLeft=7", "keys['ArrowLeft']: action 7 is not one of Basic's actions"),
    ("%unity_play Basic --yourself --demo a.demo --no-record", "--demo and --no-record: give one of them"),
    ("%unity_play Basic --opponent idle", "--opponent: only --yourself takes them"),
    ("%unity_episode no_such.demo", "no_such.demo"),
])
def test_bad_input_names_the_argument(kernel, line, message):
    assert message in usage_error(kernel, line)


def test_unity_debug_shows_the_kits_tracebacks_then_one_line_again(kernel):
    assert kernel.ok("%unity_debug").value == "False"
    kernel.ok("%unity_debug on")
    reply = kernel.run("%unity_train Basic --steps 0")
    assert reply.status == "error" and reply.error["ename"] == "ConfigError", reply.text
    assert "steps must be >= 1, got 0" in reply.error["evalue"] and len(reply.error["traceback"]) > 1
    kernel.ok("%unity_debug off")
    assert "steps must be >= 1, got 0" in usage_error(kernel, "%unity_train Basic --steps 0")
    assert "invalid choice: 'maybe'" in usage_error(kernel, "%unity_debug maybe")


def test_yaml_cell_that_does_not_parse_gives_line_and_column(kernel):
    text = usage_error(kernel, "%%unity_train\nscene: Basic\nlr: [0.1\nsteps: 10\n")
    assert "%%unity_train cell: not valid YAML at line 3" in text and "column" in text
    text = usage_error(kernel, "%%unity_train\nscene: Basic\nlamda: 0.9\n")
    assert "unknown setting 'lamda'" in text
    text = usage_error(kernel, "%%unity_train\nbehaviors:\n  Basic:\n    behavioral_cloning: {demo_path: a.demo}\n")
    assert "behavioral_cloning.demo_path" in text and "a.demo does not exist: record one with `unity-nb demo record`" in text
    text = usage_error(kernel, "%%unity_train\nbehaviors:\n  Basic:\n    reward_signals:\n      gail: {demo_path: a.demo}\n")
    assert "gail.demo_path" in text and "a.demo does not exist" in text
    text = usage_error(kernel, "%%unity_train\nbehaviors:\n  Basic:\n    self_play: {window: 10}\n")
    assert "self_play needs two teams or more, and the Basic scene has none" in text
    text = usage_error(kernel, "%%unity_train\nbehaviors:\n  Basic:\n    trainer_type: ppo\n    hyperparameters:\n      lamda: 0.9\n")
    assert "behaviors.Basic.hyperparameters: unknown key 'lamda'" in text
    # a sweep's cell: its section's mistakes by name; a run's cell points to it
    text = usage_error(kernel, "%%unity_sweep\nscene: Basic\nsweep:\n  trails: 4\n")
    assert "sweep: unknown option 'trails'; the options are trials" in text
    text = usage_error(kernel, "%%unity_sweep\nscene: Basic\nsweep:\n  search:\n    lr: 3e-4\n")
    assert "sweep: search: lr: '3e-4' is not a search space" in text
    assert "expected YAML settings" in usage_error(kernel, "%%unity_sweep\n- lr\n")
    text = usage_error(kernel, "%%unity_train\nscene: Basic\nsweep:\n  trials: 4\n")
    assert "a `sweep:` section starts a sweep, not one run: use %%unity_sweep" in text


@pytest.mark.ray
def test_cell_form_reads_unity_trainer_yaml_and_stop_twice(kernel):
    cell = ("%%unity_train --no-dashboard --steps 100000 --var cell_run\n"
            "behaviors:\n  Basic:\n    trainer_type: ppo\n    hyperparameters:\n      learning_rate: 0.002\n"
            "      batch_size: 64\n      buffer_size: 256\n    max_steps: 5000\n")
    kernel.ok(cell)
    config = json.loads(kernel.ok("import json; json.dumps(cell_run.config.to_dict())").value.strip("'"))
    assert config["scene"] == "Basic" and config["lr"] == 0.002 and config["minibatch_size"] == 64
    assert config["steps"] == 100000  # the flag wins over the YAML's max_steps
    first = kernel.ok("%unity_stop").value  # no id: the latest running run
    assert "Run(" in first and ("stopped" in first or "finished" in first)
    again = kernel.ok("%unity_stop " + json.loads(kernel.ok("json.dumps(cell_run.id)").value.strip("'")))
    assert "Run(" in again.value  # stopping an ended run does nothing, quietly
    assert "no running run to stop" in usage_error(kernel, "%unity_stop")


@pytest.mark.ray
def test_train_line_form_dashboard_follows_the_run(kernel):
    kernel.ok("import matplotlib; backend_before = matplotlib.get_backend()")
    reply = kernel.ok("run = %unity_train Basic --steps 1500 --target-return 2\nrun")
    # the dashboard's live figure does not switch the user's matplotlib backend
    assert kernel.ok("matplotlib.get_backend() == backend_before").value == "True"
    shown = [d for d in reply.displays() if "application/vnd.jupyter.widget-view+json" in d["data"]]
    assert shown, "the dashboard widget was not displayed"
    bundle = shown[0]["data"]
    assert "image/png" in bundle, "no static picture for front-ends without widgets"
    assert bundle["text/plain"].startswith("Dashboard(run=")
    assert "Run('Basic-" in reply.value
    # the kernel stays responsive while training goes on
    state = kernel.ok("run.state").value
    assert kernel.ok("21 * 2").value == "42"
    assert state in ("'starting'", "'running'", "'finished'")
    kernel.ok("from unity_nb.notebook import Dashboard\n"
              "dash = Dashboard(run)\n"
              "dash.wait(300)")
    check = ("import math\n"
             "m = run.metrics\n"
             "xs, ys = dash.lines['episode_return_mean'].get_data()\n"
             "same_y = all((math.isnan(a) and b is None) or a == b for a, b in zip(ys, [None if v != v else v for v in m.episode_return_mean]))\n"
             "(run.state, len(dash.points), len(m), list(xs) == list(m.env_steps), same_y, dash.points_label.value,\n"
             " dash.stop_button.disabled, round(dash.progress.value, 3))")
    state, points, rows, same_x, same_y, label, disabled, progress = eval(kernel.ok(check).value)
    assert state == "finished" and points == rows >= 3 and same_x and same_y and label == str(rows)
    assert disabled and progress == 1.0


@pytest.mark.ray
def test_stop_pressed_twice_and_after_the_end(kernel):
    kernel.ok("long = %unity_train Basic --steps 200000 --target-return 2 --no-dashboard\n"
              "d2 = Dashboard(long, start=False)\n"
              "d2.stop_button.click(); d2.stop_button.click(); d2.stop()")
    message = kernel.ok("d2.message.value").value
    assert "stop already requested" in message
    kernel.ok("long.wait(120); d2.update(); d2.stop()")
    assert "already stopped" in kernel.ok("d2.message.value").value
    assert kernel.ok("long.state").value == "'stopped'"


@pytest.mark.ray
def test_dashboard_reattaches_after_kernel_restart(kernel):
    run_id = kernel.ok("run.id").value.strip("'")
    points = int(kernel.ok("len(run.metrics)").value)
    kernel.restart()
    kernel.ok("%load_ext unity_nb")
    kernel.ok("%config UnityMagics.runs_dir = 'runs'")
    reply = kernel.ok(f"d = %unity_dashboard {run_id}\nd")
    assert f"points={points}" in reply.text and "state='finished'" in reply.text
    latest = kernel.ok("%unity_dashboard").text  # no id: the latest run
    assert "Dashboard(run=" in latest


@pytest.mark.ray
def test_no_widget_library_falls_back_to_pictures(kernel):
    # ipympl missing (or no widget front-end): the dashboard still works, as a static image
    reply = kernel.ok("import sys; sys.modules['ipympl'] = None; sys.modules['ipympl.backend_nbagg'] = None\n"
                      "import unity_nb.train as ut\nfrom unity_nb.notebook import Dashboard\n"
                      "d3 = Dashboard(ut.runs()[0])\nd3")
    data = reply.displays()[-1]["data"]
    assert "image/png" in data and d3_has_no_canvas(kernel)
    kernel.ok("del sys.modules['ipympl'], sys.modules['ipympl.backend_nbagg']")


def d3_has_no_canvas(kernel) -> bool:
    return kernel.ok("d3.canvas is None").value == "True"


@pytest.mark.ray
def test_runs_table_and_compare(kernel):
    rows = json.loads(kernel.ok("t = %unity_runs\nt.to_json(orient='records')").value.strip("'"))
    assert len(rows) >= 2 and {"id", "state", "env_steps", "return_mean"} <= set(rows[0])
    reply = kernel.ok("c = %unity_compare\nc")
    assert "image/png" in reply.displays()[-1]["data"]
    assert int(kernel.ok("len(c.table)").value) == min(3, len(rows))
    assert int(kernel.ok("len(c.ax.get_lines())").value) == min(3, len(rows))
    labels = kernel.ok("[t.get_text() for t in c.ax.get_legend().get_texts()]").value
    assert "steps=" in labels  # the runs differ in steps: the legend says so


@pytest.mark.ray
def test_panel_validates_trains_and_compares(kernel):
    kernel.ok("p = %unity_panel\np")
    kernel.ok("p.minibatch_size.value = 1024")
    assert kernel.ok("p.train_button.disabled").value == "True"
    assert "minibatch_size (1024) must not exceed train_batch_size" in kernel.ok("p.error.value").value
    kernel.ok("p.minibatch_size.value = 128; p.steps.value = 1000")
    assert kernel.ok("p.train_button.disabled").value == "False"
    kernel.ok("p.backend.value = 'Ray cluster (address below)'")
    assert "address" in kernel.ok("p.error.value").value and kernel.ok("p.train_button.disabled").value == "True"
    kernel.ok("p.backend.value = 'this machine (local Ray)'; p.lr.value = 0.002")
    kernel.ok("p.train_button.click()")
    assert kernel.ok("p.error.value").value == "''"
    assert kernel.ok("len(p.runs), len(p.dashboards)").value == "(1, 1)"
    cfg = kernel.ok("p.runs[0].config.lr, p.runs[0].config.steps").value
    assert cfg == "(0.002, 1000)"
    kernel.ok("p.dashboards[0].wait(300)")
    kernel.ok("p.compare([p.runs[0].id])")
    assert kernel.ok("len(p.comparison.ax.get_lines())").value == "1"


@pytest.mark.ray
def test_python_api_run_object(kernel, trained_basic):
    store = str(trained_basic.path.parent)
    reply = kernel.ok(f"import unity_nb\nr = unity_nb.get_run({trained_basic.id!r}, runs_dir={store!r})\n"
                      "type(r.metrics).__name__, r.state, callable(unity_nb.train)")
    assert reply.value == "('DataFrame', 'finished', True)"
    # the trained policy on other scene parameters: the large goal now at the start's left
    far = eval(kernel.ok("r.evaluate(episodes=5, params={'large_goal': 3, 'small_goal': 17}).table()").value)
    assert far["episodes"] == 5 and far["mean"] < 0.9
    # a pathlib.Path is as good as a string for a build
    assert kernel.ok("import pathlib; unity_nb.make_config(pathlib.Path(unity_nb.envs.player_file('Basic'))).scene"
                     ".endswith('.x86_64')").value == "True"


@pytest.mark.ray
def test_eval_and_video_of_a_trained_run(kernel, trained_basic):
    store = str(trained_basic.path.parent)
    reply = kernel.ok(f"ev = %unity_eval {trained_basic.id} --episodes 20 --runs-dir {store}\nev")
    assert "20 episodes" in reply.value
    table = eval(kernel.ok("ev.table()").value)
    assert table["episodes"] == 20 and table["min"] <= table["mean"] <= table["max"] and table["mean"] > 0.8
    reply = kernel.ok(f"v = %unity_video {trained_basic.id} --max-frames 60 --runs-dir {store}\nv")
    html = reply.displays()[-1]["data"]["text/html"]
    assert "<video" in html and "data:video/mp4;base64," in html


def test_video_of_a_scene_with_random_actions_and_gif(kernel):
    html = kernel.ok("%unity_video 3DBall --max-frames 20").displays()[-1]["data"]["text/html"]
    assert "video/mp4" in html
    html = kernel.ok("%unity_video Basic --max-frames 10 --gif").displays()[-1]["data"]["text/html"]
    assert "image/gif" in html


def test_play_yourself_and_the_scrubber_are_widgets(kernel):
    reply = kernel.ok("game = %unity_play Pong --yourself --no-record\ngame")
    assert "application/vnd.jupyter.widget-view+json" in reply.displays()[-1]["data"]
    assert kernel.ok("game.session.step(['ArrowUp'])['step']").value == "1"
    assert kernel.ok("game.title").value.endswith("the other agents: the scene's scripted player\"")
    kernel.ok("game.close()")
    reply = kernel.ok("%unity_episode Basic --max-steps 4")
    assert "application/vnd.jupyter.widget-view+json" in reply.displays()[-1]["data"]
    assert kernel.ok("len(_.steps), len(_.frames)").value == "(4, 4)"


def test_video_of_a_run_with_no_checkpoint(kernel):
    kernel.ok("from unity_nb.train import RunStore, TrainConfig\n"
              "empty = RunStore(get_ipython().magics_manager.registry['UnityMagics'].runs_dir).create(TrainConfig().resolved())")
    empty_id = kernel.ok("empty.id").value.strip("'")
    assert "no checkpoint" in usage_error(kernel, f"%unity_video {empty_id}")
    assert "no checkpoint" in usage_error(kernel, f"%unity_eval {empty_id}")


def test_extension_loads_from_ipython_config(tmp_path):
    ipython_dir = tmp_path / "ipython"
    (ipython_dir / "profile_default").mkdir(parents=True)
    (ipython_dir / "profile_default" / "ipython_kernel_config.py").write_text(
        "c.InteractiveShellApp.extensions = ['unity_nb']\n")
    k = Kernel(tmp_path, env={"IPYTHONDIR": str(ipython_dir)})
    try:
        assert "3DBall" in k.ok("%unity_envs").value
    finally:
        k.close()
