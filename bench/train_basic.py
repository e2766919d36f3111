"""Wall time to solve Basic through the stand-in: unity-nb (cold and warm) vs a plain RLlib script vs SB3.

    .venv/bin/pip install -e '.[bench]'      # stable-baselines3, once
    .venv/bin/python bench/train_basic.py [--skip-3dball]

Every contender runs as its own process, one after another, in the same process
tree, on the same scene through the same player stand-in, and stops at its own
reading of "mean training return >= 0.9 over the last 100 episodes": the kit at
a full window of the last 100 finished episodes confirmed by 100 deterministic
ones (the strictest), Stable-Baselines3 at its 100-episode info buffer, the
plain RLlib script at RLlib's own ``episode_return_mean`` (what a hand-written
script sees; its smoothing window restarts with each iteration). The kit's runs
are then evaluated greedily over 100 episodes (the benchmark, 0.93). Printed: wall
time from process start, ratios against the plain RLlib script, peak memory of
each process tree. Then 3DBall to mean return 100: steps and time.
Targets (2 cores): cold <= 20 s, warm <= 5 s, overhead over plain RLlib <= 5 %.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import psutil

PY = sys.executable

PLAIN_RLLIB = textwrap.dedent(
    """
    # What a user would write by hand: RLlib PPO on the kit's Basic env, same settings as the kit.
    import time, sys
    t0 = time.perf_counter()
    import ray
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.tune.registry import register_env
    from unity_nb.envs.gym_env import UnityVectorEnv
    from unity_nb.envs.source import EnvSource

    def make(ctx):
        return UnityVectorEnv(EnvSource("Basic", num_areas=8, seed=0), autoreset_mode="next_step")

    register_env("basic", make)
    ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    config = (PPOConfig().environment("basic")
              .env_runners(num_env_runners=0, num_envs_per_env_runner=8, gym_env_vectorize_mode="vector_entry_point")
              .rl_module(model_config={"fcnet_hiddens": [32, 32]})
              .training(lr=3e-3, train_batch_size_per_learner=256, minibatch_size=128, num_epochs=4,
                        entropy_coeff=0.01, gamma=0.99, lambda_=0.95)
              .debugging(seed=0))
    algo = config.build_algo()
    while True:
        r = algo.train()["env_runners"]
        if r.get("num_episodes_lifetime", 0) >= 100 and r.get("episode_return_mean", -1) >= 0.9:
            break
    print("SOLVED", time.perf_counter() - t0, r["num_env_steps_sampled_lifetime"], flush=True)
    """
)

SB3 = textwrap.dedent(
    """
    import time
    t0 = time.perf_counter()
    import numpy as np
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    import unity_nb.envs as ue

    class Solved(BaseCallback):
        def _on_step(self):
            buf = self.model.ep_info_buffer
            return not (len(buf) >= 100 and np.mean([e["r"] for e in buf]) >= 0.9)

    env = make_vec_env(lambda: ue.make("Basic"), n_envs=8, seed=0)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=128, n_epochs=4, learning_rate=3e-3, ent_coef=0.01,
                policy_kwargs={"net_arch": [32, 32]}, seed=0, device="cpu")
    model.learn(200_000, callback=Solved())
    print("SOLVED", time.perf_counter() - t0, model.num_timesteps, flush=True)
    env.close()
    """
)

KIT_COLD = textwrap.dedent(
    """
    import time, sys
    t0 = time.perf_counter()
    import unity_nb.train as ut
    run = ut.train("Basic", runs_dir=sys.argv[1]).wait()
    print("SOLVED", time.perf_counter() - t0, run.last()["env_steps"], flush=True)
    print("RUN", run.path, flush=True)
    """
)

KIT_WARM = textwrap.dedent(
    """
    import time, sys
    import unity_nb.train as ut
    ut.warm_up(wait=True)            # what a notebook session does when the extension loads
    t0 = time.perf_counter()
    run = ut.train("Basic", runs_dir=sys.argv[1]).wait()
    print("SOLVED", time.perf_counter() - t0, run.last()["env_steps"], flush=True)
    print("RUN", run.path, flush=True)
    """
)

KIT_3DBALL = textwrap.dedent(
    """
    import time, sys
    t0 = time.perf_counter()
    import unity_nb.train as ut
    run = ut.train("3DBall", runs_dir=sys.argv[1], steps=400_000, target_return=100.0).wait()
    last = run.last()
    check = run.status.get("confirmation") or {}
    print("SOLVED", time.perf_counter() - t0, last["env_steps"], last["episode_return_mean"], min((t["mean"] for p, t in check.items() if p in ("deterministic", "sampled")), default=None), flush=True)
    """
)


def measure(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter; sample the whole process tree's memory while it runs."""
    started = time.perf_counter()
    proc = subprocess.Popen([PY, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample():
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                peak[0] = max(peak[0], sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    out, err = proc.communicate(timeout=1800)
    wall = time.perf_counter() - started
    result = {"wall_s": wall, "peak_mb": peak[0] / 2**20, "ok": False}
    for line in out.splitlines():
        if line.startswith("SOLVED"):
            parts = line.split()
            result.update(ok=True, inner_s=float(parts[1]), steps=int(float(parts[2])))
            if len(parts) > 3:
                result["return"] = float(parts[3])
            if len(parts) > 4 and parts[4] != "None":
                result["confirmed"] = float(parts[4])
        if line.startswith("RUN"):
            result["run"] = line.split(maxsplit=1)[1]
    if not result["ok"]:
        result["error"] = err[-2000:]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-3dball", action="store_true", help="skip the 3DBall run")
    args = parser.parse_args()
    runs = tempfile.mkdtemp(prefix="unity-nb-bench-")
    rows = {}
    for name, code in (("unity-nb cold", KIT_COLD), ("unity-nb warm", KIT_WARM), ("plain RLlib script", PLAIN_RLLIB),
                       ("Stable-Baselines3 PPO", SB3)):
        if name.startswith("Stable") and subprocess.run([PY, "-c", "import stable_baselines3"]).returncode != 0:
            print(f"{name}: not installed (pip install -e '.[bench]')")
            continue
        rows[name] = measure(code, runs)
        r = rows[name]
        print(f"{name:24s} " + (f"solved in {r['inner_s']:6.1f} s (process {r['wall_s']:5.1f} s), {r['steps']:6d} steps, "
                                 f"peak {r['peak_mb']:6.0f} MB" if r["ok"] else f"FAILED: {r.get('error')}"), flush=True)
    plain = rows.get("plain RLlib script", {})
    if plain.get("ok"):
        print("\nratios to the plain RLlib script (wall time, lower is better):")
        for name, r in rows.items():
            if r.get("ok"):
                print(f"  {name:24s} {r['wall_s'] / plain['wall_s']:.3f}")
        cold = rows.get("unity-nb cold", {})
        if cold.get("ok"):
            print(f"unity-nb overhead over plain RLlib (cold, whole process): {100 * (cold['wall_s'] / plain['wall_s'] - 1):+.1f} %")
    for name in ("unity-nb cold", "unity-nb warm"):
        run = rows.get(name, {}).get("run")
        if run:
            from unity_nb import Run

            print(f"{name}: greedy evaluation {Run(run).evaluate(episodes=100)}")
    if not args.skip_3dball:
        r = measure(KIT_3DBALL, runs)
        if r["ok"]:
            print(f"\n3DBall to mean return 100 over the last 100 episodes, confirmed (unity-nb, through the "
                  f"stand-in): {r['steps']} steps, {r['inner_s']:.1f} s, window {r.get('return')}, deterministic "
                  f"{r.get('confirmed')}, peak {r['peak_mb']:.0f} MB")
        else:
            print(f"3DBall: FAILED {r.get('error')}")
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "error"} for k, v in rows.items()}))


if __name__ == "__main__":
    main()
