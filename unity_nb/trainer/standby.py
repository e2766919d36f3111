"""A standby training process: ``python -m unity_nb.trainer.standby --address HOST:PORT``.

Imports Ray, RLlib and torch and joins the session's Ray runtime *before* any run
exists, optionally builds the algorithm the next run will most likely ask for,
prints ``ready``, then reads one order from stdin (``{"run_dir": ..., "resume": ...}``,
one JSON line) and becomes that run's driver. EOF on stdin dismisses it; so does
the death of the session that started it, until an order has arrived.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import threading
import time
import traceback
from pathlib import Path

from ..processes import command_lines, log_cause, pid_alive, reach, watch_parent
from ..train.config import TrainConfig
from ..train.runtime import START_TIMEOUT
from ..train.schema import ACTIVE, State
from ..train.share import runtime_ended
from ..train.store import RunFolder
from .driver import Driver, exit_at_once, join_ray


JOIN_TIMEOUT_S = 180.0  # a Ray runtime of somebody else's (a cluster) that does not answer by then is not coming
# Our own runtime, alive and still starting, is waited for as long as its start is
OWN_RUNTIME_JOIN_TIMEOUT_S = START_TIMEOUT


def standby(address: str, join_timeout: float = JOIN_TIMEOUT_S, guess: Path | None = None, ray_pid: int | None = None,
            ray_log: Path | None = None, own_join_timeout: float = OWN_RUNTIME_JOIN_TIMEOUT_S) -> int:
    """Import everything and join Ray now, then wait for a run on stdin: a warm start for the next run.

    Started while the session's Ray runtime may still be starting: the imports overlap its
    start-up, and joining waits until its port answers.
    """
    # Until a run arrives, a standby lives only as long as the session that made it
    # (a build ahead could otherwise wait forever on that session's stopped Ray).
    handed = threading.Event()
    watch_parent(lambda: os._exit(0), until=handed)
    guess_yaml = None
    if guess is not None:  # read at once: a standby stopped early leaves no file behind
        guess_yaml = guess.read_text()
        guess.unlink()

    began = time.time()
    from . import rllib_setup  # noqa: F401  (ray, rllib, torch)

    imported = time.time()

    error = None
    start = time.monotonic()
    while True:
        try:
            reach(address)
            join_ray(address)
            break
        except (OSError, ConnectionError, RuntimeError) as err:
            if ray_pid is not None and not pid_alive(ray_pid):
                error = f"the Ray runtime failed to start: {log_cause(ray_log)} (the whole log: {ray_log})"
                break
            waited = time.monotonic() - start
            if waited > (join_timeout if ray_pid is None else own_join_timeout):
                error = f"could not join the Ray runtime at {address} within {waited:.0f} s: {err}"
                break
            time.sleep(0.2)
    joined = time.time()
    prebuilt = _build_ahead(guess_yaml, str(guess)) if error is None and guess_yaml is not None else None
    if error is not None:
        print(error, file=sys.stderr, flush=True)  # the runtime's standby.log: what `unity-nb up` shows
    print("ready" if error is None else "failed", flush=True)
    line = sys.stdin.readline()
    handed.set()
    if not line.strip():
        return 0  # the session ended before it needed us
    order = json.loads(line)
    if order.get("cwd") and os.path.isdir(order["cwd"]):
        os.chdir(order["cwd"])  # the caller's folder: relative paths in its settings mean what they meant there
    run = RunFolder(order["run_dir"])
    log = os.open(run.log_path(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    # where the user's wait went, for the run's "ready" line (times since the run was launched)
    timing = {"launched": order.get("launched") or began, "standby_began": began, "imported": imported,
              "joined": joined, "warm": bool(order.get("warm"))}
    driver = Driver(run.path, address, order.get("resume", False), prebuilt, timing=timing)
    if error is not None:
        driver.out.set_state(State.FAILED, error=error)
        driver.out.close()
        return 1
    if ray_pid is not None:
        runtime = {"guard": ray_pid, "raylet": _raylet_of(ray_log), "log": str(ray_log)}
        driver.out.note(runtime=runtime)  # so a reader can say why, should Ray's client end us before we can
        threading.Thread(target=_fail_with_runtime, args=(driver, runtime), daemon=True).start()
    return driver.run()


def _raylet_of(ray_log: Path | None) -> int | None:
    """The pid of the raylet of our own runtime (whose temp folder holds ``ray_log``), if one runs."""
    if ray_log is None:
        return None
    return next((pid for pid, words in command_lines().items()
                 if "raylet/raylet" in words and str(ray_log.parent) in words), None)


def _fail_with_runtime(driver: Driver, runtime: dict) -> None:
    """A run whose Ray runtime ends under it fails at once with the runtime's reason; Ray's own client
    would wait a minute for the lost runtime and then abort the process without a word."""
    while runtime_ended(runtime) is None:
        time.sleep(0.2)
    waited = time.monotonic()  # the raylet may go first: `ray start` says why a moment later
    while pid_alive(runtime["guard"]) and time.monotonic() - waited < 2.0:
        time.sleep(0.1)
    if State(driver.out.status["state"]) in ACTIVE:
        driver.out.set_state(State.FAILED, error=runtime_ended(runtime))
        driver.out.close()
        os._exit(1)


def _build_ahead(guess_yaml: str, source: str):
    """Build the algorithm the next run will most likely ask for; None if that fails."""
    from .rllib_setup import algorithm_config, behaviors

    try:
        guess = TrainConfig.from_yaml(guess_yaml, source=source).resolved()
        if select.select([sys.stdin], [], [], 0)[0]:
            return None  # an order is already waiting: no time to guess
        return guess, algorithm_config(guess, behaviors(guess)).build_algo()
    except Exception:
        traceback.print_exc()  # to the standby's log; the run then builds its own
        return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="A ready training process that waits for a unity-nb run on stdin.")
    parser.add_argument("--address", required=True, help="Ray address to join (HOST:PORT)")
    parser.add_argument("--guess", type=Path, help="a config to build the algorithm for ahead")
    parser.add_argument("--ray-pid", type=int, help="the process starting Ray: if it ends first, Ray failed")
    parser.add_argument("--ray-log", type=Path, help="that process's log (its last lines explain a failure)")
    args = parser.parse_args(argv)
    return standby(args.address, guess=args.guess, ray_pid=args.ray_pid, ray_log=args.ray_log)


if __name__ == "__main__":
    exit_at_once(main())
