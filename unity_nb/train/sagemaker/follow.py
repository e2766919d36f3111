"""The process that follows one SageMaker run: ``python -m unity_nb.train.sagemaker.follow RUN_DIR``.

It is to a SageMaker run what the driver is to a local one: the run folder's writer.
With ``--launch`` it first uploads the Unity build and submits the job. Then, every
``poll`` seconds, it reads the job's status (``DescribeTrainingJob``: each status
transition becomes a ``log`` event) and its CloudWatch log streams (one per host; the
entry point's event lines become the run folder's events, every line is kept in
``logs/sagemaker.log``). A stop request (the ``stop`` file, or SIGTERM from ``RunFolder.stop``)
becomes ``StopTrainingJob``. When the job ends, ``model.tar.gz`` is unpacked into the run
folder and the run takes its final state.

Restartable: the log positions and the size of the events file at that point are saved in
backend.json after each batch, so a follower started again (after a kernel or machine
restart: ``unity_nb.train.get_run(id)``) rewinds to the last saved point and reads on from
there, with no event lost or written twice. It runs in its own session, so a kernel
restart does not stop it.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..schema import State
from ..store import RunFolder
from . import contract
from ...aws import client

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TERMINAL_JOB = ("Completed", "Failed", "Stopped")
KEPT_LINES = 20  # the job's last log lines shown with a failure
MAX_BACKOFF = 60.0  # seconds between tries while AWS does not answer


def poll_interval() -> float:
    return float(os.environ.get("UNITY_NB_SAGEMAKER_POLL", "5"))


class Follower:
    def __init__(self, run: RunFolder, poll: float | None = None):
        self.run = run
        self.poll = poll_interval() if poll is None else poll
        state = run.backend_state
        self.region = state["region"]
        self.sm = client("sagemaker", self.region)
        self.logs = client("logs", self.region)
        self.s3 = client("s3", self.region)
        self.out = run.writer()
        self.stop_asked = False
        self.stop_sent = False
        self.final: dict | None = None  # the container's own last status event (finished/stopped/failed)
        self.last_lines: collections.deque[str] = collections.deque(maxlen=KEPT_LINES)
        self.raw_log = open(run.log_path("sagemaker"), "ab")

    # ---- positions (restartable without duplicates)
    def _restore(self) -> None:
        """Come back to the last saved point: events and log lines after it are read again."""
        state = self.run.backend_state
        saved = state.get("events_size")
        if saved is not None:
            self.out.rewind(saved)
            self.raw_log.flush()
            if os.path.getsize(self.raw_log.name) > state.get("log_size", 0):
                os.truncate(self.raw_log.name, state.get("log_size", 0))
        self.positions: dict[str, str] = dict(state.get("log_positions", {}))
        self.transitions_seen = state.get("transitions_seen", 0)
        self.final = state.get("final")

    def _save(self) -> None:
        self.raw_log.flush()
        self.run.note_backend(log_positions=self.positions, events_size=self.out.events_size(),
                              log_size=os.path.getsize(self.raw_log.name), transitions_seen=self.transitions_seen,
                              final=self.final)

    # ---- launch
    def launch(self) -> None:
        from . import job

        state = self.run.backend_state
        plan = job.JobPlan(self.run.id, self.run.config, state["region"], state["role"], state["bucket"],
                           state["image"], state.get("image_source", ""), None)
        build_uri = None
        if self.run.config.scene_name is None:
            plan.build = job.check_sagemaker_build(self.run.config.scene)
            total = plan.build.size
            self.out.emit({"event": "log", "message": f"uploading the build ({total / 1e6:.1f} MB) to s3://{plan.bucket}"})
            shown = [0.0]

            def progress(sent, total):
                if sent == total or time.monotonic() - shown[0] > 2:
                    shown[0] = time.monotonic()
                    self.out.emit({"event": "log", "message": f"uploading the build: {100 * sent / max(total, 1):.0f}%"})

            build_uri = job.upload_build(plan.build, self.s3, plan.bucket, progress)
        if plan.demos:
            self.out.emit({"event": "log", "message": f"uploading the demonstration{'s' * (len(plan.demos) > 1)} "
                                                      f"({', '.join(plan.demos)}) to {plan.demos_s3}"})
            job.upload_demos(plan, self.s3)
        self.out.emit({"event": "log", "message": f"submitting the SageMaker job ({plan.instance_count} x "
                                                  f"{plan.instance_type}{', spot' if self.run.config.spot else ''})"})
        name = job.submit(plan, build_uri)
        self.run.note_backend(job_name=name, build_uri=build_uri, checkpoint_s3=plan.checkpoint_s3,
                              output_s3=plan.output_s3, submitted=time.time(), log_positions={}, events_size=None,
                              transitions_seen=0, final=None)
        self.out.note(job_name=name)
        self.out.emit({"event": "log", "message": f"SageMaker job {name} submitted in {self.region}"})

    # ---- following
    def _on_signal(self, signum, frame):
        self.stop_asked = True

    def follow(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self._restore()
        name = self.run.backend_state["job_name"]
        backoff = self.poll
        while True:
            try:
                job = self.sm.describe_training_job(TrainingJobName=name)
                self._status(job)
                if (self.stop_asked or self.run.stop_requested) and not self.stop_sent:
                    self._stop(name, job)
                self._read_logs(name)
                self._save()
                if job["TrainingJobStatus"] in TERMINAL_JOB:
                    self._read_logs(name)  # the last lines may have arrived with the end
                    self._save()
                    return self._end(job)
                backoff = self.poll
            except Exception as err:  # AWS did not answer (throttled, network): the job goes on, so do we
                if not _transient(err):
                    raise
                backoff = min(MAX_BACKOFF, backoff * 2)
                self.out.emit({"event": "log", "message": f"AWS did not answer ({_short(err)}); the job goes on, "
                                                          f"trying again in {backoff:.1f} s"})
            time.sleep(backoff)

    def _status(self, job: dict) -> None:
        transitions = job.get("SecondaryStatusTransitions") or []
        for step in transitions[self.transitions_seen:]:
            message = step.get("StatusMessage") or ""
            self.out.emit({"event": "log", "message": f"SageMaker: {step['Status']}" + (f": {message}" if message else "")})
        self.transitions_seen = max(self.transitions_seen, len(transitions))
        fields = {"job_status": job["TrainingJobStatus"], "job_secondary_status": job.get("SecondaryStatus")}
        if any(self.out.status.get(k) != v for k, v in fields.items()):
            self.out.note(**fields)

    def _stop(self, name: str, job: dict) -> None:
        self.stop_sent = True
        if job["TrainingJobStatus"] != "InProgress":
            return
        self.sm.stop_training_job(TrainingJobName=name)
        self.out.emit({"event": "log", "message": "stop requested: the job saves a final checkpoint, then uploads it"})

    def _streams(self, name: str) -> list[str]:
        found, token = [], None
        while True:
            kwargs = {"logGroupName": LOG_GROUP, "logStreamNamePrefix": f"{name}/"}
            if token:
                kwargs["nextToken"] = token
            try:
                page = self.logs.describe_log_streams(**kwargs)
            except self.logs.exceptions.ResourceNotFoundException:
                return []  # no log group yet: the job has not started writing
            found += [s["logStreamName"] for s in page.get("logStreams", [])]
            token = page.get("nextToken")
            if not token:
                return sorted(found)

    def _read_logs(self, name: str) -> None:
        for stream in self._streams(name):
            while True:
                kwargs = {"logGroupName": LOG_GROUP, "logStreamName": stream, "startFromHead": True}
                if stream in self.positions:
                    kwargs["nextToken"] = self.positions[stream]
                page = self.logs.get_log_events(**kwargs)
                for record in page.get("events", []):
                    self._line(stream, record["message"])
                token = page.get("nextForwardToken")
                moved = token and token != self.positions.get(stream)
                if token:
                    self.positions[stream] = token
                if not page.get("events") or not moved:
                    break

    def _line(self, stream: str, message: str) -> None:
        host = stream.split("/", 1)[-1].rsplit("-", 1)[0]  # <job>/algo-1-<time> -> algo-1
        self.raw_log.write(f"[{host}] {message}\n".encode())
        self.last_lines.append(f"[{host}] {message}")
        event = contract.parse_event_line(message)
        if event is None:
            return
        kind = event["event"]
        if kind == "status":
            state = State(event["state"])
            extra = {k: v for k, v in event.items() if k not in ("event", "v", "t", "state")}
            if state in (State.STARTING, State.RUNNING):
                self.out.set_state(state, **extra)
            else:  # the run ends once its model is here (after the upload): held until then
                self.final = {"state": state.value, **extra}
            return
        if kind == "checkpoint" and event.get("path"):  # the container's folder -> where it will be here
            event = {**event, "path": str(self.run.checkpoints_dir / Path(event["path"]).name)}
        self.out.emit(event)

    # ---- the end
    def _end(self, job: dict) -> int:
        status = job["TrainingJobStatus"]
        artifacts = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        fetched = False
        if status in ("Completed", "Stopped") and artifacts:
            try:
                self._fetch(artifacts)
                fetched = True
            except Exception as err:
                if status == "Completed":
                    self._fail(f"the job completed but its model could not be fetched from {artifacts}: {_short(err)}")
                    return 1
                self.out.emit({"event": "log", "message": f"the stopped job left no model to fetch ({_short(err)})"})
        final = dict(self.final or {})
        if status == "Failed" or final.get("state") == State.FAILED:
            reason = job.get("FailureReason") or final.get("error") or "the job failed without a reason"
            self._fail(reason)
            return 1
        state = State(final.pop("state", State.STOPPED if status == "Stopped" else State.FINISHED))
        if status == "Stopped":
            state = State.STOPPED
        if not fetched and state == State.FINISHED:
            state = State.STOPPED
        self.out.set_state(state, **final)
        return 0

    def _fail(self, reason: str) -> None:
        lines = "\n".join(self.last_lines) or "(the job wrote no log lines)"
        self.out.fail(f"SageMaker: {reason}",
                      f"SageMaker job {self.run.backend_state.get('job_name')} failed: {reason}\n\n"
                      f"last log lines (all in {self.run.log_path('sagemaker')}):\n{lines}\n")

    def _fetch(self, uri: str) -> None:
        """Unpack model.tar.gz (the checkpoint and the export) into the run folder."""
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        with tempfile.TemporaryDirectory(prefix="unity-nb-model-") as tmp:
            archive = Path(tmp) / "model.tar.gz"
            self.s3.download_file(bucket, key, str(archive))
            checkpoint = self.run.unpack_model(archive)
            size = archive.stat().st_size
        self.run.note_backend(model_artifacts=uri)
        self.out.emit({"event": "log", "message": f"fetched model.tar.gz ({size / 1e6:.1f} MB): "
                                                  f"{checkpoint.name if checkpoint else 'no checkpoint'}"})
        if checkpoint is not None:
            self.out.emit({"event": "checkpoint", "path": str(checkpoint), "env_steps": RunFolder.progress(checkpoint).get("env_steps")})


def _transient(err: Exception) -> bool:
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(err, (ConnectionError, HTTPClientError)):
        return True
    if isinstance(err, ClientError):
        code = err.response.get("Error", {}).get("Code", "")
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return "Throttl" in code or code in ("RequestLimitExceeded", "ServiceUnavailable", "InternalFailure") \
            or status >= 500
    return False


def _short(err: Exception) -> str:
    return str(err).splitlines()[0][:200]


def standby() -> RunFolder | None:
    """Import what a launch needs (the SDK takes seconds), then wait for a run folder
    and the launcher's environment (one JSON line on stdin); quit on EOF or when the notebook that
    started it is gone."""
    from ...processes import watch_parent
    from .job import import_sagemaker

    import_sagemaker()
    client("sagemaker", os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    handed = threading.Event()
    watch_parent(lambda: os._exit(0), until=handed)
    line = sys.stdin.readline().strip()
    handed.set()
    if not line:
        return None
    handed_over = json.loads(line)
    os.environ.clear()  # the launching process's environment as it is now (its AWS settings)
    os.environ.update(handed_over["env"])
    run = RunFolder(handed_over["run"])
    # from now on this process is the run's follower: its output goes to the run's log
    log = os.open(run.log_path("follow"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Follow one SageMaker run into its run folder (started by "
                                                 "unity_nb.train with backend='sagemaker').")
    parser.add_argument("run_dir", type=Path, nargs="?", help="the run folder")
    parser.add_argument("--launch", action="store_true", help="upload the build and submit the job first")
    parser.add_argument("--standby", action="store_true",
                        help="import ahead, then read the run folder to launch from stdin")
    args = parser.parse_args(argv)
    if args.standby:
        run = standby()
        if run is None:
            return 0
        args.launch = True
    elif args.run_dir is None:
        parser.error("give a run folder (or --standby)")
    else:
        run = RunFolder(args.run_dir)
    follower = Follower(run)

    def work() -> int:
        if args.launch:
            follower.out.set_state(State.STARTING)
            if run.stop_requested:  # stopped before anything was sent: nothing to stop in SageMaker
                follower.out.emit({"event": "log", "message": "stopped before the job was sent"})
                follower.out.set_state(State.STOPPED, env_steps=0, episode_return_mean=None)
                return 0
            follower.launch()
        else:
            follower.out.adopt()
        return follower.follow()

    return follower.out.guard(work)


if __name__ == "__main__":
    sys.exit(main())
