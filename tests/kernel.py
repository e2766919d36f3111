"""A real IPython kernel for tests: run code, collect what a front-end would receive."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from jupyter_client.manager import start_new_kernel


@dataclass
class Reply:
    status: str
    outputs: list[dict] = field(default_factory=list)  # iopub messages' content, with msg_type
    payload: list[dict] = field(default_factory=list)  # e.g. the pager text of `%magic?`
    error: dict | None = None

    @property
    def text(self) -> str:
        """Everything printed or shown as text/plain, stderr included."""
        parts = []
        for out in self.outputs:
            if out["msg_type"] == "stream":
                parts.append(out["text"])
            elif "data" in out:
                parts.append(out["data"].get("text/plain", ""))
        if self.error:
            parts.append(f"{self.error['ename']}: {self.error['evalue']}")
        return "".join(parts)

    @property
    def value(self) -> str:
        """The text/plain of the cell's result (execute_result)."""
        for out in self.outputs:
            if out["msg_type"] == "execute_result":
                return out["data"]["text/plain"]
        raise AssertionError(f"no result; got: {self.text}")

    def displays(self) -> list[dict]:
        return [o for o in self.outputs if o["msg_type"] in ("display_data", "execute_result")]


class Kernel:
    """One python3 kernel (the venv's), started in ``cwd``; ``run(code)`` returns a Reply."""

    def __init__(self, cwd, env: dict | None = None):
        environ = dict(os.environ, **(env or {}))
        environ.pop("MPLBACKEND", None)
        # "python3" is the native kernel: this interpreter (the venv's), so it sees unity_nb
        self.km, self.kc = start_new_kernel(kernel_name="python3", cwd=str(cwd), env=environ)
        self.kc.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 300) -> Reply:
        msg_id = self.kc.execute(code)
        reply = Reply(status="?")
        while True:
            msg = self.kc.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content["execution_state"] == "idle":
                break
            if kind in ("stream", "display_data", "execute_result", "update_display_data"):
                reply.outputs.append({"msg_type": kind, **content})
            elif kind == "error":
                reply.error = content
        shell = self.kc.get_shell_msg(timeout=timeout)
        while shell["parent_header"].get("msg_id") != msg_id:  # e.g. a late kernel_info_reply
            shell = self.kc.get_shell_msg(timeout=timeout)
        reply.status = shell["content"]["status"]
        reply.payload = shell["content"].get("payload", [])
        if reply.status == "error" and reply.error is None:
            reply.error = {"ename": shell["content"].get("ename"), "evalue": shell["content"].get("evalue")}
        return reply

    def ok(self, code: str, timeout: float = 300) -> Reply:
        """Run code that must not fail."""
        reply = self.run(code, timeout)
        assert reply.status == "ok" and reply.error is None, f"{code!r} failed:\n{reply.text}\n{reply.error}"
        return reply

    def restart(self) -> None:
        self.km.restart_kernel(now=True)
        self.kc.wait_for_ready(timeout=60)

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=False)
