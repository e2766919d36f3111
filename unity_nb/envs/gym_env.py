"""gymnasium views of a Unity environment: one agent (Env) or many as a batch (VectorEnv)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import batch_space

from . import spaces
from ..errors import BadValue, NotPossible
from .agents import VANISH_AFTER, Slots
from .source import EnvSource

MAX_IDLE_EXCHANGES = 10_000  # exchanges to wait for an agent that requests no decision


def pick_behavior(source: EnvSource, behavior: str | None) -> str:
    """The behavior to drive: the given one, or the only one there is."""
    names = list(source.base.behavior_specs)
    if not names:
        raise NotPossible(f"{source.name} reported no behaviors: does the scene contain an agent with Behavior Parameters?")
    if behavior is None:
        if len(names) > 1:
            raise BadValue(
                f"{source.name} has several behaviors ({', '.join(names)}): pass behavior=NAME, "
                "or use unity_nb.envs.make_multi_agent() to drive them all"
            )
        return names[0]
    if behavior not in names:
        raise BadValue(f"{source.name} has no behavior {behavior!r}; its behaviors: {', '.join(names)}")
    return behavior


class _UnityGymBase:
    """What the single- and many-agent views share: source, behavior, spaces, rendering."""

    def _setup(self, source: EnvSource, behavior: str | None, render_mode: str | None, reset_done: bool):
        if render_mode not in (None, "rgb_array"):
            raise BadValue(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.source = source
        self.render_mode = render_mode
        if not reset_done:
            source.call("reset")
        self.behavior = pick_behavior(source, behavior)
        self.behavior_spec = source.base.behavior_specs[self.behavior]
        # Opened and reset once: the state a first reset() would give, so it need not reset again.
        self._fresh = True
        return spaces.observation_space(self.behavior_spec), spaces.action_space(self.behavior_spec)

    def _restart(self, seed: int | None) -> None:
        """reset(seed=s) restarts the environment with s, so equal seeds give equal episodes."""
        fresh, self._fresh = self._fresh, False
        if fresh and seed in (None, self.source.seed):
            return
        if seed is not None:
            self.source.open(seed)
        self.source.call("reset")

    def _steps(self):
        return self.source.call("get_steps", self.behavior)

    def render(self):
        """An RGB frame of the scene (built-in scenes), else the first agent's camera image."""
        frame = self.source.frame()
        if frame is not None:
            return frame
        decision, _ = self._steps()
        for o in decision.obs:
            if o.ndim == 4 and len(o):
                return np.rint(o[0] * 255).astype(np.uint8)
        raise NotPossible(
            f"{self.source.name} has no frames to show: its agents have no camera observation. Add a Camera Sensor "
            "component to an agent in Unity (or build with a RenderTexture sensor) to record videos."
        )

    def set_param(self, key: str, value: float) -> None:
        """Change an environment parameter (e.g. 3DBall's ``mass``) from the next episode on."""
        self.source.set_param(key, value)

    def close(self):
        self.source.close()


class UnityGymEnv(_UnityGymBase, gym.Env):
    """A gymnasium Env for a Unity scene with one agent.

    A reward is the agent's own plus its group's, as ML-Agents trains on. ``truncated`` is ML-Agents' ``max_step_reached``; ``info["action_mask"]`` holds
    the allowed discrete actions (1 = allowed) where the scene masks actions.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(self, source: EnvSource, behavior: str | None = None, render_mode: str | None = None,
                 reset_done: bool = False):
        self.observation_space, self.action_space = self._setup(source, behavior, render_mode, reset_done)
        self._agent: int | None = None
        self._done = True

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._restart(seed)
        decision, _ = self._steps()
        if len(decision) != 1:
            raise NotPossible(
                f"{self.source.name} has {len(decision)} agents in behavior {self.behavior!r}; "
                "use unity_nb.envs.make() (a vector env for many agents) or make_multi_agent()"
            )
        self._agent = int(decision.agent_id[0])
        self._done = False
        return spaces.to_observation(decision.obs, 0), self._info(decision, 0)

    def _info(self, decision, index):
        return {"agent_id": self._agent, **spaces.mask_info(decision, index)}

    def step(self, action):
        if self._done:
            raise NotPossible("the episode is over (or never started): call reset() before step()")
        batch = spaces.to_action_tuple(self.action_space, self.behavior_spec, [action], self.source.name)
        self.source.call("set_actions", self.behavior, batch)
        reward = 0.0
        for _ in range(MAX_IDLE_EXCHANGES):
            self.source.call("step")
            decision, terminal = self._steps()
            if self._agent in terminal.agent_id:
                i = int(np.flatnonzero(terminal.agent_id == self._agent)[0])
                reward += float(terminal.reward[i]) + float(terminal.group_reward[i])
                truncated = bool(terminal.interrupted[i])
                self._done = True
                info = {"agent_id": self._agent}
                return spaces.to_observation(terminal.obs, i), reward, not truncated, truncated, info
            if self._agent in decision.agent_id:
                i = int(np.flatnonzero(decision.agent_id == self._agent)[0])
                reward += float(decision.reward[i]) + float(decision.group_reward[i])
                return spaces.to_observation(decision.obs, i), reward, False, False, self._info(decision, i)
        raise NotPossible(f"agent {self._agent} requested no decision in {MAX_IDLE_EXCHANGES} exchanges")


class UnityVectorEnv(_UnityGymBase, gym.vector.VectorEnv):
    """A gymnasium VectorEnv with one sub-environment per agent (3DBall: 12).

    A reward is the agent's own plus its group's, as ML-Agents trains on. Unity starts an agent's next
    episode at once, so this env auto-resets in the
    same step (``autoreset_mode=SAME_STEP``): a finished agent's last observation
    is in ``info["final_obs"]`` and the returned one begins its next episode.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 25, "autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}

    def __init__(self, source: EnvSource, behavior: str | None = None, render_mode: str | None = None,
                 reset_done: bool = False, autoreset_mode: str = "same_step"):
        modes = {"same_step": gym.vector.AutoresetMode.SAME_STEP, "next_step": gym.vector.AutoresetMode.NEXT_STEP}
        if autoreset_mode not in modes:
            raise BadValue(f"autoreset_mode must be 'same_step' or 'next_step', got {autoreset_mode!r}")
        self.autoreset_mode = modes[autoreset_mode]
        self.metadata = {**self.metadata, "autoreset_mode": self.autoreset_mode}
        obs_space, act_space = self._setup(source, behavior, render_mode, reset_done)
        decision, _ = self._steps()
        self.num_envs = len(decision)
        self.single_observation_space, self.single_action_space = obs_space, act_space
        self.observation_space = batch_space(obs_space, self.num_envs)
        self.action_space = batch_space(act_space, self.num_envs)
        self._slots = Slots(source.name, self.behavior, decision)
        self._clear_episodes()
        self._shown = self._batch_obs(decision)  # the observations last returned (a lost episode's last one)

    def _clear_episodes(self):
        self._returns = np.zeros(self.num_envs)  # Unity-side return and length of each slot's episode
        self._lengths = np.zeros(self.num_envs, dtype=np.int64)
        self._restart_next = np.zeros(self.num_envs, dtype=bool)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._np_random, self._np_random_seed = gym.utils.seeding.np_random(seed)
        self._restart(seed)
        decision, _ = self._steps()
        if len(decision) != self.num_envs:
            raise NotPossible(f"{self.source.name} now has {len(decision)} agents, not {self.num_envs}")
        self._slots.restart(decision)
        self._clear_episodes()
        self._shown = self._batch_obs(decision)
        return self._shown, self._infos(decision)

    def _index(self, decision) -> list[int]:
        """The decision row of each slot's agent."""
        where = {int(a): i for i, a in enumerate(decision.agent_id)}
        return [where[a] for a in self._slots.ids]

    def _batch_obs(self, decision):
        return spaces.to_observations(decision.obs, self._index(decision))  # several sensors: a batch per sensor

    def _infos(self, decision, extra: dict | None = None) -> dict:
        infos = dict(extra or {})
        if decision.action_mask is not None:
            infos["action_mask"] = np.stack([spaces.allowed_actions(decision, i) for i in self._index(decision)])
            infos["_action_mask"] = np.ones(self.num_envs, dtype=bool)
        return infos

    def step(self, actions):
        per_agent = self._split(actions)
        decision, _ = self._steps()
        rows = self._slots.slots_of(decision.agent_id)
        driven = [row for row, slot in enumerate(rows) if slot is not None]
        batch = spaces.to_action_tuple(self.single_action_space, self.behavior_spec,
                                       [per_agent[rows[row]] for row in driven], self.source.name)
        self.source.call("set_actions", self.behavior, spaces.in_rows(self.behavior_spec, batch, driven, len(rows)))
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        final_obs = np.full(self.num_envs, None, dtype=object)
        lost = np.zeros(self.num_envs, dtype=bool)
        waiting = set(range(self.num_envs))
        empty = dict.fromkeys(range(self.num_envs), 0)  # exchanges each slot has been without an agent in an episode
        for _ in range(MAX_IDLE_EXCHANGES):
            self.source.call("step")
            decision, terminal = self._steps()
            ended, decided, vanished = self._slots.read(decision, terminal)
            for slot in vanished:
                if slot in waiting:  # its episode is lost: the slot's next agent starts a new one
                    truncated[slot] = lost[slot] = True
                    final_obs[slot] = _row(self._shown, slot)
            for slot, row in ended.items():
                if slot in waiting:
                    rewards[slot] += terminal.reward[row] + terminal.group_reward[row]
                    truncated[slot] = bool(terminal.interrupted[row])
                    terminated[slot] = not truncated[slot]
                    final_obs[slot] = spaces.to_observation(terminal.obs, row)
            for slot, (row, new_episode) in decided.items():
                if slot in waiting:
                    if not new_episode:
                        rewards[slot] += decision.reward[row] + decision.group_reward[row]
                    waiting.discard(slot)
            for slot in waiting:
                empty[slot] = empty[slot] + 1 if slot in self._slots.open else 0
                if empty[slot] > VANISH_AFTER:
                    self._slots_left_error(slot)
            if not waiting:
                break
        else:
            raise NotPossible(f"agents in slots {sorted(waiting)} requested no decision in {MAX_IDLE_EXCHANGES} exchanges")
        done = terminated | truncated
        counted = done & ~lost  # a lost episode is not an episode anyone finished: no return for it
        self._returns += rewards
        self._lengths += 1
        extra = {}
        if done.any():
            extra = {"final_obs": final_obs, "_final_obs": done}
        if counted.any():
            extra.update({
                "episode_return": np.where(counted, self._returns, 0.0), "_episode_return": counted,
                "episode_length": np.where(counted, self._lengths, 0), "_episode_length": counted,
            })
        self._returns[done], self._lengths[done] = 0.0, 0
        obs = self._batch_obs(decision)
        if self.autoreset_mode == gym.vector.AutoresetMode.NEXT_STEP:
            # Gymnasium's default: a finished slot shows its last observation now and its next
            # episode's first one at the next step(), which does not count for it. Unity has
            # already started that episode, so its reward from that step is credited to the
            # episode's return but not reported as a reward of the step.
            restarted = self._restart_next
            rewards[restarted] = 0.0
            terminated[restarted] = truncated[restarted] = False
            for slot in np.flatnonzero(done):
                obs = _set_row(obs, slot, final_obs[slot])
            self._restart_next = done
            extra.pop("final_obs", None)
            extra.pop("_final_obs", None)
        self._shown = obs
        return obs, rewards, terminated, truncated, self._infos(decision, extra)

    def _slots_left_error(self, slot: int):
        raise NotPossible(
            f"{self.source.name}: the agent in place {slot} of behavior {self.behavior!r} left (its episode ended and "
            f"it asked for no decision in {VANISH_AFTER} exchanges) and no new agent took its place. This view "
            "holds a fixed number of agents; for scenes whose agents come and go use "
            "unity_nb.envs.make_multi_agent().")

    def _split(self, actions) -> list:
        space = self.single_action_space
        if isinstance(space, gym.spaces.Tuple):
            c, d = actions
            return [(c[i], d[i]) for i in range(self.num_envs)]
        arr = np.asarray(actions)
        if arr.shape[:1] != (self.num_envs,):
            raise BadValue(
                f"expected one action per agent: {self.num_envs} actions (shape ({self.num_envs}, ...)), got shape {arr.shape}"
            )
        return list(arr)


def _row(batch, row: int):
    """One sub-env's observation of a batched observation (array or tuple of arrays)."""
    return tuple(part[row] for part in batch) if isinstance(batch, tuple) else batch[row]


def _set_row(batch, row: int, value):
    """Replace one sub-env's observation in a batched observation (array or tuple of arrays)."""
    if isinstance(batch, tuple):
        for part, v in zip(batch, value):
            part[row] = v
    else:
        batch[row] = value
    return batch
