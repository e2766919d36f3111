"""Steps per second of the built-in scenes, in-process and through the stand-in with the real client.

    .venv/bin/python bench/env_steps.py [--seconds 3]

Prints, per scene: exchanges/s and agent-steps/s both ways, the player/in-process
ratio, and the protocol overhead per exchange (player time minus in-process time
for the same step). Targets (2 cores): 3DBall >= 10,000 agent-steps/s through the
full protocol; overhead <= 0.5 ms per exchange. For reference, Unity's own Python
API was measured at ~1,100 single-agent steps/s against a real Unity player
(a figure quoted in the issue, not run here: no Unity binary can run on this machine).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import unity_nb.envs  # noqa: F401  (protobuf hook)
from mlagents_envs.base_env import ActionTuple
from unity_nb.envs.inprocess import InProcessEnv
from unity_nb.envs.builds import player_file
from unity_nb.envs.unity import UnityConnection

UNITY_REFERENCE_STEPS = 1100.0


def _run(env, seconds: float) -> tuple[float, int]:
    env.reset()
    (name,) = list(env.behavior_specs)
    spec = env.behavior_specs[name].action_spec
    n = len(env.get_steps(name)[0])
    rng = np.random.default_rng(0)
    exchanges, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        action = spec.random_action(n)
        if spec.continuous_size:
            action = ActionTuple(continuous=rng.uniform(-1, 1, (n, spec.continuous_size)).astype(np.float32),
                                 discrete=action.discrete)
        env.set_actions(name, action)
        env.step()
        n = len(env.get_steps(name)[0])
        exchanges += 1
    return exchanges / (time.perf_counter() - started), n


def _grpc_floor(exchanges: int = 3000) -> float:
    """ms per exchange of bare messages through the same server and a Python gRPC client: the floor."""
    import subprocess
    import sys

    from mlagents_envs.communicator_objects.unity_message_pb2 import UnityMessageProto

    from unity_nb.envs.unity import _LoopbackCommunicator
    from unity_nb.processes import free_port

    client = (
        "import sys, grpc, unity_nb.envs\n"
        "from mlagents_envs.communicator_objects.unity_message_pb2 import UnityMessageProto\n"
        "from mlagents_envs.communicator_objects.unity_to_external_pb2_grpc import UnityToExternalProtoStub\n"
        "ex = UnityToExternalProtoStub(grpc.insecure_channel('localhost:' + sys.argv[1])).Exchange\n"
        "m = UnityMessageProto(); m.header.status = 200\n"
        "while ex(m).header.status == 200: pass\n"
    )
    port = free_port()
    comm = _LoopbackCommunicator(0, port, 30)
    proc = subprocess.Popen([sys.executable, "-c", client, str(port)])
    message = UnityMessageProto()
    message.header.status = 200
    pipe = comm.unity_to_external.parent_conn
    pipe.recv()
    for i in range(exchanges):
        if i == exchanges // 5:
            started = time.perf_counter()
        pipe.send(message)
        pipe.recv()
    elapsed = time.perf_counter() - started
    comm.close()
    proc.wait()
    return elapsed / (exchanges - exchanges // 5) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per case (default 3)")
    parser.add_argument("--num-areas", type=int, default=1, help="training areas per scene (default 1)")
    args = parser.parse_args()
    print(f"{'scene':10s} {'agents':>6s} {'in-process ex/s':>16s} {'player ex/s':>12s} {'player agent-steps/s':>21s} "
          f"{'player/inproc':>13s} {'overhead ms/ex':>15s} {'vs Unity ref':>12s}")
    floor = _grpc_floor()
    for scene in ("Basic", "3DBall", "GridWorld"):
        fast, n = _run(InProcessEnv(scene, num_areas=args.num_areas), args.seconds)
        conn = UnityConnection(player_file(scene), num_areas=args.num_areas)
        try:
            slow, _ = _run(conn.env, args.seconds)
        finally:
            conn.close()
        overhead_ms = (1 / slow - 1 / fast) * 1000
        print(f"{scene:10s} {n:6d} {fast:16.0f} {slow:12.0f} {slow * n:21.0f} {slow / fast:13.3f} {overhead_ms:15.3f} "
              f"{slow * n / UNITY_REFERENCE_STEPS:11.1f}x", flush=True)
    print(f"floor: an empty message through the same gRPC server and a Python gRPC client takes {floor:.3f} ms/exchange")


if __name__ == "__main__":
    main()
