"""A class on one machine: N attendees (Linux users) run the first training command at once.

    sudo .venv/bin/python bench/class_on_one_machine.py [--attendees 2 4 8] [--memory 2G]

Root only: it creates its own users (unbclass1, unbclass2, ...) and removes them at the end, with their
homes. Each attendee runs what the workshop's first training cell runs, ``unity-nb train Basic`` (cold:
no runtime of theirs is up), as a fresh login shell in their home, inside a memory cgroup of their own
(v1 or v2, limited to --memory as a hub's spawner would) that also measures their peak. First one
attendee alone (the baseline), then N at once for each N. Printed per N: each attendee's wall time
and its ratio to the lone run, whether every run reached its confirmed target, peak memory per
attendee, and whether any process of any attendee was left after their ``unity-nb down``.

Other users must be able to run this checkout's Python. Where /root is private (0700) and the
interpreter lives under it, the bench gives others traverse permission (o+x, no listing) on the
folders above the interpreter for its run and restores their modes afterwards.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

KIT = Path(sys.executable).with_name("unity-nb")
CGROUP_V1 = Path("/sys/fs/cgroup/memory")
CGROUP_V2 = Path("/sys/fs/cgroup")


def user_name(i: int) -> str:
    return f"unbclass{i}"


def open_path_to(target: Path) -> dict[Path, int]:
    """Give others traverse (o+x) on each folder above ``target`` that lacks it; returns the old modes."""
    changed = {}
    for folder in Path(os.path.realpath(target)).parents:
        mode = folder.stat().st_mode & 0o7777
        if not mode & 0o001:
            changed[folder] = mode
            folder.chmod(mode | 0o001)
    return changed


def make_cgroup(name: str, limit: int) -> tuple[Path, Path]:
    """A memory cgroup limited to ``limit`` bytes: (its folder, the file with its peak usage)."""
    if (CGROUP_V1 / "memory.limit_in_bytes").exists():
        folder = CGROUP_V1 / name
        folder.mkdir(exist_ok=True)
        (folder / "memory.limit_in_bytes").write_text(str(limit))
        (folder / "memory.max_usage_in_bytes").write_text("0")
        return folder, folder / "memory.max_usage_in_bytes"
    folder = CGROUP_V2 / name
    folder.mkdir(exist_ok=True)
    (folder / "memory.max").write_text(str(limit))
    return folder, folder / "memory.peak"


def attendee_command(user: str, cgroup: Path) -> list[str]:
    """A login shell of ``user`` inside ``cgroup`` running the first training command, then `down`."""
    inner = f"cd ~ && {KIT} train Basic; code=$?; {KIT} down --force > /dev/null; exit $code"
    return ["sh", "-c", f"echo $$ > {cgroup}/cgroup.procs && exec su --login {user} -c '{inner}'"]


def left_processes(user: str) -> str:
    found = subprocess.run(["ps", "-u", user, "-o", "pid=,args="], capture_output=True, text=True).stdout.strip()
    return found


def run_class(n: int, limit: int, keep: Path | None = None) -> list[dict]:
    """N attendees at once; each one's wall time, outcome, peak memory and leftovers."""
    groups = [make_cgroup(f"unb-class-{user_name(i)}", limit) for i in range(1, n + 1)]
    started = time.perf_counter()
    processes = [subprocess.Popen(attendee_command(user_name(i), groups[i - 1][0]), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for i in range(1, n + 1)]
    results = [{} for _ in processes]

    def follow(i, process):  # each attendee's own end time, not when the loop got round to them
        out, _ = process.communicate(timeout=1800)
        results[i] = {"user": user_name(i + 1), "wall_s": time.perf_counter() - started, "code": process.returncode,
                      "confirmed": "reached and confirmed" in out, "tail": out.strip().splitlines()[-2:]}

    threads = [threading.Thread(target=follow, args=(i, p)) for i, p in enumerate(processes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result, (folder, peak) in zip(results, groups):
        deadline = time.monotonic() + 30  # `down` ends every process; give the last ones a moment
        while left_processes(result["user"]) and time.monotonic() < deadline:
            time.sleep(0.5)
        result["left"] = left_processes(result["user"])
        result["peak_mb"] = int(peak.read_text()) / 1e6
        if keep is not None:  # the attendee's run folders, before their home goes
            shutil.copytree(Path(pwd.getpwnam(result["user"]).pw_dir) / "runs", keep / f"{n}-{result['user']}",
                            dirs_exist_ok=True)
        subprocess.run(["pkill", "-KILL", "-u", result["user"]], capture_output=True)
        time.sleep(0.5)
        folder.rmdir()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--attendees", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--memory", default="2G", help="each attendee's memory limit (default 2G)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="copy each attendee's run folders here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("class bench: needs root (it creates and removes its own users)")
    from unity_nb.train.share import parse_size

    limit = parse_size(args.memory, "--memory")
    most = max(args.attendees)
    opened = open_path_to(Path(sys.executable))
    made = []
    try:
        for i in range(1, most + 1):
            try:
                pwd.getpwnam(user_name(i))
            except KeyError:
                subprocess.run(["useradd", "--create-home", user_name(i)], check=True)
                made.append(user_name(i))
        print(f"class bench: {os.cpu_count()} CPUs, each attendee limited to {args.memory}; "
              f"`unity-nb train Basic` cold, as a login shell in the attendee's home", flush=True)
        lone = run_class(1, limit, args.keep)[0]
        print(f"alone: {lone['wall_s']:.1f} s, confirmed {lone['confirmed']}, peak {lone['peak_mb']:.0f} MB, "
              f"left: {lone['left'] or 'nothing'}", flush=True)
        print("| attendees | wait each (s): median [min-max] | vs alone | all confirmed | peak MB per attendee: "
              "median [max] | processes left |")
        print("|---|---|---|---|---|---|")
        for n in args.attendees:
            results = run_class(n, limit, args.keep)
            walls = [r["wall_s"] for r in results]
            peaks = [r["peak_mb"] for r in results]
            left = [r["user"] for r in results if r["left"]]
            print(f"| {n} | {statistics.median(walls):.1f} [{min(walls):.1f}-{max(walls):.1f}] | "
                  f"{statistics.median(walls) / lone['wall_s']:.1f}x | {all(r['confirmed'] for r in results)} | "
                  f"{statistics.median(peaks):.0f} [{max(peaks):.0f}] | {', '.join(left) or 'none'} |", flush=True)
            for r in results:
                if not r["confirmed"] or r["left"]:
                    print(f"    {r['user']}: exit {r['code']}; {' / '.join(r['tail'])}; left: {r['left'] or 'nothing'}")
    finally:
        for user in made:
            subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)
            time.sleep(0.5)
            subprocess.run(["userdel", "--remove", user], capture_output=True)
        for folder, mode in opened.items():
            folder.chmod(mode)


if __name__ == "__main__":
    main()
