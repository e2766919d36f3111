"""ML-Agents specs as gymnasium spaces, and conversions both ways."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from . import _protobuf_compat

_protobuf_compat.install()

from mlagents_envs.base_env import ActionTuple, BehaviorSpec, ObservationType  # noqa: E402
from ..errors import BadValue  # noqa: E402


def observation_space(spec: BehaviorSpec) -> gym.Space:
    """Images (rank 3) are uint8 HWC in [0, 255]; everything else float32."""
    spaces = []
    for o in spec.observation_specs:
        if len(o.shape) == 3:
            spaces.append(gym.spaces.Box(0, 255, shape=tuple(o.shape), dtype=np.uint8))
        else:
            spaces.append(gym.spaces.Box(-np.inf, np.inf, shape=tuple(o.shape), dtype=np.float32))
    return spaces[0] if len(spaces) == 1 else gym.spaces.Tuple(spaces)


def goal_sensors(spec: BehaviorSpec) -> tuple[int, ...]:
    """Which of a behavior's sensors carry a goal signal (ML-Agents' ObservationType.GOAL_SIGNAL)."""
    return tuple(i for i, o in enumerate(spec.observation_specs) if o.observation_type == ObservationType.GOAL_SIGNAL)


def action_space(spec: BehaviorSpec) -> gym.Space:
    a = spec.action_spec
    continuous = gym.spaces.Box(-1.0, 1.0, shape=(a.continuous_size,), dtype=np.float32) if a.continuous_size else None
    discrete = None
    if a.discrete_size == 1:
        discrete = gym.spaces.Discrete(a.discrete_branches[0])
    elif a.discrete_size > 1:
        discrete = gym.spaces.MultiDiscrete(list(a.discrete_branches))
    if continuous is not None and discrete is not None:
        return gym.spaces.Tuple((continuous, discrete))
    return continuous if continuous is not None else discrete


# ML-Agents' contract for continuous actions: a policy's raw output x reaches Unity as clamp(x, -3, 3) / 3
# (its trainer, its exported models and Unity's inference all apply it). The kit's policies act the same way.
CONTINUOUS_CLIP = 3.0


def policy_to_unity(space: gym.Space, actions):
    """A policy's raw actions as Unity gets them: continuous parts clamped to ±3 and divided by 3."""
    if isinstance(space, gym.spaces.Box):
        return np.clip(np.asarray(actions, dtype=np.float32), -CONTINUOUS_CLIP, CONTINUOUS_CLIP) / CONTINUOUS_CLIP
    if isinstance(space, gym.spaces.Tuple) and isinstance(space[0], gym.spaces.Box):
        continuous, discrete = actions
        return (policy_to_unity(space[0], continuous), discrete)
    return actions


def to_observation(obs_list: list[np.ndarray], index: int):
    """The observation of one agent, as ``observation_space`` declares it."""
    out = []
    for o in obs_list:
        x = o[index]
        out.append(np.rint(x * 255.0).astype(np.uint8) if x.ndim == 3 else x.astype(np.float32, copy=False))
    return out[0] if len(out) == 1 else tuple(out)


def to_observations(obs_list: list[np.ndarray], rows: list[int]):
    """The observations of the agents at ``rows``, a batch (a tuple of batches for several sensors) of what
    ``to_observation`` gives for each."""
    out = []
    for o in obs_list:
        x = o[rows]
        out.append(np.rint(x * 255.0).astype(np.uint8) if x.ndim == 4 else x.astype(np.float32, copy=False))
    return out[0] if len(out) == 1 else tuple(out)


def allowed_actions(decision, index: int) -> np.ndarray | None:
    """Action mask of one agent, 1 = allowed (gymnasium/RLlib convention), branches concatenated.

    A mask that forbids every action of a branch is the scene's bug (no action could be taken): ValueError.
    """
    if decision.action_mask is None:
        return None
    for branch, forbidden in enumerate(decision.action_mask):
        if forbidden[index].all():
            raise BadValue(
                f"the action mask of agent {int(decision.agent_id[index])} forbids every action of branch {branch} "
                f"({forbidden.shape[1]} actions): a mask must leave at least one action allowed per branch "
                "(check the scene's WriteDiscreteActionMask)")
    return np.concatenate([~m[index] for m in decision.action_mask]).astype(np.int8)


# A behavior that masks actions trains on {OBSERVATIONS: what its sensors give, ACTION_MASK: 1 = allowed},
# so the policy sees each decision's mask (RLlib's convention for action masking).
OBSERVATIONS, ACTION_MASK = "observations", "action_mask"


def forbids_any(decision) -> bool:
    """Whether a decision's mask forbids any action of any agent. (mlagents-envs gives every discrete
    behavior a mask, all allowed when the agent wrote none: its presence says nothing.)"""
    return decision.action_mask is not None and any(bool(m.any()) for m in decision.action_mask)


def with_mask(space: gym.Space, spec: BehaviorSpec) -> gym.spaces.Dict:
    """The observation space of a masked behavior in training: its sensors and the mask (1 = allowed)."""
    size = int(sum(spec.action_spec.discrete_branches))
    return gym.spaces.Dict({OBSERVATIONS: space, ACTION_MASK: gym.spaces.Box(0.0, 1.0, (size,), np.float32)})


def mask_info(decision, index: int) -> dict:
    """The info dict of one agent: its allowed actions, where the behavior masks any."""
    mask = allowed_actions(decision, index)
    return {} if mask is None else {"action_mask": mask}


def to_action_tuple(space: gym.Space, spec: BehaviorSpec, actions: list, who: str) -> ActionTuple:
    """Check each agent's action against ``space`` and batch them for mlagents."""
    a = spec.action_spec
    batch = _as_batch(space, spec, actions)
    if batch is not None:
        return batch
    continuous, discrete = [], []
    for action in actions:
        if not _contains(space, action):
            raise BadValue(f"invalid action for {who}: {_describe(action)}; expected {_expect(space)}")
        if isinstance(space, gym.spaces.Tuple):
            c, d = action
        elif a.continuous_size:
            c, d = action, None
        else:
            c, d = None, action
        if c is not None:
            continuous.append(np.asarray(c, dtype=np.float32).reshape(a.continuous_size))
        if d is not None:
            discrete.append(np.asarray(d, dtype=np.int32).reshape(a.discrete_size))
    n = len(actions)
    return ActionTuple(
        continuous=np.array(continuous, dtype=np.float32).reshape(n, a.continuous_size) if a.continuous_size else None,
        discrete=np.array(discrete, dtype=np.int32).reshape(n, a.discrete_size) if a.discrete_size else None,
    )


def in_rows(spec: BehaviorSpec, batch: ActionTuple, rows: list[int], n: int) -> ActionTuple:
    """``batch`` placed at ``rows`` of ``n`` agents' actions, the others Unity's empty (zero) action."""
    if len(rows) == n:
        return batch
    full = spec.action_spec.empty_action(n)
    if spec.action_spec.continuous_size:
        full.continuous[rows] = batch.continuous
    if spec.action_spec.discrete_size:
        full.discrete[rows] = batch.discrete
    return full


def _as_batch(space: gym.Space, spec: BehaviorSpec, actions: list) -> ActionTuple | None:
    """The common case checked at once: every action a finite array of a Box's shape, or a whole number
    of a Discrete space; None when any is not (each is then checked alone, to name the bad one)."""
    n = len(actions)
    try:
        if isinstance(space, gym.spaces.Box) and spec.action_spec.continuous_size and not spec.action_spec.discrete_size:
            values = np.asarray(actions, dtype=np.float32)
            if values.shape == (n, *space.shape) and np.isfinite(values).all():
                return ActionTuple(continuous=values.reshape(n, spec.action_spec.continuous_size))
        elif isinstance(space, gym.spaces.Discrete) and spec.action_spec.discrete_size == 1:
            values = np.asarray(actions)
            if values.shape in ((n,), (n, 1)) and np.issubdtype(values.dtype, np.integer) and (
                    n == 0 or (values.min() >= space.start and values.max() < space.start + space.n)):
                return ActionTuple(discrete=values.astype(np.int32).reshape(n, 1))
    except (TypeError, ValueError):
        pass
    return None


def _contains(space: gym.Space, action) -> bool:
    if isinstance(space, gym.spaces.Tuple):
        return isinstance(action, (tuple, list)) and len(action) == 2 and all(
            _contains(s, x) for s, x in zip(space.spaces, action)
        )
    try:
        if isinstance(space, gym.spaces.Discrete):
            value = np.asarray(action)
            return value.shape in ((), (1,)) and np.issubdtype(value.dtype, np.integer) and space.contains(int(value.reshape(())))
        value = np.asarray(action, dtype=space.dtype)
        if isinstance(space, gym.spaces.Box):
            # out-of-range continuous actions are clipped by Unity; only the shape must be right
            return value.shape == space.shape and bool(np.all(np.isfinite(value)))
        return space.contains(value)
    except (TypeError, ValueError):
        return False


def _describe(action) -> str:
    try:
        arr = np.asarray(action)
        return f"{action!r} (shape {arr.shape}, dtype {arr.dtype})"
    except Exception:
        return repr(action)


def _expect(space: gym.Space) -> str:
    if isinstance(space, gym.spaces.Discrete):
        return f"an integer in [0, {space.n})"
    if isinstance(space, gym.spaces.MultiDiscrete):
        return f"integers of shape {space.shape}, each below {space.nvec.tolist()}"
    if isinstance(space, gym.spaces.Box):
        return f"finite floats of shape {space.shape} in [-1, 1]"
    return f"({_expect(space.spaces[0])}, {_expect(space.spaces[1])})"
