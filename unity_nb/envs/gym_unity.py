"""A drop-in for gym-unity's ``UnityToGymWrapper`` that returns a gymnasium Env, for code written against gym-unity.

gym-unity (``from gym_unity.envs import UnityToGymWrapper``) no longer installs on
modern Python. Change the import and keep the rest::

    from mlagents_envs.environment import UnityEnvironment
    from unity_nb.envs.gym_unity import UnityToGymWrapper   # was: from gym_unity.envs import ...

    env = UnityToGymWrapper(UnityEnvironment(file_name="builds/MyGame.x86_64"), uint8_visual=True)
    obs, info = env.reset(seed=0)                                # gymnasium: (obs, info)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

What is gymnasium's rather than gym's: ``reset()`` returns ``(obs, info)``; ``step()``
returns five values, ``done`` split into ``terminated`` and ``truncated``; there is no
``seed()`` (gym-unity's did nothing anyway: use ``reset(seed=...)``); ``render()`` takes
no mode. Everything else follows gym-unity's documented behaviour.
"""

from __future__ import annotations

import numbers
import os
import warnings

import gymnasium as gym
import numpy as np

from . import _protobuf_compat

_protobuf_compat.install()

from mlagents_envs.base_env import ActionTuple, BaseEnv, DecisionSteps  # noqa: E402

from . import spaces  # noqa: E402
from ..errors import BadValue, NotPossible, WrongType  # noqa: E402
from .errors import UnityNbError  # noqa: E402

MAX_IDLE_EXCHANGES = 10_000  # exchanges to wait for an agent that requests no decision
_MAKE_HINT = (
    "unity_nb.envs.make(scene_or_build_path) gives a gymnasium VectorEnv (one sub-env per agent) "
    "and make(..., behavior=NAME) picks one behavior; make_multi_agent(...) drives every agent of every behavior"
)


class UnityGymException(UnityNbError, ValueError):
    """An environment this wrapper cannot present as one gymnasium Env (gym-unity's exception name).

    A ``ValueError`` too, so ``except ValueError`` and ``except UnityGymException`` both catch it.
    """


class UnityToGymWrapper(gym.Env):
    """gym-unity's ``UnityToGymWrapper`` as a gymnasium Env, over any mlagents ``BaseEnv`` with one agent.

    unity_env: an opened ``mlagents_envs`` environment (``UnityEnvironment(file_name=...)``, or any
        ``BaseEnv``) with one behavior and one agent. It is reset here, and closed by ``close()``.
        If it is refused, it is left open: it is yours.
    uint8_visual: camera observations as uint8 in 0..255 (Atari style) instead of float32 in [0, 1].
    flatten_branched: several discrete branches become one ``Discrete`` over every combination
        (the last branch varies fastest: for branches (2, 3), action 4 is (1, 1)) instead of a
        ``MultiDiscrete``. No effect with one branch; ignored, with a warning, for continuous actions.
    allow_multiple_obs: observations as a tuple: every camera observation, in the behavior's order,
        then one float32 vector of all vector observations concatenated (left out when there are
        none). When False: the first camera observation if there is one, else that vector.
    action_space_seed: seeds ``action_space`` (its ``sample()``), as in gym-unity.

    Spaces: continuous actions are ``Box(-1, 1)`` (Unity clips larger values); one discrete branch
    is ``Discrete``; hybrid (continuous and discrete) actions are refused, as gym-unity did.
    Observations other than vectors and images (rank 2, e.g. a buffer sensor) are left out, with a
    warning, as gym-unity left them out.

    ``step()`` returns gymnasium's five values: an episode Unity ends is ``terminated``; one cut
    by the agent's ``MaxStep`` (ML-Agents' ``interrupted``) is ``truncated`` (gym-unity's single
    ``done`` is ``terminated or truncated``). ``info["step"]`` is the ``DecisionSteps`` or
    ``TerminalSteps`` it came from, as in gym-unity (its ``agent_id``, ``interrupted``, ...); where
    the agent may choose among discrete actions, ``info["action_mask"]`` holds the allowed actions
    of ``action_space`` (1 = allowed; a flattened action is allowed when each of its parts is). ``reset(seed=s)`` seeds ``np_random``; Unity's own random
    seed is the one the environment was launched with (``UnityEnvironment(seed=...)``).

    Also kept from gym-unity: ``name`` (the behavior), ``group_spec`` (its ``BehaviorSpec``),
    ``visual_obs`` (the latest first camera observation) and ``game_over``. For the kit's built-in
    scenes, several agents or several behaviors, prefer :func:`unity_nb.envs.make`.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}
    reward_range = (-float("inf"), float("inf"))

    def __init__(
        self,
        unity_env: BaseEnv,
        uint8_visual: bool = False,
        flatten_branched: bool = False,
        allow_multiple_obs: bool = False,
        action_space_seed: int | None = None,
    ):
        _check_env_argument(unity_env)
        for flag, value in (("uint8_visual", uint8_visual), ("flatten_branched", flatten_branched),
                            ("allow_multiple_obs", allow_multiple_obs)):
            if not isinstance(value, (bool, np.bool_)):
                raise WrongType(f"UnityToGymWrapper: {flag} must be True or False, got {value!r} ({type(value).__name__})")
        if action_space_seed is not None:
            if isinstance(action_space_seed, (bool, np.bool_)) or not isinstance(action_space_seed, numbers.Integral):
                raise WrongType(
                    f"UnityToGymWrapper: action_space_seed must be a whole number or None, "
                    f"got {action_space_seed!r} ({type(action_space_seed).__name__})"
                )
            if action_space_seed < 0:
                raise BadValue(f"UnityToGymWrapper: action_space_seed must be >= 0, got {action_space_seed}")

        self._env = unity_env
        self._closed = False
        self.uint8_visual = bool(uint8_visual)
        self._allow_multiple_obs = bool(allow_multiple_obs)
        self.visual_obs: np.ndarray | None = None
        self.game_over = False  # gym-unity's flag for Atari-style wrappers: the episode has ended
        self._agent: int | None = None

        unity_env.reset()
        self.name = _only_behavior(unity_env)
        self.group_spec = unity_env.behavior_specs[self.name]
        self._sort_observations()
        self._check_actions()
        self._check_agents(*unity_env.get_steps(self.name))
        self._warn_about_options(self.uint8_visual, bool(flatten_branched))

        self.action_space, self._branches = self._make_action_space(bool(flatten_branched))
        if action_space_seed is not None:
            self.action_space.seed(int(action_space_seed))
        self.observation_space = self._make_observation_space()
        self.render_mode = "rgb_array" if self._visual else None

    # ---- set-up ----

    def _sort_observations(self) -> None:
        """Which of the behavior's observations are images, which vectors, which neither."""
        shapes = [tuple(o.shape) for o in self.group_spec.observation_specs]
        self._visual = [i for i, s in enumerate(shapes) if len(s) == 3]
        self._vector = [i for i, s in enumerate(shapes) if len(s) == 1]
        self._vector_size = sum(shapes[i][0] for i in self._vector)
        other = ", ".join(f"{self.group_spec.observation_specs[i].name} {shapes[i]}" for i, s in enumerate(shapes)
                          if len(s) not in (1, 3))
        if not self._visual and not self._vector_size:
            raise UnityGymException(
                f"behavior {self.name!r} has no observation UnityToGymWrapper can return: it takes camera "
                f"images (height, width, channels) and vectors; this behavior has {other or 'none'}"
            )
        if other:
            warnings.warn(
                f"behavior {self.name!r}: observations {other} are neither images nor vectors "
                "and are left out (as gym-unity left them out)",
                stacklevel=3,
            )

    def _check_actions(self) -> None:
        a = self.group_spec.action_spec
        if a.continuous_size and a.discrete_size:
            raise UnityGymException(
                f"behavior {self.name!r} has hybrid actions ({a.continuous_size} continuous and discrete branches "
                f"{tuple(a.discrete_branches)}): UnityToGymWrapper, like gym-unity, takes only continuous or only "
                "discrete actions. unity_nb.envs.make() and make_multi_agent() take both (a Tuple action space)."
            )
        if not a.continuous_size and not a.discrete_size:
            raise UnityGymException(f"behavior {self.name!r} has no actions: nothing for a gymnasium agent to do")

    def _warn_about_options(self, uint8_visual: bool, flatten_branched: bool) -> None:
        a = self.group_spec.action_spec
        if uint8_visual and not self._visual:
            warnings.warn(f"uint8_visual=True has no effect: behavior {self.name!r} has no camera observation", stacklevel=3)
        if flatten_branched and a.continuous_size:
            warnings.warn(f"flatten_branched=True has no effect: behavior {self.name!r} has continuous actions", stacklevel=3)
        if self._visual and len(self._visual) + (1 if self._vector_size else 0) > 1 and not self._allow_multiple_obs:
            warnings.warn(
                f"behavior {self.name!r} has several observations; only the first camera observation is returned. "
                "Pass allow_multiple_obs=True to get them all.",
                stacklevel=3,
            )

    def _make_action_space(self, flatten_branched: bool) -> tuple[gym.Space, tuple[int, ...] | None]:
        a = self.group_spec.action_spec
        if a.continuous_size:
            return gym.spaces.Box(-1.0, 1.0, shape=(a.continuous_size,), dtype=np.float32), None
        branches = tuple(int(b) for b in a.discrete_branches)
        if len(branches) == 1:
            return gym.spaces.Discrete(branches[0]), None
        if flatten_branched:
            return gym.spaces.Discrete(int(np.prod(branches))), branches
        return gym.spaces.MultiDiscrete(list(branches)), None

    def _make_observation_space(self) -> gym.Space:
        parts: list[gym.Space] = []
        for i in self._visual:
            shape = tuple(self.group_spec.observation_specs[i].shape)
            if self.uint8_visual:
                parts.append(gym.spaces.Box(0, 255, shape=shape, dtype=np.uint8))
            else:
                parts.append(gym.spaces.Box(0.0, 1.0, shape=shape, dtype=np.float32))
        if self._vector_size:
            parts.append(gym.spaces.Box(-np.inf, np.inf, shape=(self._vector_size,), dtype=np.float32))
        return gym.spaces.Tuple(parts) if self._allow_multiple_obs else parts[0]

    # ---- gymnasium API ----

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset Unity and return ``(observation, info)`` (gymnasium; gym-unity returned the observation alone).

        seed: seeds ``np_random``; Unity keeps the seed it was launched with. options: unused.
        """
        super().reset(seed=seed)
        self._check_open()
        self._env.reset()
        decision = self._await_decision()
        self.game_over = False
        return self._observation(decision, 0), self._info(decision, 0)

    def step(self, action):
        """Act, and return gymnasium's ``(observation, reward, terminated, truncated, info)``.

        ``terminated``: Unity ended the episode; ``truncated``: the agent reached its ``MaxStep``
        (ML-Agents' ``interrupted``). An action outside ``action_space`` raises ``ValueError``.
        """
        self._check_open()
        if self.game_over or self._agent is None:
            raise NotPossible("the episode is over (or never started): call reset() before step()")
        self._env.set_actions(self.name, self._to_unity(action))
        reward = 0.0
        for _ in range(MAX_IDLE_EXCHANGES):
            self._env.step()
            decision, terminal = self._env.get_steps(self.name)
            self._check_agents(decision, terminal)
            if len(terminal):
                self.game_over = True
                truncated = bool(terminal.interrupted[0])
                reward += float(terminal.reward[0])
                return self._observation(terminal, 0), reward, not truncated, truncated, self._info(terminal, 0)
            if len(decision):
                reward += float(decision.reward[0])
                return self._observation(decision, 0), reward, False, False, self._info(decision, 0)
        raise NotPossible(f"the agent of {self.name!r} requested no decision in {MAX_IDLE_EXCHANGES} exchanges")

    def render(self):
        """The latest camera observation as an RGB uint8 image (height, width, 3), or None without a camera.

        As in gym-unity it shows the agent's first camera observation and renders no new frame. Unlike
        gym-unity it is always uint8 (what video recorders take), whatever ``uint8_visual``; a
        one-channel (grayscale) camera is repeated to three channels.
        """
        if self.visual_obs is None:
            if not self._visual:
                gym.logger.warn(
                    f"behavior {self.name!r} has no camera observation, so render() has nothing to show. "
                    "For the kit's built-in scenes, unity_nb.envs.make(scene, render_mode='rgb_array') renders frames."
                )
            return None
        frame = self.visual_obs
        if frame.dtype == np.uint8:
            frame = frame.copy()  # not the observation itself
        else:
            frame = np.rint(np.clip(frame, 0.0, 1.0) * 255.0).astype(np.uint8)
        if frame.shape[-1] == 1:
            frame = np.repeat(frame, 3, axis=-1)
        return frame

    def close(self) -> None:
        """Close the Unity environment (as gym-unity did). Closing twice is allowed."""
        if not self._closed:
            self._closed = True
            self._env.close()

    # ---- helpers ----

    def _check_open(self) -> None:
        if self._closed:
            raise NotPossible("this UnityToGymWrapper is closed, and so is its Unity environment; open a new one")

    def _check_agents(self, decision, terminal) -> None:
        n = max(len(decision), len(terminal))
        if n > 1:
            raise UnityGymException(
                f"behavior {self.name!r} has {n} agents; UnityToGymWrapper, like gym-unity, drives exactly one. "
                f"For several agents: {_MAKE_HINT}."
            )

    def _await_decision(self):
        """The DecisionSteps in which the single agent asks for an action (stepping Unity until it does)."""
        for _ in range(MAX_IDLE_EXCHANGES):
            decision, terminal = self._env.get_steps(self.name)
            self._check_agents(decision, terminal)
            if len(decision):
                self._agent = int(decision.agent_id[0])
                return decision
            self._env.step()
        raise NotPossible(f"no agent of {self.name!r} requested a decision in {MAX_IDLE_EXCHANGES} exchanges")

    def _observation(self, steps, index: int):
        images = [self._image(steps.obs[i][index]) for i in self._visual]
        if images:
            self.visual_obs = images[0]
        vector = None
        if self._vector_size:
            vector = np.concatenate([np.asarray(steps.obs[i][index], dtype=np.float32).reshape(-1) for i in self._vector])
        if self._allow_multiple_obs:
            return tuple(images + ([vector] if vector is not None else []))
        return images[0] if images else vector

    def _image(self, x: np.ndarray) -> np.ndarray:
        if self.uint8_visual:
            return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)
        return np.array(x, dtype=np.float32)

    def _info(self, steps, index: int) -> dict:
        info = {"step": steps}
        allowed = spaces.allowed_actions(steps, index) if isinstance(steps, DecisionSteps) else None
        if allowed is not None:
            if self._branches is not None:  # flattened: a combination is allowed when each of its parts is
                per_branch = np.split(allowed, np.cumsum(self._branches)[:-1])
                combined = per_branch[0]
                for part in per_branch[1:]:
                    combined = np.outer(combined, part).reshape(-1)
                allowed = combined.astype(np.int8)
            info["action_mask"] = allowed
        return info

    def _to_unity(self, action) -> ActionTuple:
        who = f"UnityToGymWrapper({self.name})"
        if self._branches is None:
            return spaces.to_action_tuple(self.action_space, self.group_spec, [action], who)
        flat = np.asarray(action)
        n = self.action_space.n
        if not (flat.shape in ((), (1,)) and np.issubdtype(flat.dtype, np.integer) and 0 <= int(flat.reshape(())) < n):
            raise BadValue(
                f"invalid action for {who}: {action!r}; expected an integer in [0, {n}) "
                f"(flatten_branched=True: one action for each combination of the branches {self._branches})"
            )
        branched = np.array(np.unravel_index(int(flat.reshape(())), self._branches), dtype=np.int32)
        return ActionTuple(discrete=branched.reshape(1, -1))


def _check_env_argument(unity_env) -> None:
    if isinstance(unity_env, BaseEnv):
        return
    if isinstance(unity_env, gym.Env):
        raise WrongType(
            f"UnityToGymWrapper wraps an mlagents_envs environment (a BaseEnv such as UnityEnvironment); "
            f"{type(unity_env).__name__} is already a gymnasium Env: use it as it is"
        )
    if isinstance(unity_env, (str, os.PathLike)):
        raise WrongType(
            f"UnityToGymWrapper takes an opened environment, not a path ({unity_env!r}): "
            f"UnityToGymWrapper(UnityEnvironment(file_name={str(unity_env)!r})), or unity_nb.envs.make({str(unity_env)!r})"
        )
    raise WrongType(
        f"UnityToGymWrapper needs an mlagents_envs BaseEnv (e.g. mlagents_envs.environment.UnityEnvironment), "
        f"got {type(unity_env).__name__}"
    )


def _only_behavior(unity_env: BaseEnv) -> str:
    names = list(unity_env.behavior_specs)
    if not names:
        raise UnityGymException(
            "the Unity environment reported no behaviors: does the scene contain an agent with Behavior Parameters?"
        )
    if len(names) > 1:
        raise UnityGymException(
            f"the Unity environment has {len(names)} behaviors ({', '.join(names)}); UnityToGymWrapper, like "
            f"gym-unity, takes one. {_MAKE_HINT}."
        )
    return names[0]


__all__ = ["UnityToGymWrapper", "UnityGymException"]
