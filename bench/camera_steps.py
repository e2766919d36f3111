"""Steps per second with cameras through the stand-in, and where the time of one exchange goes.

    .venv/bin/python bench/camera_steps.py [--seconds 3] [--exchanges 300] [--rounds 3]

Part 1, end to end (the real mlagents-envs client over gRPC, as a trainer drives it): median ms
per exchange, agent-steps/s and the ratio to the same scene in-process (no PNG, no gRPC), for
the camera scenes (GridWorld with 1 and 4 areas, SignPost) and, as peers, the vector scenes
Basic and 3DBall through the same player; also the CPU ms per exchange of both processes, which
other programs on a busy machine inflate far less than wall time.

Part 2, where the time goes: one exchange cut into its stages, each timed in this process on the
same frames (mean CPU ms per exchange, so the stages add up): the scene's own numpy step, the
player's PNG encoding, filling the protobuf reply, serializing and parsing it, and the client's
decoding (mlagents-envs' own ``steps_from_proto``; the PNG decoding inside it on its own line).
What the end-to-end median leaves over is gRPC, the two processes taking turns and the client's
Python around it; the floor of an empty message through the same gRPC server is printed too.
Beside the player's encoder, in the same process on the same frames: the encoder it replaced
(Pillow ``compress_level=1`` behind a blake2b-keyed cache), the player's encoder without its
cache, and (GridWorld x1 only: it is ~10x slower) uncompressed observations (``compression_type
NONE``, floats, as a Unity camera sensor set to CompressionType.None sends them). Last, a small
CNN's cost for the same images (ML-Agents' ``simple`` encoder per camera, torch on one thread, if
installed): what a learner spends per agent-step, beside what the player's exchange costs.

Targets (what a user can accept, 2 cores): the stand-in's own share of an exchange (scene, encode,
protobuf) at most half of the client's decoding of the same frames, which a real Unity build costs
the client just the same; and per agent-step, the whole exchange below what PPO's learner spends
on that sample with a small CNN (acting, plus an epoch's forward and backward pass times the
GridWorld preset's 6 epochs), so a camera run through the player mostly trains, not waits.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import unity_nb.envs  # noqa: F401  (protobuf hook)
from mlagents_envs import rpc_utils
from mlagents_envs.base_env import ActionTuple
from mlagents_envs.communicator_objects.unity_message_pb2 import UnityMessageProto
from PIL import Image

from unity_nb.envs import player
from unity_nb.envs.builds import player_file
from unity_nb.envs.inprocess import InProcessEnv, behavior_spec
from unity_nb.envs.scenes import SCENES, ActionBatch
from unity_nb.envs.unity import UnityConnection

sys.path.insert(0, str(Path(__file__).resolve().parent))
from env_steps import _grpc_floor  # noqa: E402

CAMERA_CASES = [("GridWorld", 1), ("GridWorld", 4), ("SignPost", 1)]
VECTOR_PEERS = [("Basic", 1), ("3DBall", 1)]
PPO_EPOCHS = 6  # the kit's GridWorld preset (unity_nb/train/config.py)


# ---- part 1: end to end
def _actions(spec, n: int, rng) -> ActionTuple:
    a = spec.action_spec
    return ActionTuple(
        continuous=rng.uniform(-1, 1, (n, a.continuous_size)).astype(np.float32) if a.continuous_size else None,
        discrete=np.column_stack([rng.integers(0, b, n) for b in a.discrete_branches]).astype(np.int32)
        if a.discrete_size else None,
    )


def _cpu_seconds(pid: int | None) -> float:
    """CPU time used so far by this process, plus by process ``pid`` (the player) if given."""
    used = time.process_time()
    if pid is not None:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        used += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return used


def end_to_end(env, seconds: float, player_pid: int | None = None) -> tuple[list[float], int, float]:
    """Per-exchange seconds (set_actions + step + get_steps) for ``seconds``, the agents per exchange, and
    the CPU seconds per exchange of both processes (what the machine's other programs do not inflate)."""
    env.reset()
    (name,) = list(env.behavior_specs)
    spec = env.behavior_specs[name]
    n = len(env.get_steps(name)[0])
    agents, rng, times = n, np.random.default_rng(0), []
    cpu = _cpu_seconds(player_pid)
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        action = _actions(spec, n, rng)
        t0 = time.perf_counter()
        env.set_actions(name, action)
        env.step()
        n = len(env.get_steps(name)[0])
        times.append(time.perf_counter() - t0)
    return times, agents, (_cpu_seconds(player_pid) - cpu) / len(times)


def _row(label, times, agents, cpu, base=None):
    median = statistics.median(times) * 1000
    steps = agents * len(times) / sum(times)
    ratio = "" if base is None else f"{steps / base:13.3f}"
    print(f"{label:34s} {agents:6d} {median:10.3f} {steps:14.0f} {ratio:>13s} {cpu * 1000:10.3f}", flush=True)
    return steps


def part1(seconds: float) -> dict:
    print("Part 1: end to end (median ms per exchange; agent-steps/s over the whole run; CPU ms per exchange of "
          "this process and the player together)")
    print(f"{'scene, mode':34s} {'agents':>6s} {'ms/ex':>10s} {'agent-steps/s':>14s} {'player/inproc':>13s} "
          f"{'CPU ms/ex':>10s}")
    medians = {}
    for scene, areas in CAMERA_CASES + VECTOR_PEERS:
        if scene not in SCENES:
            continue
        times, agents, cpu = end_to_end(InProcessEnv(scene, num_areas=areas), seconds)
        base = _row(f"{scene} x{areas} in-process", times, agents, cpu)
        conn = UnityConnection(player_file(scene), num_areas=areas)
        try:
            times, agents, cpu = end_to_end(conn.env, seconds, conn.process.pid)
        finally:
            conn.close()
        _row(f"{scene} x{areas} player", times, agents, cpu, base)
        medians[(scene, areas)] = statistics.median(times) * 1000
    return medians


# ---- part 2: the stages of an exchange
class Encoder:
    """How the player turns a camera frame into an observation: ``png(image)`` or floats."""

    def __init__(self, label: str, png=None, floats: bool = False):
        self.label, self.png, self.floats = label, png, floats


def _pil_blake2b_cached():
    """The player's encoder before this bench: Pillow at compress_level 1, frames cached by their blake2b digest."""
    cache: dict[bytes, bytes] = {}

    def png(image):
        key = hashlib.blake2b(image.tobytes(), digest_size=16).digest() + bytes(str(image.shape), "ascii")
        data = cache.get(key)
        if data is None:
            out = io.BytesIO()
            Image.fromarray(image).save(out, format="PNG", compress_level=1)
            data = cache[key] = out.getvalue()
        return data

    return png


def _fill(behavior, batch, encoded, floats: bool):
    """The reply the player sends, its images already encoded (``encoded``, in the player's order)."""
    reply = UnityMessageProto()
    reply.header.status = 200
    into = reply.unity_output.rl_output.agentInfos[behavior.name].value
    if not floats:
        it = iter(encoded)
        saved, player._png = player._png, lambda image: next(it)
        try:
            player.agent_infos(behavior, batch, into)
        finally:
            player._png = saved
        return reply
    # compression_type NONE: the image as floats in [0, 1], as Unity's camera sensor writes them uncompressed
    it = iter(encoded)
    for k in range(len(batch.ids)):
        info = into.add(reward=float(batch.rewards[k]), done=bool(batch.done[k]), id=int(batch.ids[k]),
                        max_step_reached=bool(batch.max_step_reached[k]))
        for spec, values in zip(behavior.observations, batch.observations):
            obs = info.observations.add(shape=spec.shape, name=spec.name, observation_type=int(spec.goal_signal))
            obs.float_data.data.extend(next(it) if spec.visual else values[k].ravel().tolist())
        if batch.action_mask is not None:
            info.action_mask.extend(batch.action_mask[k].tolist())
    return reply


def _images(behavior, batch):
    return [values[k] for k in range(len(batch.ids))
            for spec, values in zip(behavior.observations, batch.observations) if spec.visual]


STAGES = ("scene", "encode", "fill", "serialize", "parse", "client", "image decode")


def one_pass(scene_name: str, areas: int, exchanges: int, encoder: Encoder) -> tuple[dict, int, object]:
    """CPU seconds per stage over ``exchanges`` exchanges of a fresh scene (seed 0, seeded random actions,
    so every pass sees the same frames), bytes sent, and the last batch. CPU time (this thread's), so
    that other programs on the machine do not inflate a stage."""
    scene = SCENES[scene_name](num_areas=areas, seed=0)
    behavior = scene.behavior
    spec = behavior_spec(behavior)
    totals, size = dict.fromkeys(STAGES, 0.0), 0
    rng = np.random.default_rng(0)
    batches = scene.reset()
    for _ in range(exchanges):
        waiting = int((~batches[behavior.name].done).sum())
        moves = rng.integers(0, behavior.discrete_branches[0], (waiting, 1)).astype(np.int32)
        t0 = time.thread_time()
        batches = scene.step({behavior.name: ActionBatch(discrete=moves)})
        t1 = time.thread_time()
        batch = batches[behavior.name]
        images = _images(behavior, batch)
        if encoder.floats:
            encoded = [(im.astype(np.float32) / 255.0).ravel().tolist() for im in images]
        else:
            encoded = [encoder.png(im) for im in images]
        t2 = time.thread_time()
        reply = _fill(behavior, batch, encoded, encoder.floats)
        t3 = time.thread_time()
        data = reply.SerializeToString()
        t4 = time.thread_time()
        infos = UnityMessageProto.FromString(data).unity_output.rl_output.agentInfos[behavior.name].value
        t5 = time.thread_time()
        rpc_utils.steps_from_proto(infos, spec)
        t6 = time.thread_time()
        if not encoder.floats:
            for im in encoded:
                rpc_utils.process_pixels(im, 3, [])
        t7 = time.thread_time()
        for stage, a, b in zip(STAGES, (t0, t1, t2, t3, t4, t5, t6), (t1, t2, t3, t4, t5, t6, t7)):
            totals[stage] += b - a
        size += len(data)
    return totals, size, batch


def part2(scene_name: str, areas: int, exchanges: int, rounds: int, end_to_end_ms: float | None,
          floor_ms: float) -> None:
    encoders = [
        Encoder("player", player._png),
        Encoder("before: PIL+blake2b", None),
        Encoder("player, no cache", player.encode_png),
    ]
    if (scene_name, areas) == CAMERA_CASES[0]:  # a what-if, slow (~10x): measured on the first case only
        encoders.append(Encoder("NONE (floats)", floats=True))
    runs = {e.label: [] for e in encoders}
    cached = 0
    for _ in range(rounds):  # variants take turns, so a slower minute of the machine hits them all
        for e in encoders:
            player._PNG_CACHE.clear()
            if e.label.startswith("before"):
                e.png = _pil_blake2b_cached()
            runs[e.label].append(one_pass(scene_name, areas, exchanges, e))
            if e.label == "player":
                cached = len(player._PNG_CACHE)
    player._PNG_CACHE.clear()
    _, _, batch = runs["player"][0]
    scene = SCENES[scene_name]
    per_agent = len(_images(scene.behavior, batch)) // max(len(batch.ids), 1)

    def ms(label, *stages):  # median over the rounds of the stages' mean per exchange
        return statistics.median(sum(t[s] for s in stages) for t, _, _ in runs[label]) / exchanges * 1000

    print(f"\nPart 2: {scene_name} x{areas} ({scene.agents_per_area * areas} agents, {per_agent} camera(s) each), "
          f"mean CPU ms per exchange over {exchanges} exchanges, median of {rounds} rounds")
    print(f"{'stage':42s}" + "".join(f"{e.label:>21s}" for e in encoders))
    rows = [("scene step (numpy, as in-process)", ("scene",)),
            ("camera encode (player)", ("encode",)),
            ("protobuf: fill agent infos (player)", ("fill",)),
            ("protobuf: serialize + parse", ("serialize", "parse")),
            ("client: steps_from_proto (mlagents-envs)", ("client",)),
            ("  of which image decode (PIL, float32)", ("image decode",)),
            ("sum of the stages", STAGES[:6])]
    for label, stages in rows:
        print(f"{label:42s}" + "".join(f"{ms(e.label, *stages):21.3f}" for e in encoders))
    print(f"{'bytes per reply':42s}" + "".join(f"{runs[e.label][0][1] / exchanges:21.0f}" for e in encoders))
    frames = exchanges * len(_images(scene.behavior, batch))
    print(f"player cache after one pass: {cached} distinct frames of ~{frames} sent (~{1 - cached / frames:.0%} answered from it)")
    own = ms("player", "scene", "encode", "fill", "serialize")
    print(f"the stand-in's own share (scene, encode, protobuf): {own:.3f} ms = {own / ms('player', 'client'):.2f} x "
          f"the client's decoding (target <= 0.5)")
    if end_to_end_ms is not None:
        left = end_to_end_ms - ms("player", *STAGES[:6])
        print(f"end to end (part 1, median): {end_to_end_ms:.3f} ms; left for gRPC, the processes' turns and the "
              f"client's Python around the stages: {left:.3f} ms (an empty gRPC exchange alone: {floor_ms:.3f} ms)")
    learner_cost(batch, scene.behavior, scene.agents_per_area * areas, end_to_end_ms)


def learner_cost(batch, behavior, agents: int, end_to_end_ms: float | None) -> None:
    """ms for ML-Agents' ``simple`` CNN on this exchange's images: one forward (acting) and one
    forward+backward (a PPO minibatch pass), in torch on the CPU, if torch is installed."""
    try:
        import torch
        from torch import nn
    except ImportError:
        print("(torch not installed: no CNN comparison)")
        return
    torch.set_num_threads(1)
    cams = [(i, o.shape) for i, o in enumerate(behavior.observations) if o.visual]
    nets = []
    for _, (h, w, c) in cams:
        convs = nn.Sequential(nn.Conv2d(c, 16, 8, 4), nn.LeakyReLU(), nn.Conv2d(16, 32, 4, 2), nn.LeakyReLU(), nn.Flatten())
        flat = convs(torch.zeros(1, c, h, w)).shape[1]
        nets.append(nn.Sequential(convs, nn.Linear(flat, 128), nn.LeakyReLU()))
    head = nn.Linear(128 * len(nets), behavior.discrete_branches[0] if behavior.discrete_branches else 2)
    x = [torch.as_tensor(batch.observations[i][-agents:], dtype=torch.float32).permute(0, 3, 1, 2) / 255.0
         for i, _ in cams]

    def forward():
        return head(torch.cat([net(xi) for net, xi in zip(nets, x)], dim=1))

    def timed(fn, repeats=50):
        fn()
        t0 = time.thread_time()
        for _ in range(repeats):
            fn()
        return (time.thread_time() - t0) / repeats * 1000

    with torch.no_grad():
        act = timed(forward)
    learn = timed(lambda: forward().sum().backward())
    print(f"a 'simple' CNN per camera (torch, 1 thread), this exchange's {agents} agents: forward {act:.3f} ms, "
          f"forward+backward {learn:.3f} ms (CPU)")
    if end_to_end_ms is not None:
        env, learner = end_to_end_ms / agents * 1000, (act + PPO_EPOCHS * learn) / agents * 1000
        print(f"per agent-step: the player's exchange {env:.0f} us; the learner {learner:.0f} us (acting "
              f"{act / agents * 1000:.0f} us + {PPO_EPOCHS} epochs x {learn / agents * 1000:.0f} us) (target: "
              f"exchange below the learner: {'met' if env < learner else 'not met'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="end-to-end measuring time per case (default 3)")
    parser.add_argument("--exchanges", type=int, default=300, help="exchanges per pass, stage by stage (default 300)")
    parser.add_argument("--rounds", type=int, default=3, help="passes per variant, taking turns (default 3)")
    args = parser.parse_args()
    medians = part1(args.seconds)
    floor = _grpc_floor()
    for scene, areas in CAMERA_CASES:
        if scene in SCENES:
            part2(scene, areas, args.exchanges, args.rounds, medians.get((scene, areas)), floor)


if __name__ == "__main__":
    main()
