"""The server extension's REST API (/unity-nb/api/) in a real jupyter_server, auth on (pytest-jupyter's jp_fetch).

Runs are made through the run store (RunStore.create, RunWriter) as a training process writes
them; nothing trains here. Every route, and the bad input the issue lists: no token, traversal,
absolute paths, NUL bytes, overlong ids, a deleted run, a corrupt metrics line, 1,000 runs,
a read-only store.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest
from pytest_jupyter.jupyter_core import *  # noqa: F401,F403  (fixtures only: this module's tests use them)
from pytest_jupyter.jupyter_server import *  # noqa: F401,F403
from pytest_jupyter.pytest_tornasync import *  # noqa: F401,F403
from tornado.httpclient import HTTPClientError

from unity_nb.train import make_config
from unity_nb.train.store import RunStore


@pytest.fixture(autouse=True)
def _store_setting_restored(monkeypatch):
    # the extension gives kernels its store through UNITY_NB_RUNS; monkeypatch puts it back after each test
    monkeypatch.delenv("UNITY_NB_RUNS", raising=False)


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"unity_nb": True}}}


@pytest.fixture
def api(jp_fetch, jp_asyncio_loop, jp_serverapp):
    """Call the API synchronously: api("runs") -> (status, parsed JSON)."""

    def call(*parts, method="GET", body=None, params=None, headers=None, raw=False):
        kwargs = {"method": method, "params": params, "headers": headers}
        if body is not None or method in ("POST", "PUT"):
            kwargs["body"] = json.dumps(body or {})
        try:
            reply = jp_asyncio_loop.run_until_complete(jp_fetch("unity-nb", "api", *parts, **kwargs))
        except HTTPClientError as err:
            reply = err.response
        data = reply.body if raw else json.loads(reply.body or b"null")
        return reply.code, data

    return call


@pytest.fixture
def store(jp_root_dir) -> RunStore:
    return RunStore(Path(jp_root_dir) / "runs")


def make_run(store: RunStore, run_id: str, iterations: int = 5, state: str | None = "finished", steps: int = 1000,
             pid: int | None = None):
    run = store.create(make_config("Basic", steps=steps), run_id=run_id)
    writer = run.writer()
    if pid is not None:  # "trained" by that process (a stop signals it: never this test's own)
        writer.status["pid"] = pid
    writer.set_state("running")
    for i in range(1, iterations + 1):
        writer.emit({"event": "iteration", "iteration": i, "env_steps": i * 100, "episode_return_mean": 0.1 * i,
                     "episodes_window": 10 * i})
    if state:
        writer.set_state(state)
    writer.close()
    return run


def test_list_runs_newest_first_with_series(api, store):
    make_run(store, "Basic-a", iterations=3)
    time.sleep(0.01)
    make_run(store, "Basic-b", iterations=120)
    code, data = api("runs", params={"points": "20"})
    assert code == 200
    assert [r["id"] for r in data["runs"]] == ["Basic-b", "Basic-a"] and data["total"] == 2
    newest = data["runs"][0]
    assert newest["state"] == "finished" and newest["backend"] == "local" and newest["steps"] == 12000
    assert newest["return_mean"] == pytest.approx(12.0) and newest["step_budget"] == 1000
    assert len(newest["series"]) == 20 and newest["series"][0] == [100, 0.1] and newest["series"][-1] == [12000, 12.0]
    # paginated: one at a time
    code, page = api("runs", params={"limit": "1", "offset": "1"})
    assert [r["id"] for r in page["runs"]] == ["Basic-a"] and page["total"] == 2


def test_a_sweeps_trials_are_grouped_under_it_with_the_best_named(api, store):
    """The page lists the sweeps with a trial on it; each trial's row names its sweep (the sidebar groups them)."""
    from unity_nb.train.sweeps import Sweep, make_plan

    make_run(store, "Basic-alone", iterations=2)
    make_run(store, "Basic-t1", iterations=3)  # last mean return 0.3
    make_run(store, "Basic-t2", iterations=5)  # 0.5: the best
    sweep = Sweep(store.root / "sweep-Basic-20261204-000000-beef")
    sweep.log_path.parent.mkdir(parents=True)
    (sweep.path / "sweep.json").write_text(json.dumps(make_plan("Basic", lr="loguniform(1e-4, 1e-3)", trials=3,
                                                                concurrent=1).to_dict()))
    sweep.write_status({"state": "running", "pid": os.getpid()})
    for trial, run in (("t1", "Basic-t1"), ("t2", "Basic-t2")):
        sweep.record_trial(trial=trial, run=run, settings={"lr": 1e-4})
    code, page = api("runs")
    assert code == 200 and page["total"] == 3  # the sweep's folder is not a run
    assert {r["id"]: r["sweep"] for r in page["runs"]} == {"Basic-alone": None, "Basic-t1": sweep.id,
                                                          "Basic-t2": sweep.id}
    [listed] = page["sweeps"]
    assert listed["id"] == sweep.id and listed["state"] == "running" and listed["runs"] == ["Basic-t1", "Basic-t2"]
    assert listed["best"] == "Basic-t2" and listed["trials"] == 3 and "3 trials of Basic" in listed["about"]
    # a sweep folder being written is left out, the runs stay
    half = Sweep(store.root / "sweep-Basic-20261204-000001-cafe")
    half.log_path.parent.mkdir(parents=True)
    (half.path / "sweep.json").write_text("{half")
    half.record_trial(trial="t3", run="Basic-alone", settings={"lr": 1e-4})
    code, page = api("runs")
    assert code == 200 and [s["id"] for s in page["sweeps"]] == [sweep.id] and len(page["runs"]) == 3


def test_a_refresh_reads_again_only_the_sweeps_whose_trials_moved(api, store, monkeypatch):
    from unity_nb.train.sweeps import Sweep, make_plan

    make_run(store, "Basic-t1", iterations=3)
    make_run(store, "Basic-t2", iterations=5)
    sweep = Sweep(store.root / "sweep-Basic-20261204-000000-beef")
    sweep.log_path.parent.mkdir(parents=True)
    (sweep.path / "sweep.json").write_text(json.dumps(make_plan("Basic", lr="loguniform(1e-4, 1e-3)", trials=3,
                                                                concurrent=1).to_dict()))
    sweep.write_status({"state": "running", "pid": os.getpid()})
    sweep.record_trial(trial="t1", run="Basic-t1", settings={"lr": 1e-4})
    reads = []
    real = Sweep.trials
    monkeypatch.setattr(Sweep, "trials", lambda self: reads.append(self.id) or real(self))
    assert api("runs")[1]["sweeps"][0]["runs"] == ["Basic-t1"]
    assert api("runs")[1]["sweeps"][0]["runs"] == ["Basic-t1"] and len(reads) == 1  # not read again
    sweep.record_trial(trial="t2", run="Basic-t2", settings={"lr": 2e-4})
    assert api("runs")[1]["sweeps"][0]["runs"] == ["Basic-t1", "Basic-t2"] and len(reads) == 2


def test_a_runs_row_shows_its_confirmation_both_ways(api, store):
    """The sidebar shows the confirmation's greedy and sampled means (and an older run's greedy one alone)."""
    check = {"env_steps": 600, "iteration": 6, "target": 0.9, "passed": True, "play": "both",
             "deterministic": {"episodes": 100, "mean": 0.93, "min": 0.93, "max": 0.93, "std": 0.0},
             "sampled": {"episodes": 100, "mean": 0.915, "min": 0.87, "max": 0.93, "std": 0.01}}
    for run_id, confirmation in (("Basic-new", check),
                                 ("Basic-v1", {"env_steps": 600, "passed": True, "episodes": 100, "mean": 0.93,
                                               "min": 0.93, "max": 0.93, "std": 0.0})):
        run = store.create(make_config("Basic"), run_id=run_id)
        writer = run.writer()
        writer.set_state("running")
        writer.set_state("finished", confirmation=confirmation, target_reached=True)
        writer.close()
    code, data = api("runs")
    rows = {r["id"]: r for r in data["runs"]}
    assert rows["Basic-new"]["confirmed"] == {"deterministic": 0.93, "sampled": 0.915}
    assert rows["Basic-v1"]["confirmed"] == {"deterministic": 0.93}


def test_one_run_events_since_offset(api, store):
    run = make_run(store, "Basic-x", iterations=4, state=None)  # this process's pid: "running"
    code, data = api("runs", "Basic-x")
    assert code == 200 and data["run"]["state"] == "running" and data["config"]["scene"] == "Basic"
    assert [e["iteration"] for e in data["events"] if e["event"] == "iteration"] == [1, 2, 3, 4]
    writer = run.writer()
    writer.emit({"event": "iteration", "iteration": 5, "env_steps": 500, "episode_return_mean": 0.5})
    writer.close()
    code, more = api("runs", "Basic-x", params={"since": str(data["next"])})
    assert [e["iteration"] for e in more["events"]] == [5] and more["next"] > data["next"]


def test_corrupt_metrics_line_is_skipped_and_counted(api, store):
    run = make_run(store, "Basic-bad", iterations=2)
    with open(run.events_path, "a") as f:
        f.write("{not json\n")
        f.write(json.dumps({"event": "iteration", "iteration": 3, "env_steps": 300, "episode_return_mean": 0.3}) + "\n")
        f.write("[1, 2]\n")
    code, data = api("runs")
    row = data["runs"][0]
    assert row["skipped_lines"] == 2 and row["iterations"] == 3 and row["series"][-1] == [300, 0.3]
    code, one = api("runs", "Basic-bad")
    assert one["skipped_lines"] == 2 and one["events"][-1]["iteration"] == 3


def test_no_token_is_403_everywhere(api, store):
    make_run(store, "Basic-a")
    no_auth = {"Authorization": ""}
    for parts, method in [(("runs",), "GET"), (("runs", "Basic-a"), "GET"), (("runs", "Basic-a", "stop"), "POST"),
                          (("runs", "Basic-a", "export"), "POST"), (("runs", "Basic-a", "artifacts"), "GET"),
                          (("files", "Basic-a", "export", "x.onnx"), "GET"), (("endpoints",), "GET"),
                          (("endpoints", "8080"), "DELETE"), (("jobs", "1"), "GET"), (("quickstart",), "GET"),
                          (("runs", "Basic-a", "stream"), "GET")]:
        code, _ = api(*parts, method=method, headers=no_auth, raw=True)
        assert code == 403, (parts, method, code)
    assert not (store.root / "Basic-a" / "stop").exists()


@pytest.mark.parametrize("bad", ["..", ".hidden", "a" * 5000, "x\0y", " Basic-a", "%2e%2e"])
def test_bad_run_ids_are_refused(api, store, bad):
    make_run(store, "Basic-a")
    code, data = api("runs", bad)
    assert code in (400, 404) and "message" in data
    assert len(data["message"]) < 400  # an overlong id is not echoed back whole


def test_traversal_and_absolute_paths_never_leave_the_store(api, store, jp_http_port, jp_base_url, jp_auth_header,
                                                         http_server_client, jp_asyncio_loop, tmp_path):
    make_run(store, "Basic-a")
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    # an id that is a link to a folder outside the store is not a run
    outside = tmp_path / "outside"
    make_run(RunStore(outside), "Basic-out")
    os.symlink(outside / "Basic-out", store.root / "Basic-link")
    code, data = api("runs", "Basic-link")
    assert code == 404 and "link" in data["message"]
    assert "Basic-link" not in [r["id"] for r in api("runs")[1]["runs"]]
    # raw paths (not escaped by the test client): encoded slashes, absolute paths, NUL
    for raw in ["runs/..%2F..%2Fsecret.txt", "runs/%2Fetc%2Fpasswd", "runs/Basic-a%00", "files/..%2F..%2Fsecret.txt",
                "files/Basic-a/..%2F..%2F..%2Fsecret.txt", "files/Basic-a/config.yaml", "files/%2Fetc/passwd",
                "files/Basic-link/config.yaml"]:
        url = f"{jp_base_url}unity-nb/api/{raw}"
        try:
            reply = jp_asyncio_loop.run_until_complete(http_server_client.fetch(url, headers=jp_auth_header))
        except HTTPClientError as err:
            reply = err.response
        assert reply.code in (400, 404), (raw, reply.code)
        assert b"not yours" not in reply.body and b"root:" not in reply.body


def test_runs_dir_outside_root_is_refused(api, store, tmp_path):
    code, data = api("runs", params={"runs_dir": str(tmp_path)})
    assert code == 400 and "inside the server's root folder" in data["message"]
    code, data = api("runs", params={"runs_dir": "../.."})
    assert code == 400
    code, data = api("runs", params={"runs_dir": "elsewhere"})  # inside the root, empty: fine
    assert code == 200 and data["runs"] == [] and data["total"] == 0


@pytest.mark.parametrize("param,value", [("limit", "0"), ("limit", "abc"), ("limit", "100000"), ("offset", "-1"),
                                         ("points", "1e9")])
def test_bad_query_arguments(api, param, value):
    code, data = api("runs", params={param: value})
    assert code == 400 and param in data["message"]


def test_deleted_run_folder(api, store):
    import shutil

    make_run(store, "Basic-a")
    make_run(store, "Basic-b")
    assert api("runs")[1]["total"] == 2
    shutil.rmtree(store.root / "Basic-a")
    code, data = api("runs")
    assert code == 200 and [r["id"] for r in data["runs"]] == ["Basic-b"]
    code, data = api("runs", "Basic-a")
    assert code == 404 and "Basic-a" in data["message"]


@pytest.fixture
def trainer_pid():
    """A live process standing in for a training process (stop sends it SIGTERM)."""
    import subprocess

    process = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                                "signal.SIG_IGN); print('ok', flush=True); time.sleep(120)"], stdout=subprocess.PIPE)
    process.stdout.readline()  # its handler is set: a SIGTERM now leaves it alive, as a checkpointing trainer
    yield process.pid
    process.kill()
    process.wait()


def test_stop_asks_the_run_to_stop(api, store, trainer_pid):
    make_run(store, "Basic-live", state=None, pid=trainer_pid)  # alive: "running"
    code, data = api("runs", "Basic-live", "stop", method="POST")
    assert code == 200 and data["stop_requested"] and data["state"] == "stopping"
    assert (store.root / "Basic-live" / "stop").exists()
    code, data = api("runs", "nope", "stop", method="POST")
    assert code == 404


def test_stop_on_a_read_only_store_says_so(api, store, trainer_pid, monkeypatch):
    make_run(store, "Basic-live", state=None, pid=trainer_pid)
    folder = store.root / "Basic-live"
    if os.geteuid() != 0:
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    else:  # root writes through permissions and cannot mount here: a mock of the read-only disk's answer
        real_touch = Path.touch

        def read_only(self, *args, **kwargs):
            if self.parent == folder:
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
            return real_touch(self, *args, **kwargs)

        monkeypatch.setattr(Path, "touch", read_only)
    try:
        code, data = api("runs", "Basic-live", "stop", method="POST")
        assert code == 409 and "read-only" in data["message"] and "Basic-live" in data["message"]
        assert api("runs")[0] == 200  # reading still works
    finally:
        folder.chmod(0o755)


def test_stream_sends_events_then_end(api, store, jp_fetch, jp_asyncio_loop):
    make_run(store, "Basic-s", iterations=3)
    code, body = api("runs", "Basic-s", "stream", raw=True)
    text = body.decode()
    assert code == 200 and "event: events" in text and text.rstrip().splitlines()[-2] == "event: end"
    data = json.loads(text.split("event: events\ndata: ")[1].split("\n")[0])
    assert [e["iteration"] for e in data["events"] if e["event"] == "iteration"] == [1, 2, 3]


def test_artifacts_and_files(api, store):
    run = make_run(store, "Basic-a")
    assert api("runs", "Basic-a", "artifacts")[1]["files"] == []
    run.export_dir.mkdir()
    (run.export_dir / "Basic.onnx").write_bytes(b"onnx-bytes")
    run.videos_dir.mkdir()
    (run.videos_dir / "checkpoint_000001.mp4").write_bytes(b"\0" * 1000)
    os.symlink("/etc/passwd", run.videos_dir / "sneaky.mp4")
    code, data = api("runs", "Basic-a", "artifacts")
    assert [f["path"] for f in data["files"]] == ["export/Basic.onnx", "videos/checkpoint_000001.mp4"]
    code, body = api("files", "Basic-a", "export", "Basic.onnx", raw=True)
    assert code == 200 and body == b"onnx-bytes"
    code, body = api("files", "Basic-a", "videos", "checkpoint_000001.mp4", raw=True,
                     headers={"Range": "bytes=0-99"})
    assert code == 206 and len(body) == 100
    code, data = api("files", "Basic-a", "videos", "sneaky.mp4")
    assert code == 404 and "has no file" in data["message"]


def _job_ended(api, job: str, timeout: float = 120) -> dict:
    """The job's last report once it has ended (or after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        code, data = api("jobs", job)
        if data["job"]["state"] != "running" or time.monotonic() > deadline:
            return data
        time.sleep(0.3)


def test_actions_start_commands_and_report(api, store):
    make_run(store, "Basic-a")  # no checkpoint: export fails in its own process, with the CLI's reason
    code, data = api("runs", "Basic-a", "export", method="POST")
    assert code == 202 and data["job"]["state"] == "running" and data["job"]["action"] == "export"
    data = _job_ended(api, data["job"]["id"])
    assert data["job"]["state"] == "failed" and "checkpoint" in data["job"]["error"]
    assert Path(data["job"]["log"]).is_file()  # the output stays in the run's logs/
    code, data = api("runs", "Basic-a", "video", method="POST")
    assert code == 409 and "no checkpoint" in data["message"]
    code, _ = api("runs", "Basic-a", "launch-missiles", method="POST", raw=True)
    assert code in (404, 405)
    code, data = api("jobs", "999")
    assert code == 404 and "no job" in data["message"]


def test_endpoints_list_and_bad_stop(api):
    code, data = api("endpoints")
    assert code == 200 and isinstance(data["local"], list) and "sagemaker" not in data
    code, data = api("endpoints", "99999", method="DELETE")
    assert code == 404 and "no local endpoint" in data["message"]


def test_quickstart_notebook(api):
    code, data = api("quickstart")
    assert code == 200 and data["nbformat"] == 4
    assert any("%unity_train" in "".join(c["source"]) for c in data["cells"])


def test_kernels_get_the_sidebar_store(api, store):
    api("runs")
    assert os.environ["UNITY_NB_RUNS"] == str(store.root.absolute())


def test_a_thousand_runs_list_fast_enough(api, store):
    """1,000 runs: the server's own time per list request (the figure the closing note reports) stays
    small; asserted loosely (behaviour, not wall-clock): well under a second on any machine."""
    for i in range(1000):
        make_run(store, f"Basic-{i:04d}", iterations=3)
    api("runs")  # the first request reads the page's runs
    code, data = api("runs")
    assert code == 200 and data["total"] == 1000 and len(data["runs"]) == 50
    assert data["runs"][0]["id"] == "Basic-0999"
    assert data["server_ms"] < 1000


def test_a_slow_store_never_stalls_the_server(jp_fetch, jp_asyncio_loop, jp_serverapp, store, monkeypatch):
    """A run store on a slow disk (a mock: reads made to take 1.5 s, as nothing here can make a real
    disk slow) delays the list, not the server: JupyterLab's own requests are answered meanwhile."""
    import asyncio

    from unity_nb.train.store import RunFolder

    make_run(store, "Basic-a")
    real = RunFolder.scan_events

    def slow(self, *args, **kwargs):
        time.sleep(1.5)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(RunFolder, "scan_events", slow)
    done = {}

    async def timed(name, *parts):
        reply = await jp_fetch(*parts)
        done[name] = time.monotonic()
        return json.loads(reply.body)

    async def both():
        return await asyncio.gather(timed("runs", "unity-nb", "api", "runs"), timed("status", "api", "status"))

    runs, _ = jp_asyncio_loop.run_until_complete(both())
    assert [r["id"] for r in runs["runs"]] == ["Basic-a"]
    assert done["status"] < done["runs"] - 1.0, done


def test_a_checkpoint_filmed_already_is_not_filmed_again(api, store):
    run = make_run(store, "Basic-a")
    checkpoint = run.checkpoints_dir / "checkpoint_000005"
    checkpoint.mkdir()
    (checkpoint / ".complete").touch()
    run.videos_dir.mkdir()
    (run.videos_dir / "checkpoint_000005.mp4").write_bytes(b"\0" * 100)
    code, data = api("runs", "Basic-a", "video", method="POST")
    assert code == 202 and data["job"]["state"] == "done" and data["job"]["file"] == "videos/checkpoint_000005.mp4"
    assert api("jobs", data["job"]["id"])[1]["job"]["state"] == "done"


def test_a_fork_is_checked_at_once(api, store, recorded_runs):
    """The sidebar's Fork: the settings and the run are checked before any command starts (400/409 with the
    reason). A fork that can start is the `unity-nb fork` command in its own process: the sidebar's browser test
    (tests/browser/test_lab_sidebar.py) starts one through this route and watches it train."""
    parent = recorded_runs(root=store.root).run
    make_run(store, "Basic-none")  # no checkpoint
    for body, status, message in [
        ({"settings": "--hidden-units 64"}, 400, "hidden_units (the checkpoint's network has this shape)"),
        ({"settings": ""}, 400, "nothing to change"),
        ({}, 400, "nothing to change"),
        ({"settings": "--lr abc"}, 400, "argument --lr: expected a number, got 'abc'"),
        ({"settings": "--runs-dir /etc --lr 1e-4"}, 400, "unrecognized arguments: --runs-dir"),
        ({"settings": "; rm -rf / --lr 1e-4"}, 400, "unrecognized arguments: ;"),
        ({"settings": ["--lr", "1e-4"]}, 400, "settings must be text"),
        ({"settings": "--lr 1e-4", "run": "x"}, 400, 'the body must be JSON like {"settings": "--lr 1e-4"}'),
    ]:
        code, data = api("runs", parent.id, "fork", method="POST", body=body)
        assert (code, message in data["message"]) == (status, True), (body, code, data)
    code, data = api("runs", "Basic-none", "fork", method="POST", body={"settings": "--lr 1e-4"})
    assert code == 409 and "has no checkpoint to fork from yet" in data["message"]


def test_a_fork_job_names_its_new_run_from_the_commands_first_lines(store, tmp_path):
    from unity_nb.server.jobs import Job

    run = make_run(store, "Basic-a")
    log = tmp_path / "fork.log"
    log.write_text("unity-nb: fork of run Basic-a from its checkpoint_000010 at 1000 steps; changed: lr 0.001 -> 0.0001\n")
    assert Job("1", "fork", run, None, log).describe()["fork"] is None  # not made yet
    with open(log, "a") as out:
        out.write("unity-nb: run Basic-20261203-101010-abcd (PPO on Basic, 2000 steps) -> /x/runs/Basic-20261203-101010-abcd\n")
    assert Job("1", "fork", run, None, log).describe()["fork"] == "Basic-20261203-101010-abcd"
