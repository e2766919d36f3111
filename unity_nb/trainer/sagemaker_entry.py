"""The SageMaker container's entry point: one unity-nb training inside a training job.

    python -m unity_nb.trainer.sagemaker_entry      (the job runs it through unity_nb_train.py)

Reads (SageMaker's container contract; the root is /opt/ml, or $UNITY_NB_OPT_ML in tests):
  input/config/hyperparameters.json   the run's settings, every value a string (train/sagemaker/contract.py)
  input/config/resourceconfig.json    the hosts (also $SM_HOSTS, $SM_CURRENT_HOST); $SM_NUM_CPUS, $SM_NUM_GPUS
  input/data/train/ ($SM_CHANNEL_TRAIN) the user's Unity Linux build (absent for a built-in scene)
  checkpoints/                        kept in S3 by SageMaker: a spot job that was interrupted resumes from it
Writes:
  checkpoints/run/                    the run folder (store.py's layout): events, checkpoints
  stdout                              each event as one line, ``[unity-nb] {json}``: the notebook follows the
                                      job by these lines, and the job's metric definitions chart them
  model/ ($SM_MODEL_DIR)              at the end: the last checkpoint and export/<behavior>.onnx, laid out
                                      like the run folder (Run.pack_model), so it unpacks into it
  output/failure                      the reason, when the job fails (SageMaker shows its first line)

With several hosts, the first (in SM_HOSTS order) is the Ray head and trains; the others join its
cluster, collect experience, and leave when the head's Ray port closes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from ..errors import NotPossible, TimedOut
from ..processes import port_open
from ..train.runtime import private_token
from ..train.sagemaker import contract
from ..train.schema import SCHEMA_VERSION, State
from ..run import Run
from ..train.store import RunStore

RUN_FOLDER = "run"  # under the checkpoints folder, so SageMaker keeps it in S3
HEAD_TIMEOUT = 300.0  # seconds a worker waits for the head's Ray to answer


@dataclass
class Container:
    """What SageMaker gives the container."""

    root: Path
    hyperparameters: dict
    hosts: list[str]
    current_host: str
    num_cpus: int
    num_gpus: int
    train_channel: str | None
    demos_channel: str | None = None

    @classmethod
    def read(cls) -> "Container":
        root = Path(os.environ.get("UNITY_NB_OPT_ML", "/opt/ml"))
        config = root / "input" / "config"
        hyperparameters = json.loads((config / "hyperparameters.json").read_text()) \
            if (config / "hyperparameters.json").exists() else {}
        resources = json.loads((config / "resourceconfig.json").read_text()) \
            if (config / "resourceconfig.json").exists() else {}
        hosts = json.loads(os.environ["SM_HOSTS"]) if os.environ.get("SM_HOSTS") else resources.get("hosts") or ["algo-1"]
        current = os.environ.get("SM_CURRENT_HOST") or resources.get("current_host") or hosts[0]
        train = os.environ.get(f"SM_CHANNEL_{contract.TRAIN_CHANNEL.upper()}") or str(root / "input/data/train")
        demos = os.environ.get(f"SM_CHANNEL_{contract.DEMOS_CHANNEL.upper()}") or str(root / "input/data/demos")
        return cls(root=root, hyperparameters=hyperparameters, hosts=list(hosts), current_host=current,
                   num_cpus=int(os.environ.get("SM_NUM_CPUS") or os.cpu_count() or 1),
                   num_gpus=int(os.environ.get("SM_NUM_GPUS") or 0),
                   train_channel=train if os.path.isdir(train) else None,
                   demos_channel=demos if os.path.isdir(demos) else None)

    @property
    def model_dir(self) -> Path:
        return Path(os.environ.get("SM_MODEL_DIR") or self.root / "model")

    @property
    def run_dir(self) -> Path:
        return self.root / Path(contract.CHECKPOINTS_LOCAL).relative_to("/opt/ml") / RUN_FOLDER

    @property
    def is_head(self) -> bool:
        return self.current_host == self.hosts[0]

    def fail(self, reason: str, details: str = "") -> None:
        """SageMaker shows the failure file's text as the job's FailureReason."""
        (self.root / "output").mkdir(parents=True, exist_ok=True)
        (self.root / "output" / "failure").write_text(reason.strip() + ("\n\n" + details.strip() if details else "") + "\n")


def say(event: dict) -> None:
    print(contract.event_line(event), flush=True)


# ---- the Unity build in the train channel

def prepare_build(scene: str) -> None:
    """S3 keeps no file modes: make the build's executable executable again, then check it."""
    from ..envs import check_build

    path = Path(scene)
    if path.exists() and path.is_file():
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    check_build(scene)


# ---- the Ray cluster across the job's hosts

def use_cluster_token(container: Container) -> None:
    """Every host's Ray (and this process's driver) authenticates with the job's token: the kit sends
    a fresh one in the job's environment (UNITY_NB_RAY_TOKEN), so only the job's own hosts can join."""
    token = os.environ.get("UNITY_NB_RAY_TOKEN")
    if not token:
        raise NotPossible("several hosts but no UNITY_NB_RAY_TOKEN in the job's environment: launch the job "
                          "with unity_nb.train(..., backend='sagemaker'), which sends one")
    path = private_token(container.root, token)
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(path), RAY_USAGE_STATS_ENABLED="0")


def _ray(*args: str) -> subprocess.Popen:
    """``ray start --block``: this process owns the node and stops it by ending the process group
    (``ray stop`` would stop every Ray on the machine)."""
    command = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block", "--disable-usage-stats", *args]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    return subprocess.Popen(command, stdout=sys.stdout, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _end(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def head_address(container: Container) -> tuple[str, int]:
    port = int(os.environ.get("UNITY_NB_RAY_PORT") or contract.RAY_PORT)
    return socket.gethostbyname(container.hosts[0]), port


def start_head(container: Container) -> tuple[subprocess.Popen, str]:
    """The head node, on this host's address only. It keeps one CPU for the driver (the learner
    runs in the driver process), so env runners go to the other CPUs and the other hosts."""
    ip, port = head_address(container)
    head = _ray("--head", f"--node-ip-address={ip}", f"--port={port}", "--include-dashboard=false",
                f"--num-cpus={max(container.num_cpus - 1, 0)}", f"--num-gpus={container.num_gpus}")
    _wait(lambda: port_open(f"{ip}:{port}", timeout=2), 120, f"the Ray head did not start on {ip}:{port}", head)
    return head, f"{ip}:{port}"


def _wait(condition, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise NotPossible(f"{what} (ray start exited with {process.returncode})")
        if time.monotonic() > deadline:
            raise TimedOut(what)
        time.sleep(0.5)


def _wait_for_nodes(count: int, timeout: float = 120) -> None:
    import ray

    _wait(lambda: sum(1 for n in ray.nodes() if n.get("Alive")) >= count, timeout,
          f"not all {count} hosts joined the Ray cluster")


def worker(container: Container) -> int:
    """Join the head's cluster, collect experience for it, leave when the head's Ray goes."""
    ip, port = head_address(container)
    own = socket.gethostbyname(container.current_host)
    _wait(lambda: port_open(f"{ip}:{port}", timeout=2), HEAD_TIMEOUT,
          f"{container.current_host}: the head {container.hosts[0]} ({ip}:{port}) never opened its Ray port")
    node = _ray(f"--address={ip}:{port}", f"--node-ip-address={own}", f"--num-cpus={container.num_cpus}",
                f"--num-gpus={container.num_gpus}")
    print(f"unity-nb: {container.current_host} ({own}) joined the Ray cluster at {ip}:{port}", flush=True)
    try:
        while port_open(f"{ip}:{port}", timeout=2):  # the head's Ray closes when its training is over
            if node.poll() is not None:
                raise NotPossible(f"this host's Ray node exited with {node.returncode}")
            time.sleep(2)
    finally:
        _end(node)
    print(f"unity-nb: {container.current_host}: the head is done; leaving", flush=True)
    return 0


# ---- training on the head

class Echo:
    """Prints every event the run writes, as it is written (from where the file was at start)."""

    def __init__(self, run: Run):
        self.run = run
        self.offset = run.events_path.stat().st_size if run.events_path.exists() else 0
        self.done = threading.Event()
        self.seen_final = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        events, self.offset = self.run.read_events(self.offset)
        for event in events:
            say(event)
            if event.get("event") == "status" and event.get("state") in ("stopped", "finished", "failed"):
                self.seen_final = True

    def _loop(self) -> None:
        while not self.done.wait(0.2):
            self._drain()

    def close(self) -> None:
        self.done.set()
        self.thread.join(5)
        self._drain()


def open_run(container: Container, config) -> tuple[Run, bool]:
    """The run folder: new, or (a spot job restarted) the one the checkpoints folder brought back."""
    existing = container.run_dir
    if (existing / "config.yaml").exists():
        run = Run(existing)
        if run.latest_checkpoint() is not None:
            # the settings are this job's (a resume may change the step budget); progress is the checkpoint's
            (run.path / "config.yaml").write_text(config.to_yaml())
            (run.path / "stop").unlink(missing_ok=True)
            return run, True
        shutil.rmtree(existing)  # started but never checkpointed: start again
    return RunStore(existing.parent).create(config, run_id=RUN_FOLDER), False


def train(container: Container, config, address: str | None) -> int:
    from .driver import Driver

    run, resume = open_run(container, config)
    echo = Echo(run)
    if resume:
        checkpoint = run.latest_checkpoint()
        say({"event": "log", "v": SCHEMA_VERSION, "t": time.time(),
             "message": f"resumed after an interruption, from {checkpoint.name} "
                        f"({Run.progress(checkpoint).get('env_steps')} steps)"})
    driver = Driver(run.path, address, resume)
    try:
        code = driver.run()  # SIGTERM (StopTrainingJob) ends it with a final checkpoint: state stopped
    finally:
        echo.close()
    status = run.status
    if code != 0 or status["state"] == State.FAILED:
        container.fail(status.get("error") or "training failed",
                       run.error_path.read_text()[-4000:] if run.error_path.exists() else "")
        return 1
    write_model(run, container.model_dir)
    return 0


def write_model(run: Run, model_dir: Path) -> None:
    """The model folder: the last checkpoint and the ONNX export, laid out like the run folder."""
    if run.latest_checkpoint() is None:
        return  # stopped before the first iteration: nothing trained, nothing to keep
    try:
        exported = run.export(verify=200)
        say({"event": "log", "v": SCHEMA_VERSION, "t": time.time(),
             "message": "exported " + ", ".join(p.name for p in exported.files.values())})
    except Exception as err:  # the checkpoint is the model still; say why there is no ONNX
        say({"event": "log", "v": SCHEMA_VERSION, "t": time.time(), "message": f"no ONNX export: {type(err).__name__}: {err}"})
    run.pack_model(model_dir)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Train one unity-nb run inside a SageMaker training job (the job's entry point). Reads the "
                    "container contract under /opt/ml ($UNITY_NB_OPT_ML), prints each run event as a "
                    "'[unity-nb] {json}' line, and leaves the model in /opt/ml/model.")
    parser.parse_args(argv)
    container = Container.read()
    head = None
    try:
        config = contract.decode_hyperparameters(container.hyperparameters, container.train_channel,
                                                 container.demos_channel)
        if config.scene_name is None:
            prepare_build(config.scene)
        if len(container.hosts) > 1:
            use_cluster_token(container)
        if len(container.hosts) > 1 and not container.is_head:
            return worker(container)
        address = None
        if len(container.hosts) > 1:
            head, address = start_head(container)
            import ray

            from .driver import join_ray

            join_ray(address)
            _wait_for_nodes(len(container.hosts))
            if not config.num_env_runners:  # every CPU Ray has, on every host, collects experience
                total = int(ray.cluster_resources().get("CPU", 0))
                config = config.replace(num_env_runners=max(total, 1))
        return train(container, config, address)
    except BaseException as err:  # whatever happened, SageMaker and the notebook must say why
        reason = f"{type(err).__name__}: {err}"
        container.fail(reason, traceback.format_exc())
        say({"event": "status", "v": SCHEMA_VERSION, "t": time.time(), "state": "failed", "error": reason})
        return 1
    finally:
        if head is not None:
            import ray

            ray.shutdown()  # first: a driver whose cluster vanishes waits a minute, then exits 1
            _end(head)


if __name__ == "__main__":
    sys.exit(main())
