"""The sidebar's list request with 1,000 runs in the store, beside JupyterLab's own file listing.

    .venv/bin/python bench/sidebar_api.py [--runs 1000] [--iterations 50] [--pairs 30]

Makes a store of ``--runs`` runs (each with ``--iterations`` iteration events, written through
the run store as a training process writes them), starts a real ``jupyter server`` on 127.0.0.1
with the unity-nb server extension, and times, in alternating pairs from one client:

- ``GET /unity-nb/api/runs`` (a page of 50, newest first, each with a 60-point reward series):
  what the sidebar asks every refresh;
- ``GET /api/contents/runs``: JupyterLab's file browser listing the same folder (the peer: what
  a person gets today by opening the runs folder in the file browser).

Printed: medians of the client's round trip and of the server's own time (``server_ms`` in the
answer), their ratio, the first (cold) request, and the prebuilt extension's bundle size.
Target (issue 13): server time per list request <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from unity_nb.train import make_config  # noqa: E402
from unity_nb.train.store import RunStore  # noqa: E402


def make_store(root: Path, runs: int, iterations: int) -> None:
    store = RunStore(root / "runs")
    config = make_config("Basic", steps=10_000)
    for i in range(runs):
        writer = store.create(config, run_id=f"Basic-20261201-{i:06d}-ab12").writer()
        writer.set_state("running")
        for it in range(1, iterations + 1):
            writer.emit({"event": "iteration", "iteration": it, "env_steps": it * 256,
                         "episode_return_mean": it / iterations, "episodes_window": min(100, it * 4)})
        writer.set_state("finished")
        writer.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, token: str) -> tuple[float, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as reply:
        body = reply.read()
    return (time.perf_counter() - started) * 1000, body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--pairs", type=int, default=30)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="unity-nb-sidebar-bench-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        make_store(root, args.runs, args.iterations)
        print(f"store: {args.runs} runs x {args.iterations} iterations in {time.perf_counter() - started:.1f} s")
        port, token = free_port(), secrets.token_hex(16)
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(root / "config"), JUPYTER_RUNTIME_DIR=str(root / "rt"))
        env.pop("UNITY_NB_RUNS", None)
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("jupyter")), "server", "--no-browser", "--ip=127.0.0.1",
             f"--port={port}", f"--IdentityProvider.token={token}", "--ServerApp.allow_root=True",
             f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0"],
            env=env, stdout=subprocess.DEVNULL, stderr=open(root / "server.log", "w"), start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    get(f"{base}/api/status", token)
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit(f"jupyter server did not start: {(root / 'server.log').read_text()[-2000:]}")
                    time.sleep(0.2)
            ours, peer = f"{base}/unity-nb/api/runs?limit=50&points=60", f"{base}/api/contents/runs"
            cold_ms, body = get(ours, token)
            cold_server = json.loads(body)["server_ms"]
            get(peer, token)
            mine, server_side, theirs = [], [], []
            for _ in range(args.pairs):
                ms, body = get(ours, token)
                mine.append(ms)
                server_side.append(json.loads(body)["server_ms"])
                theirs.append(get(peer, token)[0])
            page = json.loads(body)
            assert page["total"] == args.runs and len(page["runs"]) == 50
        finally:
            server.terminate()
            server.wait(timeout=30)

    bundle = sum(p.stat().st_size for p in (REPO / "unity_nb" / "labextension" / "static").glob("*.js"))
    print(f"\n{'request (median of ' + str(args.pairs) + ')':<52}{'round trip ms':>15}{'server ms':>11}")
    print(f"{'GET /unity-nb/api/runs (50 of ' + str(args.runs) + ', with series)':<52}"
          f"{statistics.median(mine):>15.1f}{statistics.median(server_side):>11.1f}")
    print(f"{'GET /api/contents/runs (file browser, ' + str(args.runs) + ' entries)':<52}"
          f"{statistics.median(theirs):>15.1f}{'-':>11}")
    print(f"{'first (cold) runs request':<52}{cold_ms:>15.1f}{cold_server:>11.1f}")
    ratio = statistics.median(mine) / statistics.median(theirs)
    print(f"\nsidebar list / file-browser list (round trip): {ratio:.2f}")
    verdict = "met" if statistics.median(server_side) <= 50 else "NOT met"
    print(f"server time per list request: {statistics.median(server_side):.1f} ms (target <= 50 ms: {verdict})")
    print(f"extension bundle (static/*.js): {bundle / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
