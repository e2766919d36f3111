"""The layout of unity_nb.envs: light modules stay light, player files belong to their interpreter,
the protocol's framing round-trips, and the two multi-agent wrappers share one seed rule and step core."""

import os
import subprocess
import sys
import sysconfig
import uuid

import numpy as np
import pytest

from unity_nb.envs import builds, protocol


def _loaded(code: str) -> list[str]:
    heavy = ("grpc", "mlagents_envs", "ray", "torch", "PIL")
    probe = f"import sys; {code}; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_light_modules_load_no_grpc_or_mlagents():
    assert _loaded("import unity_nb.envs.protocol, unity_nb.envs.builds") == []
    assert _loaded("import unity_nb.envs, unity_nb.train, unity_nb.cli") == []


def test_protobuf_hook_is_installed_by_the_package():
    from unity_nb.envs._protobuf_compat import _OldPb2Finder

    assert any(isinstance(f, _OldPb2Finder) for f in sys.meta_path)


def test_side_channel_frames_round_trip():
    other = uuid.uuid4()
    blob = protocol.frame(protocol.STATS_CHANNEL, b"abc") + protocol.frame(other, b"") + protocol.frame(
        protocol.RENDER_CHANNEL, bytearray(b"\x00" * 300))
    assert list(protocol.split_frames(blob)) == [
        (protocol.STATS_CHANNEL, b"abc"), (other, b""), (protocol.RENDER_CHANNEL, b"\x00" * 300)]
    assert blob[:16] == protocol.STATS_CHANNEL.bytes_le and blob[16:20] == (3).to_bytes(4, "little")
    whole = len(blob) - 320  # the first two frames
    assert list(protocol.split_frames(blob[:whole] + b"\x01" * 19)) == [(protocol.STATS_CHANNEL, b"abc"), (other, b"")]
    assert list(protocol.split_frames(b"")) == []


def test_side_channel_frames_match_mlagents():
    """The client's own framing (mlagents' SideChannelManager) reads what the stand-in writes, and back."""
    from mlagents_envs.side_channel import OutgoingMessage, SideChannel
    from mlagents_envs.side_channel.side_channel_manager import SideChannelManager

    class Recorder(SideChannel):
        def __init__(self, channel_id):
            super().__init__(channel_id)
            self.got = []

        def on_message_received(self, msg):
            self.got.append(msg.read_float32())

    stats, render = Recorder(protocol.STATS_CHANNEL), Recorder(protocol.RENDER_CHANNEL)
    manager = SideChannelManager([stats, render])
    msg = OutgoingMessage()
    msg.write_float32(2.5)
    manager.process_side_channel_message(protocol.frame(protocol.STATS_CHANNEL, msg.buffer)
                                         + protocol.frame(protocol.RENDER_CHANNEL, msg.buffer))
    assert stats.got == [2.5] and render.got == [2.5]
    render.queue_message_to_send(msg)
    assert list(protocol.split_frames(manager.generate_side_channel_messages())) == [
        (protocol.RENDER_CHANNEL, bytes(msg.buffer))]


def test_interpreter_folder_naming():
    a = builds.interpreter_folder("/home/me/rl/.venv/bin/python")
    b = builds.interpreter_folder("/home/me/other/.venv/bin/python")
    assert a == builds.interpreter_folder("/home/me/rl/.venv/bin/python")
    assert a != b
    assert a.startswith("venv-") and len(a.split("-")[-1]) == 8
    assert builds.interpreter_folder("/opt/conda/envs/rl/bin/python3.11").startswith("rl-")


def test_player_files_belong_to_their_interpreter(tmp_path, monkeypatch):
    monkeypatch.setenv("UNITY_NB_CACHE", str(tmp_path / "cache"))
    mine = builds.player_file("Basic")
    assert mine == builds.player_file("basic")  # the same interpreter, the same file
    assert mine.endswith(os.sep + "Basic.x86_64") and os.access(mine, os.X_OK)
    assert os.path.dirname(os.path.dirname(mine)) == str(tmp_path / "cache" / "players")
    script = open(mine).read()

    # another interpreter (a symlink elsewhere, as a second virtualenv's python is) in a real process
    other = tmp_path / "other-env" / "bin" / "python"
    other.parent.mkdir(parents=True)
    other.symlink_to(sys.executable)
    code = (f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r}); "
            "import sys, unity_nb.envs as ue; print(sys.executable); print(ue.player_file('Basic'))")
    out = subprocess.run([str(other), "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "UNITY_NB_CACHE": str(tmp_path / "cache")})
    assert out.returncode == 0, out.stderr
    executable, theirs = out.stdout.split()
    assert executable == str(other)
    assert theirs != mine and theirs.endswith(os.sep + "Basic.x86_64")
    assert os.path.basename(os.path.dirname(theirs)).startswith("other-env-")
    assert f"exec {other} -m unity_nb.envs.player --scene Basic" in open(theirs).read()
    assert open(mine).read() == script  # not repointed
    assert builds.player_file("Basic") == mine


def test_cache_folder_follows_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("UNITY_NB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = builds.player_file("3DBall")
    assert path.startswith(str(tmp_path / "unity-nb" / "players") + os.sep) and path.endswith("3DBall.x86_64")


def test_runner_seed():
    from unity_nb.envs.agents import runner_seed

    class EnvContext(dict):  # RLlib's: a dict with the runner's indices as attributes
        worker_index, vector_index = 2, 3

    assert runner_seed(None, 7) == 7
    assert runner_seed({"seed": 7}, 7) == 7
    assert runner_seed(EnvContext(), 7) == 2010


@pytest.mark.parametrize("wrapper", ["multi_agent", "behaviors"])
def test_multi_agent_wrappers_share_the_step_core(wrapper):
    from unity_nb.envs.source import EnvSource

    if wrapper == "multi_agent":
        from unity_nb.envs.multi_agent import UnityMultiAgentEnv

        env = UnityMultiAgentEnv({"scene": "3DBall", "mode": "inprocess", "episode_horizon": 5})
    else:
        from unity_nb.envs.behaviors_env import UnityBehaviorsEnv

        env = UnityBehaviorsEnv(EnvSource("3DBall", mode="inprocess"), horizon=5)
    try:
        obs, _ = env.reset()
        zeros = {k: np.zeros(2, dtype=np.float32) for k in obs}
        with pytest.raises(ValueError, match="no action for agents .* of behavior '3DBall'"):
            env.step(dict(list(zeros.items())[:3]))
        with pytest.raises(ValueError, match=r"invalid action for 3DBall agents.*shape \(3,\)"):
            env.step({k: np.zeros(3, dtype=np.float32) for k in obs})
        for _ in range(5):
            obs, rewards, terminateds, truncateds, _ = env.step({k: np.zeros(2, dtype=np.float32) for k in env.agents})
        assert truncateds["__all__"]
    finally:
        env.close()
