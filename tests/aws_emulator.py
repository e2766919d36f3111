"""A local AWS for the SageMaker tests: moto 5.x as a real HTTP server on 127.0.0.1.

The kit's real boto3 and sagemaker clients talk to it over HTTP (``AWS_ENDPOINT_URL``,
fake credentials), exactly as they would talk to AWS. moto accepts SageMaker's
create/describe/list/delete calls, S3 and CloudWatch Logs, but it never runs a job (a
training job is ``Completed`` at once), writes no logs and has no ``StopTrainingJob``.
``SageMakerStandIn`` (tests/sagemaker_jobs.py) plays those parts of SageMaker; this module
only starts the server, points a process's AWS settings at it, and adds the one missing
calls the kit and the SDK make (``StopTrainingJob``: it marks the job ``Stopping`` as SageMaker
does, and the stand-in passes the stop on to the entry point; ``iam:SimulatePrincipalPolicy``).
"""

from __future__ import annotations

import os
import urllib.request

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/unity-nb-test-sagemaker"


def _add_stop_training_job() -> None:
    """moto 5.2 lacks StopTrainingJob (a 500 from the server); SageMaker marks the job Stopping."""
    from moto.sagemaker.responses import SageMakerResponse

    if hasattr(SageMakerResponse, "stop_training_job"):
        return

    def stop_training_job(self):
        name = self._get_param("TrainingJobName")
        job = self.sagemaker_backend.training_jobs.get(name)
        if job is None:
            from moto.sagemaker.exceptions import ValidationError

            raise ValidationError(message=f"Could not find training job '{name}'.")
        if job.training_job_status == "InProgress":
            job.training_job_status = "Stopping"
            job.secondary_status = "Stopping"
        return "{}"

    SageMakerResponse.stop_training_job = stop_training_job


def _add_simulate_principal_policy() -> None:
    """moto 5.2 lacks iam:SimulatePrincipalPolicy, which the SDK's ModelTrainer asks (twice per job)
    whether the role may write the default bucket; moto's 500 costs seconds of retries. Here every
    action is allowed, as for a role with the permissions docs/sagemaker.md lists."""
    from moto.core.responses import ActionResult
    from moto.iam.responses import IamResponse

    if hasattr(IamResponse, "simulate_principal_policy"):
        return

    def simulate_principal_policy(self):
        actions = self._get_param("ActionNames") or []
        resources = self._get_param("ResourceArns") or ["*"]
        return ActionResult({"EvaluationResults": [
            {"EvalActionName": a, "EvalResourceName": r, "EvalDecision": "allowed"}
            for a in actions for r in resources]})

    IamResponse.simulate_principal_policy = simulate_principal_policy


class AwsEmulator:
    """A moto server on 127.0.0.1 and the environment that points AWS clients at it."""

    def __init__(self):
        from moto.server import ThreadedMotoServer

        from unity_nb.processes import free_port

        _add_stop_training_job()
        _add_simulate_principal_policy()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        import logging

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to use this emulator as its AWS (credentials are moto's fakes)."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SECURITY_TOKEN": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            # ModelTrainer checks the role with iam.simulate_principal_policy, which moto lacks
            "SAGEMAKER_VALIDATE_ROLE": "false",
        }

    def backend(self, service: str = "sagemaker"):
        """moto's in-memory state of one service (the stand-in reads and moves jobs through it)."""
        import importlib

        module = importlib.import_module(f"moto.{service}.models")
        return getattr(module, f"{service}_backends")[ACCOUNT][REGION]

    def reset(self) -> None:
        """Forget every bucket, log group, job, model and endpoint."""
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10)

    def stop(self) -> None:
        self.server.stop()
