"""The SageMaker training job of one run: what travels (build, code) and the job request.

The request is made by the sagemaker SDK v3's ``ModelTrainer`` (framework training image,
``SourceCode`` with the kit's own entry point, ``Compute``, ``StoppingCondition``,
``CheckpointConfig``); the kit adds only what the SDK cannot know: the user's Unity build
uploaded to S3 as the ``train`` channel, the kit's source and requirements as the code
channel, hyperparameters as strings and the metric definitions that read the job's log.
"""

from __future__ import annotations

import hashlib
import secrets
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

from ...envs import check_build
from ...envs.errors import UnityBuildError
from ..config import TrainConfig
from . import contract
from ...aws import DEFAULT_INSTANCE_TYPE, DEFAULT_MAX_RUN, INSTALL_HINT, AwsSettings, SageMakerSetupError, resource_name

PREFIX = "unity-nb"  # S3 keys: unity-nb/builds/<name>-<hash>/..., unity-nb/runs/<run id>/...
# The kit's own source travels without what only a notebook needs (the container trains headless).
SOURCE_IGNORE = ("notebook", "labextension")


def import_sagemaker():
    """The SDK's training classes. Its import pulls in jsonschema's RFC 3987 grammar, which
    takes ~5 s to compile on a small machine and that the SDK never uses: the kit's own
    processes import it without that grammar (the format check it feeds is skipped)."""
    sys.modules.setdefault("rfc3987_syntax", None)
    try:
        from sagemaker.core.helper.session_helper import Session
        from sagemaker.train import ModelTrainer
        from sagemaker.core.training.configs import CheckpointConfig, Compute, InputData, SourceCode, StoppingCondition
    except ImportError as err:
        raise SageMakerSetupError(f"the SageMaker backend needs the sagemaker SDK v3 ({err}): {INSTALL_HINT}") from None
    return Session, ModelTrainer, CheckpointConfig, Compute, InputData, SourceCode, StoppingCondition


# ---- the Unity build (the train channel)

@dataclass
class Build:
    """A user's Linux Unity build, checked for SageMaker: its folder and executable."""

    folder: Path
    executable: Path

    @property
    def files(self) -> list[Path]:
        return sorted(p for p in self.folder.rglob("*") if p.is_file())

    def digest(self) -> str:
        """Names, sizes and times of its files (cheap; a rebuild changes them)."""
        h = hashlib.sha256()
        for path in self.files:
            info = path.stat()
            h.update(f"{path.relative_to(self.folder)}:{info.st_size}:{info.st_mtime_ns}\n".encode())
        return h.hexdigest()[:12]

    @property
    def size(self) -> int:
        return sum(p.stat().st_size for p in self.files)


def check_sagemaker_build(scene: str) -> Build:
    """The build a job will run, refused before any upload when SageMaker could not run it."""
    executable = Path(check_build(scene))  # Windows, macOS, missing, not executable: refused with the reason
    data = executable.parent / f"{executable.stem}_Data"
    if not data.is_dir():
        raise UnityBuildError(
            f"{str(executable)!r} has no {data.name} folder next to it: a Unity Linux build is the executable plus "
            f"its {data.name} folder (and UnityPlayer.so). Build for 'Linux' in Unity's Build Settings and pass the "
            "executable inside the complete build folder.")
    return Build(executable.parent, executable)


def build_prefix(build: Build) -> str:
    return f"{PREFIX}/builds/{build.executable.stem}-{build.digest()}"


def upload_build(build: Build, s3, bucket: str, progress: Callable[[int, int], None] | None = None) -> str:
    """Upload the build folder (once per content: an unchanged build is not sent again); its S3 URI."""
    prefix = build_prefix(build)
    done_key = f"{prefix}/.unity-nb-complete"
    try:
        s3.head_object(Bucket=bucket, Key=done_key)
        return f"s3://{bucket}/{prefix}/"
    except Exception:
        pass
    total, sent = build.size, 0
    for path in build.files:
        key = f"{prefix}/{path.relative_to(build.folder).as_posix()}"

        def counted(n, _=None):
            nonlocal sent
            sent += n
            if progress:
                progress(sent, total)

        s3.upload_file(str(path), bucket, key, Callback=counted)
    s3.put_object(Bucket=bucket, Key=done_key, Body=b"")  # written last: a cut upload is sent again
    return f"s3://{bucket}/{prefix}/"


# ---- the demonstrations (the demos channel)

def demo_files(local_path: str) -> list[tuple[Path, str]]:
    """A demonstration's files and their keys inside its setting's folder of the channel (a folder keeps its
    name and layout, as encode_demo_path names it)."""
    path = Path(local_path)
    if path.is_file():
        return [(path, path.name)]
    return [(p, f"{path.name}/{p.relative_to(path).as_posix()}") for p in sorted(path.rglob("*")) if p.is_file()]


def upload_demos(plan: "JobPlan", s3) -> None:
    """Upload the run's demonstrations to its demos channel (small: sent with every job)."""
    for setting, local in plan.demos.items():
        for path, key in demo_files(local):
            s3.upload_file(str(path), plan.bucket, f"{plan.demos_prefix}{setting}/{key}")


# ---- the kit's code (the code channel)

def requirements() -> list[str]:
    """The kit's own requirements (the training image has Python and torch; the rest is installed)."""
    try:
        wanted = metadata.requires("unity-nb") or []
    except metadata.PackageNotFoundError:
        wanted = []
    kept = []
    for line in wanted:
        if "extra ==" in line:
            continue
        name = line.split(";")[0].strip()
        if name.split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower() in (
                "ipython", "ipykernel", "ipywidgets", "ipympl", "jupyterlab"):
            continue  # notebook-only
        kept.append(line)
    return kept


ENTRY = '''"""Runs one unity-nb training inside a SageMaker job (see unity_nb/trainer/sagemaker_entry.py)."""
import os
import shutil
import sys
import tempfile
import zipfile
import zlib

here = os.path.dirname(os.path.abspath(__file__))
archive = os.path.join(here, "unity_nb.zip")  # the kit travels as one file: one upload, not one per module
with open(archive, "rb") as f:
    kit = os.path.join(tempfile.gettempdir(), f"unity-nb-kit-{zlib.crc32(f.read()):08x}")
if not os.path.isdir(os.path.join(kit, "unity_nb")):
    part = f"{kit}.part{os.getpid()}"
    zipfile.ZipFile(archive).extractall(part)
    try:
        os.rename(part, kit)
    except OSError:  # another process on this host unpacked it first
        shutil.rmtree(part, ignore_errors=True)
sys.path.insert(0, kit)
# Ray's worker processes and the Unity player stand-in import the kit too
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (kit, os.environ.get("PYTHONPATH")) if p)

from unity_nb.trainer.sagemaker_entry import main  # noqa: E402

sys.exit(main())
'''


def stage_source(folder: Path) -> Path:
    """Write the code channel into ``folder``: the kit's package (one zip), requirements.txt, the entry script."""
    import zipfile

    package = Path(__file__).resolve().parents[2]  # the unity_nb package folder
    with zipfile.ZipFile(folder / "unity_nb.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(package.rglob("*")):
            relative = path.relative_to(package.parent)
            if path.is_file() and not any(part in ("__pycache__", *SOURCE_IGNORE) for part in relative.parts) \
                    and path.suffix != ".pyc":
                archive.write(path, relative.as_posix())
    (folder / "requirements.txt").write_text("\n".join(requirements()) + "\n")
    (folder / contract.ENTRY_SCRIPT).write_text(ENTRY)
    return folder


# ---- the request

@dataclass
class JobPlan:
    """Everything a job is made from, resolved before anything is sent (shown before launch)."""

    run_id: str
    config: TrainConfig
    region: str
    role: str
    bucket: str
    image: str
    image_source: str
    build: Build | None
    settings: AwsSettings | None = None  # where region, role and bucket came from (the notebook side has it)

    @property
    def instance_type(self) -> str:
        return self.config.instance_type or DEFAULT_INSTANCE_TYPE

    @property
    def instance_count(self) -> int:
        return self.config.instance_count or 1

    @property
    def checkpoint_s3(self) -> str:
        return f"s3://{self.bucket}/{PREFIX}/runs/{self.run_id}/checkpoints"

    @property
    def demos(self) -> dict[str, str]:
        """The demonstrations the run learns from, by setting (uploaded to the demos channel)."""
        return contract.demo_paths(self.config)

    @property
    def demos_prefix(self) -> str:
        return f"{PREFIX}/runs/{self.run_id}/demos/"

    @property
    def demos_s3(self) -> str:
        return f"s3://{self.bucket}/{self.demos_prefix}"

    @property
    def output_s3(self) -> str:
        return f"s3://{self.bucket}/{PREFIX}/runs/{self.run_id}/output"

    def hyperparameters(self) -> dict[str, str]:
        hps = contract.encode_hyperparameters(self.config)
        if self.build is not None:  # the container finds the build in its train channel
            hps["scene"] = contract.encode_build_scene(self.build.executable.relative_to(self.build.folder).as_posix())
        return hps

    def environment(self) -> dict[str, str]:
        env = {"PYTHONUNBUFFERED": "1", "PYTHONHASHSEED": "0"}  # one string hash: a seed repeats (runtime.ray_env)
        if self.instance_count > 1:  # the job's Ray cluster admits only hosts that hold this token
            env["UNITY_NB_RAY_TOKEN"] = secrets.token_hex(32)
        return env

    def model_trainer(self, source_dir: Path):
        Session, ModelTrainer, CheckpointConfig, Compute, InputData, SourceCode, StoppingCondition = import_sagemaker()
        from ...aws import boto3_module

        boto_session = boto3_module().session.Session(region_name=self.region)
        spot = bool(self.config.spot)
        max_run = self.config.max_run or DEFAULT_MAX_RUN
        trainer = ModelTrainer(
            sagemaker_session=Session(boto_session=boto_session, default_bucket=self.bucket),
            role=self.role,
            training_image=self.image,
            base_job_name=resource_name(self.run_id, 38),  # the SDK adds a ~24-character timestamp
            source_code=SourceCode(source_dir=str(source_dir), requirements="requirements.txt",
                                   entry_script=contract.ENTRY_SCRIPT),
            compute=Compute(instance_type=self.instance_type, instance_count=self.instance_count,
                            volume_size_in_gb=30, enable_managed_spot_training=spot),
            # spot jobs may wait for capacity: up to as long again as they may run
            stopping_condition=StoppingCondition(max_runtime_in_seconds=max_run,
                                                 max_wait_time_in_seconds=2 * max_run if spot else None),
            checkpoint_config=CheckpointConfig(s3_uri=self.checkpoint_s3, local_path=contract.CHECKPOINTS_LOCAL),
            output_data_config=_output_config(self.output_s3),
            hyperparameters=self.hyperparameters(),
            environment=self.environment(),
            tags=[{"key": "unity-nb:run", "value": self.run_id}],
        )
        return trainer.with_metric_definitions(_metrics(self.config))

    def inputs(self, build_uri: str | None):
        InputData = import_sagemaker()[4]
        channels = [InputData(channel_name=contract.TRAIN_CHANNEL, data_source=build_uri)] if build_uri else []
        if self.demos:
            channels.append(InputData(channel_name=contract.DEMOS_CHANNEL, data_source=self.demos_s3))
        return channels


def _output_config(s3_uri: str):
    from sagemaker.core.training.configs import OutputDataConfig

    return OutputDataConfig(s3_output_path=s3_uri)


def _metrics(config):
    from sagemaker.core.shapes import MetricDefinition

    return [MetricDefinition(name=m["Name"], regex=m["Regex"]) for m in contract.metric_definitions(config)]


def request(plan: JobPlan, build_uri: str | None) -> dict:
    """The CreateTrainingJob request (boto3 form) the SDK would send for ``plan``.

    The SDK uploads the code channel while it makes the request (a few hundred kB); nothing
    else is created, and no job is sent.
    """
    with tempfile.TemporaryDirectory(prefix="unity-nb-source-") as tmp:
        trainer = plan.model_trainer(stage_source(Path(tmp)))
        # the SDK's own request builder (what train() sends); boto3=True gives the API's field names
        return trainer._create_training_job_args(input_data_config=plan.inputs(build_uri), boto3=True)


def submit(plan: JobPlan, build_uri: str | None) -> str:
    """Send the job; its name."""
    with tempfile.TemporaryDirectory(prefix="unity-nb-source-") as tmp:
        trainer = plan.model_trainer(stage_source(Path(tmp)))
        trainer.train(input_data_config=plan.inputs(build_uri), wait=False, logs=False)
        return trainer._latest_training_job.training_job_name
