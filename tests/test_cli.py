"""The unity-nb command, as a person runs it."""

import os
import subprocess
import sys

import pytest

UNITY_NB = [sys.executable, "-m", "unity_nb.cli"]


def run(*args, timeout=120):
    return subprocess.run([*UNITY_NB, *args], capture_output=True, text=True, timeout=timeout)


def test_help_lists_commands():
    out = run("--help")
    assert out.returncode == 0
    for command in ("scenes", "player-file", "play"):
        assert command in out.stdout


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
