"""Unity's demonstration files (issue 30, item 1): byte-compatible with Unity's recorder, read as its loader
reads them, recorded from any player, inspected from both faces, and every bad file refused by name.

mlagents-learn's own loader reading the kit's files needs its venv (bench/mlagents_peer.sh), which the suite
does not install: ``bench/demo_roundtrip.py`` runs that check."""

import subprocess
import sys

import numpy as np
import pytest
from google.protobuf.internal.encoder import _VarintBytes
from mlagents_envs.communicator_objects.agent_action_pb2 import AgentActionProto
from mlagents_envs.communicator_objects.agent_info_action_pair_pb2 import AgentInfoActionPairProto
from mlagents_envs.communicator_objects.agent_info_pb2 import AgentInfoProto
from mlagents_envs.communicator_objects.brain_parameters_pb2 import ActionSpecProto, BrainParametersProto
from mlagents_envs.communicator_objects.demonstration_meta_pb2 import DemonstrationMetaProto
from mlagents_envs.communicator_objects.observation_pb2 import ObservationProto

import unity_nb.envs  # noqa: F401  (the protobuf hook)
from unity_nb.envs.demo import DemoWriter, load_demo
from unity_nb.envs.inprocess import InProcessEnv
from unity_nb.envs.scenes.pong import Pong
from unity_nb.errors import BadValue, MissingFile, NotSupported
from unity_nb.evaluate.demos import record_demo

UNITY_NB = [sys.executable, "-m", "unity_nb.cli"]


def _basic_spec():
    env = InProcessEnv("Basic", seed=0)
    env.reset()
    return env.behavior_specs["Basic"]


# Three decisions of one episode and the first of the next, as (observation, reward, done, action).
STEPS = [(np.eye(20, dtype=np.float32)[10], 0.0, False, 2), (np.eye(20, dtype=np.float32)[11], -0.01, False, 2),
         (np.eye(20, dtype=np.float32)[12], 0.99, True, 2), (np.eye(20, dtype=np.float32)[10], 0.0, False, 1)]


def _by_hand(path, name="Basic"):
    """The file Unity's DemonstrationWriter makes for STEPS, assembled here from its steps (not by the kit's
    writer): the metadata with only the name at 0, the brain's parameters at 33 (is_training false), a record
    per step, then the final metadata with one more episode than ended, raw at the end and delimited at 0."""
    def delimited(message):
        return _VarintBytes(message.ByteSize()) + message.SerializeToString()

    first = DemonstrationMetaProto(api_version=1, demonstration_name=name)
    brain = BrainParametersProto(brain_name="Basic", is_training=False,
                                 action_spec=ActionSpecProto(num_discrete_actions=1, discrete_branch_sizes=[3]))
    body = bytearray(delimited(first))
    body += b"\0" * (33 - len(body))
    body += delimited(brain)
    total = 0.0
    for obs, reward, done, action in STEPS:
        info = AgentInfoProto(reward=reward, done=done, id=0)
        info.observations.append(ObservationProto(shape=[20], name="VectorSensor_size20",
                                                  float_data=ObservationProto.FloatData(data=obs.tolist())))
        body += delimited(AgentInfoActionPairProto(agent_info=info, action_info=AgentActionProto(discrete_actions=[action])))
        total += np.float32(reward)
    final = DemonstrationMetaProto(api_version=1, demonstration_name=name, number_steps=4, number_episodes=2,
                                   mean_reward=total / 2)
    body += final.SerializeToString()
    head = delimited(final)
    body[:len(head)] = head
    path.write_bytes(bytes(body))
    return path


def _write(path, spec):
    with DemoWriter(path, "Basic", spec) as writer:
        for obs, reward, done, action in STEPS:
            writer.record([obs], reward, done, discrete=[action])
    return path


def test_the_kits_file_is_byte_for_byte_unitys(tmp_path):
    ours = _write(tmp_path / "Basic.demo", _basic_spec())
    theirs = _by_hand(tmp_path / "hand.demo")
    assert ours.read_bytes() == theirs.read_bytes()


def test_reading_pairs_steps_as_unitys_loader(tmp_path):
    demo = load_demo(_by_hand(tmp_path / "hand.demo"))
    assert (demo.behavior, demo.number_steps, demo.number_episodes, demo.api_version) == ("Basic", 4, 2, 1)
    assert demo.mean_reward == pytest.approx(0.49)
    assert demo.differences(_basic_spec(), "Basic") == []
    first, second = demo.episodes()
    # each observation with the next record's reward and done; the terminal observation starts the next piece,
    # and the last record is dropped
    assert first.steps == 2 and first.done and first.rewards.tolist() == pytest.approx([-0.01, 0.99])
    assert np.argmax(first.observations[0], axis=1).tolist() == [10, 11] and first.discrete[:, 0].tolist() == [2, 2]
    assert second.steps == 1 and not second.done and np.argmax(second.observations[0][0]) == 12
    assert "as a learner reads it: 1 ended, mean return 0.980" in repr(demo)


def test_camera_frames_go_as_png_and_come_back(tmp_path):
    env = InProcessEnv("GridWorld", seed=0)
    env.reset()
    behavior, = env.behavior_specs
    spec = env.behavior_specs[behavior]
    decision, _ = env.get_steps(behavior)
    with DemoWriter(tmp_path / "grid.demo", behavior, spec) as writer:
        for reward, done in ((0.0, False), (1.0, True)):
            writer.record([o[0] for o in decision.obs], reward, done, discrete=[1])
    demo = load_demo(tmp_path / "grid.demo")
    seen = demo.episodes()[0].observations
    for recorded, sent in zip(seen, decision.obs):
        assert np.allclose(recorded[0], sent[0], atol=1 / 255 + 1e-6)
    assert demo.records[0].agent_info.observations[0].compression_type == 1  # PNG, as a Unity camera sensor


def test_a_heuristic_plays_and_its_play_is_recorded(tmp_path):
    demo = record_demo(Pong.heuristic, "Pong", tmp_path / "pong.demo", episodes=4)
    ended = [e for e in demo.episodes() if e.done]
    assert demo.behavior == "Pong?team=0" and len(ended) == 4 and demo.number_episodes == 5
    assert all(set(e.discrete[:, 0]) <= {0, 1, 2} for e in ended)
    # a folder is one dataset
    record_demo(Pong.heuristic, "Pong", tmp_path / "pong2.demo", episodes=2, seed=1)
    both = load_demo(tmp_path)
    assert both.number_steps == demo.number_steps + load_demo(tmp_path / "pong2.demo").number_steps
    with pytest.raises(BadValue, match="episodes must be a whole number >= 1"):
        record_demo(Pong.heuristic, "Pong", tmp_path / "x.demo", episodes=0)
    with pytest.raises(BadValue, match="player must be a trained Policy or a function"):
        record_demo("left", "Pong", tmp_path / "x.demo")


def test_bad_files_are_refused_saying_what_is_wrong(tmp_path):
    good = _by_hand(tmp_path / "hand.demo").read_bytes()
    with pytest.raises(MissingFile, match="does not exist"):
        load_demo(tmp_path / "nope.demo")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(BadValue, match="is not a .demo file"):
        load_demo(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingFile, match="has no .demo files"):
        load_demo(tmp_path / "empty")
    (tmp_path / "cut.demo").write_bytes(good[:-60])
    with pytest.raises(BadValue, match="cut.demo is truncated"):
        load_demo(tmp_path / "cut.demo")
    newer = DemonstrationMetaProto(api_version=7, demonstration_name="x")
    (tmp_path / "v7.demo").write_bytes(_VarintBytes(newer.ByteSize()) + newer.SerializeToString() + good[33:])
    with pytest.raises(NotSupported, match="format version 7; Unity's loader \\(and the kit\\) read versions 0, 1"):
        load_demo(tmp_path / "v7.demo")
    (tmp_path / "junk.demo").write_bytes(b"\xff" * 40)
    with pytest.raises(BadValue, match="junk.demo"):
        load_demo(tmp_path / "junk.demo")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    _by_hand(mixed / "a.demo")
    record_demo(Pong.heuristic, "Pong", mixed / "b.demo", episodes=1)
    with pytest.raises(BadValue, match="records behavior 'Pong\\?team=0', a.demo 'Basic': a folder is one behavior"):
        load_demo(mixed)
    with pytest.raises(BadValue, match="at most 12 bytes"):
        DemoWriter(tmp_path / "n.demo", "Basic", _basic_spec(), name="a-very-long-demo-name")
    with pytest.raises(MissingFile, match="does not exist"):
        DemoWriter(tmp_path / "no" / "n.demo", "Basic", _basic_spec())
    with pytest.raises(BadValue, match="ends in .demo"):
        DemoWriter(tmp_path / "n.bin", "Basic", _basic_spec())


def test_inspect_from_the_command_line(tmp_path):
    path = _by_hand(tmp_path / "hand.demo")
    out = subprocess.run([*UNITY_NB, "demo", "inspect", str(path), "--scene", "Basic"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "metadata: 4 steps, 2 episodes, mean reward 0.490" in out.stdout and "fits Basic" in out.stdout
    out = subprocess.run([*UNITY_NB, "demo", "inspect", str(path), "--scene", "3DBall"], capture_output=True, text=True)
    assert out.returncode == 1
    assert "differs from 3DBall: observation 0 (VectorSensor_size20): shape (20,) in the file, (8,) in the scene" in out.stdout
    assert "discrete branches: (3,) in the file, () in the scene" in out.stdout
    out = subprocess.run([*UNITY_NB, "demo", "inspect", str(tmp_path / "none.demo")], capture_output=True, text=True)
    assert out.returncode == 2 and "none.demo does not exist" in out.stderr
    out = subprocess.run([*UNITY_NB, "demo", "inspect", str(path), "--episodes", "3"], capture_output=True, text=True)
    assert out.returncode == 2 and "--episodes: only `demo record` takes them" in out.stderr
    out = subprocess.run([*UNITY_NB, "demo", "record", str(tmp_path / "pong.demo"), "--scene", "Pong", "--scripted",
                          "--episodes", "2"], capture_output=True, text=True)
    assert out.returncode == 0 and "behavior 'Pong?team=0'" in out.stdout, out.stderr
    out = subprocess.run([*UNITY_NB, "demo", "record", str(tmp_path / "b.demo"), "--scene", "Basic", "--scripted"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "--scripted needs --scene, a built-in scene with a scripted player" in out.stderr
    out = subprocess.run([*UNITY_NB, "demo", "show", str(path)], capture_output=True, text=True)
    assert out.returncode == 2 and "invalid choice: 'show'" in out.stderr


@pytest.mark.ray
def test_a_trained_run_records_its_play(trained_basic, tmp_path):
    demo = trained_basic.record_demo(tmp_path / "basic.demo", episodes=5)
    ended = [e for e in demo.episodes() if e.done]
    assert len(ended) == 5 and all(e.total_reward == pytest.approx(0.93, abs=1e-5) for e in ended)  # its greedy play
