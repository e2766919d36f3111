"""The training runtime that outlives one command: `unity-nb up` / `down`, joining it, idling out, bad input.

Each test that starts a runtime gives it a folder of its own (UNITY_NB_RUNTIME_DIR), so it never
touches the session's shared runtime, and stops it before it ends.
"""

import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from unity_nb.processes import pid_alive
from unity_nb.train import service


def unity_nb(*args, env=None, timeout=300, cwd=None):
    return subprocess.run([sys.executable, "-m", "unity_nb.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=cwd)


@pytest.fixture
def own_runtime(tmp_path):
    """An environment whose runtime folder is this test's own; the runtime is stopped afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="unb-rt-", dir="/tmp"))
    env = {**os.environ, "UNITY_NB_RUNTIME_DIR": str(folder)}
    yield env, folder
    service.stop(folder, force=True)


def wait_gone(folder, seconds=150):
    deadline = time.monotonic() + seconds
    while service.status(folder) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    return service.status(folder) is None


# ---- no Ray: settings and refusals
@pytest.mark.parametrize("text, seconds", [("600", 600), ("90s", 90), ("10m", 600), ("1h", 3600), (" 2M ", 120)])
def test_idle_times(text, seconds):
    assert service.parse_idle(text) == seconds


@pytest.mark.parametrize("text", ["", "banana", "0", "-5m", "8d", "nan", "1e9", "10x"])
def test_idle_times_refused(text):
    with pytest.raises(ValueError, match="--idle must be"):
        service.parse_idle(text)


def test_up_refuses_a_bad_idle_time_before_starting_anything(own_runtime):
    env, folder = own_runtime
    out = unity_nb("up", "--idle", "soon", env=env)
    assert out.returncode == 2
    assert "unity-nb up: error: --idle must be a time such as 600, 90s, 10m or 1h, got 'soon'" in out.stderr
    assert not (folder / "sock").exists() and service.status(folder) is None


def test_down_with_nothing_running(own_runtime):
    env, _ = own_runtime
    out = unity_nb("down", env=env)
    assert out.returncode == 0 and "no training runtime is running" in out.stdout


def test_help_of_up_and_down():
    up = unity_nb("up", "--help")
    assert up.returncode == 0 and "--idle" in up.stdout and "127.0.0.1" in up.stdout
    assert "--force" in unity_nb("down", "--help").stdout


def test_only_what_a_runs_processes_read_counts_as_their_environment():
    runtime = {"OMP_NUM_THREADS": "2", "PYTHONPATH": "/lib", "UNITY_NB_CPUS": "2"}
    here = {**runtime, "HOME": "/elsewhere", "UNITY_NB_RUNS": "/other/runs", "RAY_ADDRESS": "10.0.0.5:6379",
            "JPY_PARENT_PID": "7", "PYTHONUNBUFFERED": "1"}  # a client's own, or nothing a run reads
    assert service.environment_differences(runtime, here) is None
    assert service.environment_differences(None, {"UNITY_NB_CPUS": "4"}) is None  # a runtime that did not say
    said = service.environment_differences(runtime, {"UNITY_NB_CPUS": "4", "TORCH_HOME": "/t", "OMP_NUM_THREADS": "2",
                                                     "MKL_A": "1", "RAY_B": "1", "CUDA_C": "1"})
    assert said.startswith("the training runtime started with another environment than this one: CUDA_C='1' here "
                           "(unset in the runtime), MKL_A='1' here (unset in the runtime), PYTHONPATH unset here "
                           "('/lib' in the runtime), RAY_B='1' here (unset in the runtime) and 2 more. Runs take")


def test_a_runtime_folder_others_can_open_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "rt"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    monkeypatch.setenv("UNITY_NB_RUNTIME_DIR", str(folder))
    with pytest.raises(PermissionError, match="chmod 700"):
        service.runtime_dir()


# ---- a real runtime: Ray on loopback, a ready driver, runs joining it
@pytest.mark.ray
def test_up_then_runs_join_it_then_down(own_runtime, tmp_path):
    env, folder = own_runtime
    started_in = tmp_path / "gone"  # the folder the runtime is started from is deleted: it lives on
    started_in.mkdir()
    out = unity_nb("up", "--wait", "--idle", "10m", env=env, cwd=started_in)
    assert out.returncode == 0, out.stderr
    started_in.rmdir()
    assert "ready driver: ready" in out.stdout and "127.0.0.1" in out.stdout
    found = service.status(folder)
    assert found["address"].startswith("127.0.0.1:") and found["idle_s"] == 600 and found["standby"] == "ready"
    # private: the folder, the socket and Ray's token are this user's alone
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "sock").stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(found["token"]).stat().st_mode) == 0o600

    # a run joins the runtime that is up: the ready driver takes it, the algorithm built ahead
    runs = tmp_path / "runs"
    out = unity_nb("train", "Basic", "--steps", "3000", "--eval-episodes", "0", "--runs-dir", "runs", env=env,
                   cwd=tmp_path)  # a relative runs folder: the caller's, not the runtime's
    assert out.returncode == 0, out.stderr
    assert "runtime already up: algorithm built ahead" in out.stdout
    assert "the training runtime stays up 10 min" in out.stdout
    assert "another environment" not in out.stdout  # started from the same one
    assert service.status(folder)["pid"] == found["pid"]  # the same runtime, still up
    # and the next run, on a driver the runtime prepared after its starting folder was deleted, from a shell
    # with a variable the runtime's processes do not have: the run goes on the runtime's, and says so
    changed = {**env, "OMP_NUM_THREADS": "3"}
    again = unity_nb("train", "Basic", "--steps", "1000", "--eval-episodes", "0", "--runs-dir", "runs", env=changed,
                     cwd=tmp_path)
    assert again.returncode == 0 and "finished after" in again.stdout, again.stdout + again.stderr
    note = "the training runtime started with another environment than this one: OMP_NUM_THREADS='3' here"
    assert note in again.stdout and "stop it (`unity-nb down`, or %unity_down) and train again" in again.stdout
    assert note in unity_nb("up", env=changed).stdout
    assert len(list((tmp_path / "runs").iterdir())) == 2

    # hostile and malformed requests get a message, and the runtime goes on
    with pytest.raises(service.RuntimeRefused, match="unknown request 'rm -rf'"):
        service.request("rm -rf", folder)
    with pytest.raises(service.RuntimeRefused, match="train needs run_dir"):
        service.request("train", folder, run_dir=["../../etc"])
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(folder / "sock"))
        s.sendall(b"not json\n")
        assert json.loads(s.makefile().readline())["ok"] is False
    assert service.status(folder) is not None

    out = unity_nb("down", env=env)
    assert out.returncode == 0 and "training runtime stopped" in out.stdout
    assert service.status(folder) is None and not pid_alive(found["pid"])
    assert not (folder / "sock").exists()


@pytest.mark.ray
def test_down_refuses_while_a_run_trains_and_force_checkpoints_it(own_runtime, tmp_path, monkeypatch):
    import unity_nb.train as ut
    from unity_nb.train.local import LocalBackend

    env, folder = own_runtime
    monkeypatch.setenv("UNITY_NB_RUNTIME_DIR", str(folder))  # this process's runs go to this test's runtime
    run = ut.RunStore(tmp_path / "runs").create(ut.make_config("3DBall", steps=2_000_000, checkpoint_every=1))
    LocalBackend(hold=False).start(run, run.config)
    deadline = time.monotonic() + 240
    while run.latest_checkpoint() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    out = unity_nb("down", env=env)
    assert out.returncode == 2
    assert "1 run(s) still training" in out.stderr and run.id in out.stderr and "--force" in out.stderr
    out = unity_nb("down", "--force", env=env)
    assert out.returncode == 0 and f"runs stopped after a checkpoint: {run.id}" in out.stdout
    assert run.state == "stopped" and run.latest_checkpoint() is not None


@pytest.mark.ray
def test_idle_runtime_stops_by_itself_unless_a_session_holds_it(own_runtime):
    env, folder = own_runtime
    found = service.ensure(idle=3, folder=folder)
    hold = service.Hold(folder)
    time.sleep(6)  # longer than the idle time: the session's hold keeps it up
    assert service.status(folder) is not None and service.status(folder)["holds"] == 1
    hold.release()
    assert wait_gone(folder, 150), "the runtime did not stop after its idle time"
    deadline = time.monotonic() + 30
    while pid_alive(found["pid"]) and time.monotonic() < deadline:  # its socket goes first, then the process
        time.sleep(0.1)
    assert not pid_alive(found["pid"])
    log = (folder / "service.log").read_text()
    assert "idle for 3 s: stopping" in log


def test_a_ray_that_fails_to_start_fails_the_run_at_once_with_rays_words(tmp_path):
    """The ready driver watches the process starting Ray: when it ends first, the run fails with its log's end
    (not after two minutes of trying to join)."""
    import unity_nb.train as ut

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    log = tmp_path / "ray-start.log"
    log.write_text("ValueError: ray_client_server_port must be an integer between 1024 and 65535.\n")
    run = ut.RunStore(tmp_path / "runs").create(ut.make_config("Basic"))
    standby = subprocess.run(
        [sys.executable, "-m", "unity_nb.trainer.standby", "--address", "127.0.0.1:9", "--ray-pid", str(ended.pid),
         "--ray-log", str(log)],
        input=json.dumps({"run_dir": str(run.path), "resume": False}) + "\n", capture_output=True, text=True,
        timeout=120)
    assert standby.stdout.strip().startswith("failed")
    assert run.state == "failed"
    # Ray's own reason, not "could not join" after the two minutes a slow start is given
    assert "the Ray runtime failed to start" in run.status["error"] and "ray_client_server_port" in run.status["error"]


def test_the_reason_in_a_failed_ray_start_log_is_found(tmp_path):
    """The line a person needs from Ray's start log (this one: a second user's runtime while the first held 10001)."""
    from unity_nb.processes import log_cause

    log = tmp_path / "ray-start.log"
    log.write_text(
        "2026-12-02 11:39:34,600\tINFO scripts.py:1274 -- Process exit logs will be saved to: /tmp/x\n"
        "2026-12-02 11:39:34,704\tERR scripts.py:121 -- ----- BEGIN ray_client_server.err tail -----\n"
        "    raise RuntimeError(_ERROR_MESSAGE_PORT_BINDING_FAILED % address)\n"
        "RuntimeError: Failed to bind to address 127.0.0.1:10001; set GRPC_VERBOSITY=debug environment variable\n"
        "2026-12-02 11:39:34,705\tERR scripts.py:128 -- ----- END ray_client_server.err tail (exit code(s)=1) -----\n"
        "2026-12-02 11:39:34,705\tERR scripts.py:1315 -- Remaining processes will be killed.\n")
    assert log_cause(log).startswith("RuntimeError: Failed to bind to address 127.0.0.1:10001")
    log.write_text("line one\nline two\n")
    assert log_cause(log) == "line one | line two"  # no reason given: the log's end
    assert log_cause(tmp_path / "missing.log") == "(no log)"


def processes_of(folder: str) -> list[int]:
    """Live processes whose command line names ``folder`` (a runtime's Ray temp folder)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and folder in Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace") \
                    and pid_alive(int(entry)):
                found.append(int(entry))
        except OSError:
            continue
    return found


@pytest.mark.ray
def test_a_runtime_needs_none_of_rays_fixed_ports_and_leaves_nothing_behind(own_runtime, tmp_path):
    """Another user's runtime on the host holds Ray's fixed ports (Ray Client 10001, dashboard 8265, dashboard
    agent 52365). Held here by plain sockets: like another user's, they cannot be shared (SO_REUSEPORT lets
    one user's processes share a port, which hid the clash). Before, `ray start` killed the runtime a
    second after it began, and the run failed a minute later "without saying why"."""
    env, folder = own_runtime
    held = []
    for port in (10001, 8265, 52365):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
            held.append(s)
        except OSError:  # already taken by someone else here: just as good
            s.close()
    try:
        out = unity_nb("train", "Basic", "--steps", "1000", "--eval-episodes", "0", "--runs-dir", str(tmp_path / "runs"),
                       env=env, cwd=tmp_path)
        assert out.returncode == 0 and "finished after" in out.stdout, out.stdout + out.stderr
        ray_folder = str(Path(service.status(folder)["token"]).parent)
        assert processes_of(ray_folder), "the runtime's Ray processes should be up between runs"
        # the ports it listens on (its workers' too) are the OS's choice, none of Ray's fixed ones
        import psutil

        listening = set()
        for pid in processes_of(ray_folder) + [p.pid for p in psutil.Process(service.status(folder)["pid"]).children(True)]:
            try:
                listening |= {c.laddr.port for c in psutil.Process(pid).net_connections(kind="inet")
                              if c.status == psutil.CONN_LISTEN}
            except psutil.Error:
                continue
        assert listening and not listening & {10001, 8265, 52365}, sorted(listening)
        assert not [port for port in listening if 10002 <= port <= 19999], sorted(listening)
    finally:
        for s in held:
            s.close()
    out = unity_nb("down", env=env)
    assert out.returncode == 0, out.stderr
    deadline = time.monotonic() + 30
    while processes_of(ray_folder) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_of(ray_folder) == [], "a process of the stopped runtime is left"


@pytest.mark.ray
def test_a_run_whose_runtime_dies_fails_at_once_saying_so(own_runtime, tmp_path, monkeypatch):
    """Ray's raylet killed mid-run: `ray start` ends the runtime, and the run fails within seconds with the
    reason from Ray's log (Ray's own client would wait a minute, then abort the process without a word)."""
    import signal

    import unity_nb.train as ut
    from unity_nb.train.local import LocalBackend

    env, folder = own_runtime
    monkeypatch.setenv("UNITY_NB_RUNTIME_DIR", str(folder))
    run = ut.RunStore(tmp_path / "runs").create(ut.make_config("3DBall", steps=2_000_000))
    LocalBackend(hold=False).start(run, run.config)
    deadline = time.monotonic() + 240
    while run.state != "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run.state == "running"
    ray_folder = str(Path(service.status(folder)["token"]).parent)
    raylets = [pid for pid in processes_of(ray_folder) if b"raylet/raylet" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert raylets
    killed = time.monotonic()
    os.kill(raylets[0], signal.SIGKILL)
    while run.state == "running" and time.monotonic() - killed < 45:
        time.sleep(0.2)
    assert run.state == "failed" and time.monotonic() - killed < 45
    assert "the training runtime stopped under the run" in run.status["error"]
    assert "raylet" in run.status["error"], run.status["error"]


@pytest.mark.parametrize("first_words, runs, code", [
    ("Exception: The current node timed out during startup. This could happen because ...", 2, 0),
    ("ValueError: ray_client_server_port must be an integer between 1024 and 65535.", 1, 1),
])
def test_the_guard_starts_ray_again_once_only_when_its_start_timed_out(tmp_path, first_words, runs, code):
    """Ray's raylet aborts when its agent takes over 15 s to start on a loaded machine (ray-project/ray#65983):
    the guard tries once more (imports are warm then). Any other failure is final at once."""
    log, tries = tmp_path / "ray-start.log", tmp_path / "tries"
    script = (f"import pathlib, sys; t = pathlib.Path({str(tries)!r}); n = len(t.read_text()) if t.exists() else 0; "
              f"t.write_text('x' * (n + 1)); "
              f"n or pathlib.Path({str(log)!r}).write_text({first_words!r}); sys.exit(1 if n == 0 else 0)")
    guard = subprocess.run([sys.executable, "-m", "unity_nb.train.runtime", "--owner", str(os.getpid()), "--log", str(log),
                            "--", sys.executable, "-c", script], start_new_session=True, timeout=60)
    assert guard.returncode == code
    assert len(tries.read_text()) == runs


def test_the_guard_lowers_the_priority_of_what_competes_with_rays_agents(tmp_path):
    """The Ray Client server and the dashboard's API server start just before the raylet and import for
    seconds while the raylet's agents have 15 s to start: the guard gives them niceness 10 as they appear.
    Here stand-ins with those module names in their command lines, started after a moment (as Ray's are),
    and one other process of the group that keeps its priority."""
    report = tmp_path / "niceness"
    child = ("import os, subprocess, sys, time; time.sleep(0.5); "
             "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3)', name]) for name in "
             "('ray.util.' + 'client.server', '/site-packages/ray/' + 'dashboard/dashboard.py', 'raylet')]; "
             "time.sleep(1.5); "  # (the names split: this command line must not carry them itself)
             f"open({str(report)!r}, 'w').write(' '.join(str(os.getpriority(os.PRIO_PROCESS, k.pid)) for k in kids)); "
             "[k.wait() for k in kids]")
    guard = subprocess.run([sys.executable, "-m", "unity_nb.train.runtime", "--owner", str(os.getpid()), "--",
                            sys.executable, "-c", child], start_new_session=True, timeout=60)
    assert guard.returncode == 0
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert report.read_text().split() == [str(max(base, 10)), str(max(base, 10)), str(base)]


OTHER_USER = "unitynbtest2"


@pytest.mark.ray
def test_two_linux_users_train_at_once(own_runtime, tmp_path):
    """Two attendees on one server: another Linux user trains Basic while this user's runtime is up (before,
    their runtime died at start on the port this one held, and the run failed after a minute "without saying
    why"); then nothing of theirs is left. Needs root (to make the user) and a Python other users may run."""
    import pwd
    import shutil

    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("making a second Linux user needs root and useradd")
    probe = subprocess.run(["su", "nobody", "-s", "/bin/sh", "-c", f"{sys.executable} -c 'import unity_nb'"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"other users cannot run this Python ({sys.executable}): {probe.stderr.strip()[-200:]}")
    env, folder = own_runtime
    service.ensure(folder=folder)  # this user's runtime is up, holding its ports
    try:
        pwd.getpwnam(OTHER_USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", OTHER_USER], check=True)
    try:
        out = subprocess.run(
            ["su", "--login", OTHER_USER, "-c", f"cd ~ && {Path(sys.executable).with_name('unity-nb')} train Basic --steps 1000 "
                                     f"--eval-episodes 0; {Path(sys.executable).with_name('unity-nb')} down --force"],
            capture_output=True, text=True, timeout=600)
        assert "finished after" in out.stdout, out.stdout + out.stderr
        deadline = time.monotonic() + 30
        while subprocess.run(["pgrep", "-u", OTHER_USER], capture_output=True).returncode == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        left = subprocess.run(["ps", "-u", OTHER_USER, "-o", "pid,cmd"], capture_output=True, text=True).stdout
        assert subprocess.run(["pgrep", "-u", OTHER_USER], capture_output=True).returncode != 0, left
        assert service.status(folder) is not None  # ours lives on
    finally:
        subprocess.run(["pkill", "-KILL", "-u", OTHER_USER], capture_output=True)
        subprocess.run(["userdel", "--remove", OTHER_USER], capture_output=True)


def test_failed_starts_folders_are_swept_after_a_day(tmp_path):
    """A failed start keeps its folder (its error names the log in it); the next start removes such folders once
    they are a day old, unless a process still names them (a runtime up for days)."""
    from unity_nb.train.runtime import FOLDER_PREFIX, sweep_failed_folders

    old, young, used = (tmp_path / f"{FOLDER_PREFIX}{name}" for name in ("old", "young", "used"))
    for folder in (old, young, used):
        folder.mkdir()
        (folder / "ray-start.log").write_text("Ray failed to start\n")
    two_days_ago = time.time() - 2 * 86400
    for folder in (old, used):
        os.utime(folder, (two_days_ago, two_days_ago))
    (tmp_path / "unrelated").mkdir()
    os.utime(tmp_path / "unrelated", (two_days_ago, two_days_ago))
    user = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(used)])
    try:
        deadline = time.monotonic() + 10
        while str(used) not in Path(f"/proc/{user.pid}/cmdline").read_bytes().decode() and time.monotonic() < deadline:
            time.sleep(0.05)
        removed = sweep_failed_folders(str(tmp_path))
        assert user.poll() is None, "the process naming the folder ended before the sweep"
        assert removed == [old], removed
    finally:
        user.kill()
        user.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["unrelated", f"{FOLDER_PREFIX}used", f"{FOLDER_PREFIX}young"])


def test_ray_starts_take_turns_on_a_host(tmp_path, monkeypatch):
    """Eight runtimes starting at once on two cores all missed Ray's fixed 30 s for a raylet to register; the
    guard now waits for the host's turn (a lock file every user can open), starts Ray, and passes the turn on as
    soon as Ray says it started. Here a stand-in for `ray start` that says so, then keeps running."""
    import threading

    from unity_nb.train import runtime

    monkeypatch.setattr(runtime, "START_TURN_LOCK", tmp_path / "unity-nb-ray-start.lock")
    never = threading.Event()
    held = runtime._start_turn(never)
    assert held is not None and stat.S_IMODE(os.stat(tmp_path / "unity-nb-ray-start.lock").st_mode) == 0o644
    assert runtime._start_turn(never, wait_s=0.5) is None  # one turn at a time
    log = tmp_path / "ray-start.log"
    log.touch()
    fake_ray = f"echo 'Ray runtime started.' >> {log}; exec sleep 60"
    guard = subprocess.Popen([sys.executable, "-m", "unity_nb.train.runtime", "--owner", str(os.getpid()),
                              "--log", str(log), "--", "sh", "-c", fake_ray],
                             env={**os.environ, "TMPDIR": str(tmp_path)}, start_new_session=True)
    try:
        time.sleep(2.0)
        assert log.read_text() == "", "the guard started Ray before its turn"
        os.close(held)  # our turn ends: the guard's begins
        deadline = time.monotonic() + 30
        while "Ray runtime started" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        again = runtime._start_turn(never, wait_s=10)  # Ray said it started: the turn is passed on
        assert again is not None and guard.poll() is None
        os.close(again)
    finally:
        guard.terminate()
        assert guard.wait(timeout=30) is not None


def test_up_wait_says_when_the_runtime_is_not_ready_in_time(monkeypatch, tmp_path):
    """`unity-nb up --wait` used to return after 180 s as if done, with the runtime still starting (a run waits 900 s
    now). A runtime that never gets ready is a stand-in here: the service's answers, always "starting" (a real one
    cannot be held there on purpose)."""
    from unity_nb.train import local

    status = {"standby": "starting", "folder": str(tmp_path)}
    monkeypatch.setattr(local.service, "ensure", lambda idle=None: dict(status))
    monkeypatch.setattr(local.service, "request", lambda op, **kw: dict(status))
    monkeypatch.setattr(local, "READY_TIMEOUT_S", 0.5)
    backend = local.LocalBackend(hold=False)
    with pytest.raises(service.RuntimeRefused, match=r"the training runtime was not ready within 0 s \(a busy "
                                                     rf"machine, .*its logs are in {tmp_path}"):
        backend.warm_up(wait=True)
    backend.warm_up(wait=False)  # without --wait it returns at once, as before
