"""The training process of one run: ``python -m unity_nb.train.driver RUN_DIR``.

Runs outside the caller's process, so a crash in Unity, Ray or torch never
takes a notebook kernel down. Joins the Ray runtime it is given, builds the
algorithm (from the run's last checkpoint when resuming), trains, and appends
one event per iteration to ``metrics.jsonl`` (flushed at once), with TensorBoard
scalars beside. SIGTERM/SIGINT or a ``stop`` file end it gracefully: a final
checkpoint, then status ``stopped``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import select
import signal
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from .config import TrainConfig
from .store import write_json_atomic

PROGRESS_FILE = "unity_nb_progress.json"


def build_key(cfg: TrainConfig) -> dict:
    """The settings an algorithm is built from (not those that only say when to stop)."""
    return {k: v for k, v in cfg.to_dict().items() if k not in ("steps", "target_return", "checkpoint_every")}


class Driver:
    def __init__(self, run_dir: Path, address: str | None, resume: bool, prebuilt=None):
        self.dir = run_dir
        self.address = address
        self.resume = resume
        self.config = TrainConfig.from_yaml((run_dir / "config.yaml").read_text(), source="config.yaml").resolved()
        self.stop_requested = False
        self.last_window: dict = {}  # return statistics of the latest iteration that had any
        self.prebuilt = prebuilt  # (config, algorithm) a standby built ahead, used if the settings match
        self.events = open(run_dir / "metrics.jsonl", "a", buffering=1, encoding="utf-8")
        self.status = {"state": "starting", "pid": os.getpid(), "started": time.time()}
        old = run_dir / "status.json"
        if old.exists():
            self.status["created"] = json.loads(old.read_text()).get("created")
        self.set_status("starting")

    # ---- bookkeeping
    def set_status(self, state: str, **extra) -> None:
        self.status.update(state=state, updated=time.time(), **extra)
        write_json_atomic(self.dir / "status.json", self.status)
        self.emit({"event": "status", "state": state, **extra})

    def emit(self, event: dict) -> None:
        event.setdefault("t", time.time())
        self.events.write(json.dumps(event) + "\n")
        self.events.flush()

    def _on_signal(self, signum, frame):
        self.stop_requested = True

    def _catch_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _stop_file(self) -> bool:
        return (self.dir / "stop").exists()

    def _take_prebuilt(self, cfg: TrainConfig):
        if self.prebuilt is None:
            return None
        guess, algo = self.prebuilt
        self.prebuilt = None
        if build_key(guess) == build_key(cfg):
            return algo
        algo.stop()  # built for other settings: its Unity processes go
        return None

    def _stopped_before_start(self) -> bool:
        """A stop asked for before the first iteration: nothing trained, nothing to save."""
        if not (self.stop_requested or self._stop_file()):
            return False
        self.emit({"event": "log", "message": "stopped before training began"})
        self.set_status("stopped", env_steps=0, episode_return_mean=None)
        return True

    # ---- the work
    def run(self) -> int:
        self._catch_signals()
        try:
            return self._train()
        except BaseException as err:  # the run folder must say why, whatever happened
            (self.dir / "logs" / "error.txt").write_text(traceback.format_exc())
            self.set_status("failed", error=f"{type(err).__name__}: {err}")
            return 1
        finally:
            self.events.close()

    def _train(self) -> int:
        from .rllib_setup import algorithm_config, behaviors

        cfg = self.config
        started = time.perf_counter()
        join_ray(self.address)
        self._catch_signals()  # ray.init installs its own SIGTERM handler (exit at once): ours checkpoints first
        if self._stopped_before_start():
            return 0
        trained = behaviors(cfg)
        algo = self._take_prebuilt(cfg) or algorithm_config(cfg, trained).build_algo()
        if self._stopped_before_start():
            algo.stop()
            return 0
        # RLlib restores its own counters (iteration, steps, env failures); wall time is ours to carry
        offset = {"env_steps": 0, "time_s": 0.0}
        if self.resume:
            checkpoint = self._latest_checkpoint()
            if checkpoint is None:
                raise RuntimeError("nothing to resume: the run has no complete checkpoint yet")
            algo.restore_from_path(str(checkpoint))
            offset = json.loads((checkpoint / PROGRESS_FILE).read_text())
            self.emit({"event": "log", "message": f"resumed from {checkpoint.name} at {offset['env_steps']} steps"})
        self.emit({"event": "log", "message": f"ready in {time.perf_counter() - started:.1f} s; training {', '.join(trained)}"})
        if cfg.num_env_runners:
            import ray

            nodes = algo.env_runner_group.foreach_env_runner(
                lambda runner: ray.util.get_node_ip_address(), local_env_runner=False
            )
            self.emit({"event": "placement", "env_runner_nodes": nodes})
        self.set_status("running", behaviors=trained)
        self.trained = trained

        from tensorboardX import SummaryWriter

        board = SummaryWriter(str(self.dir / "tb"))
        clock = time.perf_counter()
        state = "finished"
        try:
            while True:
                result = algo.train()
                last = self._record(result, offset, time.perf_counter() - clock, board)
                done = last["env_steps"] >= cfg.steps
                reached = (
                    cfg.target_return is not None
                    and last.get("episodes_window", 0) >= 100
                    and (last.get("episode_return_mean") or -1e9) >= cfg.target_return - 1e-6
                )
                if reached:
                    self.emit({"event": "log", "message": f"target return {cfg.target_return} reached"})
                if done or reached:
                    break
                if self.stop_requested or self._stop_file():
                    state = "stopped"
                    break
                if last["iteration"] % cfg.checkpoint_every == 0:
                    self._checkpoint(algo, last)
            self._checkpoint(algo, last)
        except BaseException:
            algo.stop()
            raise
        finally:
            board.close()
        # The checkpoint is complete: the run is over for anyone waiting. Then tidy up.
        self.set_status(state, env_steps=last["env_steps"], episode_return_mean=last.get("episode_return_mean"))
        algo.stop()
        return 0

    def _record(self, result: dict, offset: dict, elapsed: float, board) -> dict:
        runners = result.get("env_runners", {})
        learners = result.get("learners", {})
        modules = [v for k, v in learners.items() if k != "__all_modules__" and isinstance(v, dict)]
        learner = {k: float(np.mean([m[k] for m in modules if k in m])) for k in
                   ("policy_loss", "vf_loss", "entropy", "mean_kl_loss") if any(k in m for m in modules)}
        steps = int(runners.get("num_env_steps_sampled_lifetime", 0))
        elapsed_total = offset["time_s"] + elapsed
        new_steps = steps - offset["env_steps"]
        rate = new_steps / elapsed if elapsed > 0 else 0.0
        event = {
            "event": "iteration",
            "iteration": int(result.get("training_iteration", 0)),
            "env_steps": steps,
            "time_s": round(elapsed_total, 3),
            "steps_per_s": round(rate, 1),
            "eta_s": round((self.config.steps - steps) / rate, 1) if rate > 0 and steps < self.config.steps else 0.0,
            "episode_return_mean": _num(runners.get("unity_episode_return_mean")),
            "episode_return_min": _num(runners.get("unity_episode_return_min")),
            "episode_return_max": _num(runners.get("unity_episode_return_max")),
            "episode_length_mean": _num(runners.get("unity_episode_length_mean")),
            "episodes": int(runners.get("unity_episodes", 0) or 0),
            "episodes_window": min(int(runners.get("unity_episodes", 0) or 0), 100),
            "policy_loss": _num(learner.get("policy_loss")),
            "vf_loss": _num(learner.get("vf_loss")),
            "entropy": _num(learner.get("entropy")),
            "kl": _num(learner.get("mean_kl_loss")),
            "player_restarts": int(runners.get("num_env_step_failures", 0) or 0),
        }
        # An iteration in which no episode ended (long 3DBall episodes of a good policy) reports no
        # returns: the last 100 episodes are still the last ones seen, so their statistics stand.
        window = ("episode_return_mean", "episode_return_min", "episode_return_max", "episode_length_mean")
        if event["episode_return_mean"] is None and self.last_window:
            event.update(self.last_window)
        elif event["episode_return_mean"] is not None:
            self.last_window = {k: event[k] for k in window}
        if len(getattr(self, "trained", [])) > 1:  # one policy per behavior: each one's return too
            for b in self.trained:
                event[f"episode_return_mean/{b}"] = _num(runners.get(f"unity_episode_return_mean/{b}"))
        self.emit(event)
        for key in ("episode_return_mean", "episode_length_mean", "policy_loss", "vf_loss", "entropy", "steps_per_s"):
            if event[key] is not None:
                board.add_scalar(key, event[key], steps)
        board.flush()
        return event

    def _checkpoint(self, algo, last: dict) -> None:
        path = self.dir / "checkpoints" / f"checkpoint_{last['iteration']:06d}"
        if (path / ".complete").exists():
            return
        algo.save_to_path(str(path))
        progress = {k: last[k] for k in ("env_steps", "time_s")}
        (path / PROGRESS_FILE).write_text(json.dumps(progress))
        (path / ".complete").touch()  # written last: a killed save is never taken for a checkpoint
        self.emit({"event": "checkpoint", "path": str(path), "env_steps": last["env_steps"]})

    def _latest_checkpoint(self):
        found = sorted(p for p in (self.dir / "checkpoints").glob("checkpoint_*") if (p / ".complete").exists())
        return found[-1] if found else None


def _num(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if value != value else round(value, 6)


def join_ray(address: str | None) -> None:
    """Connect this process to Ray (once); with no address, a new private local runtime."""
    import ray

    if ray.is_initialized():
        return
    kwargs = {"log_to_driver": False, "configure_logging": True, "logging_level": logging.ERROR}
    if address:
        host = address.replace("ray://", "").rpartition(":")[0]
        if host.startswith("127."):  # a cluster on loopback: attach to its node here, not the machine's address
            kwargs["_node_ip_address"] = host
        ray.init(address=address, **kwargs)
    else:  # never silently join a runtime some earlier session left behind
        ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1", **kwargs)


def standby(address: str, join_timeout: float = 120.0, guess: Path | None = None) -> int:
    """Import everything and join Ray now, then wait for a run on stdin: a warm start for the next run.

    Started while the session's Ray runtime may still be starting: the imports overlap its
    start-up, and joining waits until its port answers.
    """
    import socket
    import threading

    # Until a run arrives, a standby lives only as long as the session that made it
    # (a build ahead could otherwise wait forever on that session's stopped Ray).
    parent, handed = os.getppid(), threading.Event()

    def watch_parent():
        while not handed.wait(0.5):
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()
    guess_yaml = None
    if guess is not None:  # read at once: a standby stopped early leaves no file behind
        guess_yaml = guess.read_text()
        guess.unlink()

    from . import rllib_setup  # noqa: F401  (ray, rllib, torch)

    error = None
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + join_timeout
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            join_ray(address)
            break
        except (OSError, ConnectionError, RuntimeError) as err:
            if time.monotonic() > deadline:
                error = f"could not join the Ray runtime at {address}: {err}"
                break
            time.sleep(0.2)
    prebuilt = _build_ahead(guess_yaml, str(guess)) if error is None and guess_yaml is not None else None
    print("ready" if error is None else "failed", flush=True)
    line = sys.stdin.readline()
    handed.set()
    if not line.strip():
        return 0  # the session ended before it needed us
    order = json.loads(line)
    run_dir = Path(order["run_dir"])
    log = os.open(run_dir / "logs" / "driver.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    driver = Driver(run_dir, address, order.get("resume", False), prebuilt)
    if error is not None:
        driver.set_status("failed", error=error)
        return 1
    return driver.run()


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
    parser = argparse.ArgumentParser(description="Train one unity-nb run (started by unity_nb.train).")
    parser.add_argument("run_dir", type=Path, nargs="?", help="the run folder (omit with --standby)")
    parser.add_argument("--address", help="Ray address to join")
    parser.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    parser.add_argument("--standby", action="store_true", help="prepare, then read the run from stdin")
    parser.add_argument("--guess", type=Path, help="with --standby: a config to build the algorithm for ahead")
    args = parser.parse_args(argv)
    if args.standby:
        return standby(args.address, guess=args.guess)
    if args.run_dir is None:
        parser.error("run_dir is required without --standby")
    return Driver(args.run_dir, args.address, args.resume).run()


if __name__ == "__main__":
    sys.exit(main())
