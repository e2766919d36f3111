"""``unity-nb doctor`` / ``%unity_doctor``: a teacher's check of a machine, line by line, also where things are broken."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from unity_nb.cli import main
from unity_nb.doctor import NOTE, OK, PROBLEM, run_checks

QUICK_CHECKS = ["python", "packages", "torch", "share", "disk", "shm", "front-end", "scene"]


def test_quick_checkup_of_this_machine_is_all_ok_line_by_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("UNITY_NB_MEMORY", raising=False)
    monkeypatch.delenv("UNITY_NB_CPUS", raising=False)
    code = main(["doctor", "--quick", "--runs-dir", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 0, out
    for name in QUICK_CHECKS:
        assert any(line.split()[1:2] == [name] and line.split()[0] in ("OK", "NOTE") for line in out.splitlines()), out
    assert "torch 2.13.0+cpu: CPU build" in out and "played 2 episodes" in out and "Unity RL sidebar" in out
    assert f"runs go to {tmp_path / 'runs'}" in out and not (tmp_path / "runs").exists()  # it creates nothing
    assert out.rstrip().endswith("everything a first training cell needs is here")


def test_a_bad_limit_and_an_unwritable_runs_folder_are_problems_and_the_rest_still_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("UNITY_NB_MEMORY", "lots")
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: a read-only filesystem instead
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(locked)], capture_output=True)
        if mounted.returncode != 0:
            pytest.skip("cannot mount a read-only filesystem here")
    else:
        locked.chmod(0o500)
    try:
        code = main(["doctor", "--quick", "--runs-dir", str(locked / "runs")])
    finally:
        subprocess.run(["umount", "-l", str(locked)], capture_output=True)
    out = capsys.readouterr().out
    assert code == 1
    assert "PROBLEM  share        UNITY_NB_MEMORY must be a size such as 4G" in out
    assert f"PROBLEM  disk         runs go to {locked / 'runs'}, but {locked} cannot be written" in out
    assert "--runs-dir DIR, UNITY_NB_RUNS=DIR" in out
    assert "OK       scene" in out  # the checks after the problems still ran
    assert out.rstrip().endswith("2 problem(s): share, disk")


def test_without_jupyter_and_with_a_broken_torch_each_is_a_line_not_a_crash(tmp_path):
    """An attendee's half-finished install: JupyterLab absent, and a torch folder with nothing in it first on
    the path."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("raise ImportError('half-installed')\n")
    code = textwrap.dedent("""
        import sys
        sys.modules["jupyter_core"] = None  # as if not installed
        from unity_nb.cli import main
        sys.exit(main(["doctor", "--quick"]))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "PROBLEM  torch        could not check: FileNotFoundError" in done.stdout
    assert "PROBLEM  front-end    Jupyter is not installed (no jupyter_core)\n" in done.stdout
    assert "-> pip install jupyterlab" in done.stdout and "Traceback" not in done.stderr
    assert done.stdout.rstrip().endswith("2 problem(s): torch, front-end")


def test_a_failing_check_is_reported_as_it_comes(monkeypatch):
    """Lines reach the caller one by one (a teacher watches a slow check run), and an error inside a check
    becomes that check's problem line."""
    import unity_nb.doctor as doctor

    def broken():
        raise OSError("read-only file system: '/home/attendee/.cache'")

    monkeypatch.setattr(doctor, "check_scene", broken)
    seen = []
    checkup = run_checks(quick=True, report=seen.append)
    assert [c.name for c in seen] == QUICK_CHECKS and seen == checkup.checks
    assert checkup["scene"].status == PROBLEM and "read-only file system" in checkup["scene"].found
    assert not checkup.ok and "<td style='color:#c62828;font-weight:bold'>problem</td>" in checkup._repr_html_()
    assert {c.status for c in checkup.checks} <= {OK, NOTE, PROBLEM}


@pytest.mark.ray
def test_the_full_checkup_trains_basic_for_two_iterations(tmp_path, capsys):
    code = main(["doctor", "--runs-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    line = next(line for line in out.splitlines() if line.startswith("OK       training"))
    assert "trained 2 iterations of Basic" in line, line
    assert not any(tmp_path.iterdir())  # its run went to a folder of its own, removed after


@pytest.mark.ray
def test_a_small_dev_shm_is_said_once_and_the_runtime_still_trains(tmp_path):
    """Containers give /dev/shm 64 MB, less than the object store: Ray's store then lives in the runtime's
    temp folder. Here a 64 MB /dev/shm in a mount namespace of its own (root only), and a real runtime in it."""
    if os.geteuid() != 0:
        pytest.skip("a /dev/shm of 64 MB in a mount namespace of its own needs root")
    code = textwrap.dedent("""
        import os
        from unity_nb.train.runtime import LocalRuntime
        runtime = LocalRuntime().start()
        try:
            print("SHARE", runtime.share.describe())
            os.environ.update(runtime.driver_env())  # before Ray is imported: it reads them once
            import ray
            from unity_nb.trainer.driver import join_ray
            join_ray(runtime.address)
            big = ray.put(b"x" * 20_000_000)  # a sample batch's size, in the object store

            @ray.remote
            def size(data):
                return len(data)

            print("TASK", ray.get(size.remote(big)) == 20_000_000)
            ray.shutdown()
        finally:
            runtime.stop()
    """)
    script = tmp_path / "small_shm.py"
    script.write_text(code)
    done = subprocess.run(["unshare", "--mount", "sh", "-c",
                           f"mount -t tmpfs -o size=64m tmpfs /dev/shm && exec {sys.executable} {script}"],
                          capture_output=True, text=True, timeout=400)
    if "unshare failed" in done.stderr or "mount:" in done.stderr[:200]:
        pytest.skip(f"no mount namespace here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "in a temp folder, not /dev/shm (it has 64 MiB free; slower, works)" in done.stdout
    assert "TASK True" in done.stdout
