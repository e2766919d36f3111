"""Unity's own trainer, ``mlagents-learn`` (mlagents 0.28.0), as a benchmark peer.

It trains a built-in scene through the Unity player stand-in with Unity's published trainer
YAML, exactly as it would train a Unity build, and reports when the mean reward first reached
the target. It runs from its own venv, made by ``bash bench/mlagents_peer.sh``
(``$MLAGENTS_VENV``, default ``.venv-mlagents``); without it every call answers
``available=False`` with the reason, so bench scripts can call it optionally::

    from mlagents_peer import CONFIGS, run_mlagents
    r = run_mlagents(CONFIGS["Basic"], "Basic", num_areas=1, max_steps=30_000,
                     summary_freq=1000, timeout_s=300)
    r["available"], r["steps_to_target"], r["seconds_to_target"], r["curve"]

    python bench/mlagents_peer.py 3DBall|Basic [--num-areas N] [--seed S] [--max-steps N] ...

How mlagents counts (mlagents 0.28 ``rl_trainer``/``stats``): a step is one decision of one
agent, summed over every agent of the behavior (3DBall: 12 agents per area, so 12 steps per
env step). A summary line is written when that count passes each multiple of
``summary_freq`` and is labelled with the multiple, not the exact count; its Mean Reward is
the mean return of the episodes that *ended* since the previous summary (none ended: no
reward in that line). "Time Elapsed" runs from just before the player is launched.
Only the standard library is used here: the bench scripts' own venv needs nothing more.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Unity's published example configs (ml-agents config/ppo/3DBall.yaml and Basic.yaml), kept once, with the tests.
sys.path.insert(0, str(ROOT / "tests"))
from unity_configs import BALL, BASIC, GRIDWORLD  # noqa: E402

CONFIGS = {"3DBall": BALL.lstrip("\n"), "Basic": BASIC.lstrip("\n"), "GridWorld": GRIDWORLD.lstrip("\n")}
# The targets the kit's benchmarks use (unity_nb.train.config scene defaults).
TARGETS = {"3DBall": 100.0, "Basic": 0.9, "GridWorld": 0.8}
# Command-line defaults. max_steps stays the published 500000 on purpose: with
# learning_rate_schedule linear it is also the horizon over which mlagents decays the learning
# rate, beta and epsilon to ~0, so a smaller max_steps trains a different (faster-annealed)
# PPO. Runs are capped by stopping at the target or at --timeout instead.
CLI_DEFAULTS = {"3DBall": dict(max_steps=500_000, summary_freq=6000), "Basic": dict(max_steps=500_000, summary_freq=1000),
                "GridWorld": dict(max_steps=500_000, summary_freq=5000)}

_SUMMARY = re.compile(
    r"\]\s*(?P<behavior>\S+?)\. Step: (?P<step>\d+)\. Time Elapsed: (?P<secs>[\d.]+) s\. "
    r"(?:Mean Reward: (?P<mean>[-\d.eE+naif]+)\. Std of Reward: (?P<std>[-\d.eE+naif]+)\.)?"
)


def venv_dir() -> Path:
    return Path(os.environ.get("MLAGENTS_VENV") or ROOT / ".venv-mlagents")


def check_available() -> tuple[bool, str]:
    """(True, "") when the peer venv is set up, else (False, why)."""
    venv = venv_dir()
    learn, unity_nb = venv / "bin" / "mlagents-learn", venv / "bin" / "unity-nb"
    if not venv.is_dir():
        return False, f"no mlagents peer venv at {venv}: run `bash bench/mlagents_peer.sh` (or set MLAGENTS_VENV)"
    for exe in (learn, unity_nb):
        if not os.access(exe, os.X_OK):
            return False, f"{exe} missing: the peer venv at {venv} is incomplete; run `bash bench/mlagents_peer.sh` again"
    if not list(venv.glob("lib/python*/site-packages/unity_nb_peer_hook.pth")):
        return False, f"the protobuf hook is not installed in {venv}; run `bash bench/mlagents_peer.sh` again"
    return True, ""


def _override(config_yaml_text: str, max_steps: int, summary_freq: int) -> str:
    """Set max_steps and summary_freq of every behavior, leaving the rest of the text as is."""
    lines, out, in_behaviors, behavior_indent = config_yaml_text.splitlines(), [], False, None
    for i, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if not stripped or stripped.startswith("#"):
            out.append(line)
            continue
        if indent == 0:
            in_behaviors = stripped.rstrip() == "behaviors:"
            behavior_indent = None
            out.append(line)
            continue
        if in_behaviors and behavior_indent is None:
            behavior_indent = indent
        if in_behaviors and indent == behavior_indent:  # a behavior name line
            out.append(line)
            out.append(" " * (indent + 2) + f"max_steps: {int(max_steps)}")
            out.append(" " * (indent + 2) + f"summary_freq: {int(summary_freq)}")
            continue
        if in_behaviors and indent == (behavior_indent or 0) + 2 and re.match(r"(max_steps|summary_freq)\s*:", stripped):
            continue  # replaced above
        out.append(line)
    if not any(l.strip() == "behaviors:" for l in lines):
        raise ValueError("the trainer config has no top-level 'behaviors:' key")
    return "\n".join(out) + "\n"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _num(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def run_mlagents(
    config_yaml_text: str,
    scene: str,
    *,
    num_areas: int,
    max_steps: int,
    summary_freq: int,
    timeout_s: float,
    target: float | None = None,
    seed: int | None = None,
    stop_at_target: bool = True,
    results_dir: str | os.PathLike | None = None,
    echo: bool = False,
) -> dict:
    """Train ``scene`` (a built-in scene of the stand-in) with ``mlagents-learn`` and its YAML.

    ``max_steps`` and ``summary_freq`` override the YAML's (every behavior). Note that with
    ``learning_rate_schedule: linear`` max_steps is also the decay horizon of the learning rate,
    beta and epsilon: keep the YAML's value (500000 in Unity's configs) to train what Unity
    publishes, and cap the run with ``timeout_s``/``stop_at_target``. ``num_areas`` is
    mlagents' ``--num-areas``. The run stops at ``max_steps``, after ``timeout_s`` seconds, or
    (``stop_at_target``) at the first summary whose mean reward reaches ``target`` (default:
    ``TARGETS[scene]``). ``seed``: mlagents' ``--seed`` (None: a random one, reported).

    Returns {"available", "reason", "steps_to_target", "seconds_to_target",
    "wall_seconds_to_target", "curve": [(step, mean_reward, seconds)], "seed", ...}:
    steps are agent steps (mlagents' count), ``seconds_to_target`` is mlagents' Time Elapsed
    at that summary (from just before the player starts), ``wall_seconds_to_target`` the time
    since ``mlagents-learn`` was launched (adds its ~5 s of imports). ``*_to_target`` are None
    when the target was not reached. Summaries without a finished episode are left out of
    ``curve``.
    """
    result: dict = {
        "available": False, "reason": "", "scene": scene, "num_areas": num_areas, "seed": seed,
        "target": target if target is not None else TARGETS.get(scene), "max_steps": max_steps,
        "summary_freq": summary_freq, "steps_to_target": None, "seconds_to_target": None,
        "wall_seconds_to_target": None, "curve": [], "returncode": None, "timed_out": False,
        "stopped_at_target": False, "wall_seconds": None, "command": None, "results_dir": None,
        "log_tail": [], "load_avg": None,
    }
    ok, why = check_available()
    if not ok:
        result["reason"] = why
        return result
    result["available"] = True
    target = result["target"]
    if seed is None:
        seed = int.from_bytes(os.urandom(2), "big")
        result["seed"] = seed
    venv = venv_dir()
    env = dict(os.environ)
    # the player file belongs to the peer venv (its own cache folder: nobody else rewrites it)
    env["UNITY_NB_CACHE"] = str(venv / "unity-nb-cache")
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    try:
        player = subprocess.run(
            [str(venv / "bin" / "unity-nb"), "player-file", scene], env=env, capture_output=True,
            text=True, timeout=120, check=True,
        ).stdout.strip().splitlines()[-1]
    except (subprocess.SubprocessError, IndexError) as e:
        detail = getattr(e, "stderr", "") or ""
        result.update(available=False, reason=f"`unity-nb player-file {scene}` failed in the peer venv: {e} {detail[-500:]}")
        return result

    own_dir = results_dir is None
    base = Path(results_dir) if results_dir else Path(tempfile.mkdtemp(prefix="mlagents_peer_"))
    base.mkdir(parents=True, exist_ok=True)
    run_id = f"{scene}_a{num_areas}_s{seed}"
    cfg_path = base / f"{run_id}.yaml"
    cfg_path.write_text(_override(config_yaml_text, max_steps, summary_freq))
    cmd = [
        str(venv / "bin" / "mlagents-learn"), str(cfg_path), f"--env={player}", f"--run-id={run_id}",
        "--no-graphics", "--num-areas", str(num_areas), "--results-dir", str(base / "results"),
        "--seed", str(seed), "--base-port", str(_free_port()), "--force",
    ]
    result["command"] = " ".join(cmd)
    result["results_dir"] = str(base / "results" / run_id)

    tail: list[str] = []
    reached = threading.Event()
    load_start = os.getloadavg()[0]
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=str(base), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, text=True, bufsize=1, start_new_session=True,
    )

    def reader():
        for line in proc.stdout:
            line = line.rstrip("\n")
            if echo:
                print(line, flush=True)
            tail.append(line)
            del tail[:-40]
            m = _SUMMARY.search(line)
            if not m or m.group("mean") is None:
                continue
            step, secs, mean = int(m.group("step")), float(m.group("secs")), _num(m.group("mean"))
            result["curve"].append((step, mean, secs))
            if target is not None and mean is not None and mean >= target and result["steps_to_target"] is None:
                result.update(steps_to_target=step, seconds_to_target=secs,
                              wall_seconds_to_target=round(time.monotonic() - t0, 3))
                reached.set()

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    deadline = t0 + timeout_s
    try:
        while proc.poll() is None:
            if stop_at_target and reached.is_set():
                result["stopped_at_target"] = True
                break
            if time.monotonic() > deadline:
                result["timed_out"] = True
                break
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            _stop(proc)
        th.join(timeout=10)
        result["returncode"] = proc.returncode
        result["wall_seconds"] = round(time.monotonic() - t0, 3)
        result["log_tail"] = tail[-15:]
        result["load_avg"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]  # 1-min, start/end: a busy machine
        if own_dir:
            shutil.rmtree(base, ignore_errors=True)
            result["results_dir"] = None
    return result


def _stop(proc: subprocess.Popen) -> None:
    """Ctrl-C first (mlagents then closes the player itself), then the whole process group."""
    for sig, wait in ((signal.SIGINT, 20), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        break
    # the player and mlagents' env worker are in the same group; take any straggler with it
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scene", choices=sorted(CONFIGS))
    ap.add_argument("--num-areas", type=int, default=1)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--summary-freq", type=int, default=None)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--target", type=float, default=None)
    ap.add_argument("--no-stop", action="store_true", help="keep training after the target (until max steps/timeout)")
    ap.add_argument("--results-dir", default=None, help="keep mlagents' results (default: a temporary folder)")
    ap.add_argument("--echo", action="store_true", help="print mlagents-learn's output as it comes")
    a = ap.parse_args(argv)
    d = CLI_DEFAULTS[a.scene]
    r = run_mlagents(
        CONFIGS[a.scene], a.scene, num_areas=a.num_areas, max_steps=a.max_steps or d["max_steps"],
        summary_freq=a.summary_freq or d["summary_freq"], timeout_s=a.timeout, target=a.target,
        seed=a.seed, stop_at_target=not a.no_stop, results_dir=a.results_dir, echo=a.echo,
    )
    if not r["available"]:
        print(f"mlagents peer not available: {r['reason']}")
        return 2
    print(f"mlagents-learn {a.scene}: num_areas={r['num_areas']} seed={r['seed']} target={r['target']}")
    print(f"{'step':>9} {'mean reward':>12} {'seconds':>9}")
    for step, mean, secs in r["curve"]:
        print(f"{step:>9} {mean:>12.3f} {secs:>9.1f}")
    if r["steps_to_target"] is not None:
        print(f"target {r['target']} reached at step {r['steps_to_target']} after {r['seconds_to_target']:.1f} s "
              f"(wall {r['wall_seconds_to_target']:.1f} s since launch)")
    else:
        why = "timed out" if r["timed_out"] else f"exit code {r['returncode']}"
        print(f"target {r['target']} not reached ({why}; {r['wall_seconds']:.0f} s)")
        if r["returncode"] not in (0, None) and not r["timed_out"]:
            print("\n".join(r["log_tail"]))
    return 0 if r["steps_to_target"] is not None else 1


if __name__ == "__main__":
    sys.exit(main())
