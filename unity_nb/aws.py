"""AWS for the kit: who, where and with what SageMaker runs (region, credentials, role, bucket,
image), and the clients that ask it. Used by SageMaker training (train/sagemaker/) and endpoints
(deploy/sagemaker.py).

Each is resolved with the usual precedence: the argument (``role=``, ``--role``), then
the environment or AWS config, then SageMaker's own default. ``AwsSettings.sources``
says which one won, so the notebook can show it before anything is launched. Only
boto3 is imported here (fast); a missing piece is a ``SageMakerSetupError`` that says
how to provide it.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BadValue

DEFAULT_INSTANCE_TYPE = "ml.c5.2xlarge"
DEFAULT_MAX_RUN = 86_400  # seconds: SageMaker's own default limit is 1 day
# The PyTorch training images the kit's requirements install into (Python 3.11/3.12), newest first.
IMAGE_PY_VERSIONS = ("py312", "py311")
RETRIES = {"mode": "adaptive", "max_attempts": 8}  # throttling and 5xx: backoff, then a clear error
INSTALL_HINT = "pip install 'unity-nb[sagemaker]'"


class SageMakerSetupError(BadValue):
    """Something a SageMaker run needs is missing or wrong (the message says how to fix it)."""


@dataclass
class AwsSettings:
    region: str
    account: str
    role: str | None
    bucket: str
    sources: dict[str, str] = field(default_factory=dict)  # setting -> where its value came from

    def describe(self) -> str:
        rows = [("region", self.region), ("account", self.account), ("role", self.role or "-"),
                ("bucket", self.bucket)]
        return "\n".join(f"  {name:<8} {value}  ({self.sources.get(name, '')})" for name, value in rows)


def boto3_module():
    try:
        import boto3
    except ImportError:
        raise SageMakerSetupError(f"the SageMaker backend needs boto3 and the sagemaker SDK: {INSTALL_HINT}") from None
    return boto3


def client(service: str, region: str, quick: bool = False):
    """A boto3 client with retries for throttling and transient errors (adaptive backoff); one per
    service, region, endpoint and key in a process (clients are thread-safe and take ~50 ms to make).

    quick: two tries with short timeouts, for a listing that must not hang when AWS is out of reach.
    """
    return _client(service, region, quick, os.environ.get("AWS_ENDPOINT_URL"), os.environ.get("AWS_ACCESS_KEY_ID"),
                   os.environ.get("AWS_PROFILE"))


@functools.lru_cache(maxsize=32)
def _client(service: str, region: str, quick: bool, *environment):
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=3, read_timeout=10) if quick \
        else Config(retries=RETRIES, connect_timeout=10, read_timeout=70)
    return boto3_module().session.Session().client(service, region_name=region, config=config)


def resource_name(text: str, limit: int) -> str:
    """``text`` as a SageMaker resource name: ``unb-`` and [a-zA-Z0-9-] only, at most ``limit`` characters."""
    clean = "-".join(filter(None, "".join(c if c.isalnum() else "-" for c in text).split("-")))
    return ("unb-" + clean)[:limit].rstrip("-")


def resolve_region(region: str | None = None) -> tuple[str, str]:
    """(region, where it came from); an unknown region is refused with the known ones."""
    boto3 = boto3_module()
    source = "argument"
    if region is None:
        for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            if os.environ.get(name):
                region, source = os.environ[name], f"${name}"
                break
    if region is None:
        region, source = boto3.session.Session().region_name, "AWS config"
    if not region:
        raise SageMakerSetupError("no AWS region: pass region='eu-west-1' (--region) or set AWS_REGION")
    known = boto3.session.Session().get_available_regions("sagemaker")
    known += boto3.session.Session().get_available_regions("sagemaker", partition_name="aws-cn")
    if region not in known:
        near = [r for r in known if r.split("-")[0] == region.split("-")[0]] or known
        raise SageMakerSetupError(f"region {region!r}: SageMaker does not run there (or it is misspelt); "
                                  f"regions: {', '.join(sorted(near))}")
    return region, source


def check_instance_type(instance_type: str, region: str) -> None:
    """Refuse an instance type SageMaker training does not offer (botocore's own list of them)."""
    known = client("sagemaker", region).meta.service_model.shape_for("TrainingInstanceType").enum
    if instance_type not in known:
        family = instance_type.rsplit(".", 1)[0]
        near = [t for t in known if t.startswith(family + ".")] or [t for t in known if t.startswith("ml.c5.")]
        raise SageMakerSetupError(f"instance_type {instance_type!r} is not a SageMaker training instance type; "
                                  f"for example: {', '.join(near[:8])}")


def caller_identity(region: str) -> dict:
    """Who the credentials belong to (``Account``, ``Arn``); a clear error without usable credentials."""
    from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

    if boto3_module().session.Session().get_credentials() is None:
        raise SageMakerSetupError(
            "no AWS credentials: run `aws configure` (or `aws sso login`), set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or choose a profile with AWS_PROFILE")
    try:
        return client("sts", region).get_caller_identity()
    except (NoCredentialsError, PartialCredentialsError) as err:
        raise SageMakerSetupError(f"AWS credentials are incomplete ({err}); check `aws configure list`") from None
    except ClientError as err:
        raise SageMakerSetupError(f"AWS refused the credentials: {err.response['Error'].get('Message', err)} "
                                  "(expired session? run `aws sso login` or renew them)") from None


def resolve_role(role: str | None, identity: dict, region: str) -> tuple[str | None, str]:
    """(role ARN, where it came from). Inside SageMaker (a notebook instance or Studio) the
    notebook's own execution role is the default, as in SageMaker's ``get_execution_role``."""
    if role:
        return _role_arn(role, identity), "argument"
    if os.environ.get("SAGEMAKER_ROLE"):
        return _role_arn(os.environ["SAGEMAKER_ROLE"], identity), "$SAGEMAKER_ROLE"
    arn = identity.get("Arn", "")
    if ":assumed-role/" in arn and "sagemaker" in arn.lower():  # e.g. .../AmazonSageMaker-ExecutionRole-x/SageMaker
        name = arn.split(":assumed-role/")[1].split("/")[0]
        try:
            return client("iam", region).get_role(RoleName=name)["Role"]["Arn"], "this notebook's execution role"
        except Exception:
            return f"arn:aws:iam::{identity['Account']}:role/{name}", "this notebook's execution role"
    return None, "none found"


def _role_arn(role: str, identity: dict) -> str:
    if role.startswith("arn:"):
        if ":iam::" not in role or ":role/" not in role:
            raise SageMakerSetupError(f"role {role!r} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
        return role
    if "/" in role or " " in role:
        raise SageMakerSetupError(f"role {role!r}: give the role's name or its ARN (arn:aws:iam::ACCOUNT:role/NAME)")
    return f"arn:aws:iam::{identity['Account']}:role/{role}"


NO_ROLE = ("no IAM role for the SageMaker job: pass role='arn:aws:iam::ACCOUNT:role/NAME' (--role NAME) or set "
           "SAGEMAKER_ROLE. The role must trust sagemaker.amazonaws.com and may read and write the bucket; "
           "docs/sagemaker.md lists the permissions")


def resolve(role: str | None = None, region: str | None = None, bucket: str | None = None, *,
            need_role: bool = True) -> AwsSettings:
    """Region, account, role and bucket for a job or an endpoint (nothing is created here)."""
    region, region_source = resolve_region(region)
    identity = caller_identity(region)
    role, role_source = resolve_role(role, identity, region)
    if need_role and role is None:
        raise SageMakerSetupError(NO_ROLE)
    if bucket:
        bucket_source = "argument"
    elif os.environ.get("UNITY_NB_BUCKET"):
        bucket, bucket_source = os.environ["UNITY_NB_BUCKET"], "$UNITY_NB_BUCKET"
    else:  # SageMaker's own default bucket name
        bucket, bucket_source = f"sagemaker-{region}-{identity['Account']}", "SageMaker's default"
    return AwsSettings(region=region, account=identity["Account"], role=role, bucket=bucket,
                       sources={"region": region_source, "account": "the credentials", "role": role_source,
                                "bucket": bucket_source})


def ensure_bucket(settings: AwsSettings) -> None:
    """Create the bucket if it does not exist yet (as SageMaker does with its default bucket)."""
    from botocore.exceptions import ClientError

    s3 = client("s3", settings.region)
    try:
        s3.head_bucket(Bucket=settings.bucket)
        return
    except ClientError as err:
        code = err.response["Error"].get("Code")
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise SageMakerSetupError(f"bucket {settings.bucket!r} exists but cannot be used ({code}): "
                                      "choose another with bucket= / --bucket") from None
    kwargs = {} if settings.region == "us-east-1" else {
        "CreateBucketConfiguration": {"LocationConstraint": settings.region}}
    s3.create_bucket(Bucket=settings.bucket, **kwargs)


def _image_config(scope: str) -> dict:
    # Read from the installed SDK's own table without importing the SDK (its import takes seconds).
    spec = importlib.util.find_spec("sagemaker")
    if spec is None or not spec.submodule_search_locations:
        raise SageMakerSetupError(f"the sagemaker SDK is not installed: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "core" / "image_uri_config" / "pytorch.json"
    return json.loads(path.read_text())[scope]


def framework_image(region: str, instance_type: str, image: str | None = None,
                   scope: str = "training") -> tuple[str, str]:
    """(image URI, where it came from): the PyTorch image for the region, CPU or GPU.

    scope: "training" (a job) or "inference" (an endpoint; serverless endpoints are CPU).
    """
    if image:
        return image, "argument"
    if scope == "training" and os.environ.get("UNITY_NB_IMAGE"):
        return os.environ["UNITY_NB_IMAGE"], "$UNITY_NB_IMAGE"
    table = _image_config(scope)
    family = instance_type.split(".")[1] if instance_type.count(".") >= 2 else ""
    processor = "gpu" if family[:1] in ("g", "p") else "cpu"
    versions = sorted(table["versions"], key=lambda v: tuple(int(x) for x in v.split(".")), reverse=True)
    for version in versions:
        entry = table["versions"][version]
        py = next((p for p in IMAGE_PY_VERSIONS if p in entry.get("py_versions", [])), None)
        account = entry.get("registries", {}).get(region)
        if py and account:
            domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
            uri = f"{account}.dkr.ecr.{region}.{domain}/{entry['repository']}:{version}-{processor}-{py}"
            return uri, f"PyTorch {version} {processor.upper()} {scope} image"
    raise SageMakerSetupError(f"no PyTorch {scope} image for Python 3.11/3.12 in {region}; pass image=")
