"""Deploying to a SageMaker endpoint, against the local AWS (moto on 127.0.0.1).

Every call goes over HTTP to the emulator through the real boto3. moto creates models, configs
and endpoints (InService at once) but answers InvokeEndpoint with canned bytes, so
``EndpointStandIn`` (tests/sagemaker_jobs.py) routes InvokeEndpoint to the model archive the kit
uploaded, loaded as SageMaker's serving toolkit loads it. The policy is the session's
``trained_basic`` run (trained once for all tests that need one).
"""

from __future__ import annotations

import json
import subprocess
import sys

import boto3
import pytest

from unity_nb.deploy.sagemaker import EndpointGone, endpoints
from unity_nb.aws import SageMakerSetupError

ROLE = "unity-nb-test-sagemaker"

pytestmark = pytest.mark.ray  # the trained policy


@pytest.fixture
def serving(aws, tmp_path):
    from sagemaker_jobs import EndpointStandIn

    standin = EndpointStandIn(aws, tmp_path / "serving")
    yield standin
    standin.close()


def test_deploy_predict_list_and_delete(serving, trained_basic):
    lines: list[str] = []
    endpoint = trained_basic.deploy(target="sagemaker", role=ROLE, instance_type="ml.c5.large",
                                    progress=lines.append)
    assert endpoint.kind == "ml.c5.large" and endpoint.status == "InService"
    assert lines[0].startswith("uploading Basic.onnx") and lines[-1].endswith("InService")
    sm = boto3.client("sagemaker")
    model = sm.describe_model(ModelName=endpoint.name)
    assert model["PrimaryContainer"]["Image"].endswith("-cpu-py312") and "pytorch-inference" in \
        model["PrimaryContainer"]["Image"]
    at_goal = [[1.0 if i == 16 else 0.0 for i in range(20)]]  # one step left of the large goal
    assert endpoint.invoke(at_goal, action_masks=[[1, 1, 1]]) == [[2]]  # right, as trained
    assert endpoint.invoke(at_goal, action_masks=[[1, 1, 0]]) != [[2]]  # a masked action is never chosen
    with pytest.raises(ValueError, match=r"refused the request \(400\): observations must have 20 numbers each, "
                                         r"got 7"):
        endpoint.invoke([[0.0] * 7])
    listed = endpoints()
    assert [e.name for e in listed] == [endpoint.name] and listed[0].age_s < 600
    assert "aws sagemaker-runtime invoke-endpoint" in endpoint.curl()
    endpoint.stop()
    assert endpoints() == []
    assert not sm.list_models()["Models"] and not sm.list_endpoint_configs()["EndpointConfigs"]


def test_an_endpoint_deleted_elsewhere(serving, trained_basic):
    endpoint = trained_basic.deploy(target="sagemaker", role=ROLE)
    boto3.client("sagemaker").delete_endpoint(EndpointName=endpoint.name)
    with pytest.raises(EndpointGone, match="no longer exists"):
        endpoint.invoke([[0.0] * 20])
    endpoint.stop()  # what is left (config, model) goes; the endpoint itself is reported gone, not an error
    with pytest.raises(EndpointGone, match="nothing left to delete"):
        endpoint.stop()


def test_bad_deploy_settings(aws, trained_basic, monkeypatch):
    with pytest.raises(SageMakerSetupError, match="no IAM role"):
        trained_basic.deploy(target="sagemaker")
    with pytest.raises(SageMakerSetupError, match="'ml.c5.huge' is not a SageMaker endpoint instance type"):
        trained_basic.deploy(target="sagemaker", role=ROLE, instance_type="ml.c5.huge")
    with pytest.raises(SageMakerSetupError, match="region 'moon-1'"):
        trained_basic.deploy(target="sagemaker", role=ROLE, region="moon-1")
    with pytest.raises(ValueError, match="serverless_memory must be 1024, 2048"):
        trained_basic.deploy(target="sagemaker", role=ROLE, serverless_memory=1000)
    with pytest.raises(ValueError, match="port: SageMaker settings; add target='sagemaker'|target must be"):
        trained_basic.deploy(target="azure")
    assert endpoints() == []


def test_the_cli_face_and_the_listing_without_aws(aws, trained_basic, tmp_path):
    runs_dir = str(trained_basic.path.parent)
    out = subprocess.run([sys.executable, "-m", "unity_nb.cli", "deploy", trained_basic.id, "--runs-dir", runs_dir,
                          "--target", "sagemaker", "--role", ROLE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "InService" in out.stdout and "unity-nb endpoints --stop unb-" in out.stdout
    listing = subprocess.run([sys.executable, "-m", "unity_nb.cli", "endpoints"], capture_output=True, text=True,
                             timeout=120)
    assert "serverless 2048 MB" in listing.stdout and "InService" in listing.stdout, listing.stdout
    name = [w for w in listing.stdout.split() if w.startswith("unb-")][0]
    bad = subprocess.run([sys.executable, "-m", "unity_nb.cli", "deploy", trained_basic.id, "--runs-dir", runs_dir,
                          "--port", "8080", "--target", "sagemaker", "--role", ROLE], capture_output=True, text=True)
    assert bad.returncode != 0 and "--port and --host are for a local endpoint" in bad.stderr
    gone = subprocess.run([sys.executable, "-m", "unity_nb.cli", "endpoints", "--stop", name], capture_output=True,
                          text=True, timeout=120)
    assert gone.returncode == 0 and name not in gone.stdout
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true")
    offline = subprocess.run([sys.executable, "-m", "unity_nb.cli", "endpoints"], capture_output=True, text=True,
                             env=env, timeout=120)
    assert offline.returncode == 0 and "(SageMaker endpoints not listed: no AWS region" in offline.stdout


def test_endpoints_left_running_are_named_at_exit(aws, trained_basic):
    """A process that made an endpoint and did not delete it says so as it exits (money is running)."""
    script = (f"import unity_nb.train as ut\n"
              f"run = ut.get_run({trained_basic.id!r}, {str(trained_basic.path.parent)!r})\n"
              f"import sys; sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})\n"
              f"endpoint = run.deploy(target='sagemaker', role={ROLE!r})\n"
              f"print('made', endpoint.name)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    name = out.stdout.split("made ", 1)[1].split()[0]
    assert f"the SageMaker endpoint {name} (us-east-1) is still running and costs money; delete it with: " \
           f"unity-nb endpoints --stop {name}" in out.stderr
    endpoints()[0].stop()
    assert json.dumps([e.name for e in endpoints()]) == "[]"
