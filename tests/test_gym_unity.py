"""gym-unity's UnityToGymWrapper as a gymnasium Env (unity_nb.envs.gym_unity): over the real
mlagents UnityEnvironment on the stand-in player, over in-process scenes, and over test doubles."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import unity_nb.envs as ue
from unity_nb.envs.gym_unity import UnityGymException, UnityToGymWrapper
from unity_nb.envs.inprocess import InProcessEnv

from mlagents_envs.base_env import (  # after unity_nb.envs, which installs the protobuf hook it needs
    ActionSpec,
    BaseEnv,
    BehaviorMapping,
    BehaviorSpec,
    DecisionSteps,
    DimensionProperty,
    ObservationSpec,
    ObservationType,
    TerminalSteps,
)


# ---- the real client on the stand-in player ----

@pytest.fixture
def real_basic():
    """mlagents' own UnityEnvironment on the Basic player file, with the parameters side channel."""
    from mlagents_envs.environment import UnityEnvironment
    from mlagents_envs.side_channel.environment_parameters_channel import EnvironmentParametersChannel

    from unity_nb.processes import free_port

    params = EnvironmentParametersChannel()
    env = UnityEnvironment(file_name=ue.player_file("Basic"), base_port=free_port(), no_graphics=True,
                           timeout_wait=30, side_channels=[params])
    env.params = params
    yield env
    try:
        env.close()
    except Exception:  # already closed by the wrapper under test
        pass


class _WithoutStepInfo(gym.Wrapper):
    """info without "step" (mlagents' DecisionSteps objects have no equality), for check_env."""

    def reset(self, *, seed=None, options=None):
        obs, info = self.env.reset(seed=seed, options=options)
        info.pop("step")
        return obs, info

    def step(self, action):
        *rest, info = self.env.step(action)
        info.pop("step")
        return (*rest, info)


def _checked(env):
    """check_env with its warnings; those every gym-unity-style env gives are dropped."""
    expected = ("different from the unwrapped", "infinity", "not having a spec")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    return [str(w.message) for w in caught if not any(e in str(w.message) for e in expected)]


def test_real_unity_environment_random_episode(real_basic):
    env = UnityToGymWrapper(real_basic, action_space_seed=0)
    assert isinstance(env, gym.Env)
    assert env.name == "Basic" and env.action_space == gym.spaces.Discrete(3)
    assert env.observation_space == gym.spaces.Box(-np.inf, np.inf, (20,), np.float32)
    assert env.render_mode is None and env.spec is None and env.reward_range == (-np.inf, np.inf)
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == (20,) and obs[10] == 1.0 and obs.sum() == 1.0
    assert isinstance(info["step"], DecisionSteps) and info["action_mask"].tolist() == [1, 1, 1]
    for t in range(200):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs) and type(reward) is float
        if terminated or truncated:
            break
        assert isinstance(info["step"], DecisionSteps) and not env.game_over
    assert terminated != truncated and env.game_over  # one of the two, never both
    assert isinstance(info["step"], TerminalSteps) and bool(info["step"].interrupted[0]) == truncated
    assert "action_mask" not in info  # nothing left to choose
    with pytest.raises(RuntimeError, match=r"call reset\(\) before step\(\)"):
        env.step(0)
    obs, info = env.reset()
    assert obs[10] == 1.0 and not env.game_over
    env.close()


def test_real_unity_environment_terminated_and_truncated(real_basic):
    env = UnityToGymWrapper(real_basic)
    env.reset()
    steps = [env.step(2) for _ in range(7)]  # right, right, ...: the large goal after 7 moves
    assert [s[2] for s in steps] == [False] * 6 + [True] and not any(s[3] for s in steps)
    assert sum(s[1] for s in steps) == pytest.approx(0.93, abs=1e-6)

    env.reset()
    env.step(2)
    assert env.reset()[0][10] == 1.0  # reset() resets Unity mid-episode: back at the start

    real_basic.params.set_float_parameter("max_step", 3)  # reaches Unity with the next message
    env.reset()
    steps = [env.step(0) for _ in range(3)]  # stay: only MaxStep ends it
    assert [s[3] for s in steps] == [False, False, True] and not any(s[2] for s in steps)
    env.close()


def test_real_unity_environment_action_space_seed(real_basic):
    env = UnityToGymWrapper(real_basic, action_space_seed=7)
    expected = gym.spaces.Discrete(3, seed=7)
    assert [env.action_space.sample() for _ in range(20)] == [expected.sample() for _ in range(20)]
    env.close()


def test_real_unity_environment_passes_gymnasium_checker(real_basic):
    env = UnityToGymWrapper(real_basic)
    # The one check the raw wrapper fails: same seed, same action, yet info["step"] is a new
    # DecisionSteps object each time, a Mapping whose rows hold arrays, so comparing two raises
    # (same agent ids, as Unity keeps them) rather than answering. Everything else is checked on
    # the view without that key.
    with pytest.raises(ValueError, match="truth value of an array"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env)
    assert _checked(_WithoutStepInfo(env)) == []
    env.close()


def test_close_closes_unity(real_basic):
    env = UnityToGymWrapper(real_basic)
    env.reset()
    process = real_basic._process
    env.close()
    env.close()  # twice is fine
    assert process.wait(timeout=10) is not None  # the player has exited
    with pytest.raises(RuntimeError, match="closed"):
        env.reset()
    with pytest.raises(RuntimeError, match="closed"):
        env.step(0)


# ---- test doubles: no built-in scene has a single agent with a camera, several branches, or hybrid actions ----

class OneAgentDouble(BaseEnv):
    """A test double: a BaseEnv of one behavior "Double" with the given observations and actions.

    Episodes last ``episode`` steps (``interrupted`` when ``interrupt``); images hold values across
    [0, 1] that change with time; the vector observations hold the step count. Unity's habit of
    restarting an agent under a new id in the step that ends its episode is kept.
    """

    def __init__(self, shapes=((6, 8, 3),), continuous=0, branches=(), agents=1, episode=4, interrupt=False,
                 forbidden=None):
        obs = [ObservationSpec(name=f"obs{i}", shape=tuple(s), observation_type=ObservationType.DEFAULT,
                               dimension_property=(DimensionProperty.UNSPECIFIED,) * len(s))
               for i, s in enumerate(shapes)]
        self.spec = BehaviorSpec(obs, ActionSpec(continuous, tuple(branches)))
        self.agents, self.episode, self.interrupt, self.forbidden = agents, episode, interrupt, forbidden
        self.received, self.resets, self.closed, self.next_id = [], 0, 0, 0

    @property
    def behavior_specs(self):
        return BehaviorMapping({"Double": self.spec})

    def reset(self):
        self.resets += 1
        self.t = 0
        self.ids = np.arange(self.next_id, self.next_id + self.agents)
        self.next_id += self.agents
        self.terminal_ids = np.zeros(0, dtype=np.int32)

    def step(self):
        self.t += 1
        if self.t % self.episode == 0:
            self.terminal_ids = self.ids
            self.ids = np.arange(self.next_id, self.next_id + self.agents)
            self.next_id += self.agents
        else:
            self.terminal_ids = np.zeros(0, dtype=np.int32)

    def _obs(self, n):
        out = []
        for o in self.spec.observation_specs:
            if len(o.shape) == 3:
                ramp = np.linspace(0.0, 1.0, int(np.prod(o.shape)), dtype=np.float32).reshape(o.shape)
                out.append(np.repeat(np.roll(ramp, self.t)[None], n, axis=0))
            else:
                out.append(np.full((n, *o.shape), float(self.t), dtype=np.float32))
        return out

    def get_steps(self, behavior_name):
        n, k = len(self.ids), len(self.terminal_ids)
        mask = None
        if self.spec.action_spec.discrete_size:
            mask = [np.zeros((n, b), dtype=bool) for b in self.spec.action_spec.discrete_branches]
            for branch, action in self.forbidden or ():
                mask[branch][:, action] = True
        zeros = np.zeros(n, dtype=np.int32)
        decision = DecisionSteps(self._obs(n), np.full(n, 0.1, np.float32), self.ids, mask, zeros, zeros.astype(np.float32))
        terminal = TerminalSteps(self._obs(k), np.ones(k, np.float32), np.full(k, self.interrupt), self.terminal_ids,
                                 np.zeros(k, np.int32), np.zeros(k, np.float32))
        return decision, terminal

    def set_actions(self, behavior_name, action):
        self.received.append(action)

    def set_action_for_agent(self, behavior_name, agent_id, action):
        self.received.append(action)

    def close(self):
        self.closed += 1


def test_flatten_branched_maps_every_combination_back():
    double = OneAgentDouble(shapes=((3,),), branches=(2, 3), forbidden=[(0, 1), (1, 2)])
    env = UnityToGymWrapper(double, flatten_branched=True)
    assert env.action_space == gym.spaces.Discrete(6)
    _, info = env.reset()
    # allowed: branch 0 action 0 only, branch 1 actions 0 and 1 -> combinations (0, 0) and (0, 1)
    assert info["action_mask"].tolist() == [1, 1, 0, 0, 0, 0] and info["action_mask"].dtype == np.int8
    sent = []
    for flat in range(6):
        env.step(flat)
        sent.append(tuple(double.received[-1].discrete[0]))
        assert double.received[-1].continuous.shape == (1, 0)
        if env.game_over:
            env.reset()
    assert sent == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]  # the last branch varies fastest
    env.reset()
    with pytest.raises(ValueError, match=r"expected an integer in \[0, 6\).*flatten_branched=True.*\(2, 3\)"):
        env.step(6)
    with pytest.raises(ValueError, match=r"integer in \[0, 6\)"):
        env.step(1.0)


def test_branched_actions_without_flattening_are_multidiscrete():
    double = OneAgentDouble(shapes=((3,),), branches=(2, 3))
    env = UnityToGymWrapper(double)
    assert env.action_space == gym.spaces.MultiDiscrete([2, 3])
    _, info = env.reset()
    assert info["action_mask"].tolist() == [1] * 5  # the branches one after the other
    env.step(np.array([1, 2]))
    assert double.received[-1].discrete.tolist() == [[1, 2]]
    with pytest.raises(ValueError, match=r"invalid action .*\[2, 0\].*expected integers of shape \(2,\), each below"):
        env.step([2, 0])


def test_camera_observations_float_uint8_and_all_of_them():
    shapes = ((6, 8, 3), (4, 5, 1), (2,), (3,))
    with pytest.warns(UserWarning, match="only the first camera observation is returned.*allow_multiple_obs=True"):
        env = UnityToGymWrapper(OneAgentDouble(shapes, branches=(3,)))
    assert env.observation_space == gym.spaces.Box(0.0, 1.0, (6, 8, 3), np.float32)
    obs, _ = env.reset()
    assert obs.dtype == np.float32 and obs.shape == (6, 8, 3) and obs.min() == 0.0 and obs.max() == 1.0

    with pytest.warns(UserWarning, match="only the first camera"):
        env8 = UnityToGymWrapper(OneAgentDouble(shapes, branches=(3,)), uint8_visual=True)
    assert env8.observation_space == gym.spaces.Box(0, 255, (6, 8, 3), np.uint8)
    obs8, _ = env8.reset()
    assert obs8.dtype == np.uint8 and np.array_equal(obs8, np.rint(obs * 255).astype(np.uint8))

    everything = UnityToGymWrapper(OneAgentDouble(shapes, branches=(3,)), allow_multiple_obs=True, uint8_visual=True)
    space = everything.observation_space
    assert isinstance(space, gym.spaces.Tuple) and [s.shape for s in space] == [(6, 8, 3), (4, 5, 1), (5,)]
    assert [s.dtype for s in space] == [np.uint8, np.uint8, np.float32]
    obs, _ = everything.reset()
    obs, *_ = everything.step(0)
    assert isinstance(obs, tuple) and space.contains(obs)
    assert obs[2].tolist() == [1.0] * 5  # both vector observations, concatenated, after the cameras


def test_render_is_the_latest_camera_observation():
    env = UnityToGymWrapper(OneAgentDouble(((6, 8, 3), (2,)), branches=(3,)), allow_multiple_obs=True)
    assert env.render_mode == "rgb_array" and env.metadata["render_modes"] == ["rgb_array"]
    env.reset()
    obs, *_ = env.step(1)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.shape == (6, 8, 3)
    assert np.array_equal(frame, np.rint(obs[0] * 255).astype(np.uint8)) and env.visual_obs is not None
    assert _checked(_WithoutStepInfo(env)) == []  # render checked too (render_mode is set)

    gray = UnityToGymWrapper(OneAgentDouble(((4, 5, 1),), branches=(3,)), uint8_visual=True)
    gray.reset()
    assert gray.render().shape == (4, 5, 3)

    basic = UnityToGymWrapper(InProcessEnv("Basic"))
    basic.reset()
    with pytest.warns(UserWarning, match="no camera observation.*render_mode='rgb_array'"):
        assert basic.render() is None


def test_terminated_truncated_and_rewards_on_a_double():
    double = OneAgentDouble(((2,),), continuous=2, episode=3, interrupt=True)
    env = UnityToGymWrapper(double)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    env.reset()
    results = [env.step(np.array([0.5, -2.0])) for _ in range(3)]  # beyond ±1 is passed on: Unity clips
    assert [r[1] for r in results] == pytest.approx([0.1, 0.1, 1.0])
    assert [(r[2], r[3]) for r in results] == [(False, False), (False, False), (False, True)]
    assert double.received[-1].continuous.tolist() == [[0.5, -2.0]] and double.received[-1].discrete.shape == (1, 0)
    env.reset()
    with pytest.raises(ValueError, match=r"invalid action for UnityToGymWrapper\(Double\).*finite floats of shape \(2,\)"):
        env.step([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="finite floats"):
        env.step([np.nan, 0.0])
    assert double.resets == 3  # the constructor's, and each reset()'s
    env.close()
    env.close()
    assert double.closed == 1


# ---- what is refused, and what a person reads ----

def test_refuses_what_is_not_an_opened_mlagents_environment():
    with pytest.raises(TypeError, match=r"opened environment, not a path.*UnityEnvironment\(file_name='builds/G.x86_64'\)"):
        UnityToGymWrapper("builds/G.x86_64")
    with pytest.raises(TypeError, match="already a gymnasium Env"):
        UnityToGymWrapper(gym.make("CartPole-v1"))
    with pytest.raises(TypeError, match="needs an mlagents_envs BaseEnv.*got int"):
        UnityToGymWrapper(5)


def test_refuses_several_agents_and_several_behaviors():
    with pytest.raises(UnityGymException, match=r"'GridWorld' has 9 agents.*exactly one.*unity_nb.envs.make"):
        UnityToGymWrapper(InProcessEnv("GridWorld", num_areas=1))
    with pytest.raises(ValueError, match=r"2 behaviors \(BasicRight, BasicLeft\).*takes one.*behavior=NAME"):
        UnityToGymWrapper(InProcessEnv("BasicDuo"))
    with pytest.raises(ValueError, match="'Double' has 2 agents"):
        UnityToGymWrapper(OneAgentDouble(((2,),), branches=(2,), agents=2))


def test_refuses_hybrid_actions_and_no_observations():
    with pytest.raises(UnityGymException, match=r"hybrid actions \(2 continuous and discrete branches \(3,\)\).*only continuous or only discrete"):
        UnityToGymWrapper(OneAgentDouble(((2,),), continuous=2, branches=(3,)))
    with pytest.raises(UnityGymException, match=r"no observation UnityToGymWrapper can return.*obs0 \(4, 2\)"):
        UnityToGymWrapper(OneAgentDouble(((4, 2),), branches=(3,)))


def test_refuses_wrong_typed_options_and_bad_actions():
    with pytest.raises(TypeError, match=r"uint8_visual must be True or False, got 'yes' \(str\)"):
        UnityToGymWrapper(InProcessEnv("Basic"), uint8_visual="yes")
    with pytest.raises(TypeError, match="allow_multiple_obs must be True or False, got 1"):
        UnityToGymWrapper(InProcessEnv("Basic"), False, False, 1)
    with pytest.raises(TypeError, match=r"action_space_seed must be a whole number or None, got 1.5 \(float\)"):
        UnityToGymWrapper(InProcessEnv("Basic"), action_space_seed=1.5)
    with pytest.raises(TypeError, match="action_space_seed"):
        UnityToGymWrapper(InProcessEnv("Basic"), action_space_seed=True)
    with pytest.raises(ValueError, match="action_space_seed must be >= 0, got -1"):
        UnityToGymWrapper(InProcessEnv("Basic"), action_space_seed=-1)
    with pytest.warns(UserWarning, match="uint8_visual=True has no effect.*no camera"):
        UnityToGymWrapper(InProcessEnv("Basic"), uint8_visual=True)
    with pytest.warns(UserWarning, match="flatten_branched=True has no effect.*continuous"):
        UnityToGymWrapper(OneAgentDouble(((2,),), continuous=2), flatten_branched=True)

    env = UnityToGymWrapper(InProcessEnv("Basic"))
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(0)
    env.reset()
    with pytest.raises(ValueError, match=r"invalid action for UnityToGymWrapper\(Basic\): 3 .*expected an integer in \[0, 3\)"):
        env.step(3)
    with pytest.raises(ValueError, match=r"an integer in \[0, 3\)"):
        env.step("left")
    env.step(np.int64(2))  # numpy integers, and gym-unity-style [2], are fine
    env.step([2])


def test_exported_from_the_package():
    assert ue.UnityToGymWrapper is UnityToGymWrapper and "UnityToGymWrapper" in ue.__all__
