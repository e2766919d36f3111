"""The real mlagents-envs client, on the protobuf this project installs, drives the stand-in."""

import os
import subprocess
import sys
import uuid

import google.protobuf
import numpy as np
import pytest
from google.protobuf.internal import api_implementation

from unity_nb.envs import player_file


def test_protobuf_is_modern_and_fast():
    assert int(google.protobuf.__version__.split(".")[0]) >= 6
    assert api_implementation.Type() == "upb"
    assert "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION" not in os.environ


def test_plain_mlagents_import_fails_without_the_hook():
    # Proves the hook is what makes it work: a bare interpreter cannot import the client.
    code = "import mlagents_envs.environment"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "Descriptors cannot be created directly" in result.stderr


def test_full_episode_through_plain_unity_environment():
    """The library's own UnityEnvironment class, unmodified, launches the player file."""
    from mlagents_envs.base_env import ActionTuple
    from mlagents_envs.environment import UnityEnvironment

    from unity_nb.processes import free_port

    env = UnityEnvironment(file_name=player_file("Basic"), base_port=free_port(), no_graphics=True, timeout_wait=30)
    try:
        env.reset()
        (name,) = env.behavior_specs
        total, done = 0.0, False
        while not done:
            env.set_actions(name, ActionTuple(discrete=np.array([[2]], dtype=np.int32)))
            env.step()
            decision, terminal = env.get_steps(name)
            if len(terminal):
                total += float(terminal.reward[0])
                done = True
            else:
                total += float(decision.reward[0])
        assert total == pytest.approx(0.93, abs=1e-6)
    finally:
        env.close()


def test_basic_specs_and_optimal_return(unity_env):
    from mlagents_envs.base_env import ActionTuple

    conn = unity_env("Basic")
    env = conn.env
    env.reset()
    spec = env.behavior_specs["Basic"]
    assert [o.shape for o in spec.observation_specs] == [(20,)]
    assert spec.action_spec.continuous_size == 0 and spec.action_spec.discrete_branches == (3,)
    returns = []
    for _ in range(3):  # three episodes back to back (Unity restarts the agent itself)
        total = 0.0
        while True:
            env.set_actions("Basic", ActionTuple(discrete=np.array([[2]], dtype=np.int32)))
            env.step()
            decision, terminal = env.get_steps("Basic")
            if len(terminal):
                total += float(terminal.reward[0])
                assert not terminal.interrupted[0]
                assert len(decision) == 1 and decision.agent_id[0] == terminal.agent_id[0]  # one id for life, as in Unity
                break
            total += float(decision.reward[0])
        returns.append(total)
    assert returns == pytest.approx([0.93] * 3, abs=1e-6)


def test_3dball_twelve_agents_continuous(unity_env):
    from mlagents_envs.base_env import ActionTuple

    env = unity_env("3DBall").env
    env.reset()
    spec = env.behavior_specs["3DBall"]
    assert [o.shape for o in spec.observation_specs] == [(8,)]
    assert spec.action_spec.continuous_size == 2 and spec.action_spec.discrete_size == 0
    decision, terminal = env.get_steps("3DBall")
    assert len(decision) == 12 and len(terminal) == 0
    assert len(set(decision.agent_id.tolist())) == 12
    env.set_actions("3DBall", ActionTuple(continuous=np.zeros((12, 2), dtype=np.float32)))
    env.step()
    decision, _ = env.get_steps("3DBall")
    assert decision.reward == pytest.approx(np.full(12, 0.1))


def test_3dball_num_areas_multiplies_agents(unity_env):
    env = unity_env("3DBall", num_areas=3).env
    env.reset()
    assert len(env.get_steps("3DBall")[0]) == 36


def test_gridworld_png_observations_and_mask(unity_env):
    from mlagents_envs.base_env import ActionTuple

    env = unity_env("GridWorld").env
    env.reset()
    spec = env.behavior_specs["GridWorld"]
    assert [o.shape for o in spec.observation_specs] == [(84, 64, 3), (2,)]
    assert spec.action_spec.discrete_branches == (5,)
    decision, _ = env.get_steps("GridWorld")
    assert len(decision) == 9
    image = decision.obs[0]
    assert image.shape == (9, 84, 64, 3) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0 and len(np.unique(image)) > 2
    assert decision.obs[1].sum(axis=1) == pytest.approx(np.ones(9))  # one-hot goal signal
    env.set_actions("GridWorld", ActionTuple(discrete=np.zeros((9, 1), dtype=np.int32)))  # everyone stays
    env.step()
    decision, _ = env.get_steps("GridWorld")
    mask = decision.action_mask[0]
    assert mask.shape == (9, 5)
    assert not mask[:, 0].any()  # "stay" is always allowed
    assert mask.any()  # some agent stands at an edge (exact positions: test_gridworld_mask_matches_position
    # and the in-process comparison in test_wrappers)


def test_gridworld_mask_matches_position():
    """The mask forbids exactly the moves that leave the grid (checked against the scene state)."""
    from unity_nb.envs.scenes import GridWorld

    scene = GridWorld(seed=3)
    batch = scene.reset()["GridWorld"]
    size = int(scene.params["gridSize"])
    for i in range(scene.n):
        x, y = scene.agent[i]
        expected = [False, y == size - 1, y == 0, x == 0, x == size - 1]
        assert batch.action_mask[i].tolist() == expected


def test_side_channels_parameters_stats_and_engine(unity_env, tmp_path):
    """Environment parameters change the scene; episode stats come back; the log is written."""
    from mlagents_envs.base_env import ActionTuple

    conn = unity_env("Basic", params={"large_goal": 12}, log_folder=str(tmp_path), time_scale=5.0)
    env = conn.env
    env.reset()
    total, steps = 0.0, 0
    while True:
        env.set_actions("Basic", ActionTuple(discrete=np.array([[2]], dtype=np.int32)))
        env.step()
        steps += 1
        decision, terminal = env.get_steps("Basic")
        if len(terminal):
            total += float(terminal.reward[0])
            break
        total += float(decision.reward[0])
    assert steps == 2 and total == pytest.approx(0.98, abs=1e-6)  # goal moved from 17 to 12
    env.step()  # stats of the finished episode travel with the next output
    stats = conn.stats.get_and_reset_stats()
    assert stats["Basic/Episode Return"][0][0] == pytest.approx(0.98, abs=1e-6)
    log = (tmp_path / "Player-0.log").read_text()
    assert "large_goal = 12.0" in log and "time_scale" in log


def test_sampler_parameters_randomise_each_episode(unity_env):
    from mlagents_envs.base_env import ActionTuple

    conn = unity_env("3DBall")
    conn.params.set_uniform_sampler_parameters("scale", 0.5, 1.5, seed=7)
    env = conn.env
    env.reset()
    env.set_actions("3DBall", ActionTuple(continuous=np.ones((12, 2), dtype=np.float32)))
    for _ in range(40):  # tilting hard: balls fall, new episodes start with sampled scales
        env.step()
    assert conn.stats.get_and_reset_stats()["3DBall/Episode Return"]


def test_unknown_side_channel_is_ignored(unity_env):
    from mlagents_envs.side_channel import OutgoingMessage, SideChannel

    class Custom(SideChannel):
        def on_message_received(self, msg):
            pass

    conn = unity_env("Basic")
    channel = Custom(uuid.uuid4())
    conn.env._side_channel_manager._side_channels_dict[channel.channel_id] = channel
    msg = OutgoingMessage()
    msg.write_string("hello")
    channel.queue_message_to_send(msg)
    conn.env.reset()
    conn.env.step()
    assert len(conn.env.get_steps("Basic")[0]) == 1


def test_scene_with_two_behaviors(unity_env):
    """BasicDuo: two behaviors with their own brain parameters and agents, as Unity sends them."""
    from mlagents_envs.base_env import ActionTuple

    env = unity_env("BasicDuo", num_areas=2).env
    env.reset()
    assert list(env.behavior_specs) == ["BasicRight", "BasicLeft"]
    totals = {}
    for name in ("BasicRight", "BasicLeft"):
        assert len(env.get_steps(name)[0]) == 2
    for _ in range(7):  # each behavior walks to its own large goal
        env.set_actions("BasicRight", ActionTuple(discrete=np.full((2, 1), 2, dtype=np.int32)))
        env.set_actions("BasicLeft", ActionTuple(discrete=np.full((2, 1), 1, dtype=np.int32)))
        env.step()
        for name in ("BasicRight", "BasicLeft"):
            decision, terminal = env.get_steps(name)
            totals[name] = totals.get(name, 0.0) + float((terminal.reward if len(terminal) else decision.reward).sum())
    assert totals == pytest.approx({"BasicRight": 1.86, "BasicLeft": 1.86}, abs=1e-5)  # 2 agents x 0.93


def test_camera_png_decodes_to_the_exact_pixels():
    """The player's own PNG writer: mlagents-envs' decoder (Pillow) gives back every byte value and size exactly."""
    from mlagents_envs.rpc_utils import process_pixels

    from unity_nb.envs.player import encode_png

    rng = np.random.default_rng(0)
    for shape in [(84, 64, 3), (40, 40, 3), (1, 1, 3), (7, 13, 3)]:
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        data = encode_png(image)
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert np.array_equal(process_pixels(data, 3, []), image.astype(np.float32) / 255.0)
    strided = rng.integers(0, 256, (4, 84, 128, 3), dtype=np.uint8)[2, :, ::2]  # a view, not contiguous
    assert np.array_equal(process_pixels(encode_png(strided), 3, []), strided.astype(np.float32) / 255.0)
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((8, 8, 3), dtype=np.float32))


def test_camera_frames_reach_the_client_pixel_for_pixel(unity_env):
    """Through the player and the real client (PNG, compression_type PNG), GridWorld's camera is the
    scene's own image exactly: the same float32 values as in-process (uint8 / 255), every step."""
    from mlagents_envs.base_env import ActionTuple
    from mlagents_envs.communicator_objects.observation_pb2 import PNG

    from unity_nb.envs.inprocess import InProcessEnv

    env = unity_env("GridWorld", seed=4, num_areas=2).env
    local = InProcessEnv("GridWorld", seed=4, num_areas=2)
    env.reset()
    local.reset()
    rng = np.random.default_rng(1)
    compared = 0
    for _ in range(30):
        for remote, local_steps in zip(env.get_steps("GridWorld"), local.get_steps("GridWorld")):
            assert np.array_equal(remote.obs[0], local_steps.obs[0])
            compared += len(remote)
        scene_images = local.scene._last.observations[0]  # uint8, terminal rows first, as sent
        decision, terminal = env.get_steps("GridWorld")
        sent = np.concatenate([terminal.obs[0], decision.obs[0]])
        assert np.array_equal(np.rint(sent * 255).astype(np.uint8), scene_images)
        actions = ActionTuple(discrete=rng.integers(0, 5, (len(decision), 1)).astype(np.int32))
        env.set_actions("GridWorld", actions)
        local.set_actions("GridWorld", actions)
        env.step()
        local.step()
    assert compared >= 30 * 18
    # on the wire, as Unity's camera sensor sends it: PNG bytes, compression_type PNG, no floats
    from mlagents_envs.communicator_objects.unity_rl_output_pb2 import UnityRLOutputProto

    from unity_nb.envs.player import agent_infos

    out = UnityRLOutputProto()
    agent_infos(local.scene.behavior, local.scene._last, out.agentInfos["GridWorld"].value)
    camera = out.agentInfos["GridWorld"].value[0].observations[0]
    assert camera.compression_type == PNG and list(camera.shape) == [84, 64, 3] and not camera.float_data.data
