"""Smoke test of an installed unity-nb on another Python (3.10, 3.12, 3.13, ...).

Run it with the python of a venv that has unity-nb installed (not editable):

    /path/to/venv/bin/python tests/other_pythons/smoke.py

It needs nothing but the kit and its dependencies (no pytest, no Ray at work,
no torch): plain checks, one line each, exit code 0 when every check passed
and 1 otherwise. tests/test_other_pythons.py builds the venvs and runs it.

(c) the run store and dashboard without Ray   -- first, in a clean process, so
    the "ray and torch never imported" check means what it says
(a) the environments: the raw mlagents-envs client on every built-in scene,
    the gymnasium wrapper (player and in-process)
(b) ``%load_ext unity_nb`` and ``%unity_envs`` in a real Jupyter kernel of this venv
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

# Private player files and run folders: never touch the user's ~/.cache/unity-nb/players,
# whose launch scripts name the interpreter of whoever wrote them last.
WORK = Path(tempfile.mkdtemp(prefix="unity-nb-smoke-"))
os.environ["UNITY_NB_CACHE"] = str(WORK / "cache")
os.environ.pop("MPLBACKEND", None)

SCENES = ("Basic", "3DBall", "GridWorld", "BasicDuo")
results: list[tuple[str, bool]] = []


def check(name: str):
    """Decorator: run the check now, print one line, remember the outcome."""

    def run(fn):
        started = time.monotonic()
        try:
            detail = fn()
            ok = True
        except Exception as err:  # noqa: BLE001  (a smoke test reports every failure and goes on)
            ok, detail = False, f"{type(err).__name__}: {err}"
            traceback.print_exc(file=sys.stderr)
        took = time.monotonic() - started
        print(f"{'PASS' if ok else 'FAIL'} {name} ({took:.1f} s){': ' + str(detail) if detail else ''}", flush=True)
        results.append((name, ok))
        return fn

    return run


print(f"python {sys.version.split()[0]} at {sys.executable}", flush=True)


# ---------------------------------------------------------------- (c) run store and dashboard, no Ray
@check("c: ray/torch not loaded at start")
def _():
    loaded = [m for m in ("ray", "torch") if m in sys.modules]
    assert not loaded, f"already imported: {loaded}"


def iteration_event(i: int) -> dict:
    """An iteration event as unity_nb.trainer.driver writes it (Basic, ~1000 steps per iteration)."""
    returns = [round(-0.5 + 0.12 * i + 0.01 * k, 3) for k in range(5)]
    window = [r for j in range(1, i + 1) for r in [round(-0.5 + 0.12 * j + 0.01 * k, 3) for k in range(5)]][-100:]
    mean = sum(window) / len(window)
    std = (sum((r - mean) ** 2 for r in window) / len(window)) ** 0.5
    return {
        "event": "iteration", "iteration": i, "env_steps": 1000 * i, "time_s": round(2.5 * i, 3),
        "steps_per_s": 400.0, "eta_s": round((20_000 - 1000 * i) / 400.0, 1),
        "episode_return_mean": round(mean, 4), "episode_return_min": min(window), "episode_return_max": max(window),
        "episode_return_std": round(std, 4), "episode_length_mean": 30.0 - i,
        "episodes_window": len(window), "return_window": 100, "episodes": 5 * i,
        "iteration_episodes": len(returns), "iteration_return_mean": round(sum(returns) / len(returns), 4),
        "iteration_return_min": min(returns), "iteration_return_max": max(returns), "iteration_returns": returns,
        "policy_loss": -0.01 * i, "vf_loss": 0.5 / i, "entropy": 1.09 - 0.05 * i, "kl": 0.01,
        "entropy_coeff": 0.005, "lr": 3e-4, "player_restarts": 0,
    }


@check("c: RunStore.create + metrics.jsonl + run.metrics")
def _():
    import unity_nb
    import unity_nb.train
    from unity_nb.train.schema import State

    run = unity_nb.train.RunStore(WORK / "runs").create(unity_nb.train.make_config("Basic"))
    writer = run.writer()  # what the training process writes with
    writer.set_state(State.RUNNING)
    for i in range(1, 4):
        writer.emit(iteration_event(i))
    globals()["RUN"], globals()["WRITER"] = run, writer
    metrics = run.metrics
    assert len(metrics) == 3, metrics
    assert list(metrics["iteration"]) == [1, 2, 3] and list(metrics["env_steps"]) == [1000, 2000, 3000]
    assert "event" not in metrics.columns and "iteration_returns" in metrics.columns
    assert run.state == "running" and run.config.scene == "Basic"
    return f"{run.id}: {len(metrics)} rows, {len(metrics.columns)} columns"


@check("c: Dashboard(run, start=False) shows the points")
def _():
    from unity_nb.notebook import Dashboard

    run = globals()["RUN"]
    dash = Dashboard(run, start=False)
    try:
        assert dash._thread is None
        assert len(dash.points) == 3 and dash.state == "running", repr(dash)
        xs = dash.chart.series["x"]  # drawn by the browser while the run goes on
        assert xs == [1000, 2000, 3000] and len(dash.chart.series["episode_return_mean"]) == 3, xs
        assert dash.points_label.value == "3"
        assert "3,000 / " in dash.progress_text.value, dash.progress_text.value
        # the run goes on: one more point, then it finishes
        writer = globals()["WRITER"]
        writer.emit(iteration_event(4))
        writer.set_state("finished")
        assert dash.update() is True
        assert len(dash.points) == 4 and dash.state == "finished", repr(dash)
        assert len(dash.chart.series["x"]) == 4 and dash.stop_button.disabled
        assert len(dash.lines["episode_return_mean"].get_data()[0]) == 4  # the still picture of the end
        assert len(run.metrics) == 4
        return f"{dash!r}, chart={type(dash.chart).__name__}"
    finally:
        dash.close()


@check("c: ray and torch never imported")
def _():
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("ray", "torch"))
    assert not loaded, f"imported: {loaded[:10]}"
    return "pandas, matplotlib, ipywidgets only" if "pandas" in sys.modules else None


# ---------------------------------------------------------------- (a) environments
@check("a: mlagents_envs uses distutils' StrictVersion")
def _():
    import unity_nb  # noqa: F401  (the protobuf hook comes first)
    import mlagents_envs.environment as me

    import distutils.version

    assert me.StrictVersion is distutils.version.StrictVersion
    assert me.StrictVersion("1.5.0") < me.StrictVersion("1.10.0")
    import distutils

    where = Path(distutils.__file__).parent
    if sys.version_info >= (3, 12):  # no distutils in the standard library: setuptools' copy
        assert "setuptools" in where.parts, where
    return f"distutils from {where}"


def play_raw(scene: str, episodes: int = 3, max_steps: int = 600) -> str:
    """The library's own UnityEnvironment, unmodified, on a built-in scene's player file."""
    import numpy as np
    from mlagents_envs.environment import UnityEnvironment
    from mlagents_envs.side_channel.stats_side_channel import StatsSideChannel

    import unity_nb.envs
    from unity_nb.processes import free_port

    logs = WORK / f"log-{scene}"
    logs.mkdir(parents=True, exist_ok=True)
    env = UnityEnvironment(file_name=unity_nb.envs.player_file(scene), base_port=free_port(), seed=0,
                           no_graphics=True, timeout_wait=30, log_folder=str(logs),
                           side_channels=[StatsSideChannel()])  # the player sends episode stats
    try:
        env.reset()
        names = list(env.behavior_specs)
        assert names, "no behaviors"
        ended, total, steps = 0, 0.0, 0
        while ended < episodes and steps < max_steps:
            for name in names:
                decision, _ = env.get_steps(name)
                if len(decision):
                    env.set_actions(name, env.behavior_specs[name].action_spec.random_action(len(decision)))
            env.step()
            steps += 1
            for name in names:
                decision, terminal = env.get_steps(name)
                ended += len(terminal)
                total += float(np.sum(decision.reward)) + float(np.sum(terminal.reward))
        assert ended >= episodes, f"only {ended} episodes ended in {steps} steps"
        return f"behaviors {names}, {ended} episodes in {steps} steps, reward sum {total:.2f}"
    finally:
        env.close()


for _scene in SCENES:
    check(f"a: raw UnityEnvironment {_scene}")(lambda s=_scene: play_raw(s))


def play_gym(scene: str, mode: str, episodes: int = 3, max_steps: int = 600) -> str:
    import numpy as np

    import unity_nb.envs

    behavior = "BasicRight" if scene == "BasicDuo" else None
    logs = WORK / f"log-{scene}-{mode}"  # else each player leaves a /tmp/unity-nb-player-* folder
    logs.mkdir(parents=True, exist_ok=True)
    env = unity_nb.envs.make(scene, mode=mode, behavior=behavior, seed=1, log_folder=str(logs))
    try:
        env.action_space.seed(0)
        obs, _ = env.reset(seed=0)
        ended, steps, returns = 0, 0, []
        vector = hasattr(env, "num_envs")
        running = np.zeros(env.num_envs if vector else 1)
        while ended < episodes and steps < max_steps:
            obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            steps += 1
            running += reward
            done = np.atleast_1d(np.logical_or(terminated, truncated))
            ended += int(done.sum())
            returns += running[done].tolist()
            running[done] = 0.0
            if not vector and done.any():
                obs, _ = env.reset()
        assert ended >= episodes, f"only {ended} episodes ended in {steps} steps"
        assert env.observation_space.contains(obs), "observation outside the observation space"
        kind = f"VectorEnv x{env.num_envs}" if vector else "Env"
        return f"{kind}, {ended} episodes in {steps} steps, mean return {np.mean(returns):.3f}"
    finally:
        env.close()


for _scene in SCENES:
    for _mode in ("player", "inprocess"):
        check(f"a: unity_nb.envs.make({_scene!r}, mode={_mode!r})")(lambda s=_scene, m=_mode: play_gym(s, m))


# ---------------------------------------------------------------- (b) a real Jupyter kernel
@check("b: %load_ext unity_nb and %unity_envs in a Jupyter kernel of this venv")
def _():
    from jupyter_client.manager import start_new_kernel

    env = dict(os.environ)
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(WORK), env=env)
    try:
        kc.wait_for_ready(timeout=60)

        def run(code: str) -> str:
            msg_id = kc.execute(code)
            out, error = [], None
            while True:
                msg = kc.get_iopub_msg(timeout=120)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "status" and content["execution_state"] == "idle":
                    break
                if kind == "stream":
                    out.append(content["text"])
                elif kind in ("display_data", "execute_result"):
                    out.append(content["data"].get("text/plain", ""))
                elif kind == "error":
                    error = f"{content['ename']}: {content['evalue']}"
            reply = kc.get_shell_msg(timeout=120)
            while reply["parent_header"].get("msg_id") != msg_id:
                reply = kc.get_shell_msg(timeout=120)
            text = "".join(out)
            assert reply["content"]["status"] == "ok" and error is None, f"{code!r} failed: {error}\n{text}"
            return text

        executable = run("import sys; print(sys.executable)").strip()
        assert os.path.realpath(executable) == os.path.realpath(sys.executable) or \
            Path(executable).parent == Path(sys.executable).parent, f"kernel runs {executable}, not {sys.executable}"
        run("%load_ext unity_nb")
        table = run("%unity_envs")
        missing = [s for s in SCENES if s not in table]
        assert not missing, f"%unity_envs does not list {missing}:\n{table}"
        warnings = run("import warnings, sys; print(sorted(m for m in ('ray', 'torch') if m in sys.modules))")
        return f"kernel python {executable}; %unity_envs lists {len(SCENES)} scenes; loaded of ray/torch: {warnings.strip()}"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


# ---------------------------------------------------------------- summary
failed = [name for name, ok in results if not ok]
print(f"{len(results) - len(failed)} passed, {len(failed)} failed", flush=True)
if not failed:
    import shutil

    shutil.rmtree(WORK, ignore_errors=True)
else:
    print(f"work folder kept: {WORK}", flush=True)
sys.exit(1 if failed else 0)
