"""The SageMaker container's entry point, run as the job runs it, under a temporary /opt/ml.

Each test writes ``hyperparameters.json`` as SageMaker does (every value a string, made by the
kit's own encoder) and runs ``python -m unity_nb.trainer.sagemaker_entry`` with the container's
environment. The whole job path (moto, the follower, fetch) is in tests/test_sagemaker.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import unity_nb.train as ut
from unity_nb.processes import free_port
from unity_nb.train.sagemaker import contract


def _opt_ml(root: Path, hyperparameters: dict, hosts=("algo-1",), host="algo-1", build: Path | None = None) -> dict:
    """An /opt/ml-shaped folder and the environment SageMaker's toolkit sets; returns the environment."""
    (root / "input/config").mkdir(parents=True, exist_ok=True)
    (root / "input/config/hyperparameters.json").write_text(json.dumps(hyperparameters))
    (root / "input/config/resourceconfig.json").write_text(json.dumps({"current_host": host, "hosts": list(hosts)}))
    env = dict(os.environ, UNITY_NB_OPT_ML=str(root), SM_HOSTS=json.dumps(list(hosts)), SM_CURRENT_HOST=host,
               SM_NUM_CPUS="1", SM_NUM_GPUS="0", SM_MODEL_DIR=str(root / "model"), PYTHONUNBUFFERED="1")
    if build is not None:
        env["SM_CHANNEL_TRAIN"] = str(build)
    return env


def _entry(env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "unity_nb.trainer.sagemaker_entry"], env=env, capture_output=True,
                          text=True, timeout=timeout)


def _events(stdout: str) -> list[dict]:
    return [e for e in map(contract.parse_event_line, stdout.splitlines()) if e is not None]


def _failure(root: Path) -> str:
    return (root / "output" / "failure").read_text()


# ---- refused before any training (fast: no Ray)

@pytest.mark.parametrize("hyperparameters, reason", [
    ({"lr": "fast"}, "lr must be a number, got 'fast'"),
    ({"learning": "0.1"}, "unknown setting 'learning'"),
    ({"scene": "channel:Game.x86_64"}, "the job has no 'train' channel"),
])
def test_bad_hyperparameters_write_the_failure_file(tmp_path, hyperparameters, reason):
    out = _entry(_opt_ml(tmp_path, hyperparameters))
    assert out.returncode == 1
    assert reason in _failure(tmp_path).splitlines()[0]
    assert _events(out.stdout)[-1]["state"] == "failed"


def test_a_build_that_cannot_run_is_refused_with_the_reason(tmp_path):
    build = tmp_path / "build"
    build.mkdir()
    (build / "Game.exe").write_bytes(b"MZ\x90\x00" + bytes(60))
    out = _entry(_opt_ml(tmp_path / "opt", {"scene": "channel:Game.exe"}, build=build))
    assert out.returncode == 1 and "Windows" in _failure(tmp_path / "opt").splitlines()[0]
    missing = _entry(_opt_ml(tmp_path / "opt2", {"scene": "channel:Nothing.x86_64"}, build=build))
    assert missing.returncode == 1 and "Nothing.x86_64" in _failure(tmp_path / "opt2").splitlines()[0]


def test_a_build_from_s3_gets_its_executable_bit_back(tmp_path):
    from unity_nb.trainer.sagemaker_entry import prepare_build

    exe = tmp_path / "Game.x86_64"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o644)  # as S3 hands it over
    prepare_build(str(exe))
    assert os.access(exe, os.X_OK)


# ---- training (Ray)

@pytest.mark.ray
def test_trains_prints_events_fills_the_model_folder_and_resumes_after_an_interruption(tmp_path):
    import onnxruntime

    config = ut.make_config("Basic", steps=1200, target_return="off", checkpoint_every=2)
    env = _opt_ml(tmp_path, contract.encode_hyperparameters(config))
    out = _entry(env)
    assert out.returncode == 0, out.stdout[-3000:]
    events = _events(out.stdout)
    assert [e["state"] for e in events if e["event"] == "status"] == ["starting", "running", "finished"]
    lines = [line for line in out.stdout.splitlines() if line.startswith(contract.EVENT_PREFIX)]
    import re

    iteration_lines = [line for line in lines if '"event": "iteration"' in line]
    for metric in contract.metric_definitions():  # SageMaker's console charts every one of them
        assert any(re.search(metric["Regex"], line) for line in iteration_lines), metric["Name"]
    model = tmp_path / "model"
    checkpoints = list((model / "checkpoints").iterdir())
    assert len(checkpoints) == 1 and (checkpoints[0] / ".complete").exists()
    onnx = model / "export" / "Basic.onnx"
    assert [i.name for i in onnxruntime.InferenceSession(str(onnx)).get_inputs()] == ["obs_0", "action_masks"]
    assert (model / "metrics.jsonl").exists() and (model / "config.yaml").exists()

    # a spot restart: same /opt/ml/checkpoints, a larger budget; only new events are printed
    more = config.replace(steps=2400)
    (tmp_path / "input/config/hyperparameters.json").write_text(json.dumps(contract.encode_hyperparameters(more)))
    again = _entry(env)
    assert again.returncode == 0, again.stdout[-3000:]
    resumed = _events(again.stdout)
    assert "resumed after an interruption" in resumed[0]["message"]
    first_iteration = min(e["iteration"] for e in resumed if e["event"] == "iteration")
    assert first_iteration > max(e["iteration"] for e in events if e["event"] == "iteration")
    assert resumed[-2]["state"] == "finished" if resumed[-1]["event"] == "log" else resumed[-1]["state"] == "finished"


@pytest.mark.ray
def test_sigterm_is_a_stop_with_a_model(tmp_path):
    config = ut.make_config("Basic", steps=500_000, target_return="off", checkpoint_every=1000)
    env = _opt_ml(tmp_path, contract.encode_hyperparameters(config))
    process = subprocess.Popen([sys.executable, "-m", "unity_nb.trainer.sagemaker_entry"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in process.stdout:
        event = contract.parse_event_line(line)
        if event is not None:
            seen.append(event)
            if event["event"] == "iteration" and event["iteration"] >= 2:
                process.send_signal(signal.SIGTERM)  # what StopTrainingJob does
                break
    rest = process.stdout.read()
    assert process.wait(timeout=120) == 0, rest[-3000:]
    seen += _events(rest)
    assert [e["state"] for e in seen if e["event"] == "status"][-1] == "stopped"
    assert list((tmp_path / "model" / "checkpoints").iterdir())
    assert (tmp_path / "model" / "export" / "Basic.onnx").exists()


@pytest.mark.ray
def test_two_hosts_form_one_ray_cluster_and_train_across_both(tmp_path):
    """Hosts on 127.0.0.2 and 127.0.0.3 (Ray rewrites 127.0.0.1, not these): the first is the
    head and trains, the second joins, collects experience, and leaves when the head is done."""
    config = ut.make_config("Basic", steps=1500, target_return="off", num_areas=2)
    hosts = ("127.0.0.2", "127.0.0.3")
    hyperparameters = contract.encode_hyperparameters(config)
    job = {"UNITY_NB_RAY_PORT": str(free_port()), "UNITY_NB_RAY_TOKEN": "job-token-" + "0" * 40}
    env_head = dict(_opt_ml(tmp_path / "head", hyperparameters, hosts, hosts[0]), **job)
    env_worker = dict(_opt_ml(tmp_path / "worker", hyperparameters, hosts, hosts[1]), **job)
    command = [sys.executable, "-m", "unity_nb.trainer.sagemaker_entry"]
    worker = subprocess.Popen(command, env=env_worker, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    head = subprocess.Popen(command, env=env_head, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        head_out, _ = head.communicate(timeout=420)
        worker_out, _ = worker.communicate(timeout=120)
    finally:
        for process in (head, worker):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    assert head.returncode == 0, head_out[-4000:]
    assert worker.returncode == 0, worker_out[-4000:]
    assert "joined the Ray cluster at 127.0.0.2" in worker_out
    events = _events(head_out)
    placement = [e for e in events if e["event"] == "placement"]
    assert placement and "127.0.0.3" in placement[0]["env_runner_nodes"], placement
    assert [e["state"] for e in events if e["event"] == "status"][-1] == "finished"
    assert (tmp_path / "head" / "model" / "export" / "Basic.onnx").exists()
    assert not (tmp_path / "worker" / "model").exists() or not list((tmp_path / "worker" / "model").iterdir())


def test_several_hosts_without_the_job_token_are_refused(tmp_path):
    env = _opt_ml(tmp_path, {}, ("127.0.0.2", "127.0.0.3"), "127.0.0.3")
    env.pop("UNITY_NB_RAY_TOKEN", None)
    out = _entry(env, timeout=60)
    assert out.returncode == 1 and "UNITY_NB_RAY_TOKEN" in _failure(tmp_path)
