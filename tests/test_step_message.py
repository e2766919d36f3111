"""The kit's faster step message is byte for byte the one mlagents-envs builds (no Unity process needed)."""

import numpy as np
import pytest

import unity_nb.envs  # noqa: F401  (protobuf hook)
from mlagents_envs.base_env import ActionTuple
from mlagents_envs.environment import UnityEnvironment
from mlagents_envs.side_channel.side_channel_manager import SideChannelManager
from mlagents_envs.side_channel.engine_configuration_channel import EngineConfigurationChannel

from unity_nb.envs.unity import KitUnityEnvironment


class _State:
    """Just what building a step message reads from an environment."""

    _wrap_unity_input = staticmethod(UnityEnvironment._wrap_unity_input)

    def __init__(self, agents: dict[str, int]):
        self._env_state = {b: (list(range(n)),) for b, n in agents.items()}
        channel = EngineConfigurationChannel()
        channel.set_configuration_parameters(time_scale=20.0)  # a pending side-channel message rides along
        self._side_channel_manager = SideChannelManager([channel])


@pytest.mark.parametrize("continuous, discrete", [((12, 2), None), (None, (3, 2)), ((4, 3), (4, 1)), ((1, 1), (1, 3))])
def test_step_message_matches_mlagents_envs(continuous, discrete):
    rng = np.random.default_rng(0)
    n = (continuous or discrete)[0]
    actions = {
        "Ball?team=0": ActionTuple(
            continuous=rng.normal(size=continuous).astype(np.float32) if continuous else None,
            discrete=rng.integers(0, 3, size=discrete).astype(np.int32) if discrete else None),
        "Idle?team=0": ActionTuple(continuous=np.zeros((0, 2), np.float32)),  # a behavior with no agent now
    }
    theirs = UnityEnvironment._generate_step_input(_State({"Ball?team=0": n, "Idle?team=0": 0}), actions)
    ours = KitUnityEnvironment._generate_step_input(_State({"Ball?team=0": n, "Idle?team=0": 0}), actions)
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(deterministic=True)
    assert len(ours.rl_input.agent_actions["Ball?team=0"].value) == n
