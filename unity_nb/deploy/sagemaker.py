"""SageMaker endpoints: a run's exported policy served by SageMaker, asked from the notebook.

    endpoint = run.deploy(target="sagemaker")           # also %unity_deploy RUN --target sagemaker
    endpoint.invoke([[0.0] * 8])                         # the local endpoint's JSON, through SageMaker
    endpoint.stop()                                      # deletes the endpoint, its config and its model

The model archive holds the exported ONNX and ``code/``: the kit's own ``PolicyHandler``
(handler.py, copied as it is) and a small adapter (``inference.py``) that the PyTorch
inference image's serving toolkit loads. Every request goes through the same
``PolicyHandler.invoke`` as on the local endpoint, with the same answers and refusals.

This is the kit's own small wrapper over boto3, not the SageMaker SDK v3's ``ModelBuilder`` and
``Endpoint``: those reject the replies of the local AWS emulator the tests run against, so
their path could not be tested here (DESIGN.md).

AWS calls: s3:PutObject (the archive), sagemaker:CreateModel, CreateEndpointConfig,
CreateEndpoint (all tagged), DescribeEndpoint (waiting, listing), ListEndpoints, ListTags,
DeleteEndpoint, DeleteEndpointConfig, DeleteModel; sagemaker-runtime:InvokeEndpoint.
"""

from __future__ import annotations

import atexit
import json
import shutil
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from ..aws import client, ensure_bucket, resolve, framework_image, resolve_region, resource_name
from ..aws import SageMakerSetupError
from ..errors import BadValue, NotPossible, TimedOut, UnityNbError

TAG_RUN, TAG_BY = "unity-nb:run", "unity-nb:created-by"
SERVERLESS_MEMORY = 2048  # MB (1024-6144, steps of 1024)
SERVERLESS_CONCURRENCY = 5
WAIT_TIMEOUT = 1800.0  # seconds: an instance endpoint takes minutes to come up

ADAPTER = '''"""SageMaker serving adapter (written by unity-nb): the PyTorch inference image's toolkit calls
model_fn once and transform_fn per request; each request goes through the kit's PolicyHandler,
exactly as on unity-nb's local endpoint."""
import json
import os

from policy_handler import PolicyHandler

try:  # the serving toolkit turns this error into the HTTP status it carries
    from sagemaker_inference.errors import GenericInferenceToolkitError as _ToolkitError
except ImportError:
    _ToolkitError = None


class RequestRefused(Exception):
    def __init__(self, status_code, message):
        super().__init__(message)
        self.status_code, self.message = status_code, message


def model_fn(model_dir):
    return PolicyHandler(os.path.join(model_dir, "model.onnx"))


def transform_fn(handler, body, content_type, accept):
    if isinstance(body, str):
        body = body.encode()
    status, out, kind = handler.invoke(bytes(body), content_type, accept)
    if status != 200:
        message = json.loads(out)["error"]
        raise _ToolkitError(status, message) if _ToolkitError else RequestRefused(status, message)
    return out, kind
'''


class EndpointGone(UnityNbError, LookupError):
    """The endpoint no longer exists (deleted elsewhere, or never made)."""


def _name(run_id: str) -> str:
    """A name SageMaker accepts (63 characters of [a-zA-Z0-9-]), unique per deploy."""
    return f"{resource_name(run_id, 48)}-{time.strftime('%H%M%S')}"


def package(model: Path, folder: Path) -> Path:
    """model.tar.gz: the ONNX as model.onnx, and code/ (adapter, the kit's handler, requirements)."""
    from . import handler

    staging = folder / "staging"
    (staging / "code").mkdir(parents=True)
    shutil.copy2(model, staging / "model.onnx")
    shutil.copy2(handler.__file__, staging / "code" / "policy_handler.py")
    (staging / "code" / "inference.py").write_text(ADAPTER)
    (staging / "code" / "requirements.txt").write_text("onnxruntime>=1.17\nnumpy>=1.24\n")
    archive = folder / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(staging.rglob("*")):
            tar.add(path, arcname=path.relative_to(staging).as_posix(), recursive=False)
    return archive


@dataclass
class SageMakerEndpoint:
    """A SageMaker endpoint the kit made: ``invoke(observations)``, ``describe()``, ``stop()`` (delete)."""

    name: str
    region: str
    run: str | None = None
    model: str = ""
    kind: str = ""  # "serverless 2048 MB" or the instance type
    created: float | None = None
    status: str = ""
    about: dict = field(default_factory=dict)  # what the model expects (PolicyHandler.describe)

    @property
    def url(self) -> str:
        return f"https://runtime.sagemaker.{self.region}.amazonaws.com/endpoints/{self.name}/invocations"

    @property
    def age_s(self) -> float | None:
        return None if self.created is None else time.time() - self.created

    def _call(self, service: str, method: str, **kwargs):
        from botocore.exceptions import ClientError

        try:
            return getattr(client(service, self.region), method)(**kwargs)
        except ClientError as err:
            error = err.response.get("Error", {})
            message = error.get("Message", str(err))
            if error.get("Code") in ("ValidationException", "ValidationError") and ("not found" in message.lower()
                                                               or "could not find" in message.lower()):
                raise EndpointGone(f"SageMaker endpoint {self.name!r} no longer exists in {self.region} "
                                   "(deleted elsewhere?); deploy the run again") from None
            if error.get("Code") == "ModelError":
                original = err.response.get("OriginalMessage") or message
                raise BadValue(f"the endpoint refused the request ({err.response.get('OriginalStatusCode', 400)}): "
                               f"{_error_text(original)}") from None
            raise

    def invoke(self, observations, action_masks=None, deterministic: bool = True):
        """Observations in, actions out (a list per observation): the local endpoint's JSON, via SageMaker."""
        body = {"observations": _plain(observations), "deterministic": deterministic}
        if action_masks is not None:
            body["action_masks"] = _plain(action_masks)
        reply = self._call("sagemaker-runtime", "invoke_endpoint", EndpointName=self.name,
                           ContentType="application/json", Accept="application/json", Body=json.dumps(body))
        return json.loads(reply["Body"].read())["actions"]

    def refresh(self) -> str:
        """The endpoint's status now (Creating, InService, Failed, Deleting, ...)."""
        self.status = self._call("sagemaker", "describe_endpoint", EndpointName=self.name)["EndpointStatus"]
        return self.status

    def wait(self, progress: Callable[[str], None] | None = None, timeout: float = WAIT_TIMEOUT,
             poll: float = 5.0) -> "SageMakerEndpoint":
        """Until InService; ``progress`` gets a line at each change. A failure raises with SageMaker's reason."""
        deadline, last = time.monotonic() + timeout, None
        while True:
            about = self._call("sagemaker", "describe_endpoint", EndpointName=self.name)
            self.status = about["EndpointStatus"]
            if self.status != last and progress:
                progress(f"SageMaker endpoint {self.name}: {self.status}")
            last = self.status
            if self.status == "InService":
                return self
            if self.status in ("Failed", "OutOfService"):
                raise NotPossible(f"SageMaker endpoint {self.name} {self.status.lower()}: "
                                  f"{about.get('FailureReason', 'no reason given')}")
            if time.monotonic() > deadline:
                raise TimedOut(f"SageMaker endpoint {self.name} still {self.status} after {timeout:.0f} s "
                               f"(it goes on; endpoint.wait() again, or endpoint.stop())")
            time.sleep(poll)

    def describe(self) -> dict:
        """What the model expects and returns (as the local endpoint's GET /)."""
        return dict(self.about)

    def curl(self) -> str:
        """An AWS CLI line that asks the endpoint for the action of one (all-zero) observation."""
        from .handler import example_request

        sensors = self.about.get("observations") or [1]
        example = example_request(sensors)
        zeros = [example] if len(sensors) == 1 else [[s] for s in example]
        body = json.dumps({"observations": zeros}, separators=(",", ":"))
        return (f"aws sagemaker-runtime invoke-endpoint --region {self.region} --endpoint-name {self.name} "
                f"--content-type application/json --cli-binary-format raw-in-base64-out --body '{body}' /dev/stdout")

    def stop(self) -> None:
        """Delete the endpoint, its config and its model (it costs money while it exists)."""
        sm = client("sagemaker", self.region)
        try:
            config = sm.describe_endpoint(EndpointName=self.name)["EndpointConfigName"]
        except Exception:
            config = self.name
        gone = []
        for method, kwargs in (("delete_endpoint", {"EndpointName": self.name}),
                               ("delete_endpoint_config", {"EndpointConfigName": config}),
                               ("delete_model", {"ModelName": self.name})):
            try:
                self._call("sagemaker", method, **kwargs)
            except EndpointGone:
                gone.append(method)
        _CREATED.pop(self.name, None)
        if len(gone) == 3:
            raise EndpointGone(f"SageMaker endpoint {self.name!r} no longer exists in {self.region} "
                               "(deleted elsewhere?): nothing left to delete")

    delete = stop

    def __repr__(self):
        return f"SageMakerEndpoint({self.name}, {self.region}, {self.kind or '?'}, {self.status or '?'}" + (
            f", run={self.run})" if self.run else ")")


def _plain(value):
    return value.tolist() if hasattr(value, "tolist") else value


def _error_text(message: str) -> str:
    """The handler's own words from SageMaker's ModelError text (which wraps them)."""
    start = message.find("{")
    if start >= 0:
        try:
            return json.loads(message[start:message.rfind("}") + 1]).get("error", message)
        except json.JSONDecodeError:
            pass
    return message


_CREATED: dict[str, SageMakerEndpoint] = {}  # endpoints this process made: warned about at exit


def _warn_at_exit() -> None:
    for endpoint in list(_CREATED.values()):
        try:
            if endpoint.refresh() in ("Deleting",):
                continue
        except Exception:
            continue
        print(f"unity-nb: the SageMaker endpoint {endpoint.name} ({endpoint.region}) is still running and costs "
              f"money; delete it with: unity-nb endpoints --stop {endpoint.name}", file=sys.stderr)


atexit.register(_warn_at_exit)


def deploy(run, behavior: str | None = None, instance_type: str | None = None,
           serverless_memory: int = SERVERLESS_MEMORY, role: str | None = None, region: str | None = None,
           bucket: str | None = None, wait: bool = True,
           progress: Callable[[str], None] | None = None) -> SageMakerEndpoint:
    """Serve ``run``'s exported model on a SageMaker endpoint (exports first if needed).

    instance_type: e.g. ml.c5.large; default a serverless endpoint of ``serverless_memory`` MB.
    role/region/bucket: as for training (argument, environment, SageMaker's defaults); a SageMaker run
    uses its own. wait: return once InService (``progress`` gets a line at each status change).
    """
    from .handler import PolicyHandler

    state = run.backend_state
    if serverless_memory not in range(1024, 6145, 1024):
        raise BadValue(f"serverless_memory must be 1024, 2048, ... 6144 MB, got {serverless_memory}")
    found = resolve(role or state.get("role"), region or state.get("region"), bucket or state.get("bucket"))
    if instance_type is not None:
        known = client("sagemaker", found.region).meta.service_model.shape_for(
            "ProductionVariantInstanceType").enum
        if instance_type not in known:
            raise SageMakerSetupError(f"instance_type {instance_type!r} is not a SageMaker endpoint instance type; "
                                      f"for example: {', '.join(t for t in known if t.startswith('ml.c5.'))}")
    model = run.model_for(behavior)
    image, _ = framework_image(found.region, instance_type or "ml.c5.large", scope="inference")
    name = _name(run.id)
    ensure_bucket(found)
    say = progress or (lambda line: None)
    with tempfile.TemporaryDirectory(prefix="unity-nb-deploy-") as tmp:
        archive = package(model, Path(tmp))
        key = f"unity-nb/endpoints/{name}/model.tar.gz"
        say(f"uploading {model.name} ({archive.stat().st_size / 1e3:.0f} kB) to s3://{found.bucket}/{key}")
        client("s3", found.region).upload_file(str(archive), found.bucket, key)
    sm = client("sagemaker", found.region)
    tags = [{"Key": TAG_RUN, "Value": run.id}, {"Key": TAG_BY, "Value": "unity-nb"}]
    sm.create_model(ModelName=name, ExecutionRoleArn=found.role, Tags=tags, PrimaryContainer={
        "Image": image, "ModelDataUrl": f"s3://{found.bucket}/{key}",
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}})
    variant = {"VariantName": "AllTraffic", "ModelName": name}
    if instance_type:
        variant.update(InstanceType=instance_type, InitialInstanceCount=1)
        kind = instance_type
    else:
        variant["ServerlessConfig"] = {"MemorySizeInMB": serverless_memory, "MaxConcurrency": SERVERLESS_CONCURRENCY}
        kind = f"serverless {serverless_memory} MB"
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant], Tags=tags)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=tags)
    endpoint = SageMakerEndpoint(name=name, region=found.region, run=run.id, model=model.name, kind=kind,
                                 created=time.time(), status="Creating", about=PolicyHandler(model).describe())
    _CREATED[name] = endpoint
    say(f"SageMaker endpoint {name} ({kind}) created in {found.region}")
    return endpoint.wait(progress) if wait else endpoint


def endpoints(region: str | None = None) -> list[SageMakerEndpoint]:
    """The SageMaker endpoints the kit made in the region (any session), newest last."""
    region, _ = resolve_region(region)
    sm = client("sagemaker", region, quick=True)  # a listing must not hang when AWS is out of reach
    found = []
    for page in sm.get_paginator("list_endpoints").paginate():
        for item in page["Endpoints"]:
            tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=item["EndpointArn"]).get("Tags", [])}
            if tags.get(TAG_BY) != "unity-nb":
                continue
            known = _CREATED.get(item["EndpointName"])
            kind = known.kind if known else _variant_kind(sm, item["EndpointName"])
            created = item.get("CreationTime")
            found.append(SageMakerEndpoint(
                name=item["EndpointName"], region=region, run=tags.get(TAG_RUN), model=known.model if known else "",
                kind=kind, status=item.get("EndpointStatus", ""), about=known.about if known else {},
                created=created.timestamp() if isinstance(created, datetime) else None))
    return sorted(found, key=lambda e: e.created or 0)


def _variant_kind(sm, name: str) -> str:
    try:
        config = sm.describe_endpoint_config(EndpointConfigName=sm.describe_endpoint(EndpointName=name)[
            "EndpointConfigName"])
        variant = config["ProductionVariants"][0]
    except Exception:
        return "?"
    if "ServerlessConfig" in variant:
        return f"serverless {variant['ServerlessConfig'].get('MemorySizeInMB')} MB"
    return variant.get("InstanceType", "?")


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(seconds, 0)
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


__all__ = ["deploy", "endpoints", "SageMakerEndpoint", "EndpointGone", "package", "age_text"]
