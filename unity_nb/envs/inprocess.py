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

from .scenes import ActionBatch, AgentBatch, BehaviorInfo, scene_class  # noqa: E402
from . import samplers  # noqa: E402


def behavior_spec(b: BehaviorInfo) -> BehaviorSpec:
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


def _steps(behavior: BehaviorInfo, batch: AgentBatch) -> tuple[DecisionSteps, TerminalSteps]:
    obs = [o.astype(np.float32) / 255.0 if o.dtype == np.uint8 else o.astype(np.float32) for o in batch.observations]
    d, t = ~batch.done, batch.done
    mask = None
    branches = behavior.discrete_branches
    if branches:
        # mlagents' client builds a mask for every discrete behavior (all allowed when Unity sends none)
        forbidden = batch.action_mask if batch.action_mask is not None else np.zeros((len(batch.ids), sum(branches)), bool)
        mask = np.split(forbidden[d], np.cumsum(branches)[:-1], axis=1)
    group = batch.group_id if batch.group_id is not None else np.zeros(len(batch.ids), dtype=np.int32)
    group_reward = batch.group_reward if batch.group_reward is not None else np.zeros(len(batch.ids), np.float32)
    decision = DecisionSteps([o[d] for o in obs], batch.rewards[d], batch.ids[d], mask, group[d], group_reward[d])
    terminal = TerminalSteps(
        [o[t] for o in obs], batch.rewards[t], batch.max_step_reached[t], batch.ids[t], group[t], group_reward[t]
    )
    return decision, terminal


class InProcessEnv(BaseEnv):
    """mlagents-envs' BaseEnv over a built-in scene in this process."""

    def __init__(self, scene: str, *, seed: int = 0, num_areas: int = 1, params: dict | None = None):
        params = dict(params or {})
        numbers = {k: v for k, v in params.items() if not samplers.is_sampler(v)}
        self.seed = seed
        self.scene = scene_class(scene)(num_areas=num_areas, seed=seed, params=numbers)
        for key, value in params.items():
            if samplers.is_sampler(value):
                self.set_param(key, value)
        self._behaviors = {b.name: b for b in self.scene.behavior_list()}
        self._specs = {name: behavior_spec(b) for name, b in self._behaviors.items()}
        self._state: dict[str, tuple[DecisionSteps, TerminalSteps]] = {}
        self._actions: dict[str, ActionTuple] = {}

    @property
    def behavior_specs(self):
        return BehaviorMapping(self._specs if self._state else {})

    def _update(self, batches) -> None:
        self._state = {name: _steps(self._behaviors[name], batch) for name, batch in batches.items()}
        self._actions = {}

    def reset(self) -> None:
        self._update(self.scene.reset())

    def step(self) -> None:
        if not self._state:
            return self.reset()
        batches = {}
        for name, spec in self._specs.items():
            action = self._actions.get(name) or spec.action_spec.empty_action(len(self._state[name][0]))
            batches[name] = ActionBatch(continuous=action.continuous, discrete=action.discrete)
        self._update(self.scene.step(batches))

    def _check(self, behavior_name):
        if behavior_name not in self._specs:
            raise UnityActionException(
                f"The group {behavior_name} does not correspond to an existing agent group in the environment"
            )

    def set_actions(self, behavior_name, action: ActionTuple) -> None:
        self._check(behavior_name)
        if not self._state:
            return
        n = len(self._state[behavior_name][0])
        self._actions[behavior_name] = self._specs[behavior_name].action_spec._validate_action(action, n, behavior_name)

    def set_action_for_agent(self, behavior_name, agent_id, action: ActionTuple) -> None:
        self._check(behavior_name)
        spec = self._specs[behavior_name].action_spec
        action = spec._validate_action(action, 1, behavior_name)
        decision = self._state[behavior_name][0]
        if behavior_name not in self._actions:
            self._actions[behavior_name] = spec.empty_action(len(decision))
        index = np.flatnonzero(decision.agent_id == agent_id)
        if len(index) == 0:
            raise IndexError(f"agent_id {agent_id} did not request a decision at the previous step")
        if spec.continuous_size:
            self._actions[behavior_name].continuous[index[0]] = action.continuous[0]
        if spec.discrete_size:
            self._actions[behavior_name].discrete[index[0]] = action.discrete[0]

    def get_steps(self, behavior_name):
        self._check(behavior_name)
        return self._state[behavior_name]

    def set_param(self, key: str, value) -> None:
        """A number, or a sampler drawn again at each episode start (with its own seed, else this env's),
        as the player stand-in draws one sent over the side channel."""
        if samplers.is_sampler(value):
            spec = samplers.parse(value, f"parameter {key!r}")
            if spec["sampler_type"] != "constant":
                if key not in self.scene.default_params:
                    self.scene.set_param(key, 0.0)  # the scene's own refusal, naming its parameters
                self.scene.samplers[key] = samplers.drawer(spec, self.seed)
                return
            value = spec["sampler_parameters"]["value"]
        self.scene.set_param(key, value)
        self.scene.samplers.pop(key, None)

    def close(self) -> None:
        self._state = {}
