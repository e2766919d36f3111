"""The training process of one run: ``python -m unity_nb.trainer.driver RUN_DIR``.

Runs outside the caller's process, so a crash in Unity, Ray or torch never
takes a notebook kernel down. Joins the Ray runtime it is given, builds the
algorithm (from the run's last checkpoint when resuming), trains, and appends
one event per iteration to the run folder (through the store's ``RunWriter``),
with TensorBoard scalars beside. SIGTERM/SIGINT or a stop request end it
gracefully: a final checkpoint, then state ``stopped``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

from ..errors import NotPossible
from ..evaluate.policy import SINGLE, module_id
from ..train.config import ConfigError, TrainConfig
from ..train.metrics import LEARNER_EXTRAS, tensorboard_keys
from ..train.schema import State
from ..train.store import RunFolder
from .curriculum import Curriculum, apply_to_runner
from .window import EpisodeWindow, iteration_stats

# Settings that only say when to stop, checkpoint or log: a standby's algorithm built for other values still fits.
NOT_BUILT = ("steps", "target_return", "return_window", "confirm_episodes", "confirm", "checkpoint_every", "checkpoint_interval",
             "keep_checkpoints", "summary_freq", "init_path")
CONFIRM_SEED = 12345  # evaluation episodes start from other seeds than training's
MAX_CONFIRM_AREAS = 128  # a confirmation in-process plays at most this many areas at once


def build_key(cfg: TrainConfig) -> dict:
    """The settings an algorithm is built from (not those that only say when to stop)."""
    key = {k: v for k, v in cfg.to_dict().items() if k not in NOT_BUILT}
    if "linear" in (cfg.lr_schedule, cfg.entropy_schedule, cfg.clip_schedule):
        key["steps"] = cfg.steps  # a linear schedule decays over the step budget
    return key


class Driver:
    def __init__(self, run_dir: Path, address: str | None, resume: bool, prebuilt=None, timing: dict | None = None):
        self.run_folder = RunFolder(run_dir)
        self.address = address
        self.resume = resume
        self.config = self.run_folder.config.resolved()
        self.stop_requested = False
        self.window = EpisodeWindow(self.config.return_window)
        self.confirmation: dict | None = None  # the latest deterministic check of a reached target
        self.confirmed_at = -1  # window.total when it was made
        self.trained: list[str] = []
        self.per_behavior: list[str] | None = None  # the behaviors, when each has a policy (and a window) of its own
        self._last_checkpoint_steps = 0
        self._last_steps = 0  # agent steps at the previous iteration (summary_freq lines)
        self._agent_steps = 0  # several behaviors: agent steps over the whole run, counted here
        self.curriculum: Curriculum | None = None  # the lessons of the run's curriculum parameters
        self._episodes: list = []  # (behavior, return, length) of the episodes that ended in the last iteration
        self.ghost = None  # self-play's snapshots, swaps and ratings (trainer/ghost.py)
        self._said_not_zero_sum = False
        self.prebuilt = prebuilt  # (config, algorithm) a standby built ahead, used if the settings match
        self.timing = timing  # a standby's clock: when the run was launched, imports done, Ray joined, run handed
        self.out = self.run_folder.writer()
        self.out.keep_space()
        self.emit = self.out.emit
        self.out.set_state(State.STARTING)

    # ---- bookkeeping
    def _on_signal(self, signum, frame):
        self.stop_requested = True

    def _catch_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _stop_file(self) -> bool:
        return self.run_folder.stop_requested

    def _take_prebuilt(self, cfg: TrainConfig):
        if self.prebuilt is None:
            return None
        guess, algo = self.prebuilt
        self.prebuilt = None
        if build_key(guess) == build_key(cfg):
            return algo
        algo.stop()  # built for other settings: its Unity processes go
        return None

    def _build(self, cfg: TrainConfig, trained: list[str]):
        """The algorithm for this run; a user's own RLModule is built and tried on the scene's observations
        first, and what goes wrong in it is told by its file and line."""
        from .rllib_setup import algorithm_config, is_multi_agent
        from .user_module import check_module, user_frame

        algo_config = algorithm_config(cfg, trained)
        if not (cfg.model or cfg.custom_algorithm):
            return algo_config.build_algo()
        try:
            algo = algo_config.build_algo()
        except ConfigError:
            raise
        except Exception as err:
            yours = [f"model {cfg.model}"] if cfg.model else []
            yours += [f"algorithm {cfg.algorithm}"] if cfg.custom_algorithm else []
            raise ConfigError(f"{' and '.join(yours)} failed while RLlib built it: {user_frame(err)}") from None
        for behavior in trained:
            if cfg.model_for(behavior):
                module = module_id(behavior) if is_multi_agent(cfg, trained) else SINGLE
                key = "model" if isinstance(cfg.model, str) else f"model.{behavior}"
                try:
                    check_module(algo.get_module(module), key)
                except ConfigError:
                    algo.stop()
                    raise
        return algo

    def _stopped_before_start(self) -> bool:
        """A stop asked for before the first iteration: nothing trained, nothing to save."""
        if not (self.stop_requested or self._stop_file()):
            return False
        self.emit({"event": "log", "message": "stopped before training began"})
        self.out.set_state(State.STOPPED, env_steps=0, episode_return_mean=None)
        return True

    # ---- the work
    def run(self) -> int:
        self._catch_signals()
        return self.out.guard(self._train)

    def _train(self) -> int:
        from .rllib_setup import behaviors, is_multi_agent

        cfg = self.config
        started = time.perf_counter()
        leave_a_core_to_unity()
        join_ray(self.address)
        self._catch_signals()  # ray.init installs its own SIGTERM handler (exit at once): ours checkpoints first
        if self._stopped_before_start():
            return 0
        trained = behaviors(cfg)
        # a completion_criteria naming a behavior this run does not train is refused before anything is built
        self.curriculum = Curriculum(cfg.env_params, steps=cfg.steps, seed=cfg.seed, behaviors=trained)
        algo_prebuilt = self._take_prebuilt(cfg)
        algo = algo_prebuilt or self._build(cfg, trained)
        if self._stopped_before_start():
            algo.stop()
            return 0
        # RLlib restores its own counters (iteration, steps, env failures); wall time is ours to carry
        offset = {"env_steps": 0, "time_s": 0.0}
        if self.resume:
            checkpoint = self.run_folder.latest_checkpoint()
            if checkpoint is None:
                raise NotPossible("nothing to resume: the run has no complete checkpoint yet")
            algo.restore_from_path(str(checkpoint))
            offset = RunFolder.progress(checkpoint)
            # the optimizer's state brought the checkpoint's learning rate: this run's settings rule from the start
            per_env_step = algo.config.learner_config_dict.get("unity_nb_agents_per_env_step", 1)
            algo.learner_group.foreach_learner(partial(_rates_at, steps=offset["env_steps"] // per_env_step))
            self._agent_steps = offset["env_steps"]
            self.window = EpisodeWindow.from_state(offset.get("window"), cfg.return_window)
            self.curriculum.restore(offset.get("curriculum"))
            self._last_checkpoint_steps = self._last_steps = offset["env_steps"]
            self.emit({"event": "log", "message": f"{self._went_on_from(checkpoint)} at {offset['env_steps']} steps "
                                                  f"({len(self.window.returns)} episodes in the return window)"})
        elif cfg.init_path:
            self._initialize_from(algo, Path(cfg.init_path).expanduser())
        self.emit({"event": "log", "message": f"{self._ready_text(time.perf_counter() - started, bool(algo_prebuilt))}; "
                                              f"training {', '.join(trained)}"})
        if cfg.rllib:
            from .rllib_setup import rllib_settings_as_built

            module = module_id(trained[0]) if is_multi_agent(cfg, trained) else SINGLE
            self.emit({"event": "log", "message": f"RLlib settings from rllib: "
                                                  f"{rllib_settings_as_built(algo, cfg.rllib, module)}"})
        if cfg.num_env_runners:
            import ray

            nodes = algo.env_runner_group.foreach_env_runner(
                lambda runner: ray.util.get_node_ip_address(), local_env_runner=False
            )
            self.emit({"event": "placement", "env_runner_nodes": nodes})
        self.trained = trained
        if self.curriculum:
            if any(self.curriculum.lesson.values()):
                self._push_params(algo, reset=False)  # resumed past the first lessons: the Unity processes follow
            for change in self.curriculum.current("resumed" if self.resume else "start"):
                self._emit_lesson(change, {"env_steps": offset["env_steps"], "time_s": offset["time_s"],
                                           "iteration": None})
        self.out.set_state(State.RUNNING, behaviors=trained)
        self.per_behavior = trained if is_multi_agent(cfg, trained) else None
        if cfg.self_play:
            self._start_self_play(algo, trained, offset)

        from tensorboardX import SummaryWriter

        board = SummaryWriter(str(self.run_folder.tb_dir))
        clock = time.perf_counter()
        state = State.FINISHED
        try:
            while True:
                result = algo.train()
                steps = self._steps_of(result)
                played = self._self_play_after(algo, result, steps)  # its ratings go into the iteration's event
                last = self._record(result, steps, offset, time.perf_counter() - clock, board)
                for event in played:
                    self._emit_self_play(event)
                self._next_lessons(algo, last)
                if self._target_confirmed(algo, last):
                    break
                if last["env_steps"] >= cfg.steps:
                    break
                if self.stop_requested or self._stop_file():
                    state = State.STOPPED
                    break
                if self._checkpoint_due(last):
                    self._checkpoint(algo, last)
            self._checkpoint(algo, last)
        except BaseException:
            algo.stop()
            raise
        finally:
            board.close()
        # The checkpoint is complete: the run is over for anyone waiting. Then tidy up.
        self.out.set_state(state, env_steps=last["env_steps"], episode_return_mean=last.get("episode_return_mean"),
                        episodes_window=last.get("episodes_window"), return_window=cfg.return_window,
                        confirmation=self.confirmation,
                        target_reached=bool(self.confirmation and self.confirmation["passed"]))
        algo.stop()
        return 0

    # ---- self-play
    def _start_self_play(self, algo, trained: list[str], offset: dict) -> None:
        from .ghost import GhostTrainer

        self.ghost = GhostTrainer(self.config.self_play, trained, self.config.seed)
        if self.resume:
            self.ghost.restore(offset.get("self_play"), self.run_folder.latest_checkpoint())
        for event in self.ghost.start(algo, offset["env_steps"], resumed=self.resume):
            self._emit_self_play(event)
        self.emit({"event": "log", "message": f"self-play: team {self.ghost.learning} learns first"
                   + (f" (resumed with ELO {self.ghost.metrics()['elo']:.1f})" if self.resume else "")})

    def _self_play_after(self, algo, result: dict, steps: int) -> list[dict]:
        """Self-play's work after an iteration (ratings, snapshots, swaps, team changes): its events."""
        if self.ghost is None:
            return []
        from .rllib_setup import GAMES

        return self.ghost.after_iteration(algo, result, _episodes(result.get("env_runners", {}).get(GAMES)), steps)

    def _emit_self_play(self, event: dict) -> None:
        self.emit(event)
        if event["what"] == "team_change":
            self.emit({"event": "log", "message": f"self-play: team {event['learning_team']} learns from "
                       f"{event['env_steps']} steps (every area reset)"})

    def _zero_sum_warning(self) -> None:
        """ELO assumes what one side wins the other loses: say once if the finished episodes' rewards do not
        cancel out (over an iteration's games, both sides' episodes end together)."""
        if self.ghost is None or self._said_not_zero_sum or len(self._episodes) < 2:
            return
        returns = [r for _, r, _ in self._episodes]
        total, scale = sum(returns), sum(abs(r) for r in returns)
        if abs(total) > 1e-6 + 0.01 * scale:
            self._said_not_zero_sum = True
            self.emit({"event": "log", "message": f"warning: the {len(returns)} episodes that ended in this "
                       f"iteration have returns summing to {total:.3f}, not 0: the game is not zero-sum, so its "
                       "ELO ratings mean little (Unity's ghost trainer assumes a win for one side is a loss for "
                       "the other)"})

    def _ready_text(self, own_s: float, prebuilt: bool) -> str:
        """Where the wait for the first iteration went, measured from the run's launch (not from this process's start)."""
        built = "algorithm built ahead" if prebuilt else f"algorithm built in {own_s:.1f} s"
        t = self.timing
        if not t:
            return f"ready: {built}"
        total = time.time() - t["launched"]
        if t["warm"]:
            return f"ready {total:.1f} s after launch (runtime already up: {built})"
        prepared = max(t["joined"], t["imported"])  # when the driver had RLlib and torch and had joined Ray
        if t["standby_began"] < t["launched"]:
            return (f"ready {total:.1f} s after launch: {max(0.0, prepared - t['launched']):.1f} s waiting for the "
                    f"driver being prepared since the last run, {built}")
        return (f"ready {total:.1f} s after launch: starting Ray and importing RLlib/torch {prepared - t['launched']:.1f} s "
                f"(side by side; the imports alone {t['imported'] - t['standby_began']:.1f} s), {built}")

    def _target_confirmed(self, algo, last: dict) -> bool:
        """Early stopping: a full window at the target, confirmed by episodes played as ``confirm`` says
        (greedy, sampled, or both: each play's mean must reach the target).

        After a confirmation falls short, the next try waits until a quarter of the window
        has been renewed by new episodes (so the policy has changed), and training goes on.
        """
        from ..train.schema import confirmation_text

        cfg = self.config
        target = cfg.target
        if target is None or not self.window.reached(target, self.per_behavior):
            return False
        if self.confirmed_at >= 0 and self.window.total - self.confirmed_at < max(1, cfg.return_window // 4):
            return False
        self.confirmed_at = self.window.total
        plays = cfg.confirm_plays
        self.emit({"event": "log", "message": f"mean return {last['episode_return_mean']:.3f} over the last "
                   f"{cfg.return_window} episodes reached the target {target}: confirming with "
                   f"{cfg.confirm_episodes} episodes played {' and '.join(plays)}"})
        started = time.perf_counter()
        check = {"env_steps": last["env_steps"], "iteration": last["iteration"], "target": target,
                 "play": cfg.confirm}
        by_behavior: dict[str, dict] = {}
        passed = True
        # "both" plays side by side in one pass where it can (evaluate: a built-in scene in-process)
        played = self._evaluate_live(algo, seed=CONFIRM_SEED + self.window.total, play=cfg.confirm).plays()
        for play in plays:
            rows = played[play].rows()
            passed = passed and all(t["mean"] >= target - 1e-6 for t in rows.values())
            check[play] = _rounded(rows["all"])
            for b, t in rows.items():
                if b != "all":
                    by_behavior.setdefault(b, {})[play] = _rounded(t)
        check.update(passed=passed, seconds=round(time.perf_counter() - started, 2))
        if len(by_behavior) > 1:
            check["by_behavior"] = by_behavior
        self.confirmation = check
        self.emit({"event": "confirmation", **check})
        verdict = "target reached and confirmed" if passed else "not confirmed: training goes on"
        self.emit({"event": "log", "message": f"{confirmation_text(check)} — {verdict}"})
        return passed

    def _evaluate_live(self, algo, seed: int, play: str):
        """Episodes of the policy as it is now, played ``play`` (in-process for built-in scenes, with enough
        areas that every agent plays one episode at once)."""
        from ..evaluate.policy import live_policies
        from ..evaluate.rollout import evaluate

        cfg = self.config
        # a curriculum's last lessons: the task it leads to is the one a reached target must hold on
        return evaluate(None, cfg.scene, episodes=cfg.confirm_episodes, seed=seed, num_areas=self._confirm_areas(),
                        policies=live_policies(algo, self.per_behavior), play=play, **cfg.playback())

    def _confirm_areas(self) -> int:
        """Areas for a confirmation: a built-in scene in-process gets one agent per episode wanted (each
        plays one whole episode, all at once: no episode waits for another to end); a Unity build, the run's."""
        from ..envs.scenes import SCENES

        cfg = self.config
        if cfg.scene_name is None:
            return cfg.num_areas
        scene = SCENES[cfg.scene_name]
        per_area = min(scene.agents_per_area_of(b.name) for b in scene.behavior_list()
                       if cfg.behavior in (None, b.name))
        return max(cfg.num_areas, min(MAX_CONFIRM_AREAS, -(-cfg.confirm_episodes // per_area)))

    def _went_on_from(self, checkpoint: Path) -> str:
        fork = self.run_folder.forked_from
        if not fork:
            return f"resumed from {checkpoint.name}"
        from ..train.forks import changes_text

        return f"forked from run {fork['parent']} ({checkpoint.name}; changed: {changes_text(fork)})"

    def _initialize_from(self, algo, path: Path) -> None:
        """Start from the weights of another run (its latest checkpoint) or of a checkpoint folder."""
        if RunFolder(path).checkpoints_dir.is_dir():
            latest = RunFolder(path).latest_checkpoint()
            if latest is None:
                raise NotPossible(f"init_path {path} has no complete checkpoint to start from")
            path = latest
        modules = path / "learner_group" / "learner" / "rl_module"
        if not modules.is_dir():
            raise NotPossible(f"init_path {path} is neither a run folder nor a checkpoint (no {modules.relative_to(path)})")
        algo.restore_from_path(str(modules.resolve()), component="learner_group/learner/rl_module")
        algo.env_runner_group.sync_weights(from_worker_or_learner_group=algo.learner_group, inference_only=True)
        self.emit({"event": "log", "message": f"weights initialised from {path}"})

    # ---- curriculum
    def _next_lessons(self, algo, last: dict) -> None:
        """Move each curriculum on when its completion criteria are met: the Unity processes of every env
        runner get the new lessons' values, and each change is a ``lesson`` event and a log line."""
        if not self.curriculum:
            return
        changes = self.curriculum.update(self._episodes, last["env_steps"], self.ghost.elo if self.ghost else None)
        if not changes:
            return
        self._push_params(algo, reset=any(c.require_reset for c in changes))
        for change in changes:
            self._emit_lesson(change, last)

    def _push_params(self, algo, reset: bool) -> None:
        values = self.curriculum.values()
        env_config = getattr(algo.config, "env_config", None)
        if isinstance(env_config, dict):  # an env runner RLlib starts again (after a failure) starts with them
            env_config["env_params"] = dict(values)
        reached = algo.env_runner_group.foreach_env_runner(partial(apply_to_runner, values=values, reset=reset),
                                                           local_env_runner=True)
        if not sum(reached):
            raise NotPossible("the curriculum's new values reached no Unity process (no env runner has an env)")

    def _emit_lesson(self, change, last: dict) -> None:
        self.emit(change.event(env_steps=last["env_steps"], iteration=last.get("iteration"), time_s=last["time_s"]))
        self.emit({"event": "log", "message": change.text()
                   + (" (environments reset)" if change.require_reset else "")})

    def _checkpoint_due(self, last: dict) -> bool:
        interval = self.config.checkpoint_interval
        if interval is None:
            return last["iteration"] % self.config.checkpoint_every == 0
        return last["env_steps"] // interval > self._last_checkpoint_steps // interval

    def _steps_of(self, result: dict) -> int:
        """Agent steps over the whole run after this iteration."""
        runners = result.get("env_runners", {})
        if self.per_behavior:  # RLlib's env steps are exchanges of every agent: the run counts agent steps
            self._agent_steps += sum(int(n) for n in (runners.get("num_module_steps_sampled") or {}).values())
            return self._agent_steps
        return int(runners.get("num_env_steps_sampled_lifetime", 0))  # each agent is a sub-env: env steps are agents'

    def _record(self, result: dict, steps: int, offset: dict, elapsed: float, board) -> dict:
        from .rllib_setup import EPISODES

        runners = result.get("env_runners", {})
        learners = result.get("learners", {})
        modules = [v for k, v in learners.items() if k != "__all_modules__" and isinstance(v, dict)]
        learner = {k: float(np.mean([m[k] for m in modules if k in m])) for k in
                   ("policy_loss", "vf_loss", "entropy", "mean_kl_loss", "curr_entropy_coeff", *LEARNER_EXTRAS)
                   if any(k in m for m in modules)}
        elapsed_total = offset["time_s"] + elapsed
        new_steps = steps - offset["env_steps"]
        rate = new_steps / elapsed if elapsed > 0 else 0.0
        self._episodes = [(b or self.trained[0], r, n) for b, r, n in _episodes(runners.get(EPISODES))]
        ended = self.window.add(_episodes(runners.get(EPISODES)))
        event = {
            "event": "iteration",
            "iteration": int(result.get("training_iteration", 0)),
            "env_steps": steps,
            "time_s": round(elapsed_total, 3),
            "steps_per_s": round(rate, 1),
            "eta_s": round((self.config.steps - steps) / rate, 1) if rate > 0 and steps < self.config.steps else 0.0,
            # the moving window of the last `return_window` finished episodes, carried across iterations
            **self.window.stats(self.per_behavior),
            # the episodes that ended in this iteration alone
            **iteration_stats(ended),
            "policy_loss": _num(learner.get("policy_loss")),
            "vf_loss": _num(learner.get("vf_loss")),
            "entropy": _num(learner.get("entropy")),
            "kl": _num(learner.get("mean_kl_loss")),
            "entropy_coeff": _num(learner.get("curr_entropy_coeff")),
            "lr": _num(_current_lr(learners)),
            **{k: _num(learner[k]) for k in LEARNER_EXTRAS if k in learner},
            "player_restarts": int(runners.get("num_env_step_failures", 0) or 0),
            **(self.ghost.metrics() if self.ghost else {}),
        }
        self._zero_sum_warning()
        self.emit(event)
        self._summary_line(event, self._last_steps)
        self._last_steps = steps
        for key in tensorboard_keys():
            if event.get(key) is not None:
                board.add_scalar(key, event[key], steps)
        board.flush()
        return event

    def _summary_line(self, event: dict, before: int) -> None:
        """mlagents' summary_freq: a line in the log each time the steps pass a multiple of it."""
        freq = self.config.summary_freq
        if not freq or event["env_steps"] // freq == before // freq:
            return
        mean = event["episode_return_mean"]
        text = "no episode finished yet" if mean is None else (
            f"mean return {mean:.3f} (std {event['episode_return_std']:.3f}) over the last "
            f"{event['episodes_window']} episodes")
        self.emit({"event": "log", "message": f"step {event['env_steps']}: {text}; {event['time_s']:.1f} s"})

    def _checkpoint(self, algo, last: dict) -> None:
        # what RLlib does not restore: wall time, and the return window (a resumed run goes on with it)
        progress = {"env_steps": last["env_steps"], "time_s": last["time_s"], "window": self.window.state()}
        if self.curriculum:
            progress["curriculum"] = self.curriculum.state()  # a resumed run goes on from the lessons reached
        if self.ghost:
            progress["self_play"] = self.ghost.state()  # and self-play from its ratings and snapshots

        def save(path):
            algo.save_to_path(str(path))
            if self.ghost:
                self.ghost.save(path)

        saved = self.out.save_checkpoint(last["iteration"], save, progress, keep=self.config.keep_checkpoints)
        if saved is not None:
            self._last_checkpoint_steps = last["env_steps"]


def _rounded(table: dict) -> dict:
    return {k: round(v, 6) for k, v in table.items()}


def _episodes(value) -> list:
    """RLlib's item series as a list: it hands over a single item bare, and none as NaN or not at all."""
    if value is None or isinstance(value, float):
        return []
    if isinstance(value, tuple):  # one episode: (behavior, return, length)
        return [value]
    return list(value)


def _rates_at(learner, steps: int) -> None:
    """Set each optimizer's learning rate to what this run's schedule says at ``steps`` (RLlib sets it only
    after an update, so the first update after a restore would use the checkpoint's)."""
    for optimizer, schedule in learner._optimizer_lr_schedules.items():
        learner._set_optimizer_lr(optimizer, lr=schedule.update(timestep=steps))


def _current_lr(learners: dict):
    """The learning rate in use (it decays under a linear schedule); RLlib reports it per optimizer."""
    for module in learners.values():
        if isinstance(module, dict):
            for key, value in module.items():
                if key.endswith("default_optimizer_learning_rate"):
                    return value
    return None


def _num(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if value != value else round(value, 6)


def leave_a_core_to_unity() -> None:
    """Torch in this process (learner and local env runner) uses all cores but one: the Unity process
    steps beside it, and torch's threads spinning on a busy core slowed camera scenes most (on 2 cores with
    other processes busy: an update of 64 GridWorld images 32 ms with 1 thread vs 290 ms with 2; sampling
    2,700 GridWorld steps 12 s vs 60 s)."""
    import torch

    from ..train.share import find_share

    torch.set_num_threads(max(1, find_share().cpus - 1))  # this user's CPUs on a shared machine, not the host's


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


def exit_at_once(code: int) -> None:
    """End a training process once its run folder is complete and its algorithm stopped (Unity processes closed):
    Ray's own exit hooks would take seconds more to disconnect a driver the runtime notices gone anyway."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Train one unity-nb run (started by unity_nb.train).")
    parser.add_argument("run_dir", type=Path, help="the run folder")
    parser.add_argument("--address", help="Ray address to join")
    parser.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    args = parser.parse_args(argv)
    return Driver(args.run_dir, args.address, args.resume).run()


if __name__ == "__main__":
    exit_at_once(main())
