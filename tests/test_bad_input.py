"""Every bad input gets a clear error, fast, and leaves no process behind."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import unity_nb.envs as ue
from unity_nb.envs import UnityBuildError, UnityConnectError, UnityPlayerDied, UnknownSceneError


def _children():
    """Live (non-zombie) child processes of this test process."""
    out = subprocess.run(["ps", "-o", "pid=,stat=,comm=", "--ppid", str(os.getpid())], capture_output=True, text=True).stdout
    return [line.split() for line in out.splitlines() if line.strip() and line.split()[2] != "ps"]


def _script(path, body, mode=0o755):
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(mode)
    return str(path)


def test_unknown_scene_lists_known_ones():
    with pytest.raises(UnknownSceneError, match="Basic, 3DBall, GridWorld"):
        ue.player_file("Soccer")
    with pytest.raises(UnityBuildError, match="does not exist.*built-in scene: Basic, 3DBall, GridWorld"):
        ue.make("Soccer")


@pytest.mark.parametrize("bad", ["", "   ", None, 42, ["Basic"]])
def test_empty_or_wrong_typed_target(bad):
    with pytest.raises(ValueError, match="scene_or_path must be"):
        ue.make(bad)


def test_missing_file(tmp_path):
    with pytest.raises(UnityBuildError, match="does not exist"):
        ue.make(str(tmp_path / "NoSuchGame.x86_64"))


def test_not_executable(tmp_path):
    path = _script(tmp_path / "Game.x86_64", "exit 0\n", mode=0o644)
    with pytest.raises(UnityBuildError, match=r"not executable.*chmod \+x"):
        ue.make(path)


def test_not_a_program(tmp_path):
    path = tmp_path / "Game.x86_64"
    path.write_text("just text")
    path.chmod(0o755)
    with pytest.raises(UnityBuildError, match="not an executable program"):
        ue.make(str(path))


def test_windows_and_macos_builds(tmp_path):
    exe = tmp_path / "Game.exe"
    exe.write_bytes(b"MZ\x90\x00" + b"\x00" * 60)
    with pytest.raises(UnityBuildError, match="Windows"):
        ue.make(str(exe))
    folder = tmp_path / "WinBuild"
    folder.mkdir()
    (folder / "Game.exe").write_bytes(b"MZ")
    with pytest.raises(UnityBuildError, match="Windows build"):
        ue.make(str(folder))
    app = tmp_path / "Game.app"
    (app / "Contents" / "MacOS").mkdir(parents=True)
    with pytest.raises(UnityBuildError, match="macOS"):
        ue.make(str(app))
    macho = tmp_path / "Game"
    macho.write_bytes(b"\xcf\xfa\xed\xfe" + b"\x00" * 40)
    macho.chmod(0o755)
    with pytest.raises(UnityBuildError, match="macOS executable"):
        ue.make(str(macho))


def test_linux_build_for_another_processor(tmp_path):
    elf = bytearray(b"\x7fELF" + b"\x02\x01\x01" + b"\x00" * 11)
    other = 183 if os.uname().machine == "x86_64" else 62
    elf += other.to_bytes(2, "little") + b"\x00" * 44
    path = tmp_path / "Game.x86_64"
    path.write_bytes(bytes(elf))
    path.chmod(0o755)
    with pytest.raises(UnityBuildError, match="another processor"):
        ue.make(str(path))


def test_build_folder_is_resolved(tmp_path):
    folder = tmp_path / "MyBuild"
    folder.mkdir()
    os.symlink(ue.player_file("Basic"), folder / "MyGame.x86_64")
    env = ue.make(str(folder))
    try:
        assert env.reset()[0].shape == (20,)
    finally:
        env.close()


def test_program_that_never_connects_times_out_quickly(tmp_path):
    path = _script(tmp_path / "Game.x86_64", "sleep 60\n")
    started = time.monotonic()
    with pytest.raises(UnityConnectError, match=r"did not connect.*within 2 s.*com\.unity\.ml-agents.*connect_timeout"):
        ue.make(path, connect_timeout=2)
    assert time.monotonic() - started < 15
    time.sleep(0.2)
    assert not [c for c in _children() if "Z" not in c[1]], "the program was left running"


def test_program_that_exits_at_once_reports_its_code(tmp_path):
    path = _script(tmp_path / "Game.x86_64", 'for a; do case "$prev" in -logFile) echo "Fatal: no GPU" > "$a";; esac; prev=$a; done\nexit 3\n')
    with pytest.raises(UnityConnectError, match=r"exited before connecting.*return code 3[\s\S]*Fatal: no GPU"):
        ue.make(path, connect_timeout=20)


def test_bad_numbers():
    with pytest.raises(ValueError, match="num_areas"):
        ue.make("Basic", num_areas=0)
    with pytest.raises(ValueError, match="num_areas"):
        ue.make("Basic", num_areas="2")
    with pytest.raises(ValueError, match="seed must be an integer"):
        ue.make("Basic", seed="x")
    with pytest.raises(ValueError, match="connect_timeout"):
        ue.make("Basic", connect_timeout=-1)
    with pytest.raises(ValueError, match="mode must be one of"):
        ue.make("Basic", mode="fast")
    with pytest.raises(ValueError, match="inprocess.*built-in scenes only"):
        ue.make("/bin/true", mode="inprocess")
    with pytest.raises(ValueError, match="render_mode"):
        ue.make("Basic", mode="inprocess", render_mode="human")


def test_bad_scene_parameters():
    with pytest.raises(KeyError, match="3DBall has no parameter 'masss'; its parameters: gravity, mass, max_step, scale"):
        ue.make("3DBall", params={"masss": 2})
    with pytest.raises(ValueError, match="'mass' must be > 0"):
        ue.make("3DBall", mode="inprocess", params={"mass": -1})
    with pytest.raises(ValueError, match="must be a number"):
        ue.make("3DBall", mode="inprocess", params={"mass": "heavy"})
    with pytest.raises(ValueError, match="finite"):
        ue.make("3DBall", mode="inprocess", params={"mass": float("nan")})
    env = ue.make("Basic", mode="inprocess")
    with pytest.raises(ValueError, match="whole position in 0..19"):
        env.set_param("large_goal", 25)
    env.close()


def test_wrong_actions_are_explained():
    env = ue.make("Basic", mode="inprocess")
    env.reset()
    for bad in (3, -1, 1.5, [1, 2], "left", None):
        with pytest.raises(ValueError, match=r"invalid action for Basic.*expected an integer in \[0, 3\)"):
            env.step(bad)
    env.close()
    vec = ue.make("3DBall", mode="inprocess")
    vec.reset()
    with pytest.raises(ValueError, match=r"expected one action per agent: 12 actions"):
        vec.step(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"invalid action for 3DBall.*shape \(2,\)"):
        vec.step(np.zeros((12, 3)))
    with pytest.raises(ValueError, match="finite"):
        vec.step(np.full((12, 2), np.nan))
    vec.close()
    ma = ue.make_multi_agent("3DBall", mode="inprocess")
    obs, _ = ma.reset()
    partial = {k: np.zeros(2, dtype=np.float32) for k in list(obs)[:3]}
    with pytest.raises(ValueError, match="no action for agents"):
        ma.step(partial)
    ma.close()
    with pytest.raises(ValueError, match="episode_horizon"):
        ue.make_multi_agent("Basic", mode="inprocess", episode_horizon=0)


def test_two_environments_at_once():
    envs, errors = [], []

    def open_one(scene):
        try:
            envs.append(ue.make(scene))
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=open_one, args=(s,)) for s in ("Basic", "3DBall", "Basic")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors
        assert len(envs) == 3
        ports = {e.source.connection.env._port for e in envs}
        assert len(ports) == 3
        for env in envs:
            env.reset()
            env.step(env.action_space.sample())
    finally:
        for env in envs:
            env.close()


def test_player_killed_mid_episode():
    env = ue.make("3DBall")
    env.reset()
    env.step(np.zeros((12, 2), dtype=np.float32))
    process = env.source.connection.process
    process.kill()
    started = time.monotonic()
    with pytest.raises(UnityPlayerDied, match=r"3DBall\.x86_64 exited with code -9 during step\(\)"):
        env.step(np.zeros((12, 2), dtype=np.float32))
    assert time.monotonic() - started < 5
    assert process.poll() is not None
    assert str(process.pid) not in [c[0] for c in _children()], "dead player left as a zombie"
    env.close()  # closing again is harmless


def test_player_exits_when_python_dies(tmp_path):
    code = textwrap.dedent(
        """
        import os, sys, time
        import unity_nb.envs as ue
        env = ue.make("Basic")
        env.reset()
        print(env.source.connection.process.pid, flush=True)
        time.sleep(600)
        """
    )
    trainer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        player_pid = int(trainer.stdout.readline())
        os.kill(trainer.pid, signal.SIGKILL)
        trainer.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(player_pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(player_pid, signal.SIGKILL)
            pytest.fail("the player outlived the Python process that launched it")
    finally:
        if trainer.poll() is None:
            trainer.kill()


def test_editor_not_running_fails_with_instructions():
    with pytest.raises(UnityConnectError, match="Unity Editor did not connect on port 5004.*press Play"):
        ue.make("editor", connect_timeout=1)


def test_step_after_close():
    env = ue.make("Basic", mode="inprocess")
    env.reset()
    env.close()
    with pytest.raises(RuntimeError, match="closed"):
        env.step(0)


def test_script_that_never_closes_its_env_still_exits():
    code = textwrap.dedent(
        """
        import unity_nb.envs as ue
        env = ue.make("Basic")
        env.reset()
        env.step(1)
        print(env.source.connection.process.pid, flush=True)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    player = int(out.stdout.split()[0])
    time.sleep(1)
    with pytest.raises(ProcessLookupError):
        os.kill(player, 0)
