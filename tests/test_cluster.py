"""Training on a real two-node Ray cluster, both nodes on loopback addresses of this machine.

Ray rewrites 127.0.0.1 into the machine's network address, but leaves 127.0.0.2 and
127.0.0.3 alone: a head on one and a worker on the other make a two-node cluster that
never leaves loopback.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import unity_nb.train as ut
from unity_nb.processes import free_port, kill_group, log_cause
from unity_nb.train import service
from unity_nb.train.runtime import LEAN_ENV, own_ports, private_token

RAY = str(Path(sys.executable).with_name("ray"))

pytestmark = pytest.mark.ray


def _start(args, env, log):
    return subprocess.Popen([RAY, "start", "--block", "--disable-usage-stats", *args],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _start_node(args, env, log, address, nodes, temp_dir):
    """A Ray node started until the cluster has ``nodes`` nodes. Ray's raylet gives its agent a fixed 15 s to
    start (ray-project/ray#65983): on a busy CI machine that can time out, so a node gets a second try, as the
    kit's own runtime does. A failure names its cause from Ray's own logs."""
    for attempt in (1, 2):
        process = _start(args, env, log)
        try:
            _wait_for_nodes(address, env, nodes, stop_if_ended=process)
            return process
        except AssertionError as error:
            process.terminate()
            process.wait(timeout=60)
            kill_group(process.pid)  # the agents a failed start leaves behind
            if attempt == 2:
                logs = Path(temp_dir) / "session_latest" / "logs"
                raise AssertionError(f"{error}\nray start: {log_cause(log.name)}\n"
                                     f"raylet: {log_cause(logs / 'raylet.out')}\n"
                                     f"raylet.err: {log_cause(logs / 'raylet.err')}") from None


def _wait_for_nodes(address, env, count, timeout=90, stop_if_ended=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run([RAY, "status", f"--address={address}"], env=env, capture_output=True, text=True)
        if out.stdout.count("node_") >= count:
            return
        if stop_if_ended is not None and stop_if_ended.poll() is not None:
            break  # its `ray start` gave up
        time.sleep(1)
    raise AssertionError(f"the cluster did not reach {count} nodes:\n{out.stdout}\n{out.stderr}")


@pytest.fixture(scope="module")
def two_node_cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster")
    token = private_token(folder)
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token), "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
    env.update(LEAN_ENV)
    # the kit's own runtime (and its standby driver building ahead) would compete with the nodes' start for
    # the two cores; these tests train on the cluster only
    service.stop(force=True)
    port = free_port()
    address = f"127.0.0.2:{port}"
    log = open(folder / "ray.log", "w", buffering=1)
    # Ray's sockets live under the temp dir and a Unix socket path may not pass 107 bytes: pytest's
    # numbered folders (pytest-of-root/pytest-113/...) grew past that, so the head gets a short one
    short_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    # no log monitor (one Python process fewer racing the raylet's agents through their 15 s; the autoscaler
    # monitor stays: `ray status` reads it) and ports of their own (Ray Client's fixed 10001 may be held on a
    # shared machine)
    head_args = ["--head", "--include-dashboard=false", "--node-ip-address=127.0.0.2", f"--port={port}", "--num-cpus=2",
                 f"--temp-dir={short_dir}", "--include-log-monitor=False", *own_ports()]
    worker_args = [f"--address={address}", "--node-ip-address=127.0.0.3", "--num-cpus=1", "--include-log-monitor=False",
                   f"--dashboard-agent-listen-port={free_port()}", "--min-worker-port=0", "--max-worker-port=0"]
    head = worker = None
    try:
        head = _start_node(head_args, env, log, address, 1, short_dir)
        worker = _start_node(worker_args, env, log, address, 2, "/tmp/ray")
        yield address, env
    finally:
        for process in (worker, head):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
            if process is not None:
                kill_group(process.pid)


def test_training_spreads_env_runners_over_both_nodes(two_node_cluster, tmp_path, monkeypatch):
    address, env = two_node_cluster
    for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.setenv(key, env[key])
    run = ut.train("Basic", runs_dir=tmp_path, address=address, num_env_runners=2, num_areas=2, steps=3000,
                   target_return=5.0)
    run.wait(timeout=600)
    assert run.state == "finished", (run.status, (run.path / "logs" / "driver.log").read_text()[-3000:])
    placement = [e for e in run.events() if e.get("event") == "placement"]
    assert placement and set(placement[0]["env_runner_nodes"]) == {"127.0.0.2", "127.0.0.3"}
    assert run.last()["env_steps"] >= 3000


def test_ray_address_environment_variable_is_honoured(two_node_cluster, tmp_path, monkeypatch):
    address, env = two_node_cluster
    monkeypatch.setenv("RAY_ADDRESS", address)
    assert ut.make_config("Basic").address == address


def test_your_own_model_travels_to_the_cluster(two_node_cluster, tmp_path, monkeypatch):
    """The user's RLModule file is only in the folder the run starts from; env runners on both nodes (other
    processes, other working folders) get the class itself (pickled by value)."""
    import shutil

    address, env = two_node_cluster
    for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.setenv(key, env[key])
    shutil.copy(Path(__file__).parents[1] / "notebooks" / "my_models.py", tmp_path / "my_models.py")
    monkeypatch.chdir(tmp_path)
    run = ut.train("Basic", runs_dir=tmp_path / "runs", address=address, num_env_runners=2, num_areas=2, steps=2000,
                   target_return="off", model="my_models:ResidualMLP")
    run.wait(timeout=600)
    assert run.state == "finished", (run.status, (run.path / "logs" / "driver.log").read_text()[-3000:])
    placement = [e for e in run.events() if e.get("event") == "placement"]
    assert placement and set(placement[0]["env_runner_nodes"]) == {"127.0.0.2", "127.0.0.3"}


def test_a_sweep_trains_its_trials_on_the_cluster(two_node_cluster, tmp_path, monkeypatch):
    """A sweep's Tune driver runs on this machine's runtime (its own token); each trial's run joins the cluster
    with the session's token, and its env runners land on both nodes."""
    address, env = two_node_cluster
    for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.setenv(key, env[key])
    try:
        sweep = ut.sweep("Basic", runs_dir=tmp_path, address=address, lr="loguniform(3e-4, 3e-3)", trials=2,
                         scheduler="fifo", concurrent=1, num_env_runners=2, num_areas=2, steps=2000,
                         target_return="off")
        sweep.wait(timeout=600)
        assert sweep.state == "finished", (sweep.status, sweep.log_path.read_text()[-3000:])
        runs = sweep.runs()
        assert len(runs) == 2
        for run in runs:
            assert run.state == "finished" and run.config.address == address, \
                (run.status, (run.path / "logs" / "driver.log").read_text()[-3000:])
            placement = [e for e in run.events() if e.get("event") == "placement"]
            assert placement and set(placement[0]["env_runner_nodes"]) == {"127.0.0.2", "127.0.0.3"}
    finally:
        service.stop(force=True)  # the sweep started this machine's runtime: the cluster has the cores again
