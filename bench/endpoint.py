"""The deploy path's costs: endpoint latency and throughput beside its peers, and the export time.

    .venv/bin/python bench/endpoint.py [--requests 3000]

Trains a Basic and a short 3DBall run, exports both, then for batch 1 and 64:
- the local endpoint over loopback HTTP (one keep-alive client, JSON), p50/p99 latency and requests/s;
- the same ONNX file through onnxruntime in this process (what the HTTP layer adds is the difference);
- the trained torch policy's forward pass (``Policy.act``, what RLlib serves without export).
Targets (2 cores): HTTP overhead <= 0.5 ms p50 at batch 1; >= 2,000 requests/s at batch 1;
ONNX at least as fast as torch; a 3DBall export (file + contract check) <= 2 s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import time

import numpy as np


def timings(call, n: int) -> np.ndarray:
    for _ in range(min(200, n)):  # warm up
        call()
    out = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        call()
        out[i] = time.perf_counter() - t0
    return out * 1000.0


def line(name: str, ms: np.ndarray) -> str:
    return (f"  {name:30s} p50 {np.median(ms):7.3f} ms  p99 {np.percentile(ms, 99):7.3f} ms  "
            f"{1000.0 / ms.mean():8.0f} per s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per measurement (default 3000)")
    args = parser.parse_args()

    import unity_nb.train as ut
    from unity_nb.deploy.handler import PolicyHandler
    from unity_nb.evaluate.policy import Policy

    root = tempfile.mkdtemp(prefix="bench-endpoint-")
    basic = ut.train("Basic", runs_dir=root, steps=20_000).wait(600)
    ball = ut.train("3DBall", runs_dir=root, steps=3000, target_return="off").wait(600)
    basic.export(verify=200)
    t0 = time.perf_counter()
    ball_export = ball.export(verify=1000)
    export_s = time.perf_counter() - t0
    print(f"3DBall export (file, contract check, 2,000 observations compared; torch and RLlib already imported "
          f"by Basic's export): {export_s:.2f} s "
          f"(target <= 2 s: {'met' if export_s <= 2 else 'NOT met'}); ok={ball_export.ok}")

    endpoint = basic.deploy()
    handler = PolicyHandler(basic.export_path("Basic"))
    policy = Policy(basic.latest_checkpoint())
    try:
        connection = http.client.HTTPConnection("127.0.0.1", endpoint.port)
        results = {}
        for batch in (1, 64):
            obs = np.zeros((batch, 20), np.float32)
            obs[:, 10] = 1.0
            body = json.dumps({"observations": obs.tolist()}).encode()

            def over_http():
                connection.request("POST", "/invocations", body, {"Content-Type": "application/json"})
                reply = connection.getresponse()
                reply.read()
                assert reply.status == 200

            print(f"Basic policy, batch {batch}:")
            results[batch] = {
                "http": timings(over_http, args.requests),
                "onnx": timings(lambda: handler.act([obs]), args.requests),
                "torch": timings(lambda: policy.act(obs), args.requests),
            }
            for name, label in (("http", "endpoint over HTTP (JSON)"), ("onnx", "onnxruntime in-process"),
                                ("torch", "torch policy forward")):
                print(line(label, results[batch][name]))
        one = results[1]
        overhead = float(np.median(one["http"]) - np.median(one["onnx"]))
        rate = 1000.0 / one["http"].mean()
        ratio = float(np.median(one["torch"]) / np.median(one["onnx"]))
        print(f"HTTP overhead at batch 1: {overhead:.3f} ms p50 (target <= 0.5: {'met' if overhead <= 0.5 else 'NOT met'}); "
              f"{rate:.0f} requests/s (target >= 2000: {'met' if rate >= 2000 else 'NOT met'}); "
              f"torch / onnx time at batch 1: {ratio:.1f} (target >= 1: {'met' if ratio >= 1 else 'NOT met'})")
    finally:
        endpoint.stop()


if __name__ == "__main__":
    main()
