"""The SageMaker backend against a local AWS (moto server on 127.0.0.1, real boto3 and sagemaker SDK).

The tests without Ray check what happens before anything is sent: settings, the job
request, and every refusal. The tests marked ``ray`` run whole jobs: moto records the job
the kit submits, and ``SageMakerStandIn`` (tests/sagemaker_jobs.py) plays SageMaker's part,
running the real entry point under the container contract and writing its output into
moto's CloudWatch Logs and S3, so the kit's follower streams, stops and fetches for real.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import regex  # SageMaker's patterns use \p{...} classes, which `re` does not know

import unity_nb.train as ut
from unity_nb.envs.errors import UnityBuildError
from unity_nb.train.config import ConfigError
from unity_nb.train.sagemaker import contract
from unity_nb.aws import SageMakerSetupError

ROLE = "unity-nb-test-sagemaker"


@pytest.fixture
def sm_env(aws, monkeypatch, tmp_path):
    """AWS pointed at the emulator, runs in a temporary folder, the follower polling fast."""
    monkeypatch.setenv("UNITY_NB_SAGEMAKER_POLL", "0.3")
    monkeypatch.setenv("UNITY_NB_RUNS", str(tmp_path / "runs"))
    return aws


def _jobs(aws) -> list[str]:
    import boto3

    return [j["TrainingJobName"] for j in boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]]


def _unity_build(folder, name="MyBall", data=True, windows=False):
    """A Linux 'Unity build' folder: an executable (the kit's 3DBall player) and its _Data folder."""
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / (f"{name}.exe" if windows else f"{name}.x86_64")
    if windows:
        exe.write_bytes(b"MZ\x90\x00" + bytes(60))  # a PE executable's first bytes
    else:
        exe.write_text(f"#!/bin/sh\nexec {sys.executable} -m unity_nb.envs.player --scene 3DBall \"$@\"\n")
    exe.chmod(0o755)
    if data:
        (folder / f"{name}_Data").mkdir(exist_ok=True)
        (folder / f"{name}_Data" / "app.info").write_text("unity-nb test build\n")
    return exe


# ---- the request, before anything is sent

def test_dry_run_shows_the_exact_request_and_sends_nothing(sm_env, tmp_path):
    result = ut.train("3DBall", backend="sagemaker", role=ROLE, instance_count=2, spot=True, steps=5000,
                      lr=1e-3, dry_run=True)
    request = result.request
    assert _jobs(sm_env) == []
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
    assert request["RoleArn"] == f"arn:aws:iam::123456789012:role/{ROLE}"
    assert request["ResourceConfig"] == {"InstanceType": "ml.c5.2xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30}
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"]["MaxWaitTimeInSeconds"] >= request["StoppingCondition"]["MaxRuntimeInSeconds"]
    # the resolved settings travel (the scene's defaults included), every value a string
    assert {"scene": "3DBall", "steps": "5000", "lr": "0.001", "num_areas": "9"}.items() <= \
        request["HyperParameters"].items()
    assert all(isinstance(v, str) for v in request["HyperParameters"].values())
    assert request["CheckpointConfig"]["LocalPath"] == "/opt/ml/checkpoints"
    assert "pytorch-training" in request["AlgorithmSpecification"]["TrainingImage"]
    # one string hash in the container (a seed repeats, as locally); the hosts' Ray token
    assert request["Environment"]["PYTHONHASHSEED"] == "0" and len(request["Environment"]["UNITY_NB_RAY_TOKEN"]) == 64
    text = str(result)
    for shown in ("us-east-1", "123456789012", ROLE, "sagemaker-us-east-1-123456789012", "2 x ml.c5.2xlarge",
                  "CreateTrainingJob request (not sent)"):
        assert shown in text


def _check_shape(shape, value, where, problems):
    """SageMaker's own constraints from botocore's service model: patterns, lengths, enums."""
    meta = shape.metadata
    if shape.type_name == "structure":
        for name, member in shape.members.items():
            if name in value:
                _check_shape(member, value[name], f"{where}.{name}", problems)
    elif shape.type_name == "list":
        for i, item in enumerate(value):
            _check_shape(shape.member, item, f"{where}[{i}]", problems)
    elif shape.type_name == "map":
        for k, v in value.items():
            _check_shape(shape.key, k, f"{where} key {k!r}", problems)
            _check_shape(shape.value, v, f"{where}[{k!r}]", problems)
    elif shape.type_name == "string":
        if "pattern" in meta and not regex.fullmatch(meta["pattern"], value):  # Java-style \\p{..} classes
            problems.append(f"{where}: {value!r} does not match {meta['pattern']}")
        if meta.get("max") is not None and len(value) > meta["max"]:
            problems.append(f"{where}: longer than {meta['max']}")
        if shape.enum and value not in shape.enum:
            problems.append(f"{where}: {value!r} not one of the allowed values")


def test_the_request_is_one_sagemaker_accepts_in_shape(sm_env, tmp_path):
    """Required fields and types (botocore's validator), SageMaker's patterns and limits, strings
    for hyperparameters, at most 40 metric definitions, and regexes that read the entry point's lines."""
    import boto3
    from botocore.validate import ParamValidator

    exe = _unity_build(tmp_path / "build")
    request = ut.train(str(exe), backend="sagemaker", role=ROLE, steps=3000, target_return="off",
                       env_params={}, dry_run=True).request
    model = boto3.client("sagemaker").meta.service_model.operation_model("CreateTrainingJob")
    report = ParamValidator().validate(request, model.input_shape)
    assert not report.has_errors(), report.generate_report()
    problems: list[str] = []
    _check_shape(model.input_shape, request, "request", problems)
    assert not problems, problems
    assert all(isinstance(v, str) for v in request["HyperParameters"].values())
    assert request["HyperParameters"]["scene"] == "channel:MyBall.x86_64"
    channels = {c["ChannelName"]: c for c in request["InputDataConfig"]}
    assert channels["train"]["DataSource"]["S3DataSource"]["S3Uri"].startswith(
        "s3://sagemaker-us-east-1-123456789012/unity-nb/builds/MyBall-")
    assert "code" in channels
    metrics = request["AlgorithmSpecification"]["MetricDefinitions"]
    assert 0 < len(metrics) <= 40
    line = contract.event_line({"event": "iteration", "v": 1, "t": 1.0, "iteration": 2, "env_steps": 4096,
                                **{m: -0.125 for m in contract.METRICS if m != "env_steps"}})
    for metric in metrics:
        found = re.search(metric["Regex"], line)
        assert found, metric["Name"]
        assert float(found.group(1)) in (-0.125, 4096.0)
    assert contract.decode_hyperparameters(request["HyperParameters"], "/opt/ml/input/data/train").scene == \
        "/opt/ml/input/data/train/MyBall.x86_64"


def test_hyperparameters_travel_as_strings_and_come_back_the_same():
    config = ut.make_config("3DBall", lr=3e-4, target_return="off", normalize=True, env_params={"scale": 1.5},
                            lr_schedule="linear", seed=7, behavior="3DBall")
    hps = contract.encode_hyperparameters(config)
    assert all(isinstance(v, str) for v in hps.values())
    assert contract.decode_hyperparameters(hps).to_dict() == config.to_dict()
    with pytest.raises(ConfigError, match="lr must be a number"):
        contract.decode_hyperparameters({"lr": "fast"})
    with pytest.raises(ConfigError, match="unknown setting 'learning'"):
        contract.decode_hyperparameters({"learning": "1"})


# ---- refusals, before anything is sent (and no run folder left behind)

def _refused(sm_env, tmp_path, error, match, scene="3DBall", **settings):
    with pytest.raises(error, match=match):
        ut.train(scene, backend="sagemaker", **settings)
    assert _jobs(sm_env) == []
    runs = tmp_path / "runs"
    assert not runs.exists() or not [p for p in runs.iterdir() if not p.name.startswith(".")]


def test_no_credentials(sm_env, tmp_path, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    _refused(sm_env, tmp_path, SageMakerSetupError, r"no AWS credentials: run `aws configure`", role=ROLE)


def test_no_role_says_how_to_pass_one(sm_env, tmp_path):
    _refused(sm_env, tmp_path, SageMakerSetupError, r"no IAM role.*--role NAME.*SAGEMAKER_ROLE")


def test_role_from_the_environment(sm_env, monkeypatch):
    monkeypatch.setenv("SAGEMAKER_ROLE", "from-env")
    result = ut.train("Basic", backend="sagemaker", dry_run=True)
    assert result.request["RoleArn"].endswith(":role/from-env")
    assert "$SAGEMAKER_ROLE" in str(result)


def test_unknown_region_and_instance_type(sm_env, tmp_path):
    _refused(sm_env, tmp_path, SageMakerSetupError, r"region 'us-middle-1'.*regions: .*us-east-1", role=ROLE,
             region="us-middle-1")
    _refused(sm_env, tmp_path, SageMakerSetupError, r"'ml.c5.huge' is not a SageMaker training instance type.*"
             r"ml.c5.2xlarge", role=ROLE, instance_type="ml.c5.huge")
    _refused(sm_env, tmp_path, ConfigError, r"instance_type must be a SageMaker instance type like ml.c5.2xlarge",
             role=ROLE, instance_type="c5.large")


def test_builds_sagemaker_cannot_run_are_refused_before_any_upload(sm_env, tmp_path):
    import boto3

    _refused(sm_env, tmp_path, (ConfigError, UnityBuildError), r"does not exist|neither",
             scene=str(tmp_path / "nowhere" / "Game.x86_64"), role=ROLE)
    windows = _unity_build(tmp_path / "win", windows=True)
    _refused(sm_env, tmp_path, UnityBuildError, r"Windows", scene=str(windows), role=ROLE)
    bare = _unity_build(tmp_path / "bare", name="Bare", data=False)
    _refused(sm_env, tmp_path, UnityBuildError, r"no Bare_Data folder next to it", scene=str(bare), role=ROLE)
    buckets = boto3.client("s3").list_buckets()["Buckets"]
    for bucket in buckets:
        assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=bucket["Name"])


def test_settings_that_do_not_fit_the_backend():
    with pytest.raises(ConfigError, match="instance_count applies to SageMaker runs only"):
        ut.make_config("Basic", instance_count=2)
    with pytest.raises(ConfigError, match="address is for a Ray cluster you run"):
        ut.make_config("Basic", backend="sagemaker", address="10.0.0.5:6379")
    with pytest.raises(ConfigError, match="backend must be 'local' or 'sagemaker'"):
        ut.make_config("Basic", backend="azure")
    with pytest.raises(ConfigError, match="dry_run shows a SageMaker job's request"):
        ut.train("Basic", dry_run=True)


def test_cli_dry_run(sm_env):
    out = subprocess.run([sys.executable, "-m", "unity_nb.cli", "train", "3DBall", "--backend", "sagemaker",
                          "--role", ROLE, "--instance-type", "ml.c5.xlarge", "--dry-run"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "CreateTrainingJob request (not sent)" in out.stdout
    request = json.loads(out.stdout.split("(not sent):\n", 1)[1])
    assert request["ResourceConfig"]["InstanceType"] == "ml.c5.xlarge"
    bad = subprocess.run([sys.executable, "-m", "unity_nb.cli", "train", "3DBall", "--backend", "sagemaker",
                          "--dry-run"], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0
    assert "no IAM role" in bad.stderr
    assert "Traceback" not in bad.stderr


# ---- whole jobs: moto records them, the stand-in plays SageMaker, the kit follows

@pytest.fixture
def standin(sm_env, tmp_path):
    from sagemaker_jobs import SageMakerStandIn

    player = SageMakerStandIn(sm_env, tmp_path / "opt")
    yield player
    player.close()


def _iterations(run) -> list[int]:
    return [e["iteration"] for e in run.events() if e["event"] == "iteration"]


def _wait_for(condition, timeout, what):
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


@pytest.mark.ray
def test_a_3dball_run_through_the_whole_emulated_path(standin, tmp_path):
    """launch -> stream -> fetch -> evaluate -> export; the request as sent passes the shape check."""
    import boto3
    from botocore.validate import ParamValidator

    run = ut.train("3DBall", backend="sagemaker", role=ROLE, steps=4800, target_return="off", checkpoint_every=1,
                   num_areas=1, train_batch_size=2400, minibatch_size=600)  # two iterations
    name = standin.wait_for_job()
    assert run.backend_state["region"] == "us-east-1"
    run.wait(timeout=400)
    status = run.status
    assert status["state"] == "finished", (status, run.log_path("follow").read_text()[-3000:])
    assert status["job_status"] == "Completed"
    messages = [e["message"] for e in run.events() if e["event"] == "log"]
    for stage in ("SageMaker: Starting", "SageMaker: Downloading", "SageMaker: Training", "SageMaker: Uploading",
                  "SageMaker: Completed", f"SageMaker job {name} submitted", "fetched model.tar.gz"):
        assert any(m.startswith(stage) for m in messages), (stage, messages)
    assert _iterations(run) == list(range(1, len(_iterations(run)) + 1)) and len(_iterations(run)) >= 2
    assert run.last()["env_steps"] >= 4800
    # the job's whole log is kept, and the metric definitions read its iteration lines
    log = run.log_path("sagemaker").read_text()
    iteration_lines = [line for line in log.splitlines() if '"event": "iteration"' in line]
    request = standin.requests[name]
    for metric in request["AlgorithmSpecification"]["MetricDefinitions"]:
        assert any(re.search(metric["Regex"], line) for line in iteration_lines), metric["Name"]
    model = boto3.client("sagemaker").meta.service_model.operation_model("CreateTrainingJob")
    assert not ParamValidator().validate(request, model.input_shape).has_errors()
    # fetched: the checkpoint and the exported model are here, so the local verbs work
    checkpoint = run.latest_checkpoint()
    assert checkpoint is not None and Run_progress(checkpoint)["env_steps"] >= 4800
    assert list(run.export_dir.glob("*.onnx"))
    assert run.evaluate(episodes=2).mean is not None
    assert run.export(verify=200).ok
    assert run.summary()["state"] == "finished"
    # deploy -> predict -> list -> delete, on a SageMaker endpoint (EndpointStandIn answers InvokeEndpoint)
    from sagemaker_jobs import EndpointStandIn

    from unity_nb.deploy.handler import PolicyHandler
    from unity_nb.deploy.sagemaker import endpoints

    serving = EndpointStandIn(standin.aws, tmp_path / "serving")
    try:
        lines: list[str] = []
        endpoint = run.deploy(target="sagemaker", progress=lines.append)
        assert endpoint.status == "InService" and endpoint.kind == "serverless 2048 MB"
        assert any("InService" in line for line in lines), lines
        observations = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
        local = PolicyHandler(run.model_for())
        _, expected, _ = local.invoke(json.dumps({"observations": observations.tolist()}).encode(), "application/json")
        assert endpoint.invoke(observations) == json.loads(expected)["actions"]
        assert serving.invocations == 1
        listed = endpoints()
        assert [(e.name, e.run, e.kind) for e in listed] == [(endpoint.name, run.id, "serverless 2048 MB")]
        endpoint.stop()
        assert endpoints() == []
    finally:
        serving.close()


def test_a_cooperative_run_with_poca_through_the_emulated_path(standin):
    """Escape (agents that leave mid-episode, trained with POCA's group critic) as a SageMaker job: the job trains
    on the multi-agent path, and the fetched run evaluates and exports its one behavior."""
    run = ut.train("Escape", backend="sagemaker", role=ROLE, steps=6144, num_areas=2, train_batch_size=3072,
                   minibatch_size=256, checkpoint_every=1)  # two iterations of 512 exchanges of 6 agents
    standin.wait_for_job()
    run.wait(timeout=400)
    assert run.state == "finished", (run.status, run.log_path("follow").read_text()[-3000:])
    assert run.config.poca is True and run.last()["env_steps"] >= 6144
    assert [p.name for p in run.export_dir.glob("*.onnx")] == ["Escape.onnx"]
    assert run.evaluate(episodes=6, play="sampled").rows()["Escape"]["episodes"] == 6


def test_a_self_play_run_through_the_emulated_path(standin):
    """Pong by self-play as a SageMaker job: the ratings stream back, and the fetched checkpoint holds the window of
    snapshots, so the local verbs play against them."""
    run = ut.train("Pong", backend="sagemaker", role=ROLE, steps=8192, num_areas=2, train_batch_size=4096,
                   minibatch_size=256, checkpoint_every=1,
                   self_play={"save_steps": 1000, "team_change": 4000, "swap_steps": 1000, "window": 2})
    standin.wait_for_job()
    run.wait(timeout=400)
    assert run.state == "finished", (run.status, run.log_path("follow").read_text()[-3000:])
    iterations = [e for e in run.events() if e["event"] == "iteration"]
    assert iterations and all(e["elo"] > 0 for e in iterations)
    assert (run.latest_checkpoint() / "self_play.pkl").is_file()
    assert [p.name for p in run.export_dir.glob("*.onnx")] == ["Pong.onnx"]
    against = run.evaluate(episodes=4, play="deterministic", opponent="snapshot:0")
    assert against.rows()["all"]["episodes"] == 8  # each team's 4 games against the snapshot


@pytest.mark.ray
def test_a_run_that_learns_from_demonstrations_gets_them_in_its_demos_channel(standin, tmp_path):
    """behavioral_cloning from a .demo file and gail from a folder of them, as a SageMaker job: both travel in the
    job's demos channel (each under its setting), the container reads them there, and both losses stream back."""
    from unity_nb.evaluate.demos import record_demo

    folder = tmp_path / "my demos"
    folder.mkdir()
    record_demo(lambda observations: np.full((len(observations[0]), 1), 2, np.int32), "Basic",
                folder / "right.demo", episodes=10)
    settings = dict(backend="sagemaker", role=ROLE, steps=512, target_return="off", checkpoint_every=1,
                    behavioral_cloning={"demo_path": str(folder / "right.demo")}, gail={"demo_path": str(folder)})
    dry = ut.train("Basic", dry_run=True, **settings)
    assert f"gail {folder}  (uploaded to s3://" in str(dry)
    assert "demos" in [c["ChannelName"] for c in dry.request["InputDataConfig"]]  # beside the SDK's code channels
    run = ut.train("Basic", **settings)
    name = standin.wait_for_job()
    run.wait(timeout=400)
    assert run.state == "finished", (run.status, run.log_path("follow").read_text()[-3000:])
    request = standin.requests[name]
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in request["InputDataConfig"]}
    assert channels["demos"].endswith(f"/runs/{run.id}/demos/")
    sent = {k: json.loads(request["HyperParameters"][k])["demo_path"] for k in ("behavioral_cloning", "gail")}
    assert sent == {"behavioral_cloning": "demos:behavioral_cloning/right.demo", "gail": "demos:gail/my demos"}
    assert run.config.behavioral_cloning["demo_path"] == str(folder / "right.demo")  # the local run keeps its path
    iterations = [e for e in run.events() if e["event"] == "iteration"]
    assert iterations and all(e["bc_loss"] is not None and e["gail_loss"] is not None for e in iterations)
    messages = [e["message"] for e in run.events() if e["event"] == "log"]
    assert any(m.startswith("uploading the demonstrations (behavioral_cloning, gail)") for m in messages), messages


def test_a_job_demo_path_stays_inside_its_channel():
    with pytest.raises(ConfigError, match="gail.demo_path 'demos:../../etc' points outside the demos channel"):
        contract.decode_hyperparameters({"gail": json.dumps({"demo_path": "demos:../../etc"})}, None, "/opt/ml/d")
    with pytest.raises(ConfigError, match="is an uploaded demonstration, but the job has no 'demos' channel"):
        contract.decode_hyperparameters({"gail": json.dumps({"demo_path": "demos:gail/x.demo"})})


def Run_progress(checkpoint):
    from unity_nb.train.store import RunFolder

    return RunFolder.progress(checkpoint)


@pytest.mark.ray
def test_stop_and_reattach_after_the_follower_dies(standin):
    """The follower is killed mid-run (as by a machine restart); get_run re-attaches, streaming
    goes on where it stopped with no event twice; stop from the notebook is StopTrainingJob."""
    import os
    import signal

    run = ut.train("Basic", backend="sagemaker", role=ROLE, steps=400_000, target_return="off", checkpoint_every=3)
    _wait_for(lambda: len(_iterations(run)) >= 3, 300, "no iterations streamed")
    follower = run.status["pid"]
    os.kill(follower, signal.SIGKILL)
    _wait_for(lambda: run.status.get("attached") is False, 30, "a dead follower is not noticed")
    assert run.state == "running"  # the job goes on in SageMaker
    seen = len(_iterations(run))
    run = ut.get_run(run.id)
    _wait_for(lambda: run.status.get("pid") != follower and run.status.get("attached") is not False, 30,
              "get_run did not re-attach")
    _wait_for(lambda: len(_iterations(run)) >= seen + 2, 300, "streaming did not resume")
    run.stop(timeout=300)
    assert run.state == "stopped", run.status
    assert run.status["job_status"] == "Stopped"
    iterations = _iterations(run)
    assert iterations == list(range(1, len(iterations) + 1))  # none lost, none twice
    assert run.latest_checkpoint() is not None  # the stopped job's model was fetched
    assert any(e.get("message", "").startswith("stop requested") for e in run.events())
    # resume: a new job that starts from the run's checkpoints in S3, with a new step budget
    first_job, steps = run.backend_state["job_name"], run.last()["env_steps"]
    ut.resume(run.id, steps=steps + 1000).wait(timeout=300)
    assert run.state == "finished", run.status
    assert run.backend_state["job_name"] != first_job and first_job in run.backend_state["previous_jobs"]
    after = _iterations(run)[len(iterations):]
    assert after and after[0] == iterations[-1] + 1 and run.last()["env_steps"] >= steps + 1000


@pytest.mark.ray
def test_a_failing_job_says_why_and_keeps_its_logs(standin, tmp_path):
    exe = _unity_build(tmp_path / "broken", name="Broken")
    exe.write_text("#!/bin/sh\necho 'Broken: cannot open display' >&2\nexit 3\n")
    run = ut.train(str(exe), backend="sagemaker", role=ROLE, steps=1000, unity_timeout=10)
    run.wait(timeout=300)
    status = run.status
    assert status["state"] == "failed"
    assert status["error"].startswith("SageMaker: AlgorithmError:")
    details = (run.path / "logs" / "error.txt").read_text()
    assert "last log lines" in details and "[algo-1]" in details
    assert run.log_path("sagemaker").stat().st_size > 0


# ---- the follower on its own (no Ray): failures and AWS's bad moments

def _followed_job(aws, tmp_path, status="Failed", reason="AlgorithmError: the build crashed"):
    """A run folder whose job moto holds in ``status`` (created with boto3; no container runs)."""
    import boto3

    from unity_nb.train.store import RunStore

    sm = boto3.client("sagemaker")
    sm.create_training_job(
        TrainingJobName="unb-follow-1", RoleArn=f"arn:aws:iam::123456789012:role/{ROLE}",
        AlgorithmSpecification={"TrainingImage": "image", "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": "s3://sagemaker-us-east-1-123456789012/out"},
        ResourceConfig={"InstanceType": "ml.c5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 3600})
    job = aws.backend().training_jobs["unb-follow-1"]
    job.training_job_status, job.secondary_status, job.failure_reason = status, status, reason
    run = RunStore(tmp_path / "runs").create(ut.make_config("Basic", backend="sagemaker"))
    run.note_backend(backend="sagemaker", region="us-east-1", job_name="unb-follow-1")
    return run


def test_throttling_is_retried_with_backoff_and_a_failed_job_says_why(sm_env, tmp_path, monkeypatch):
    """moto cannot throttle: the follower's client raises SageMaker's own throttling error three
    times (a stand-in for that one failure); the follower backs off, says so, and goes on."""
    from botocore.exceptions import ClientError

    from unity_nb.train.sagemaker.follow import Follower

    run = _followed_job(sm_env, tmp_path)
    follower = Follower(run, poll=0.05)
    real = follower.sm.describe_training_job
    calls = {"n": 0}

    def throttled(**kwargs):
        calls["n"] += 1
        if calls["n"] <= 3:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "DescribeTrainingJob")
        return real(**kwargs)

    monkeypatch.setattr(follower.sm, "describe_training_job", throttled)
    follower.out.adopt()
    assert follower.follow() == 1
    follower.out.close()
    waits = [e["message"] for e in run.events() if "AWS did not answer" in e.get("message", "")]
    assert len(waits) == 3 and "ThrottlingException" in waits[0]
    assert [float(re.search(r"again in ([0-9.]+) s", m).group(1)) for m in waits] == [0.1, 0.2, 0.4]
    status = run.status
    assert status["state"] == "failed"
    assert status["error"] == "SageMaker: AlgorithmError: the build crashed"
    assert "the job wrote no log lines" in (run.path / "logs" / "error.txt").read_text()


def test_a_follower_that_cannot_reach_aws_at_all_fails_with_the_reason(sm_env, tmp_path, monkeypatch):
    """Errors that are not AWS's bad moment (no such job, no permission) end the run with the reason."""
    import boto3

    from unity_nb.train.sagemaker.follow import main

    run = _followed_job(sm_env, tmp_path)
    run.note_backend(job_name="unb-no-such-job")
    assert main([str(run.path)]) == 1
    assert run.state == "failed"
    assert "unb-no-such-job" in run.status["error"] or "ValidationException" in run.status["error"]
    assert boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]


@pytest.mark.ray
def test_a_spot_interruption_resumes_from_the_s3_checkpoints(sm_env, tmp_path):
    from sagemaker_jobs import SageMakerStandIn

    player = SageMakerStandIn(sm_env, tmp_path / "opt", interrupt_after=1)
    try:
        run = ut.train("Basic", backend="sagemaker", role=ROLE, spot=True, steps=2500, target_return="off",
                       checkpoint_every=2, train_batch_size=256, minibatch_size=128)
        run.wait(timeout=400)
    finally:
        player.close()
    status = run.status
    assert status["state"] == "finished", (status, run.log_path("follow").read_text()[-2000:])
    messages = [e["message"] for e in run.events() if e["event"] == "log"]
    assert any(m.startswith("SageMaker: Interrupted") for m in messages)
    assert any("resumed" in m for m in messages), messages
    assert run.last()["env_steps"] >= 2500
    assert len(list(run.log_path("sagemaker").read_text().split("[algo-1]"))) > 2


@pytest.mark.kernel
def test_the_magic_face_shows_the_request_and_names_what_is_missing(sm_env, tmp_path):
    from kernel import Kernel

    kernel = Kernel(tmp_path)  # inherits this process's AWS settings: the emulator
    try:
        kernel.ok("%load_ext unity_nb")
        reply = kernel.ok(f"request = %unity_train 3DBall --backend sagemaker --role {ROLE} --spot --dry-run\n"
                          "request.request['EnableManagedSpotTraining'], sorted(request.request['HyperParameters'])[:3]")
        assert "(True, " in reply.value
        missing = kernel.run("%unity_train 3DBall --backend sagemaker --dry-run")
        assert missing.status == "error" and missing.error["ename"] == "UsageError", missing.text
        assert "no IAM role" in missing.error["evalue"] and "--role" in missing.error["evalue"]
        wrong = kernel.run("%unity_train 3DBall --backend sagemaker --instance-count 0")
        assert "instance_count must be >= 1" in wrong.error["evalue"]
    finally:
        kernel.close()
