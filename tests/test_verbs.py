"""One verb set, two faces: the CLI and the magics take their flags and help from unity_nb.verbs."""

import subprocess
import sys

import pytest
from IPython.core.magic_arguments import MagicArgumentParser

from unity_nb.verbs import CLI, MAGIC, VERBS

UNITY_NB = [sys.executable, "-m", "unity_nb.cli"]
EXPECTED = {"scenes", "player-file", "play", "train", "runs", "stop", "resume", "fork", "sweep", "eval", "video", "compare", "dashboard",
            "export", "deploy", "endpoints", "up", "down", "doctor", "demo", "episode"}


def _flags(parser) -> dict[str, str]:
    """Each flag (or positional) and its help text."""
    return {"/".join(a.option_strings) or a.dest: a.help for a in parser._actions if a.dest != "help"}


def test_every_verb_has_both_faces():
    from unity_nb.notebook.magics import UnityMagics

    assert set(VERBS) == EXPECTED
    magics = set(UnityMagics.magics["line"])
    for verb in VERBS.values():
        assert {CLI, MAGIC} <= set(verb.faces), verb.name
        assert verb.magic in magics, f"%{verb.magic} is missing"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cli_and_magic_help_agree(name):
    """The flags both faces share have the same help, word for word (face-only flags are few and named)."""
    verb = VERBS[name]
    cli, magic = _flags(verb.parser(CLI)), _flags(verb.parser(MAGIC, MagicArgumentParser, add_help=False))
    shared = set(cli) & set(magic)
    assert shared and all(cli[f] == magic[f] for f in shared if f != "--out")
    only = (set(cli) ^ set(magic)) - {"--eval-episodes", "--var", "--wait", "--no-dashboard"}
    assert not only, f"{name}: flags on one face only: {only}"
    # and the magic's docstring (what %magic? shows) is that parser's help
    from unity_nb.notebook.magics import UnityMagics

    doc = getattr(UnityMagics, verb.magic).__doc__
    for flag in magic:
        for option in flag.split("/"):
            if option.startswith("--"):
                assert option in doc, f"%{verb.magic}? does not show {option}"


def test_cli_help_of_each_verb():
    for name in EXPECTED:
        out = subprocess.run([*UNITY_NB, name, "--help"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and f"unity-nb {name}" in out.stdout, (name, out.stderr)


def test_kernel_side_never_imports_ray_or_torch():
    """Configure, launch, watch and the two faces: none of it loads Ray, RLlib or torch."""
    code = ("import sys, unity_nb, unity_nb.train, unity_nb.train.local, unity_nb.train.runtime, unity_nb.cli, "
            "unity_nb.verbs, unity_nb.notebook.magics, unity_nb.notebook.dashboard\n"
            "unity_nb.train.make_config('3DBall'); unity_nb.cli._parser()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "args,message",
    [
        (["eval", "../../etc"], "is not a run id"),
        (["eval", "--episodes", "0"], "argument --episodes: must be at least 1"),
        (["video", "NoSuch-20260101-000000-0000"], "no run 'NoSuch-20260101-000000-0000'"),
        (["video", "--fps", "fast"], "argument --fps: expected a whole number"),
        (["compare", "NoSuch"], "no run 'NoSuch'"),
        (["dashboard", "NoSuch"], "no run 'NoSuch'"),
        (["resume", "--steps", "-1"], "argument --steps: must be at least 1"),
        (["eval"], "no runs yet"),
        (["stop"], "no running run to stop"),
        (["envs", "--path", "/no/such/dir"], "no such folder"),
    ],
)
def test_new_cli_verbs_refuse_bad_input(args, message, tmp_path):
    out = subprocess.run([*UNITY_NB, *args, *(["--runs-dir", str(tmp_path)] if args[0] != "envs" else [])],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stdout
    assert message in out.stderr and "Traceback" not in out.stderr


# ---------------------------------------------------------------- the verbs each face gained
def _copy_of(run, tmp_path):
    """A copy of a finished run in a store of its own (the shared trained run stays as it is)."""
    import shutil

    from unity_nb.train import RunStore

    shutil.copytree(run.path, tmp_path / "runs" / run.id)
    return RunStore(tmp_path / "runs").get(run.id)


def test_cli_compare_and_dashboard_of_a_finished_run(recorded_run):
    store = ["--runs-dir", str(recorded_run.path.parent)]
    out = subprocess.run([*UNITY_NB, "compare", recorded_run.id, *store], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and recorded_run.id in out.stdout and "finished" in out.stdout, out.stderr
    out = subprocess.run([*UNITY_NB, "dashboard", *store], capture_output=True, text=True, timeout=60)  # the latest
    assert out.returncode == 0 and f"run {recorded_run.id} finished after 5982 steps" in out.stdout, out.stderr
    assert "target 0.9 reached and confirmed" in out.stdout


@pytest.mark.ray
def test_cli_eval_and_video_of_a_trained_run(trained_basic, tmp_path):
    store = ["--runs-dir", str(trained_basic.path.parent)]
    out = subprocess.run([*UNITY_NB, "eval", trained_basic.id, "--episodes", "5", *store],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "5 deterministic episodes: mean 0.930" in out.stdout and "benchmark 0.93: reached" in out.stdout
    target = tmp_path / "basic.mp4"
    out = subprocess.run([*UNITY_NB, "video", trained_basic.id, "--max-frames", "30", "--out", str(target), *store],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert target.read_bytes()[4:8] == b"ftyp" and str(target) in out.stdout


@pytest.mark.ray
def test_cli_resume_with_a_new_budget(trained_basic, tmp_path):
    run = _copy_of(trained_basic, tmp_path)
    before = run.last()["env_steps"]
    out = subprocess.run([*UNITY_NB, "resume", run.id, "--steps", str(before + 1000), "--runs-dir",
                          str(tmp_path / "runs")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert f"step budget {before + 1000}" in out.stdout and " finished after " in out.stdout
    # the step count goes on (the trained policy may confirm its target again before the new budget)
    assert run.config.steps == before + 1000 and run.last()["env_steps"] > before


@pytest.mark.kernel
@pytest.mark.ray
def test_magics_resume_play_and_player_file(trained_basic, tmp_path):
    from kernel import Kernel

    run = _copy_of(trained_basic, tmp_path)
    k = Kernel(tmp_path)
    try:
        k.ok("%load_ext unity_nb")
        k.ok(f"%config UnityMagics.runs_dir = {str(tmp_path / 'runs')!r}")
        played = k.ok("p = %unity_play Basic --episodes 2 --mode inprocess\np")
        assert "episode   2" in played.text and "Played('Basic', 2 episodes" in played.value
        assert k.ok("%unity_player_file 3DBall").value.strip("'").endswith("3DBall.x86_64")
        steps = run.last()["env_steps"] + 1000
        reply = k.ok(f"r = %unity_resume --steps {steps} --no-dashboard --wait\nr.state, r.config.steps")
        assert reply.value == f"('finished', {steps})"  # no id: the latest run, which is the copy
        assert "no runs yet" not in k.run("%unity_resume NoSuch").text
        assert "no run 'NoSuch'" in k.run("%unity_resume NoSuch").error["evalue"]
        assert "must be at least 1" in k.run("%unity_resume --steps 0").error["evalue"]
    finally:
        k.close()
