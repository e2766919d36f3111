"""One verb set, two faces: the CLI and the magics take their flags and help from unity_nb.verbs."""

import subprocess
import sys

import pytest
from IPython.core.magic_arguments import MagicArgumentParser

from unity_nb.verbs import CLI, MAGIC, VERBS

UNITY_NB = [sys.executable, "-m", "unity_nb.cli"]
EXPECTED = {"scenes", "player-file", "play", "train", "runs", "stop", "resume", "eval", "video", "compare", "dashboard"}


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
