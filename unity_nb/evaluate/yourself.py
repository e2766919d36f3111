"""A person plays a built-in scene: keys (or on-screen buttons and sliders) become the actions of one agent,
the scene's other agents are played by a run's policies, a self-play snapshot, the scene's scripted player or
stand still, and every finished episode of the person's agent is written to a ``.demo`` file.

``PlaySession`` is what the play widget (``unity_nb.notebook.play``) drives; it needs no browser.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mlagents_envs.base_env import ActionTuple

from ..envs.demo import DemoWriter, SUFFIX
from ..envs.scenes import find_scene, is_builtin
from ..envs.source import EnvSource
from ..errors import BadValue, NotFound, NotSupported
from .demos import actions_for, decision_record, ending_record, row_of, step_with_others
from .policy import SINGLE, Policy, for_behaviors

# the grid scenes' five moves (GridWorld, SignPost, Escape, Pyramids): their names, and their keys
MOVES5_NAMES = ["stay", "up", "down", "left", "right"]
MOVES5 = {"ArrowUp": 1, "ArrowDown": 2, "ArrowLeft": 3, "ArrowRight": 4, "w": 1, "s": 2, "a": 3, "d": 4}
# each scene's keys as its Unity heuristic would read them: key -> action (one discrete branch), or
# key -> (axis, value) for continuous actions
DEFAULT_KEYS = {
    "Basic": {"ArrowLeft": 1, "ArrowRight": 2, "a": 1, "d": 2},
    "BasicDuo": {"ArrowLeft": 1, "ArrowRight": 2, "a": 1, "d": 2},
    # an arrow tilts the platform so that the ball rolls that way (axis 0 > 0 rolls it left, axis 1 > 0 away)
    "3DBall": {"ArrowRight": (0, -1.0), "ArrowLeft": (0, 1.0), "ArrowUp": (1, 1.0), "ArrowDown": (1, -1.0),
               "d": (0, -1.0), "a": (0, 1.0), "w": (1, 1.0), "s": (1, -1.0)},
    "Pong": {"ArrowUp": 1, "ArrowDown": 2, "w": 1, "s": 2},
    "GridWorld": MOVES5, "SignPost": MOVES5, "Escape": MOVES5, "Pyramids": MOVES5,
}
ACTION_NAMES = {  # what each discrete action does, for the buttons
    "Basic": ["stay", "left", "right"], "BasicDuo": ["stay", "left", "right"], "Pong": ["stay", "up", "down"],
    "GridWorld": MOVES5_NAMES, "SignPost": MOVES5_NAMES, "Escape": MOVES5_NAMES, "Pyramids": MOVES5_NAMES,
}
CONTINUOUS_NAMES = {"3DBall": {(0, -1): "ball right", (0, 1): "ball left", (1, 1): "ball away", (1, -1): "ball near"}}
REALTIME = {"3DBall", "Pong"}  # scenes that move on their own: they play at fps; the others step on a key
OPPONENTS = ("scripted", "idle")


@dataclass(frozen=True)
class Binding:
    """What a key does: sets a discrete branch to an action, or a continuous axis to a value."""

    key: str
    kind: str  # "discrete" or "continuous"
    index: int  # branch or axis
    value: float
    label: str


class PlaySession:
    """One person playing ``scene`` (a built-in scene name), agent 0 of ``behavior`` (default: the first).

    keys: a key map on top of the scene's (``{"ArrowLeft": 1}``: the key sets the one discrete branch to action 1;
        ``{"j": (0, 2)}``: branch 0 to action 2; for continuous actions ``{"j": (0, -1.0)}``: axis 0 to -1.0).
        Key names are the browser's (``ArrowLeft``, ``a``, ``" "``). A key mapped to None is removed.
    opponent: who plays the scene's other agents: a run (a ``Run``, its id, or a checkpoint folder), whose
        policies play them; ``"scripted"`` (the scene's hand-written player, its heuristic: the default when it
        has one) or ``"idle"`` (they stand still; the default otherwise). snapshot: with a self-play run, play against
        snapshot N of its window instead of its latest policy.
    demo: the ``.demo`` file the person's finished episodes are written to (after each one, so nothing is lost),
        default ``./demos/<scene>-<time>.demo``; False: do not record.
    """

    def __init__(self, scene: str = "Basic", *, keys: dict | None = None, behavior: str | None = None,
                 opponent=None, snapshot: int | None = None, demo=None, seed: int = 0, runs_dir=None):
        if not isinstance(scene, str) or not is_builtin(scene):
            raise BadValue(f"scene must be a built-in scene, got {scene!r}; a Unity build is played in Unity itself "
                           "(Behavior Type: Heuristic Only), and recorded with its Demonstration Recorder")
        self.scene = find_scene(scene).name
        self.source = EnvSource(self.scene, mode="inprocess", seed=seed, num_areas=1, render=True)
        try:
            self.source.call("reset")
            self.specs = dict(self.source.base.behavior_specs)
            self.behavior = behavior or next(iter(self.specs))
            if self.behavior not in self.specs:
                raise NotFound(f"behavior {self.behavior!r} is not in {self.scene}; it has {', '.join(self.specs)}")
            self.spec = self.specs[self.behavior]
            self.bindings = bindings(self.scene, self.spec, keys)
            self.others = _opponents(self.scene, self.specs, self.behavior, opponent, snapshot, runs_dir)
            self.demo_path = _demo_path(self.scene, demo)
        except BaseException:
            self.source.close()
            raise
        self.realtime = self.scene in REALTIME
        self.agent: int | None = None  # the person's agent id (Unity's)
        self.current: list[dict] = []  # the running episode's records
        self.finished: list[list[dict]] = []  # finished episodes' records (what the .demo holds)
        self.returns: list[float] = []
        self.episode_return, self.steps, self.last_reward = 0.0, 0, 0.0
        self._last_action = self.spec.action_spec.empty_action(1)
        self._decision = None
        self._take_decision()

    # ---- the person's input
    def action(self, held=(), sliders=None) -> ActionTuple:
        """The action of the keys held (a later key wins a branch or axis) and the sliders (continuous axes)."""
        a = self.spec.action_spec
        continuous = np.zeros((1, a.continuous_size), np.float32)
        if sliders is not None:
            values = np.asarray(sliders, dtype=np.float32).reshape(-1)
            if len(values) != a.continuous_size:
                raise BadValue(f"{self.scene} has {a.continuous_size} continuous action(s), got {len(values)} slider values")
            continuous[0] = np.clip(values, -1.0, 1.0)
        discrete = np.zeros((1, a.discrete_size), np.int32)
        by_key = {b.key: b for b in self.bindings}
        for key in held:
            b = by_key.get(key)
            if b is None:
                continue
            if b.kind == "discrete":
                discrete[0, b.index] = int(b.value)
            else:
                continuous[0, b.index] = b.value
        return ActionTuple(continuous=continuous, discrete=discrete)

    # ---- stepping
    def step(self, held=(), sliders=None) -> dict:
        """One decision: the person's agent takes the action of ``held`` keys and ``sliders``, the others theirs;
        returns the status (step, reward, return, finished episodes)."""
        mine = self.action(held, sliders)
        decision = self._decision
        actions = actions_for(self.others[self.behavior], self.spec, decision, False) if self.behavior in self.others \
            else self.spec.action_spec.empty_action(len(decision))
        row = row_of(decision, self.agent)
        if row is not None:
            if mine.continuous.size:
                actions.continuous[row] = mine.continuous[0]
            if mine.discrete.size:
                actions.discrete[row] = mine.discrete[0]
            self.current.append(decision_record(decision, row, mine))
            self._last_action = mine
        self.source.call("set_actions", self.behavior, actions)
        step_with_others(self.source, self.specs, self.behavior, self.others, False)
        self._take_decision()
        return self.status()

    def new_episode(self) -> dict:
        """Drop the running episode (not recorded) and start the scene again."""
        self.source.call("reset")
        self.current, self.episode_return, self.steps, self.agent = [], 0.0, 0, None
        self._take_decision()
        return self.status()

    def _take_decision(self) -> None:
        decision, terminal = self.source.call("get_steps", self.behavior)
        if self.agent is None and len(decision):
            self.agent = int(decision.agent_id[0])
        self.last_reward, self.just_ended = 0.0, False
        ended = ending_record(terminal, self.agent, self._last_action)
        if ended is not None:
            self.last_reward = ended["reward"]
            self.episode_return += self.last_reward
            self.current.append(ended)
            self.returns.append(self.episode_return)
            self.finished.append(self.current)
            self.current, self.episode_return, self.steps, self.just_ended = [], 0.0, 0, True
            self._write()
        elif (row := row_of(decision, self.agent)) is not None:
            if self.current:  # the reward that came with this decision (the first one of an episode has none)
                self.last_reward = float(decision.reward[row])
                self.episode_return += self.last_reward
                self.steps += 1
        self._decision = decision

    def _write(self) -> None:
        """Write every finished episode to the .demo (the whole file, so a half-written one never stays)."""
        if self.demo_path is None:
            return
        self.demo_path.parent.mkdir(parents=True, exist_ok=True)
        with DemoWriter(self.demo_path, self.behavior, self.spec) as writer:
            for episode in self.finished:
                for record in episode:
                    writer.record(agent_id=self.agent, **record)

    def status(self) -> dict:
        """What the widget shows under the frame."""
        return {"step": self.steps, "reward": round(self.last_reward, 4), "return": round(self.episode_return, 4),
                "ended": self.just_ended,  # this step ended an episode (reward: its last; a new one has begun)
                "episodes": len(self.returns), "last_returns": [round(r, 4) for r in self.returns[-5:]],
                "demo": str(self.demo_path) if self.demo_path and self.finished else "",
                "demo_steps": sum(len(e) for e in self.finished)}

    def frame(self) -> np.ndarray:
        """The scene as it is now (every agent, the step and return of each area), the person's tile framed."""
        scene = self.source.base.scene  # a built-in scene, in this process
        scene.marked = set() if self.agent is None else set(np.flatnonzero(scene.ids == self.agent).tolist())
        return self.source.frame()

    def close(self) -> None:
        self.source.close()


def bindings(scene: str, spec, keys: dict | None) -> list[Binding]:
    """The scene's key map with ``keys`` on top, checked against its actions."""
    a = spec.action_spec
    names = ACTION_NAMES.get(scene)
    merged = dict(DEFAULT_KEYS.get(scene, {}))
    if keys is not None:
        if not isinstance(keys, dict):
            raise BadValue(f"keys must be a dict of key -> action, got {type(keys).__name__}")
        merged.update(keys)
    out = []
    for key, action in merged.items():
        if action is None:
            continue
        if not isinstance(key, str) or not key:
            raise BadValue(f"keys: a key is a browser key name such as 'ArrowLeft' or 'a', got {key!r}")
        if a.continuous_size:
            if not (isinstance(action, (tuple, list)) and len(action) == 2):
                raise BadValue(f"keys[{key!r}]: {scene}'s actions are continuous: map a key to (axis, value), "
                               f"got {action!r}")
            axis, value = action
            if isinstance(axis, bool) or not isinstance(axis, int) or not 0 <= axis < a.continuous_size:
                raise BadValue(f"keys[{key!r}]: axis {axis!r} is not one of {scene}'s continuous actions "
                               f"(0 to {a.continuous_size - 1})")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not -1.0 <= value <= 1.0:
                raise BadValue(f"keys[{key!r}]: a continuous action is between -1 and 1, got {value!r}")
            named = CONTINUOUS_NAMES.get(scene, {}).get((axis, int(np.sign(value)))) if abs(value) == 1 else None
            out.append(Binding(key, "continuous", axis, float(value), named or f"axis {axis} {value:+g}"))
            continue
        branch, value = (0, action) if not isinstance(action, (tuple, list)) else tuple(action) + (None,) * (2 - len(action))
        if isinstance(branch, bool) or not isinstance(branch, int) or not 0 <= branch < a.discrete_size:
            raise BadValue(f"keys[{key!r}]: branch {branch!r} is not one of {scene}'s action branches "
                           f"(0 to {a.discrete_size - 1})")
        size = a.discrete_branches[branch]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
            raise BadValue(f"keys[{key!r}]: action {value!r} is not one of {scene}'s actions "
                           f"(branch {branch} has {size}: 0 to {size - 1})")
        label = names[value] if names and a.discrete_size == 1 else f"branch {branch}: {value}"
        out.append(Binding(key, "discrete", branch, value, label))
    return out


def _opponents(scene: str, specs: dict, mine: str, opponent, snapshot, runs_dir) -> dict:
    """Who plays each behavior's agents besides the person's: {behavior: Policy or heuristic function}."""
    from ..envs.scenes import scene_class

    cls = scene_class(scene)
    heuristic = getattr(cls, "heuristic", None)
    if opponent is None:
        opponent = "scripted" if heuristic else "idle"
    if snapshot is not None and (isinstance(opponent, str) and opponent in OPPONENTS):
        raise BadValue("snapshot= picks one of a self-play run's snapshots: give the run as opponent= too")
    if isinstance(opponent, str) and opponent in OPPONENTS:
        if opponent == "scripted":
            if heuristic is None:
                raise BadValue(f"opponent='scripted': {scene} has no scripted player; use 'idle' or a run")
            return {b: heuristic for b in specs}
        return {}
    checkpoint = _checkpoint_of(opponent, runs_dir)
    if snapshot is not None:
        from .policy import snapshot_policy

        policy, _ = snapshot_policy(checkpoint, snapshot)
        return {b: policy for b in specs}
    from .policy import load_policies

    policies = load_policies(checkpoint)
    out = for_behaviors(policies, specs)
    if SINGLE in policies:
        out = {b: policies[SINGLE] for b in specs if specs[b] == specs[mine]}
    return out


def _checkpoint_of(opponent, runs_dir) -> Path:
    """A run's latest checkpoint: from a Run, a run id, or a checkpoint folder."""
    if hasattr(opponent, "latest_checkpoint"):
        found = opponent.latest_checkpoint()
    elif isinstance(opponent, (str, Path)) and Path(opponent).is_dir():
        found = Path(opponent)
    elif isinstance(opponent, str):
        from ..train import get_run

        found = get_run(opponent, runs_dir).latest_checkpoint()
    else:
        raise BadValue(f"opponent must be a run (Run, run id or checkpoint folder), 'scripted' or 'idle', "
                       f"got {opponent!r}")
    if found is None:
        raise NotSupported(f"run {opponent} has no checkpoint yet: wait for its first one")
    return Path(found)


def _demo_path(scene: str, demo) -> Path | None:
    if demo is False:
        return None
    if demo is None or demo is True:
        return Path("demos") / f"{scene}-{time.strftime('%Y%m%d-%H%M%S')}{SUFFIX}"
    if not isinstance(demo, (str, Path)) or not str(demo).strip():
        raise BadValue(f"demo must be a file name ending in {SUFFIX}, or False not to record, got {demo!r}")
    path = Path(demo).expanduser()
    if path.suffix != SUFFIX:
        raise BadValue(f"demo: a demonstration file's name ends in {SUFFIX}, got {path.name!r}")
    if path.is_dir():
        raise BadValue(f"demo: {path} is a folder; give a file name ending in {SUFFIX}")
    return path
