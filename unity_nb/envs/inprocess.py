"""A built-in scene behind mlagents-envs' BaseEnv interface, without a process or gRPC.

The same scene code as the stand-in player, converted to the same
DecisionSteps/TerminalSteps the real client builds from protobuf (float32
vectors, images as float32 in [0, 1], masks True = forbidden), so a seed and a
sequence of actions give identical trajectories either way, only faster.
"""

from __future__ import annotations

import numpy as np

from . import _protobuf_compat

_protobuf_compat.install()

from mlagents_envs.base_env import (  # noqa: E402
    ActionSpec,
    ActionTuple,
    BaseEnv,
    BehaviorMapping,
    BehaviorSpec,
    DecisionSteps,
    DimensionProperty,
    ObservationSpec,
    ObservationType,
    TerminalSteps,
)
from mlagents_envs.exception import UnityActionException  # noqa: E402

from .scenes import ActionBatch, AgentBatch, Scene, scene_class  # noqa: E402


def behavior_spec(scene: Scene) -> BehaviorSpec:
    b = scene.behavior
    observations = [
        ObservationSpec(
            name=o.name,
            shape=o.shape,
            observation_type=ObservationType.GOAL_SIGNAL if o.goal_signal else ObservationType.DEFAULT,
            dimension_property=(DimensionProperty.UNSPECIFIED,) * len(o.shape),
        )
        for o in b.observations
    ]
    return BehaviorSpec(observations, ActionSpec(b.continuous_size, tuple(b.discrete_branches)))


def _steps(scene: Scene, batch: AgentBatch) -> tuple[DecisionSteps, TerminalSteps]:
    obs = [o.astype(np.float32) / 255.0 if o.dtype == np.uint8 else o.astype(np.float32) for o in batch.observations]
    d, t = ~batch.done, batch.done
    mask = None
    branches = scene.behavior.discrete_branches
    if branches:
        # mlagents' client builds a mask for every discrete behavior (all allowed when Unity sends none)
        forbidden = batch.action_mask if batch.action_mask is not None else np.zeros((len(batch.ids), sum(branches)), bool)
        mask = np.split(forbidden[d], np.cumsum(branches)[:-1], axis=1)
    zeros = np.zeros(len(batch.ids), dtype=np.float32)
    no_group = np.zeros(len(batch.ids), dtype=np.int32)
    decision = DecisionSteps([o[d] for o in obs], batch.rewards[d], batch.ids[d], mask, no_group[d], zeros[d])
    terminal = TerminalSteps(
        [o[t] for o in obs], batch.rewards[t], batch.max_step_reached[t], batch.ids[t], no_group[t], zeros[t]
    )
    return decision, terminal


class InProcessEnv(BaseEnv):
    """mlagents-envs' BaseEnv over a built-in scene in this process."""

    def __init__(self, scene: str, *, seed: int = 0, num_areas: int = 1, params: dict[str, float] | None = None):
        self.scene = scene_class(scene)(num_areas=num_areas, seed=seed, params=params)
        self._spec = behavior_spec(self.scene)
        self._name = self.scene.behavior.name
        self._state: tuple[DecisionSteps, TerminalSteps] | None = None
        self._action: ActionTuple | None = None

    @property
    def behavior_specs(self):
        return BehaviorMapping({self._name: self._spec} if self._state is not None else {})

    def reset(self) -> None:
        self._state = _steps(self.scene, self.scene.reset()[self._name])
        self._action = None

    def step(self) -> None:
        if self._state is None:
            return self.reset()
        action = self._action or self._spec.action_spec.empty_action(len(self._state[0]))
        batch = ActionBatch(continuous=action.continuous, discrete=action.discrete)
        self._state = _steps(self.scene, self.scene.step({self._name: batch})[self._name])
        self._action = None

    def _check(self, behavior_name):
        if behavior_name != self._name:
            raise UnityActionException(
                f"The group {behavior_name} does not correspond to an existing agent group in the environment"
            )

    def set_actions(self, behavior_name, action: ActionTuple) -> None:
        self._check(behavior_name)
        if self._state is None:
            return
        self._action = self._spec.action_spec._validate_action(action, len(self._state[0]), behavior_name)

    def set_action_for_agent(self, behavior_name, agent_id, action: ActionTuple) -> None:
        self._check(behavior_name)
        spec = self._spec.action_spec
        action = spec._validate_action(action, 1, behavior_name)
        n = len(self._state[0])
        if self._action is None:
            self._action = spec.empty_action(n)
        index = np.flatnonzero(self._state[0].agent_id == agent_id)
        if len(index) == 0:
            raise IndexError(f"agent_id {agent_id} did not request a decision at the previous step")
        if spec.continuous_size:
            self._action.continuous[index[0]] = action.continuous[0]
        if spec.discrete_size:
            self._action.discrete[index[0]] = action.discrete[0]

    def get_steps(self, behavior_name):
        self._check(behavior_name)
        return self._state

    def set_param(self, key: str, value: float) -> None:
        self.scene.set_param(key, value)

    def close(self) -> None:
        self._state = None
