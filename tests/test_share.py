"""The training runtime's share of a shared machine (train/share.py): cgroup limits (v1 and v2), a teacher's
settings, bad settings, and a real memory cgroup where this machine lets the test make one."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from unity_nb.train.share import Share, find_share, parse_cpus, parse_size, silent_death

GiB = 2**30


def fake_root(tmp_path, cgroup: str, files: dict) -> Path:
    """A root with /proc/self/cgroup and cgroup files (paths relative to /sys/fs/cgroup)."""
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/cgroup").write_text(cgroup)
    for name, text in files.items():
        path = tmp_path / "sys/fs/cgroup" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_cgroup_v2_limits_as_a_jupyterhub_spawner_sets_them(tmp_path):
    root = fake_root(tmp_path, "0::/user.slice/jupyter-ada.scope\n", {
        "cgroup.controllers": "cpu memory",
        "user.slice/memory.max": "max", "user.slice/cpu.max": "max 100000",
        "user.slice/jupyter-ada.scope/memory.max": str(2 * GiB),
        "user.slice/jupyter-ada.scope/cpu.max": "50000 100000",  # half a CPU: one whole for Ray's count
    })
    share = find_share({}, root)
    assert (share.cpus, share.memory, share.cpus_from, share.memory_from) == (1, 2 * GiB, "cgroup", "cgroup")
    assert share.object_store == int(2 * GiB * 0.3)
    assert share.ray_flags() == ["--num-cpus=1", f"--memory={2 * GiB - share.object_store}",
                                 f"--object-store-memory={share.object_store}"]


def test_a_parents_limit_applies_too_and_cgroup_v1_as_containers_set_it(tmp_path):
    root = fake_root(tmp_path, "4:memory:/docker/abc\n1:cpu,cpuacct:/docker/abc\n0::/\n", {
        "memory/docker/memory.limit_in_bytes": str(GiB),
        "memory/docker/abc/memory.limit_in_bytes": "9223372036854771712",  # v1's "no limit"
        "cpu/docker/abc/cpu.cfs_quota_us": "-1", "cpu/docker/cpu.cfs_quota_us": "100000",
        "cpu/docker/cpu.cfs_period_us": "100000",
    })
    share = find_share({}, root)
    assert (share.memory, share.memory_from) == (GiB, "cgroup") and share.cpus == 1


def test_in_a_container_the_mount_is_the_group_itself(tmp_path):
    root = fake_root(tmp_path, "4:memory:/kubepods/pod1/c1\n", {"memory/memory.limit_in_bytes": str(3 * GiB)})
    assert find_share({}, root).memory == 3 * GiB


def test_no_limits_the_host_and_the_teachers_settings_win(tmp_path):
    root = fake_root(tmp_path, "0::/\n", {"cgroup.controllers": "", "memory.max": "max"})
    host = find_share({}, root)
    assert (host.cpus_from, host.memory_from) == ("host", "host")
    assert host.object_store <= GiB  # a 24 GiB host does not promise Ray 7 GiB of shared memory
    taught = find_share({"UNITY_NB_CPUS": "1", "UNITY_NB_MEMORY": "1.5G"}, root)
    assert (taught.cpus, taught.memory, taught.cpus_from) == (1, int(1.5 * GiB), "UNITY_NB_CPUS")
    assert "1 CPU(s) (UNITY_NB_CPUS), 1.5 GiB memory (UNITY_NB_MEMORY)" in taught.describe()


@pytest.mark.parametrize("text, size", [("4G", 4 * GiB), ("512m", 512 * 2**20), ("2000000000", 2000000000),
                                        (" 1.5GiB ", int(1.5 * GiB)), ("64KB", 64 * 1024)])
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "-1G", "0", "4X", "1e9", "G"])
def test_bad_sizes_are_refused_by_name(text):
    with pytest.raises(ValueError, match=r"UNITY_NB_MEMORY must be a size such as 4G, 512M"):
        parse_size(text)


@pytest.mark.parametrize("text", ["", "two", "0", "-2", "inf", "nan"])
def test_bad_cpu_counts_are_refused_by_name(text):
    with pytest.raises(ValueError, match=r"UNITY_NB_CPUS must be a number of CPUs above 0"):
        parse_cpus(text)


def new_memory_cgroup() -> Path:
    """A fresh v1 memory cgroup below this process's own (the caller removes it). Needs a writable v1 memory
    hierarchy (root on a cgroup-v1 machine such as this one); the test is skipped elsewhere."""
    mine = [line.split(":", 2)[2] for line in Path("/proc/self/cgroup").read_text().splitlines()
            if line.split(":")[1] == "memory"]
    base = Path("/sys/fs/cgroup/memory") / (mine[0].lstrip("/") if mine else "")
    if not mine or not base.is_dir() or not os.access(base, os.W_OK):
        pytest.skip("no writable cgroup-v1 memory hierarchy here")
    group = base / f"unity-nb-test-{uuid.uuid4().hex[:8]}"
    try:
        group.mkdir()
    except OSError as err:
        pytest.skip(f"cannot make a memory cgroup here: {err}")
    return group


def test_a_real_memory_cgroup(tmp_path):
    """A process moved into a 1 GiB v1 memory cgroup (as a container runtime sets one) finds that limit.
    Needs a writable v1 memory hierarchy (root on a cgroup-v1 machine such as this one); skipped elsewhere."""
    group = new_memory_cgroup()
    try:
        (group / "memory.limit_in_bytes").write_text(str(GiB))
        probe = ("import os, sys; open(sys.argv[1], 'w').write(str(os.getpid())); "
                 "from unity_nb.train.share import find_share; s = find_share({}); print(s.memory, s.memory_from)")
        out = subprocess.run([sys.executable, "-c", probe, str(group / "cgroup.procs")], capture_output=True,
                             text=True, timeout=60)
        assert out.stdout.split() == [str(GiB), "cgroup"], out.stderr
    finally:
        group.rmdir()


def test_a_share_too_small_for_any_run_is_refused_with_the_numbers(tmp_path):
    with pytest.raises(ValueError, match=r"UNITY_NB_MEMORY gives the training runtime 200 MiB; it needs at least 512 MiB"):
        find_share({"UNITY_NB_MEMORY": "200M"})
    root = fake_root(tmp_path, "0::/small\n", {"cgroup.controllers": "memory", "small/memory.max": str(300 * 2**20)})
    with pytest.raises(ValueError, match=r"the memory limit of this session \(cgroup\) gives the training runtime 300 MiB"):
        find_share({}, root)


def test_oom_kills_are_counted_from_v2_and_v1_files(tmp_path):
    from unity_nb.train.share import cgroup_oom_kills

    v2 = fake_root(tmp_path / "v2", "0::/user/attendee\n",
                   {"cgroup.controllers": "memory", "user/attendee/memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"})
    assert cgroup_oom_kills(v2) == 1
    v1 = fake_root(tmp_path / "v1", "9:memory:/docker/abc\n",
                   {"memory/docker/abc/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"})
    assert cgroup_oom_kills(v1) == 2
    assert cgroup_oom_kills(fake_root(tmp_path / "none", "0::/\n", {})) == 0


def test_a_process_killed_for_memory_is_named_so(tmp_path):
    """A training process killed by its session's memory limit: the run's error says so, with the limit and
    what to do (before: "ended without saying why (killed?)"). A real v1 memory cgroup of 200 MB in which a
    child process allocates past it; then the reader in the same group explains the death."""
    group = new_memory_cgroup()
    try:
        (group / "memory.limit_in_bytes").write_text(str(200 * 2**20))
        probe = ("import os, subprocess, sys; open(sys.argv[1], 'w').write(str(os.getpid())); "
                 "from unity_nb.train.share import silent_death; print(silent_death()); "
                 "hog = subprocess.run([sys.executable, '-c', 'x = bytearray(600 * 2**20); x[::4096] = b\"1\" * len(x[::4096])']); "
                 "print(hog.returncode); print(silent_death())")
        out = subprocess.run([sys.executable, "-c", probe, str(group / "cgroup.procs")], capture_output=True,
                             text=True, timeout=120)
        before, code, after = out.stdout.strip().splitlines()
        assert before == "the training process ended without saying why (killed?)"
        assert code == "-9", out.stderr
        assert after.startswith("the training process was most likely killed for memory: this session's memory "
                                "limit of 0.2 GiB has killed 1 process(es) so far. Ask for more memory"), after
    finally:
        subprocess.run(["sh", "-c", f"cat {group}/cgroup.procs | xargs -r kill -9"], capture_output=True)
        time.sleep(0.2)
        group.rmdir()


def test_a_process_whose_runtime_ended_first_says_so(tmp_path):
    """Ray's client exits the moment its raylet does, often before the run can say so: the reader then puts
    the death down to the runtime its standby noted (raylet gone, then `ray start`'s reason once it has ended)."""
    log = tmp_path / "ray-start.log"
    log.write_text("Some Ray subprocesses exited unexpectedly:\n  raylet [exit code=-9]\n")
    dead = subprocess.Popen(["true"])
    dead.wait()
    alive = os.getpid()
    assert "runtime" not in silent_death({"guard": alive, "raylet": alive, "log": str(log)})
    assert silent_death({"guard": alive, "raylet": dead.pid, "log": str(log)}) == \
        f"the training runtime stopped under the run: Ray's raylet ended (the whole log: {log})"
    assert silent_death({"guard": dead.pid, "raylet": None, "log": str(log)}) == (
        "the training runtime stopped under the run: Some Ray subprocesses exited unexpectedly: raylet [exit code=-9] "
        f"(the whole log: {log})")


def test_a_run_needing_more_cpus_than_the_share_is_refused_before_anything_starts(tmp_path, monkeypatch):
    """num_env_runners above the runtime's CPUs would wait for Ray's resources forever: refused with the numbers,
    and no run folder is made. A Ray cluster (address=) has resources of its own, so it is not checked here."""
    import unity_nb.train as ut

    monkeypatch.setenv("UNITY_NB_CPUS", "2")
    with pytest.raises(ut.ConfigError) as refused:
        ut.train("Basic", runs_dir=tmp_path / "runs", num_env_runners=3)
    assert str(refused.value) == (
        "this run needs 3 CPUs (3 for its env runners), and this machine's training runtime has 2 (UNITY_NB_CPUS): "
        "set num_env_runners to 2 or fewer (0 samples in the training process itself), or train on a Ray cluster "
        "(address=)")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_threaded_run_counts_its_learner_process_among_the_cpus(tmp_path, monkeypatch):
    """threaded's learner is a Ray actor taking a CPU, as an env runner does: 2 env runners and it need 3."""
    import unity_nb.train as ut

    monkeypatch.setenv("UNITY_NB_CPUS", "2")
    with pytest.raises(ut.ConfigError) as refused:
        ut.train("3DBall", runs_dir=tmp_path / "runs", num_env_runners=2, threaded=True)
    assert str(refused.value) == (
        "this run needs 3 CPUs (2 for its env runners, one for its learner process (threaded)), and this machine's "
        "training runtime has 2 (UNITY_NB_CPUS): set num_env_runners to 1 or fewer (0 samples in the training "
        "process itself), leave threaded out, or train on a Ray cluster (address=)")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
