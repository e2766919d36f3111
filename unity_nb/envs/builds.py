"""What can be launched as a Unity build: checks of a user's build, and built-in scenes' player files.

Light on purpose (no gRPC, no mlagents_envs): ``import unity_nb.envs`` and the
kernel side use these before anything is launched.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import stat
import sys
from pathlib import Path

from .errors import UnityBuildError
from .scenes import SCENES, scene_class

EDITOR = "editor"  # the target that means "the Unity Editor, press Play"
# Folders the scene listing does not look into for Unity builds
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "runs", "__pycache__", ".ipynb_checkpoints"}
_ELF_MACHINES = {"x86_64": 62, "aarch64": 183, "arm64": 183}


def _cache_dir() -> Path:
    root = os.environ.get("UNITY_NB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "unity-nb"
    )
    return Path(root)


def interpreter_folder(executable: str) -> str:
    """The player-file folder of one Python interpreter: ``<short name>-<8 hex of its path>``.

    A player file runs the interpreter that wrote it, so each interpreter (each
    virtualenv) has its own folder and never repoints another's players. The short
    name is the environment's folder (``/home/me/rl/.venv/bin/python`` -> ``venv``),
    for people reading the path; the hash keeps two environments of that name apart.
    """
    path = Path(os.path.abspath(executable))
    home = path.parent.parent if path.parent.name in ("bin", "Scripts") else path.parent
    short = re.sub(r"[^A-Za-z0-9._-]+", "-", home.name).strip(".-") or "python"
    digest = hashlib.sha256(os.fsencode(str(path))).hexdigest()[:8]
    return f"{short}-{digest}"


def player_file(scene: str) -> str:
    """Path of an executable that runs built-in ``scene`` like a Unity Linux build.

    Hand it to anything that launches Unity builds: ``UnityEnvironment(file_name=path)``,
    RLlib's or TorchRL's Unity wrappers, or ``unity_nb.envs.make(path)``. It runs this
    Python interpreter, and lives in a folder of its own
    (``<cache>/players/<interpreter>/<Scene>.x86_64``).
    """
    cls = scene_class(scene)
    folder = _cache_dir() / "players" / interpreter_folder(sys.executable)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{cls.name}.x86_64"
    # exec keeps one process: what the client launches (and may kill) is the player itself
    script = (
        "#!/bin/sh\n"
        f"# unity-nb stand-in for a Unity Linux build of the {cls.name} scene\n"
        f"exec {shlex.quote(sys.executable)} -m unity_nb.envs.player --scene {shlex.quote(cls.name)} \"$@\"\n"
    )
    if not path.exists() or path.read_text() != script:
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(script)
        tmp.chmod(0o755)
        os.replace(tmp, path)  # atomic: concurrent callers never see half a file
    return str(path)


def check_build(path: str | os.PathLike) -> str:
    """Return the executable of a Linux Unity build at ``path``, or raise UnityBuildError.

    ``path`` may be the executable, its name without ``.x86_64``, or the build folder.
    """
    given = str(path)
    p = Path(given).expanduser()
    if not p.exists():
        for suffix in (".x86_64", ".x86"):
            if Path(str(p) + suffix).exists():
                p = Path(str(p) + suffix)
                break
    if not p.exists():
        raise UnityBuildError(
            f"no Unity build at {given!r}: the file does not exist. "
            f"Pass the path to your build's executable (e.g. builds/MyGame.x86_64) or a built-in scene: {', '.join(SCENES)}."
        )
    if p.is_dir():
        if p.suffix == ".app" or (p / "Contents" / "MacOS").is_dir():
            raise UnityBuildError(f"{given!r} is a macOS build. On Linux, build for 'Linux' in Unity's Build Settings.")
        candidates = sorted(list(p.glob("*.x86_64")) + list(p.glob("*.x86")))
        if not candidates:
            if list(p.glob("*.exe")):
                raise UnityBuildError(
                    f"{given!r} holds a Windows build (.exe). On Linux, build for 'Linux' in Unity's Build Settings."
                )
            raise UnityBuildError(f"{given!r} is a folder with no Linux Unity executable (*.x86_64) in it.")
        if len(candidates) > 1:
            names = ", ".join(c.name for c in candidates)
            raise UnityBuildError(f"{given!r} holds several executables ({names}); pass the one to launch.")
        p = candidates[0]
    with open(p, "rb") as f:
        head = f.read(20)
    if head[:2] == b"MZ":
        raise UnityBuildError(f"{given!r} is a Windows executable. On Linux, build for 'Linux' in Unity's Build Settings.")
    if head[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        raise UnityBuildError(f"{given!r} is a macOS executable. On Linux, build for 'Linux' in Unity's Build Settings.")
    if head[:4] == b"\x7fELF":
        machine = int.from_bytes(head[18:20], "little")
        want = _ELF_MACHINES.get(os.uname().machine)
        if want is not None and machine != want:
            raise UnityBuildError(
                f"{given!r} is a Linux build for another processor (ELF machine {machine}); "
                f"this machine is {os.uname().machine}. Rebuild for it in Unity's Build Settings."
            )
    elif head[:2] != b"#!":
        raise UnityBuildError(f"{given!r} is not an executable program (neither a Linux binary nor a script).")
    if not os.access(p, os.X_OK):
        mode = p.stat().st_mode
        raise UnityBuildError(
            f"{given!r} is not executable (mode {stat.filemode(mode)}). Make it so with: chmod +x {shlex.quote(str(p))}"
        )
    return str(p.resolve())


def find_builds(folder: Path, depth: int = 3):
    """Linux Unity builds (*.x86_64 files) under ``folder``."""
    if depth < 0:
        return
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.is_dir() and entry.name not in _SKIP_DIRS and not entry.name.startswith("."):
            yield from find_builds(entry, depth - 1)
        elif entry.suffix == ".x86_64" and entry.is_file():
            yield entry
