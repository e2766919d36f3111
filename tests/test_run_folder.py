"""The run folder's format: written down once (train/schema.py), documented (docs/run-folder.md), kept."""

import re
from pathlib import Path

import pytest

from unity_nb.train.schema import EVENTS, SCHEMA_VERSION, State

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "run-folder.md").read_text()
FILES = ("status.json", "metrics.jsonl", ".complete", "unity_nb_progress.json", '"checkpoints"', '"logs"', '"tb"')


def test_the_document_names_every_state_event_and_field():
    assert f"event schema version {SCHEMA_VERSION}" in DOC
    for state in State:
        assert f"| `{state.value}` |" in DOC, state
    for kind, fields in EVENTS.items():
        section = DOC.split(f"### `{kind}`", 1)
        assert len(section) == 2, f"no section for {kind!r} events"
        for field in fields:
            assert f"| `{field}` |" in section[1].split("###", 1)[0], f"{kind}.{field} is not documented"


def test_only_the_store_touches_the_run_folder_files():
    """One owner: no other module names the run folder's files."""
    offenders = []
    for path in (ROOT / "unity_nb").rglob("*.py"):
        if path.name in ("store.py", "schema.py"):
            continue
        text = path.read_text().replace('client("logs"', "client(CLOUDWATCH_LOGS")  # a service, not the folder
        offenders += [f"{path.relative_to(ROOT)}: {name}" for name in FILES if name in text]
    assert not offenders, offenders


def test_states_read_like_the_strings_they_replace():
    assert State.FINISHED == "finished" and f"{State.FINISHED}" == "finished" and repr(State.STOPPED) == "'stopped'"


def _conforms(events):
    """Every event has a known kind, the version, a time, and only documented fields."""
    assert events
    for event in events:
        kind = event["event"]
        assert kind in EVENTS, kind
        assert event["v"] == SCHEMA_VERSION and isinstance(event["t"], float)
        known = set(EVENTS[kind]) | {"event", "v", "t"}
        extra = {k for k in event if k not in known and not re.sub(r"/.*", "/<behavior>", k) in known}
        assert not extra, f"{kind} event has undocumented fields {extra}"


@pytest.mark.ray
def test_a_real_runs_events_follow_the_schema(trained_basic):
    _conforms(trained_basic.events())
    kinds = {e["event"] for e in trained_basic.events()}
    assert {"status", "log", "iteration", "checkpoint"} <= kinds


def test_a_launch_noted_late_never_undoes_the_process_own_word(tmp_path):
    """The launcher notes the training process's pid; if that process already failed (it can, within
    milliseconds: a bad import path), its failure stands. A resumed run (an older pid) is noted anew."""
    import os

    from unity_nb.train import make_config
    from unity_nb.train.store import RunStore

    run = RunStore(tmp_path).create(make_config("Basic"))
    writer = run.writer()  # this process plays the training process
    writer.fail("ConfigError: model: no such class")
    writer.close()
    run.note_launch(os.getpid())  # the launcher's note arrives after the failure
    assert run.state == State.FAILED and "no such class" in run.status["error"]
    run.note_launch(os.getpid() + 1)  # a new launch (resume) by another process: noted
    assert run._stored_status()["state"] == State.STARTING


@pytest.mark.ray
def test_a_full_disk_fails_the_run_saying_so_and_resume_goes_on(tmp_path):
    """A class shares one disk. The runs folder on a 1 MB filesystem: the run fails with the reason (which
    disk, how much is free, what to do), its last complete checkpoint kept; once space is freed, resume
    goes on from it. Before, it ended "without saying why", its status still "running"."""
    import os
    import subprocess
    import time

    import unity_nb.train as ut

    disk = tmp_path / "small"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        run = ut.train("Basic", runs_dir=disk, mode="inprocess", steps=100_000, target_return="off", checkpoint_every=1)
        run.wait(timeout=600)
        assert run.state == "failed", run.status
        error = run.status["error"]
        assert error.startswith(f"no space left on the disk of {disk} (") and f"unity-nb resume {run.id}" in error
        kept = run.latest_checkpoint()
        assert kept is not None and kept.name in error
        steps = ut.RunFolder.progress(kept)["env_steps"]

        subprocess.run(["mount", "-o", "remount,size=20m", str(disk)], check=True)
        again = ut.resume(run.id, runs_dir=disk, steps=steps + 1000, wait=True)
        assert again.state == "finished", again.status
        assert again.last()["env_steps"] >= steps + 1000
        deadline = time.monotonic() + 60  # the space kept is given back as the training process closes
        while (again.path / ".space-reserve").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not (again.path / ".space-reserve").exists()
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
