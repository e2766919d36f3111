"""How much of this machine one user's training runtime may use: CPUs and memory.

On a shared server (JupyterHub, The Littlest JupyterHub, a container) each user runs under limits: a
cgroup's CPU quota and memory limit (cgroup v1 or v2, as spawners and container runtimes set them).
Ray sizes itself from the host's totals, so every attendee's runtime would be promised all CPUs and 30 %
of the host's memory. The runtime takes its numbers from here instead; a teacher can set them
(``UNITY_NB_CPUS``, ``UNITY_NB_MEMORY``) where no cgroup says them.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import BadValue
from ..processes import log_cause, pid_alive

CPUS_ENV, MEMORY_ENV = "UNITY_NB_CPUS", "UNITY_NB_MEMORY"
MIN_OBJECT_STORE = 100 * 2**20  # Ray refuses less than 75 MiB
MAX_OBJECT_STORE = 2**30  # runs keep weights and sample batches there: 1 GiB holds GridWorld's camera batches many times
UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
MIN_MEMORY = 512 * 2**20  # below this no run fits: a cold Basic run peaked at 926 MB inside a 1 GiB cgroup


@dataclass(frozen=True)
class Share:
    """What the runtime may use, and where each number came from."""

    cpus: int
    memory: int  # bytes
    cpus_from: str
    memory_from: str

    @property
    def object_store(self) -> int:
        """Bytes of Ray's shared-memory object store: 30 % of the share (Ray's own fraction), at most 1 GiB."""
        return max(MIN_OBJECT_STORE, min(MAX_OBJECT_STORE, int(self.memory * 0.3)))

    @property
    def store_in_shm(self) -> bool:
        """Whether /dev/shm has room for the object store (containers often give it only 64 MiB)."""
        return self.fits_shm(shm_free())

    def fits_shm(self, free: int | None) -> bool:
        return free is not None and free >= self.object_store

    def ray_flags(self, spill_dir: Path | None = None) -> list[str]:
        """``ray start``'s sizes; with a small /dev/shm the store goes to ``spill_dir`` (Ray's own fallback, said
        once in ``describe`` rather than as Ray's warning on every start)."""
        flags = [f"--num-cpus={self.cpus}", f"--memory={self.memory - self.object_store}",
                 f"--object-store-memory={self.object_store}"]
        if not self.store_in_shm and spill_dir is not None:
            flags.append(f"--plasma-directory={spill_dir}")
        return flags

    def describe(self) -> str:
        text = (f"{self.cpus} CPU(s) ({self.cpus_from}), {self.memory / 2**30:.1f} GiB memory ({self.memory_from}), "
                f"object store {self.object_store / 2**20:.0f} MiB")
        size = shm_free()
        if not self.fits_shm(size):
            text += (f" in a temp folder, not /dev/shm (it has {size / 2**20:.0f} MiB free; slower, works)" if size
                     else " in a temp folder (no /dev/shm; slower, works)")
        return text


def cpus_held(num_env_runners: int, threaded: bool, trial: bool = False) -> tuple[int, str]:
    """The CPUs Ray holds for a run (beside its driver, which Ray does not count): one per env runner, one for a
    threaded learner process, and one for a sweep's trial actor; and what holds them, in words."""
    parts = ["one for the trial"] * trial + \
        [f"{num_env_runners} for its env runner{'s' * (num_env_runners > 1)}"] * (num_env_runners > 0) + \
        ["one for its learner process (threaded)"] * bool(threaded)
    return trial + num_env_runners + bool(threaded), ", ".join(parts)


def shm_free(path: str = "/dev/shm") -> int | None:
    """Free bytes in the shared-memory filesystem Ray's object store lives in (shared by every runtime of the
    host); None where there is none."""
    try:
        found = os.statvfs(path)
    except OSError:
        return None
    return found.f_frsize * found.f_bavail


def parse_size(text: str, name: str = MEMORY_ENV) -> int:
    """``"4G"``, ``"512M"``, ``"1.5g"``, ``"2000000000"`` as bytes; ValueError naming ``name`` otherwise."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", str(text), re.I)
    if not found or float(found.group(1)) <= 0:
        raise BadValue(f"{name} must be a size such as 4G, 512M or 2000000000 (bytes), got {text!r}")
    return int(float(found.group(1)) * UNITS[found.group(2).lower()])


def parse_cpus(text: str, name: str = CPUS_ENV) -> int:
    """A CPU count (a fraction rounds up: 0.5 of a CPU still needs one process slot); ValueError otherwise."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = float("nan")
    if not value > 0 or math.isinf(value):
        raise BadValue(f"{name} must be a number of CPUs above 0, such as 2, got {text!r}")
    return math.ceil(value)


def find_share(env: dict | None = None, root: Path = Path("/")) -> Share:
    """The runtime's share of this machine: the teacher's settings, else the cgroup's limits, else the host's."""
    env = os.environ if env is None else env
    host_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    host_memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if env.get(CPUS_ENV):
        cpus, cpus_from = parse_cpus(env[CPUS_ENV]), CPUS_ENV
    else:
        quota = cgroup_cpus(root)
        cpus, cpus_from = (min(host_cpus, quota), "cgroup") if quota is not None and quota < host_cpus else (host_cpus, "host")
    if env.get(MEMORY_ENV):
        memory, memory_from = parse_size(env[MEMORY_ENV]), MEMORY_ENV
    else:
        limit = cgroup_memory(root)
        memory, memory_from = (limit, "cgroup") if limit is not None and limit < host_memory else (host_memory, "host")
    if memory < MIN_MEMORY:
        where = MEMORY_ENV if memory_from == MEMORY_ENV else f"the memory limit of this session ({memory_from})"
        raise BadValue(f"{where} gives the training runtime {memory / 2**20:.0f} MiB; it needs at least "
                       f"{MIN_MEMORY / 2**20:.0f} MiB (a Basic run peaks near 1 GB): ask for more memory")
    return Share(cpus, memory, cpus_from, memory_from)


def _own_groups(root: Path) -> list[tuple[Path, str, str]]:
    """(mount folder, this process's path in it, controller) for each cgroup hierarchy with a limit we read
    (v2's unified hierarchy has the controller "")."""
    found = []
    try:
        lines = (root / "proc/self/cgroup").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            mount = root / "sys/fs/cgroup"
            mount = mount / "unified" if (mount / "unified/cgroup.controllers").exists() else mount
            found.append((mount, path, ""))
        for controller in controllers.split(","):
            if controller in ("memory", "cpu"):
                found.append((root / "sys/fs/cgroup" / controller, path, controller))
    return found


def _levels(mount: Path, path: str) -> list[Path]:
    """The group's folder and each parent's up to the mount (a limit higher up applies too). In a container the
    mount is often the group itself, and the path from /proc is not under it: then the mount alone."""
    here = mount / path.lstrip("/")
    if not here.is_dir():
        return [mount]
    levels = []
    while True:
        levels.append(here)
        if here == mount:
            return levels
        here = here.parent


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cgroup_memory(root: Path = Path("/")) -> int | None:
    """The smallest memory limit over this process's cgroups (v2 memory.max, v1 memory.limit_in_bytes); None: none."""
    limits = []
    for mount, path, controller in _own_groups(root):
        name = "memory.max" if controller == "" else "memory.limit_in_bytes" if controller == "memory" else None
        for level in _levels(mount, path) if name else []:
            text = _read(level / name)
            if text and text.isdigit() and int(text) < 2**60:  # v1 says "none" with a number near 2**63
                limits.append(int(text))
    return min(limits) if limits else None


def cgroup_cpus(root: Path = Path("/")) -> int | None:
    """CPUs the smallest CPU quota over this process's cgroups allows, rounded up (v2 cpu.max, v1 cfs quota)."""
    quotas = []
    for mount, path, controller in _own_groups(root):
        for level in _levels(mount, path) if controller in ("", "cpu") else []:
            if controller == "":
                parts = (_read(level / "cpu.max") or "max").split()
                quota, period = (parts + ["100000"])[:2]
            else:
                quota, period = _read(level / "cpu.cfs_quota_us") or "-1", _read(level / "cpu.cfs_period_us") or "100000"
            if quota not in ("max", "-1") and quota.isdigit() and period.isdigit() and int(period) > 0:
                quotas.append(max(1, math.ceil(int(quota) / int(period))))
    return min(quotas) if quotas else None


def cgroup_oom_kills(root: Path = Path("/")) -> int:
    """Processes the memory limits of this process's cgroups have killed so far (v2 memory.events, v1
    memory.oom_control: their ``oom_kill`` counts, over the group and its parents)."""
    kills = 0
    for mount, path, controller in _own_groups(root):
        name = "memory.events" if controller == "" else "memory.oom_control" if controller == "memory" else None
        for level in _levels(mount, path) if name else []:
            for line in (_read(level / name) or "").splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and value.strip().isdigit():
                    kills += int(value)
    return kills


def runtime_ended(runtime: dict | None) -> str | None:
    """Why a run's Ray runtime ended under it, if it did: ``runtime`` holds the ``guard`` and ``raylet`` pids and
    the ``log`` its standby noted. `ray start`'s reason once its guard has ended; before that, only that the
    raylet did (Ray's client in the run exits the moment its raylet does, often before `ray start` has logged why)."""
    if not runtime or all(pid_alive(runtime.get(name)) for name in ("guard", "raylet") if runtime.get(name)):
        return None
    said = log_cause(runtime.get("log")) if not pid_alive(runtime.get("guard")) else "Ray's raylet ended"
    return f"the training runtime stopped under the run: {said} (the whole log: {runtime.get('log')})"


def silent_death(runtime: dict | None = None) -> str:
    """What to say of a training process that ended without a word: its Ray runtime ended under it
    (``runtime_ended``); killed for memory, when this session's memory limit says it killed something."""
    ended = runtime_ended(runtime)
    if ended:
        return ended
    kills = cgroup_oom_kills()
    if not kills:
        return "the training process ended without saying why (killed?)"
    limit = cgroup_memory()
    within = f" of {limit / 2**30:.1f} GiB" if limit else ""
    return (f"the training process was most likely killed for memory: this session's memory limit{within} has "
            f"killed {kills} process(es) so far. Ask for more memory, or shut down other notebooks' kernels "
            f"(`unity-nb doctor` shows the limit)")
