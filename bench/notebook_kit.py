"""The notebook kit's costs: a live dashboard's drag on training, and the wait for the first point.

    .venv/bin/python bench/notebook_kit.py [--pairs 3] [--skip-throughput] [--skip-first-point]

1. Throughput: 3DBall (through the player stand-in) trained for the same steps with and
   without a dashboard, in alternating pairs, each started from a real IPython kernel that
   displays the dashboard as a notebook would (its updates go out as widget messages;
   with ``--figure matplotlib`` the kernel renders the ipympl figure at each redraw).
   Throughput = agent steps / training seconds, as the run itself records them.
   Target: with / without >= 0.97.
2. First point: a real IPython kernel (jupyter_client), Ray and the standby trainer
   already running (``warm_up``); time from calling ``%unity_train Basic`` to the
   dashboard holding its first point. Peer, in the same kernel: the hand-written RLlib
   a user types today, with Ray already initialised: ``build_algo()`` to the first
   ``train()`` result. Target: <= 3 s.
Video encoding (500 frames, target <= 2 s) is bench/video_encode.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))


THROUGHPUT_RUN = """
import unity_nb.train as ut
from unity_nb.notebook import Dashboard
ut.warm_up(wait=True)  # every run starts from a ready trainer
run = ut.train("3DBall", runs_dir=RUNS, steps=STEPS, target_return=1e9, checkpoint_every=1000)
dash = Dashboard(run, figure=FIGURE) if FIGURE else None
if dash is not None:
    display(dash)  # shown as in a notebook: every update goes out as widget messages
run.wait(600)
if dash is not None:
    dash.wait(30); dash.close()
last = run.last()
(last["env_steps"] / last["time_s"], dash.chart_updates if dash is not None else 0, dash.draws if dash is not None else 0)
"""


def throughput(pairs: int, steps: int, figure: str) -> None:
    """Pairs of 3DBall runs without and with a live dashboard, both started from a real kernel that displays it."""
    from kernel import Kernel

    root = tempfile.mkdtemp(prefix="bench-nb-")
    kernel = Kernel(root)
    rates = {"without": [], "with": []}
    updates = []
    try:
        kernel.ok(f"RUNS, STEPS = {os.path.join(root, 'runs')!r}, {steps}", timeout=60)
        for i in range(pairs):
            for kind in (("without", "with") if i % 2 == 0 else ("with", "without")):
                code = f"FIGURE = {figure if kind == 'with' else None!r}\n" + THROUGHPUT_RUN
                rate, chart_updates, draws = eval(kernel.ok(code, timeout=900).value)
                rates[kind].append(rate)
                if kind == "with":
                    updates.append(chart_updates + draws)
                print(f"  {kind:8s} dashboard: {rate:,.0f} steps/s", flush=True)
    finally:
        kernel.close()
    with_, without = statistics.median(rates["with"]), statistics.median(rates["without"])
    # each pair ran back to back: its ratio is the least touched by the machine's drift
    pair_ratios = [w / o for w, o in zip(rates["with"], rates["without"])]
    ratio = statistics.median(pair_ratios)
    print(f"3DBall throughput with a {figure} dashboard, median of {pairs} pairs: without {without:,.0f} steps/s, with "
          f"{with_:,.0f} steps/s ({statistics.mean(updates):.0f} updates per run); ratio of medians "
          f"{with_ / without:.3f}, median of pair ratios {ratio:.3f} ({', '.join(f'{r:.3f}' for r in pair_ratios)}) "
          f"(target >= 0.97: {'met' if ratio >= 0.97 else 'NOT met'})")


PEER = """
import time, ray
from ray.rllib.algorithms.ppo import PPOConfig
from ray.tune.registry import register_env
from unity_nb.envs.gym_env import UnityVectorEnv
from unity_nb.envs.source import EnvSource
if not ray.is_initialized():
    ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
register_env("basic", lambda ctx: UnityVectorEnv(EnvSource("Basic", num_areas=8, seed=0), autoreset_mode="next_step"))
config = (PPOConfig().environment("basic")
          .env_runners(num_env_runners=0, num_envs_per_env_runner=8, gym_env_vectorize_mode="vector_entry_point")
          .rl_module(model_config={"fcnet_hiddens": [32, 32]})
          .training(lr=3e-3, train_batch_size_per_learner=256, minibatch_size=128, num_epochs=4))
t0 = time.perf_counter()
algo = config.build_algo()
first = algo.train()["env_runners"].get("episode_return_mean")
peer_s = time.perf_counter() - t0
algo.stop()
peer_s
"""

KIT = """
import time, unity_nb
unity_nb.warm_up(wait=True)
t0 = time.perf_counter()
run = get_ipython().run_line_magic("unity_train", "Basic --steps 3000 --target-return 2")
dash = get_ipython().magics_manager.registry["UnityMagics"].last_dashboard
while not dash.points and time.perf_counter() - t0 < 120:
    time.sleep(0.005)
kit_s = time.perf_counter() - t0
run.wait(300)
kit_s
"""


def first_point(repeats: int) -> None:
    from kernel import Kernel

    root = tempfile.mkdtemp(prefix="bench-nb-kernel-")
    kernel = Kernel(root)
    try:
        kernel.ok("%load_ext unity_nb")
        kernel.ok("import unity_nb; unity_nb.warm_up(wait=True)", timeout=300)
        kit = [float(kernel.ok(KIT, timeout=600).value) for _ in range(repeats)]
        peer = [float(kernel.ok(PEER, timeout=600).value) for _ in range(repeats)]
    finally:
        kernel.close()
    k, p = statistics.median(kit), statistics.median(peer)
    print(f"first point, median of {repeats}: %unity_train -> dashboard point {k:.2f} s "
          f"({', '.join(f'{v:.2f}' for v in kit)}); hand-written RLlib build_algo -> first result {p:.2f} s "
          f"({', '.join(f'{v:.2f}' for v in peer)}); ratio {k / p:.2f} (target <= 3 s: {'met' if k <= 3 else 'NOT met'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3, help="with/without pairs for the throughput (default 3)")
    parser.add_argument("--steps", type=int, default=24_000, help="3DBall steps per throughput run (default 24000)")
    parser.add_argument("--repeats", type=int, default=3, help="first-point repeats (default 3)")
    parser.add_argument("--figure", default="browser", choices=["browser", "matplotlib"],
                        help="the dashboard's kind of figure in the throughput pairs (default: browser)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-first-point", action="store_true")
    args = parser.parse_args()
    if not args.skip_first_point:
        first_point(args.repeats)
    if not args.skip_throughput:
        throughput(args.pairs, args.steps, args.figure)


if __name__ == "__main__":
    main()
