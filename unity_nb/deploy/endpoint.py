"""Local endpoints: an exported policy served over HTTP, one process each.

    python -m unity_nb.deploy.endpoint MODEL.onnx [--port 8080] [--host 127.0.0.1]

serves ``PolicyHandler`` (``GET /ping``, ``POST /invocations``, ``GET /`` describes the
model) until SIGTERM. Each running endpoint leaves a record in the kit's cache folder
(``endpoints/<port>.json``) so ``unity-nb endpoints`` lists them from any process;
the record goes when the endpoint stops. ``start`` / ``Endpoint`` are the kernel side.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..envs.builds import _cache_dir
from ..errors import BadValue, MissingFile, NotPossible, PortInUse, TimedOut
from ..processes import free_port, pid_alive, port_open
from .handler import JSON, MAX_BODY, PolicyHandler

START_TIMEOUT = 60.0


def registry() -> Path:
    return _cache_dir() / "endpoints"


# ---------------------------------------------------------------- the endpoint process
def _http_handler(policy: PolicyHandler):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a client's requests share one connection
        server_version = "unity-nb-endpoint"

        def setup(self):
            super().setup()
            # headers and body leave as separate writes: without this, Nagle's algorithm and the
            # client's delayed ACK hold each answer back ~40 ms
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _reply(self, status: int, body: bytes, kind: str = JSON, close: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str, close: bool = False) -> None:
            self._reply(status, json.dumps({"error": message}).encode(), close=close)

        def do_GET(self):  # noqa: N802 (http.server's names)
            if self.path == "/ping":
                self._reply(*policy.ping())
            elif self.path == "/":
                self._reply(200, json.dumps(policy.describe()).encode())
            else:
                self._error(404, f"no route {self.path}: use GET /ping or POST /invocations")

        def do_POST(self):  # noqa: N802
            if self.path != "/invocations":
                self._error(404, f"no route {self.path}: use POST /invocations")
                return
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self._error(411, "send a Content-Length header", close=True)
                return
            if int(length) > MAX_BODY:  # refused unread; the connection closes
                self._error(413, f"the body is {length} bytes; at most {MAX_BODY} are accepted", close=True)
                return
            body = self.rfile.read(int(length))
            self._reply(*policy.invoke(body, self.headers.get("Content-Type"), self.headers.get("Accept")))

        def log_message(self, format, *args):  # one line per request is too much at thousands per second
            pass

    return Handler


def serve(model: Path, host: str, port: int, run_id: str | None = None) -> int:
    policy = PolicyHandler(model)
    class Server(ThreadingHTTPServer):
        request_queue_size = 512  # many clients at once wait to be accepted instead of being reset
        daemon_threads = True

    try:
        server = Server((host, port), _http_handler(policy))
    except OSError as err:
        print(f"unity-nb endpoint: cannot listen on {host}:{port} ({err.strerror}); choose another --port",
              file=sys.stderr, flush=True)
        return 2
    record = registry() / f"{port}.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"url": f"http://{host}:{port}", "port": port, "host": host, "pid": os.getpid(),
                                  "model": str(model.resolve()), "run": run_id, "started": time.time()}))
    stopping = []

    def stop(*_):  # shutdown() waits for serve_forever: it must run in another thread than the handler's
        if not stopping:
            stopping.append(True)
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"unity-nb endpoint: serving {model.name} on http://{host}:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        record.unlink(missing_ok=True)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m unity_nb.deploy.endpoint",
                                     description="Serve an exported unity-nb policy (.onnx) over HTTP.")
    parser.add_argument("model", type=Path, help="the exported .onnx file")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080, as SageMaker's)")
    parser.add_argument("--run", help="the run it comes from (shown by `unity-nb endpoints`)")
    args = parser.parse_args(argv)
    return serve(args.model, args.host, args.port, args.run)


# ---------------------------------------------------------------- the kernel side
@dataclass
class Endpoint:
    """A running local endpoint: ``url``, ``invoke(observations)``, ``stop()``."""

    url: str
    port: int
    pid: int
    model: str
    run: str | None = None

    def invoke(self, observations, action_masks=None, deterministic: bool = True, timeout: float = 10.0):
        """POST observations to /invocations; returns the actions (a list per observation)."""
        body = {"observations": _plain(observations), "deterministic": deterministic}
        if action_masks is not None:
            body["action_masks"] = _plain(action_masks)
        request = urllib.request.Request(f"{self.url}/invocations", data=json.dumps(body).encode(),
                                         headers={"Content-Type": JSON}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return json.loads(reply.read())["actions"]
        except urllib.error.HTTPError as err:
            raise BadValue(f"the endpoint refused the request ({err.code}): "
                           f"{json.loads(err.read()).get('error')}") from None

    @property
    def alive(self) -> bool:
        return port_open(f"127.0.0.1:{self.port}") and pid_alive(self.pid)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving; the port is free when this returns."""
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pid_alive(self.pid):
            time.sleep(0.05)
        (registry() / f"{self.port}.json").unlink(missing_ok=True)

    def describe(self) -> dict:
        """What the endpoint expects and returns (its GET /)."""
        with urllib.request.urlopen(f"{self.url}/", timeout=5) as reply:
            return json.loads(reply.read())

    def curl(self) -> str:
        """A command line that asks the endpoint for the action of one (all-zero) observation."""
        from .handler import example_request

        try:
            sensors = self.describe()["observations"]
        except OSError:
            sensors = [1]
        example = example_request(sensors)
        body = json.dumps({"observations": [example] if len(sensors) == 1 else [[s] for s in example]},
                          separators=(",", ":"))
        return f"curl -s {self.url}/invocations -H 'Content-Type: application/json' -d '{body}'"

    def __repr__(self):
        return f"Endpoint({self.url}, model={Path(self.model).name}" + (f", run={self.run})" if self.run else ")")


def _plain(value):
    """JSON-ready: arrays (or a list of arrays, one per sensor) as nested lists."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value.tolist() if hasattr(value, "tolist") else value


def start(model: str | Path, port: int | None = None, host: str = "127.0.0.1", run_id: str | None = None) -> Endpoint:
    """Start serving ``model`` in a background process; returns once it answers /ping."""
    model = Path(model)
    if not model.is_file():
        raise MissingFile(f"no exported model at {str(model)!r}: export the run first (unity-nb export RUN)")
    if port is not None and not (isinstance(port, int) and 0 < port < 65536):
        raise BadValue(f"port must be a whole number from 1 to 65535, got {port!r}")
    if port is not None and port_open(f"127.0.0.1:{port}"):
        raise PortInUse(f"port {port} is already in use on this machine; choose another port (or leave it out)")
    port = port or free_port()
    log = _cache_dir() / "endpoints" / f"{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "unity_nb.deploy.endpoint", str(model), "--port", str(port), "--host", host,
         *(["--run", run_id] if run_id else [])],
        stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + START_TIMEOUT
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise NotPossible(f"the endpoint exited before serving: {log.read_text().strip()[-500:]}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=1) as reply:
                if reply.status == 200:
                    return Endpoint(url, port, process.pid, str(model.resolve()), run_id)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise TimedOut(f"the endpoint did not answer /ping within {START_TIMEOUT:.0f} s; see {log}")


def endpoints() -> list[Endpoint]:
    """The local endpoints running on this machine (records of stopped ones are tidied away)."""
    found = []
    for record in sorted(registry().glob("*.json")) if registry().is_dir() else []:
        try:
            data = json.loads(record.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not pid_alive(data.get("pid", 0)):
            record.unlink(missing_ok=True)
            continue
        found.append(Endpoint(data["url"], data["port"], data["pid"], data["model"], data.get("run")))
    return found


if __name__ == "__main__":
    sys.exit(main())
