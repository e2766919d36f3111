"""The unity-nb command, as a person runs it."""

import os
import subprocess
import sys

import pytest

UNITY_NB = [sys.executable, "-m", "unity_nb.cli"]


def run(*args, timeout=120):
    return subprocess.run([*UNITY_NB, *args], capture_output=True, text=True, timeout=timeout)


def test_a_video_without_out_goes_to_a_file_named_after_the_scene(tmp_path):
    out = subprocess.run([*UNITY_NB, "video", "basic", "--max-frames", "5", "--gif"], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    made = list(tmp_path.glob("*.gif"))
    assert len(made) == 1 and made[0].name.startswith("Basic-") and made[0].name in out.stdout


def test_help_lists_commands():
    out = run("--help")
    assert out.returncode == 0
    for command in ("scenes", "player-file", "play"):
        assert command in out.stdout


def test_train_help_quotes_each_scenes_defaults_from_the_code():
    """The defaults --help quotes are the ones a run uses (GridWorld's gamma 0.9, 3DBall's normalize)."""
    import re

    from unity_nb.train.config import SCENE_DEFAULTS

    out = run("train", "--help")
    text = " ".join(out.stdout.split())
    assert out.returncode == 0
    # scenes in the order `unity-nb scenes` lists them
    assert "--gamma X discount factor, 0-1; defaults: 0.99 (Basic, 3DBall, BasicDuo, Pong, Pyramids, your build), 0.9 " \
           "(GridWorld, SignPost)" in text
    assert re.search(r"--normalize .*defaults: off \(Basic, GridWorld, BasicDuo, SignPost, Pong, Escape, Pyramids, your build\), "
                     r"on \(3DBall\)",
                     text)
    for scene, table in SCENE_DEFAULTS.items():
        assert f"{table['steps']:,} (" in text and scene in text


def test_play_basic_prints_returns():
    out = run("play", "Basic", "--episodes", "2")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("episode ") == 2 and "mean return over 2 episodes" in out.stdout


def test_player_file_prints_an_executable_path():
    out = run("player-file", "gridworld")
    assert out.returncode == 0
    path = out.stdout.strip()
    assert path.endswith("GridWorld.x86_64") and os.access(path, os.X_OK)


@pytest.mark.parametrize(
    "args,message",
    [
        (["play", "Soccer"], "no Unity build at 'Soccer'"),
        (["play", "/etc/hostname"], "not an executable program"),
        (["player-file", "Soccer"], "unknown scene 'Soccer'. Built-in scenes: Basic, 3DBall, GridWorld"),
        (["play", "--episodes", "-3"], "argument --episodes: must be at least 1"),
        (["play", "--episodes", "many"], "argument --episodes: expected a whole number"),
        (["play", "--mode", "warp"], "argument --mode: invalid choice"),
        (["fly"], "invalid choice: 'fly'"),
    ],
)
def test_bad_input(args, message):
    out = run(*args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.ray
def test_train_then_ctrl_c_stops_with_a_checkpoint(tmp_path):
    import signal
    import time

    # a suite started in the background (`cmd &`) inherits SIGINT ignored, and so would the command: Ctrl-C as a
    # terminal delivers it needs Python's own handler. It is set in the child's first line, not by preexec_fn,
    # which can deadlock the forked child before exec when the test process has threads (Ray's, gRPC's): a CI run
    # waited 240 s for a command that never started
    interruptible = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                     "runpy.run_module('unity_nb.cli', run_name='__main__', alter_sys=True)")
    proc = subprocess.Popen(
        [sys.executable, "-c", interruptible, "train", "3DBall", "--mode", "inprocess", "--steps", "10000000",
         "--target-return", "off", "--runs-dir", str(tmp_path)],  # no target: 3DBall is solved within a minute now
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )

    def fail(why: str):
        proc.kill()
        out, err = proc.communicate(timeout=60)
        pytest.fail(f"{why}; the command's exit code {proc.returncode}, its output:\n{out}\n{err}")

    def wait_for(done, what: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not done():
            if proc.poll() is not None:
                fail(f"the command ended before {what}")
            if time.monotonic() > deadline:
                fail(f"no {what} within {seconds:.0f} s")
            time.sleep(0.5)

    wait_for(lambda: any(tmp_path.glob("*/config.yaml")), "run folder", 120)
    run_dir = next(tmp_path.iterdir())
    wait_for(lambda: (run_dir / "metrics.jsonl").read_text().count('"iteration"') >= 2, "second iteration", 240)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    assert "stopping (checkpointing first)" in out and " stopped after " in out
    assert list((run_dir / "checkpoints").glob("checkpoint_*/.complete"))


def test_train_bad_flags_and_runs_listing(tmp_path):
    out = run("train", "Basic", "--lr", "fast")
    assert out.returncode == 2 and "argument --lr: expected a number, got 'fast'" in out.stderr
    out = run("train", "Basic", "--algorithm", "DQN2", "--runs-dir", str(tmp_path))
    assert out.returncode == 2 and "algorithm must be one of PPO" in out.stderr
    out = run("train", "3DBall", "--algorithm", "DQN", "--runs-dir", str(tmp_path))
    assert out.returncode == 2 and "DQN does not handle the continuous actions of 3DBall" in out.stderr
    out = run("train", "Basic", "--address", "127.0.0.1:9", "--runs-dir", str(tmp_path))
    assert out.returncode == 2 and "cannot reach a Ray cluster at 127.0.0.1:9" in out.stderr
    out = run("runs", "--runs-dir", str(tmp_path / "empty"))
    assert out.returncode == 0 and "no runs yet" in out.stdout
    out = run("stop", "Basic-20200101-000000-0000", "--runs-dir", str(tmp_path))
    assert out.returncode == 2 and "no run 'Basic-20200101-000000-0000'" in out.stderr
    out = run("resume", "nope", "--runs-dir", str(tmp_path))
    assert out.returncode == 2 and "no run 'nope'" in out.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["--target-return", "soon"], "argument --target-return: expected a number or 'off', got 'soon'"),
        (["--return-window", "0"], "return_window must be >= 1, got 0"),
        (["--confirm-episodes", "0"], "confirm_episodes must be >= 1 when a target_return is set"),
        (["--confirm", "greedy"], "argument --confirm: invalid choice: 'greedy'"),  # choices come from the setting's rule
        (["--seed", "x"], "argument --seed: expected a whole number, got 'x'"),
        (["--seed", "-5"], "seed must be >= 0, or -1 to draw one (the run records it), got -5"),
        (["--lr-schedule", "cosine"], "argument --lr-schedule: invalid choice: 'cosine'"),
        (["--time-horizon", "-5"], "time_horizon must be >= 1, got -5"),
        (["--keep-checkpoints", "0"], "keep_checkpoints must be >= 1, got 0"),
        (["--init-path", "/no/such/run"], "init_path '/no/such/run' does not exist; give a run folder"),
        (["--clip-schedule", "linear", "--algorithm", "APPO"], "clip_schedule 'linear' applies to PPO only"),
    ],
)
def test_train_bad_window_target_schedule_and_init_path(args, message, tmp_path):
    out = run("train", "Basic", "--runs-dir", str(tmp_path), *args)
    assert out.returncode == 2, out.stdout
    assert message in out.stderr and "Traceback" not in out.stderr
    assert not list(tmp_path.iterdir())  # refused before any run folder was made


def test_mlagents_yaml_refusals_reach_the_command_line(tmp_path):
    config = tmp_path / "trainer.yaml"
    config.write_text("behaviors:\n  Basic:\n    trainer_type: ppo\n    hyperparameters: {learning_rate_schedule: cosine}\n")
    out = run("train", "--config", str(config), "--runs-dir", str(tmp_path / "runs"))
    assert out.returncode == 2
    assert "behaviors.Basic.hyperparameters.learning_rate_schedule: must be 'constant' or 'linear', got 'cosine'" in out.stderr
    config.write_text("behaviors:\n  Basic:\n    reward_signals: {gail: {demo_path: x.demo}}\n")
    out = run("train", "--config", str(config), "--runs-dir", str(tmp_path / "runs"))
    assert out.returncode == 2 and "gail.demo_path" in out.stderr and "x.demo does not exist" in out.stderr
    config.write_text("behaviors:\n  Basic:\n    network_settings: {memory: {memory_size: 64}}\n")
    out = run("train", "--config", str(config), "--runs-dir", str(tmp_path / "runs"))
    assert out.returncode == 2 and "not yet supported: memory" in out.stderr
