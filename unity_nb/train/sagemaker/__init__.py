"""The SageMaker backend: a run trained by a SageMaker job, followed into its local run folder.

    run = unity_nb.train("3DBall", backend="sagemaker", instance_type="ml.c5.2xlarge", instance_count=2)
    unity_nb.train("3DBall", backend="sagemaker", dry_run=True)   # the exact job request; no job sent

The notebook side (here) resolves and checks everything it can before anything is
sent (credentials, region, role, bucket, instance type, image, the build) and shows
it; a follower process (``follow.py``) uploads the build, submits the job, and fills the
run folder from the job's status and logs, so the dashboard, ``%unity_runs``, compare,
evaluate, video and export treat the run like a local one. ``contract.py`` is what the
notebook and the container (``unity_nb/trainer/sagemaker_entry.py``) agree on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass

from ..config import TrainConfig
from ..schema import ACTIVE
from ..store import RunFolder
from ...aws import check_instance_type, ensure_bucket, framework_image, resolve
from ...aws import DEFAULT_INSTANCE_TYPE, SageMakerSetupError


def plan(config: TrainConfig, run_id: str):
    """Everything the job is made from, checked before anything is uploaded or sent."""
    from .job import JobPlan, check_sagemaker_build

    found = resolve(config.role, config.region, config.bucket)
    instance_type = config.instance_type or DEFAULT_INSTANCE_TYPE
    check_instance_type(instance_type, found.region)
    image, image_source = framework_image(found.region, instance_type, config.image)
    build = None if config.scene_name is not None else check_sagemaker_build(config.scene)
    return JobPlan(run_id, config, found.region, found.role, found.bucket, image, image_source, build, found)


def describe(job_plan) -> str:
    """What a job will run as and on, shown before launch."""
    c = job_plan.config
    lines = [f"SageMaker job for run {job_plan.run_id}:",
             job_plan.settings.describe(),
             f"  image    {job_plan.image}  ({job_plan.image_source})",
             f"  compute  {job_plan.instance_count} x {job_plan.instance_type}"
             + (", managed spot (resumes from its checkpoints)" if c.spot else ""),
             f"  scene    {c.scene}" + ("  (built-in: nothing to upload)" if job_plan.build is None else
                                      f"  (uploaded to s3://{job_plan.bucket}/..., {job_plan.build.size / 1e6:.1f} MB)"),
             *[f"  {setting} {path}  (uploaded to {job_plan.demos_s3})" for setting, path in job_plan.demos.items()],
             f"  output   {job_plan.output_s3}",
             f"  checkpoints {job_plan.checkpoint_s3}"]
    return "\n".join(lines)


@dataclass
class DryRun:
    """The CreateTrainingJob request a run would send (nothing was sent); ``request`` is the dict."""

    plan_text: str
    request: dict

    def __str__(self):
        return f"{self.plan_text}\n\nCreateTrainingJob request (not sent):\n{json.dumps(self.request, indent=1, default=str)}"

    def _repr_html_(self):
        import html

        return f"<pre>{html.escape(str(self))}</pre>"


def dry_run(config: TrainConfig) -> DryRun:
    """The exact job request for ``config``, without sending it (the build is not uploaded)."""
    from .job import build_prefix, request

    warm_up()  # a dry run is usually followed by the launch: have the SDK imported by then
    job_plan = plan(config, "dry-run")
    ensure_bucket(job_plan.settings)
    build_uri = None if job_plan.build is None else f"s3://{job_plan.bucket}/{build_prefix(job_plan.build)}/"
    return DryRun(describe(job_plan), request(job_plan, build_uri))


def start(run: RunFolder, config: TrainConfig) -> RunFolder:
    """Check and resolve everything here (errors reach the caller at once), then hand the run
    to a follower process that uploads, submits and follows the job."""
    warm_up()  # the follower imports the SDK (seconds) while the settings are resolved here
    job_plan = plan(config, run.id)
    ensure_bucket(job_plan.settings)
    run.note_backend(backend="sagemaker", region=job_plan.region, role=job_plan.role, bucket=job_plan.bucket,
                     image=job_plan.image, image_source=job_plan.image_source, account=job_plan.settings.account,
                     plan=describe(job_plan))
    _spawn(run, launch=True)
    return run


def resume(run: RunFolder, steps: int | None = None) -> RunFolder:
    """A new job for an ended run: it starts from the run's checkpoints in S3 (the step count goes on)."""
    run.prepare_resume(steps)
    run.note_backend(job_name=None, previous_jobs=[*run.backend_state.get("previous_jobs", []),
                                                   run.backend_state.get("job_name")])
    _spawn(run, launch=True)
    return run


def attach(run: RunFolder) -> RunFolder:
    """Follow a live job again whose follower is gone (after a restart); nothing if it is followed."""
    if run.backend_state.get("job_name") and run.status["state"] in ACTIVE and run.status.get("attached") is False:
        _spawn(run, launch=False)
    return run


_STANDBY: subprocess.Popen | None = None  # a follower that has imported the SDK, waiting for the next launch
keep_warm = True  # prepare a standby for the next launch (a one-shot command turns this off)
_LOCK = threading.Lock()


def warm_up() -> None:
    """Start a follower that imports the SageMaker SDK now, so the next launch does not wait for it."""
    global _STANDBY
    with _LOCK:
        if _STANDBY is None or _STANDBY.poll() is not None:
            _STANDBY = subprocess.Popen([sys.executable, "-m", "unity_nb.train.sagemaker.follow", "--standby"],
                                        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True, text=True)


def _spawn(run: RunFolder, launch: bool) -> None:
    global _STANDBY
    process = None
    if launch:
        with _LOCK:
            process, _STANDBY = _STANDBY, None
        if process is not None and process.poll() is None:
            # the run, and this process's environment now (AWS settings may have changed since the standby began)
            process.stdin.write(json.dumps({"run": str(run.path), "env": dict(os.environ)}) + "\n")
            process.stdin.close()
        else:
            process = None
    if process is None:
        args = [sys.executable, "-m", "unity_nb.train.sagemaker.follow", str(run.path)]
        if launch:
            args.append("--launch")
        with open(run.log_path("follow"), "ab") as log:
            process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    run.note_launch(process.pid)
    if launch and keep_warm:  # the next launch in this session starts warm too
        threading.Thread(target=warm_up, daemon=True).start()


__all__ = ["start", "resume", "attach", "dry_run", "plan", "describe", "DryRun", "SageMakerSetupError"]
