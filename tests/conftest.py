import json
import os
import re
import tempfile
from pathlib import Path

# Players' launch files go to a private cache for the test session.
os.environ.setdefault("UNITY_NB_CACHE", tempfile.mkdtemp(prefix="unity-nb-test-cache-"))

# The test session's own training runtime (not the developer's), shared by every test and kernel of the
# session, and stopped when the session ends (a short folder: Unix socket paths are limited to 107 bytes).
os.environ.setdefault("UNITY_NB_RUNTIME_DIR", tempfile.mkdtemp(prefix="unb-rt-", dir="/tmp"))

import pytest  # noqa: E402

import unity_nb.envs  # noqa: E402,F401  (installs the protobuf hook before mlagents_envs loads)


@pytest.fixture(scope="session", autouse=True)
def _stop_training_runtime():
    yield
    from unity_nb.train import service

    service.stop(force=True)


@pytest.fixture
def unity_env():
    """Open the real UnityEnvironment on a built-in scene's player file; closed afterwards."""
    from unity_nb.envs.builds import player_file
    from unity_nb.envs.unity import UnityConnection

    opened = []

    def open_(scene, **kwargs):
        conn = UnityConnection(player_file(scene), **kwargs)
        opened.append(conn)
        return conn

    yield open_
    for conn in opened:
        conn.close()


@pytest.fixture(scope="session")
def trained_basic(tmp_path_factory):
    """One Basic run trained through the player stand-in, shared by the tests that need its
    checkpoint's policy (evaluate, video, resume) or real training; tests that only read a
    run folder take ``recorded_run`` instead (no Ray). Its users are marked ``ray``."""
    import unity_nb.train as ut

    run = ut.train("Basic", runs_dir=tmp_path_factory.mktemp("runs"), steps=20_000)
    run.wait(timeout=600)
    return run


# ---- a recorded run: a real run folder's contents without Ray

RECORDED = Path(__file__).parent / "data" / "recorded-basic"


class RecordedRun:
    """A run folder written from a recording of a real training run, through the store's
    ``RunWriter``, as the training process writes it, without Ray.

    Recorded anew at commit 48368e4 (Basic at lr 1e-3, 2 epochs; confirmations played both ways,
    event schema 2), from a real training run (Ray, PPO, the player stand-in)
    with the settings of ``trained_basic`` (Basic's defaults, at most 20,000 steps)::

        cd /tmp/rec && <checkout>/.venv/bin/unity-nb train Basic --steps 20000 --eval-episodes 0 --runs-dir runs

    tests/data/recorded-basic/ holds that run's config.yaml and metrics.jsonl as written,
    and the unity_nb_progress.json of its checkpoints (checkpoint_000010, _000020, _000023). The run took
    23 iterations (5,982 steps) to reach the target 0.9 over the last 100 episodes, which 100 greedy
    episodes (mean 0.93) and 100 sampled ones (mean 0.919) confirmed: status
    starting/running/finished, log, iteration, confirmation and checkpoint events.

    Status events go through ``set_state`` (status.json and the event), checkpoint events
    through ``save_checkpoint`` (a ``checkpoint_0000NN/`` folder with the recorded progress
    file and the ``.complete`` mark, but no trainer state: no policy to evaluate or film;
    that takes ``trained_basic``), every other event through ``emit`` (stamped with the time
    of the replay). status.json's pid is this test process: a run left "running" reads as
    alive. What the writer does not write is absent: logs/driver.log, TensorBoard files.
    To record anew, run the command above and copy the three files.
    """

    def __init__(self, root, **settings):
        from unity_nb.train import RunStore, TrainConfig

        config = TrainConfig.from_yaml((RECORDED / "config.yaml").read_text(), source="tests/data/recorded-basic")
        if settings:  # e.g. other settings for a comparison: the events stay the recorded ones
            config = config.replace(**settings)
        self.run = RunStore(root).create(config)
        self.writer = self.run.writer()
        self.pending = [json.loads(line) for line in (RECORDED / "metrics.jsonl").read_text().splitlines()]
        self._time_s = 0.0

    @property
    def done(self) -> bool:
        return not self.pending

    def play(self, iterations: int | None = None):
        """Write the next recorded events: all of them (None), or until ``iterations`` more
        iteration events are written, stopping before the next iteration or the final status
        (so ``play(0)`` on a new replay leaves a running run with no points yet). Returns the Run."""
        from unity_nb.train.schema import TERMINAL, State

        written = 0
        while self.pending:
            event = self.pending[0]
            if iterations is not None and written >= iterations and (
                    event["event"] == "iteration" or (event["event"] == "status" and event["state"] in TERMINAL)):
                break
            self.pending.pop(0)
            body = {k: v for k, v in event.items() if k not in ("v", "t")}
            if event["event"] == "status":
                extra = {k: v for k, v in body.items() if k not in ("event", "state")}
                self.writer.set_state(State(body["state"]), **extra)
            elif event["event"] == "checkpoint":
                self._checkpoint(body)
            else:
                self.writer.emit(body)
                if event["event"] == "iteration":
                    written += 1
                    self._time_s = event["time_s"]
        if not self.pending:
            self.writer.close()
        return self.run

    def _checkpoint(self, event: dict) -> None:
        name = Path(event["path"]).name
        progress_file = RECORDED / f"{name}_progress.json"
        progress = (json.loads(progress_file.read_text()) if progress_file.exists()
                    else {"env_steps": event["env_steps"], "time_s": self._time_s})

        def save(path: Path) -> None:
            path.mkdir(parents=True)
            (path / "RECORDED.txt").write_text("a recorded run's checkpoint: progress only, no trainer state\n")

        iteration = int(re.fullmatch(r"checkpoint_(\d+)", name).group(1))
        self.writer.save_checkpoint(iteration, save, progress, keep=self.run.config.keep_checkpoints)


@pytest.fixture
def recorded_runs(tmp_path):
    """Factory of recorded runs (see ``RecordedRun``) in ``tmp_path/runs`` (or ``root``):
    ``recorded_runs()`` a finished one, ``recorded_runs(iterations=3)`` one still running after
    its first 3 iterations (``.play()`` goes on); ``**settings`` change its config.yaml.
    Returns the ``RecordedRun``; its ``.run`` is the folder's Run."""
    made = []

    def make(iterations: int | None = None, root=None, **settings) -> RecordedRun:
        replay = RecordedRun(root if root is not None else tmp_path / "runs", **settings)
        replay.play(iterations)
        made.append(replay)
        return replay

    yield make
    for replay in made:
        replay.writer.close()


@pytest.fixture
def recorded_run(recorded_runs):
    """A finished Basic run, replayed from the recording (see ``RecordedRun``; no Ray)."""
    return recorded_runs().run


# ---- a local AWS (moto server on 127.0.0.1) for the SageMaker tests

@pytest.fixture(scope="session")
def aws_emulator():
    """One moto server for the session (tests/aws_emulator.py); each test takes ``aws``."""
    from aws_emulator import AwsEmulator

    emulator = AwsEmulator()
    yield emulator
    emulator.stop()


@pytest.fixture
def aws(aws_emulator, monkeypatch):
    """The emulator, empty, with this process's AWS settings pointed at it."""
    aws_emulator.reset()
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "SAGEMAKER_ROLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in aws_emulator.env.items():
        monkeypatch.setenv(name, value)
    return aws_emulator
