"""SageMaker's part in the tests: what the service does with a training job, played on this machine.

moto (tests/aws_emulator.py) records a training job and calls it ``Completed`` at once;
it runs nothing and writes no logs. ``SageMakerStandIn`` does what SageMaker would, with
the job exactly as the kit sent it to moto:

1. a created job starts ``InProgress``/``Starting`` (moto's create is wrapped for that);
2. ``Downloading``: its channels (the kit's code channel, the ``train`` build channel) and its
   S3 checkpoints are copied from moto's S3 into a temporary ``/opt/ml``-shaped folder, with
   ``hyperparameters.json`` and ``resourceconfig.json`` as SageMaker writes them;
3. ``Training``: the entry script from the code channel runs (the kit's code *as uploaded*,
   not the checkout's), with the container's environment (``SM_HOSTS``, ``SM_CURRENT_HOST``,
   ``SM_CHANNEL_*``, ``SM_MODEL_DIR``, ...); each line it prints goes to moto's CloudWatch
   Logs (group ``/aws/sagemaker/TrainingJobs``, stream ``<job>/algo-1-<time>``), as SageMaker
   ships container output; a job marked ``Stopping`` (StopTrainingJob) gets SIGTERM;
4. ``Uploading``: ``/opt/ml/model`` becomes ``model.tar.gz`` under the job's output path, the
   checkpoints folder is copied back to the checkpoint S3 URI;
5. ``Completed``, ``Stopped`` or ``Failed`` (with ``FailureReason`` from ``/opt/ml/output/failure``).

With ``interrupt_after=N`` it also plays a spot interruption: once N checkpoints are complete the
container is killed (SIGKILL: a reclaimed instance saves nothing), the checkpoints folder is in
S3 (SageMaker syncs it all along), and a new ``/opt/ml`` starts from them.

What it does not play: docker, the image's own start-up (the kit's requirements are already
installed here), the SDK's ``sm_drivers`` wrapper script (the entry script is run directly),
and several instances (the entry point's multi-host cluster is tested on its own, in
tests/test_sagemaker_entry.py).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tarfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from unity_nb.train.sagemaker.contract import ENTRY_SCRIPT

LOG_GROUP = "/aws/sagemaker/TrainingJobs"


class SageMakerStandIn:
    def __init__(self, aws, root: Path, *, stage_seconds: float = 0.3, replay: Path | None = None,
                 replay_interval: float = 0.25, interrupt_after: int = 0):
        import boto3

        self.aws = aws
        self.root = Path(root)
        self.stage_seconds = stage_seconds  # time spent in each stage before training (the follower sees them)
        # replay: instead of the entry point, print a recorded run's events (fresh times), one per interval
        # (bench/sagemaker_bench.py measures the log-to-run-folder delay this way, without Ray)
        self.replay, self.replay_interval = replay, replay_interval
        # interrupt_after=N: the first job's instance is reclaimed (spot) once N checkpoints are complete
        self.interrupt_after = interrupt_after
        self.s3 = boto3.client("s3")
        self.logs = boto3.client("logs")
        self.created: queue.Queue[str] = queue.Queue()
        self.requests: dict[str, dict] = {}  # job name -> the CreateTrainingJob parameters as moto received them
        self.received: dict[str, float] = {}  # job name -> when moto received it (time.time())
        self.threads: dict[str, threading.Thread] = {}
        self.processes: dict[str, subprocess.Popen] = {}
        self.hold = threading.Event()  # set: a job waits after Training begins until released
        self.released = threading.Event()
        self._patch_moto()
        self._watching = True
        threading.Thread(target=self._watch, daemon=True).start()

    # ---- moto: a created job starts in progress; its request is kept
    def _patch_moto(self) -> None:
        from moto.sagemaker.models import SageMakerModelBackend
        from moto.sagemaker.responses import SageMakerResponse

        standin = self
        original_create = SageMakerModelBackend.create_training_job
        original_response = SageMakerResponse.create_training_job

        def create_training_job(backend, *args, **kwargs):
            job = original_create(backend, *args, **kwargs)
            job.training_job_status, job.secondary_status = "InProgress", "Starting"
            job.secondary_status_transitions = [_transition("Starting", "Launching requested ML instances")]
            job.training_end_time = None
            standin.created.put(job.training_job_name)
            return job

        def create_response(response):
            params = json.loads(response.body)
            standin.requests[params["TrainingJobName"]] = params
            standin.received[params["TrainingJobName"]] = time.time()
            return original_response(response)

        self._restore = [(SageMakerModelBackend, "create_training_job", original_create),
                         (SageMakerResponse, "create_training_job", original_response)]
        SageMakerModelBackend.create_training_job = create_training_job
        SageMakerResponse.create_training_job = create_response

    def close(self) -> None:
        self._watching = False
        self.released.set()
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        for owner, name, original in self._restore:
            setattr(owner, name, original)

    def _watch(self) -> None:
        while self._watching:
            try:
                name = self.created.get(timeout=0.2)
            except queue.Empty:
                continue
            thread = threading.Thread(target=self._play, args=(name,), daemon=True)
            self.threads[name] = thread
            thread.start()

    def job(self, name: str):
        return self.aws.backend().training_jobs[name]

    def wait_for_job(self, timeout: float = 60) -> str:
        """The name of the next job the kit creates."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.threads:
                return next(reversed(self.threads))
            time.sleep(0.05)
        raise TimeoutError("the kit created no training job")

    def finish(self, name: str, timeout: float = 300) -> None:
        self.threads[name].join(timeout)

    # ---- one job, stage by stage
    def _stage(self, job, status: str, message: str) -> None:
        if job.training_job_status == "Stopping" and status not in ("Stopping", "Stopped", "Uploading"):
            return
        job.secondary_status = status
        job.secondary_status_transitions = [*job.secondary_status_transitions, _transition(status, message)]

    def _play(self, name: str) -> None:
        job = self.job(name)
        opt = self.root / name
        try:
            time.sleep(self.stage_seconds)
            self._stage(job, "Downloading", "Downloading input data")
            env = self._lay_out(job, opt)
            time.sleep(self.stage_seconds)
            self._stage(job, "Training", "Training image download completed. Training in progress.")
            code = self._train(job, opt, env)
            if code == "interrupted":  # a spot interruption: a new instance, /opt/ml again from S3
                self._stage(job, "Interrupted", "The spot instance was reclaimed; the job will resume")
                self._sync_checkpoints(job, opt)
                opt = self.root / f"{name}-restarted"
                self._stage(job, "Downloading", "Downloading input data")
                env = self._lay_out(job, opt)
                self._stage(job, "Training", "Training resumed from the checkpoints in S3")
                code = self._train(job, opt, env)
            self._stage(job, "Uploading", "Uploading generated training model")
            self._upload(job, opt)
        except Exception as err:  # the stand-in itself failed: say so as SageMaker would
            job.training_job_status, job.secondary_status = "Failed", "Failed"
            job.failure_reason = f"ClientError: {err}"
            raise
        stopping = job.training_job_status == "Stopping"
        if code == 0:
            final = "Stopped" if stopping else "Completed"
        else:
            final = "Failed"
            failure = opt / "output" / "failure"
            reason = failure.read_text().strip() if failure.exists() else f"exit code {code}"
            job.failure_reason = f"AlgorithmError: {reason.splitlines()[0] if reason else code}"
        job.training_job_status = final
        self._stage(job, final, {"Completed": "Training job completed", "Stopped": "Training job stopped",
                                 "Failed": job.__dict__.get("failure_reason", "")}[final])
        job.training_end_time = datetime.now(timezone.utc)

    def _lay_out(self, job, opt: Path) -> dict[str, str]:
        """/opt/ml as the container sees it, and the environment SageMaker's toolkit sets."""
        for sub in ("input/config", "model", "checkpoints", "output"):
            (opt / sub).mkdir(parents=True, exist_ok=True)
        (opt / "input/config/hyperparameters.json").write_text(json.dumps(job.hyper_parameters))
        (opt / "input/config/resourceconfig.json").write_text(json.dumps(
            {"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}))
        env = dict(os.environ, UNITY_NB_OPT_ML=str(opt), SM_HOSTS='["algo-1"]', SM_CURRENT_HOST="algo-1",
                   SM_NUM_CPUS=str(os.cpu_count()), SM_NUM_GPUS="0", SM_MODEL_DIR=str(opt / "model"),
                   SM_HPS=json.dumps(job.hyper_parameters), PYTHONUNBUFFERED="1",
                   SM_OUTPUT_DATA_DIR=str(opt / "output/data"))
        for channel in job.input_data_config:
            name = channel["ChannelName"]
            folder = opt / "input/data" / name
            self._download(channel["DataSource"]["S3DataSource"]["S3Uri"], folder)
            env[f"SM_CHANNEL_{name.upper()}"] = str(folder)
        if job.checkpoint_config:  # what SageMaker restores before a spot job resumes
            self._download(job.checkpoint_config["S3Uri"], opt / "checkpoints")
        return env

    def _train(self, job, opt: Path, env: dict) -> int:
        code_dir = Path(env["SM_CHANNEL_CODE"])
        entry = code_dir / ENTRY_SCRIPT
        # the code channel's own copy of the kit, not the checkout's (as in the container): the entry
        # script unpacks it and puts it on the path; nothing of the test's environment points there
        env.pop("PYTHONPATH", None)
        command = [sys.executable, str(entry)]
        if self.replay is not None:
            command = [sys.executable, "-c", REPLAY, str(self.replay), str(self.replay_interval)]
        process = subprocess.Popen(command, cwd=code_dir, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.processes[job.training_job_name] = process
        stream = f"{job.training_job_name}/algo-1-{int(time.time())}"
        try:
            self.logs.create_log_group(logGroupName=LOG_GROUP)
        except self.logs.exceptions.ResourceAlreadyExistsException:
            pass
        self.logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
        lines: queue.Queue[str | None] = queue.Queue()

        def read():
            for line in process.stdout:
                lines.put(line.rstrip("\n"))
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        batch, done, signalled, interrupted = [], False, False, False
        while not done:
            try:
                line = lines.get(timeout=0.25)
                if line is None:
                    done = True
                else:
                    batch.append(line)
            except queue.Empty:
                pass
            if self.interrupt_after and not signalled and process.poll() is None and \
                    len(list((opt / "checkpoints").rglob(".complete"))) >= self.interrupt_after:
                os.killpg(process.pid, signal.SIGKILL)  # the instance is gone: no time to save anything
                self.interrupt_after, signalled, interrupted = 0, True, True
            if job.training_job_status == "Stopping" and not signalled and process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)  # SageMaker's stop: SIGTERM to the entry point, 120 s to save
                signalled = True
            if batch and (done or len(batch) >= 50 or lines.empty()):
                now = int(time.time() * 1000)
                self.logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream,
                                         logEvents=[{"timestamp": now, "message": m} for m in batch])
                batch = []
        code = process.wait()
        return "interrupted" if interrupted else code

    def _upload(self, job, opt: Path) -> None:
        output = job.output_data_config["S3OutputPath"].rstrip("/")
        bucket, _, prefix = output.removeprefix("s3://").partition("/")
        archive = opt / "model.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for path in sorted((opt / "model").iterdir()):
                tar.add(path, arcname=path.name)
        key = f"{prefix}/{job.training_job_name}/output/model.tar.gz"
        self.s3.upload_file(str(archive), bucket, key)
        job.model_artifacts = {"S3ModelArtifacts": f"s3://{bucket}/{key}"}
        self._sync_checkpoints(job, opt)

    def _sync_checkpoints(self, job, opt: Path) -> None:
        """/opt/ml/checkpoints to the checkpoint S3 URI (SageMaker does this all along the job)."""
        if job.checkpoint_config:
            cbucket, _, cprefix = job.checkpoint_config["S3Uri"].removeprefix("s3://").partition("/")
            for path in (opt / "checkpoints").rglob("*"):
                if path.is_file():
                    self.s3.upload_file(str(path), cbucket, f"{cprefix.rstrip('/')}/{path.relative_to(opt / 'checkpoints').as_posix()}")

    def _download(self, uri: str, folder: Path) -> None:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        folder.mkdir(parents=True, exist_ok=True)
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", []):
                relative = item["Key"][len(prefix):].lstrip("/")
                if not relative:
                    continue
                target = folder / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                self.s3.download_file(bucket, item["Key"], str(target))


REPLAY = """
import json, sys, time
from unity_nb.train.sagemaker.contract import event_line
for line in open(sys.argv[1]):
    event = json.loads(line)
    event["t"] = time.time()
    print(event_line(event), flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _transition(status: str, message: str) -> dict:
    now = datetime.now(timezone.utc)
    return {"Status": status, "StartTime": now, "StatusMessage": message}


class EndpointStandIn:
    """SageMaker's serving part: moto records models and endpoints (InService at once) but answers
    InvokeEndpoint with canned bytes. This routes InvokeEndpoint around that, in the emulator
    (which runs in the test process): the endpoint's model.tar.gz is fetched from moto's S3 as the
    container would get it, its ``code/inference.py`` is loaded as the PyTorch serving toolkit
    loads it (``model_fn`` once, ``transform_fn`` per request), and the answer, or the
    handler's refusal as SageMaker's ``ModelError`` (HTTP 424), goes back over HTTP."""

    def __init__(self, aws, root: Path):
        from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

        self.aws, self.root = aws, Path(root)
        self.loaded: dict[str, object] = {}
        self.invocations = 0
        original = SageMakerRuntimeResponse.invoke_endpoint
        standin = self

        def invoke_endpoint(response):
            return standin._invoke(response)

        self._restore = (SageMakerRuntimeResponse, original)
        SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint

    def close(self) -> None:
        owner, original = self._restore
        owner.invoke_endpoint = original

    def _container(self, name: str):
        import importlib.util

        import boto3

        backend = self.aws.backend()
        endpoint = backend.endpoints[name]
        config = backend.endpoint_configs[endpoint.endpoint_config_name]
        model = backend._models[config.production_variants[0]["ModelName"]]
        url = model.primary_container["ModelDataUrl"]
        if url not in self.loaded:
            bucket, _, key = url.removeprefix("s3://").partition("/")
            folder = self.root / name
            folder.mkdir(parents=True, exist_ok=True)
            boto3.client("s3").download_file(bucket, key, str(folder / "model.tar.gz"))
            with tarfile.open(folder / "model.tar.gz") as tar:
                tar.extractall(folder, filter="data")
            sys.path.insert(0, str(folder / "code"))
            try:
                spec = importlib.util.spec_from_file_location(f"inference_{len(self.loaded)}",
                                                              folder / "code" / "inference.py")
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            finally:
                sys.path.remove(str(folder / "code"))
            self.loaded[url] = (module, module.model_fn(str(folder)))
        return self.loaded[url]

    def _invoke(self, response):
        params = response._get_params()
        name = params.get("EndpointName") or response.path.split("/")[2]
        if name not in self.aws.backend().endpoints:
            body = {"__type": "ValidationError", "message": f"Endpoint {name} of account 123456789012 not found."}
            # moto takes a reply's status from its "status" header
            return 400, {"status": 400, "x-amzn-ErrorType": "ValidationError", "Content-Type": "application/json"}, \
                json.dumps(body)
        module, model = self._container(name)
        self.invocations += 1
        try:
            out, kind = module.transform_fn(model, response.body, response.headers.get("Content-Type"),
                                            response.headers.get("Accept"))
        except Exception as err:
            status = getattr(err, "status_code", 500)
            message = getattr(err, "message", str(err))
            original = json.dumps({"error": message})
            body = {"__type": "ModelError", "message": f'Received client error ({status}) from primary with message '
                                                      f'"{original}".',
                    "OriginalStatusCode": status, "OriginalMessage": original}
            return 424, {"status": 424, "x-amzn-ErrorType": "ModelError", "Content-Type": "application/json"}, \
                json.dumps(body)
        return 200, {"Content-Type": kind, "x-Amzn-Invoked-Production-Variant": "AllTraffic"}, out
