"""The REST API under ``/unity-nb/api/`` that the "Unity RL" sidebar reads (all JSON, all authenticated).

    GET    runs?offset=&limit=&points=        newest first: state, backend, steps, return, a reward series
    GET    runs/<id>?since=BYTES              one run: summary, settings, status, events since a byte offset
    GET    runs/<id>/stream?since=BYTES       the same events live (server-sent events) until the run ends
    POST   runs/<id>/stop                     checkpoint, then stop
    POST   runs/<id>/export|deploy|video      a unity-nb command in its own process: {"job": {...}}
    POST   runs/<id>/fork {"settings": "--lr 1e-4"}   the same: a fork with those settings changed (checked first)
    GET    runs/<id>/artifacts                exported models and kept videos
    GET    files/<id>/<export|videos>/<name>  one of those files (ranges, for video seeking)
    GET    jobs/<n>                           how such a command is doing
    GET    endpoints[?sagemaker=1]            running endpoints (SageMaker's only when asked: it calls AWS)
    DELETE endpoints/<port>                   stop a local endpoint
    GET    quickstart                         the quickstart notebook (the launcher card copies it)

Every run id goes through the run store's check (no path, no link, nothing outside the store);
``runs_dir=`` picks another store inside the server's root folder. Errors are JSON:
``{"message": "..."}`` with a 4xx status naming what was wrong.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.iostream import StreamClosedError

from ..errors import BadValue, UnityNbError
from ..train.store import RunNotFound
from .index import MAX_PAGE_LIMIT, PAGE_LIMIT
from .jobs import ACTIONS

STREAM_POLL = 0.25  # seconds between looks at a streamed run's events
STREAM_PING = 15.0  # a comment line this often keeps proxies from closing a quiet stream
AUTH_RESOURCE = "unity_nb"


class _Kit:
    """What every handler here needs: the server's kit, the run index, checked arguments."""

    auth_resource = AUTH_RESOURCE

    @property
    def kit(self):
        return self.settings["unity_nb"]

    def index(self):
        """The run index of the store asked for (``runs_dir=``), or the server's."""
        try:
            return self.kit.index_for(self.get_query_argument("runs_dir", None))
        except ValueError as err:
            raise web.HTTPError(400, str(err)) from None

    def run_of(self, run_id: str):
        try:
            return self.index().get(run_id)
        except RunNotFound as err:
            raise web.HTTPError(404, str(err)) from None

    def int_argument(self, name: str, default: int, low: int = 0, high: int | None = None) -> int:
        text = self.get_query_argument(name, None)
        if text is None:
            return default
        if not text.isdigit() or (high is not None and int(text) > high) or int(text) < low:
            limit = f" from {low} to {high}" if high is not None else f" of at least {low}"
            raise web.HTTPError(400, f"{name} must be a whole number{limit}, got {text[:40]!r}")
        return int(text)


class _Base(_Kit, APIHandler):
    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str))


class RunsHandler(_Base):
    @web.authenticated
    @authorized
    async def get(self):
        offset = self.int_argument("offset", 0)
        limit = self.int_argument("limit", PAGE_LIMIT, 1, MAX_PAGE_LIMIT)
        points = self.int_argument("points", 60, 0, 1000)
        index = self.index()
        self.reply(await asyncio.to_thread(index.page, offset, limit, points))  # a slow disk never stalls the server


class RunHandler(_Base):
    @web.authenticated
    @authorized
    async def get(self, run_id: str):
        since = self.int_argument("since", 0)
        self.reply(await asyncio.to_thread(self._read, run_id, since))

    def _read(self, run_id: str, since: int) -> dict[str, Any]:
        run, index = self.run_of(run_id), self.index()
        try:
            events, after, skipped = run.scan_events(since)
            summary, config, status = index.summary(run_id), run.config.to_dict(), run.status
        except (FileNotFoundError, RunNotFound):
            raise web.HTTPError(404, f"run {run_id} is gone: its folder was deleted") from None
        status["state"] = status["state"].value
        return {"run": summary, "config": config, "status": status, "events": events, "next": after,
                "skipped_lines": skipped}


class StreamHandler(_Base):
    """Server-sent events: ``event: events`` with {events, next} as they are written, ``event: end`` at the end."""

    @web.authenticated
    @authorized
    async def get(self, run_id: str):
        run = self.run_of(run_id)
        offset = self.int_argument("since", 0)
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        quiet = 0.0
        try:
            while True:
                events, offset, ended = await asyncio.to_thread(run.poll_events, offset)
                if events:
                    self.write(f"event: events\ndata: {json.dumps({'events': events, 'next': offset})}\n\n")
                    await self.flush()
                    quiet = 0.0
                elif ended:
                    self.write(f"event: end\ndata: {json.dumps({'state': run.state.value, 'next': offset})}\n\n")
                    break
                else:
                    quiet += STREAM_POLL
                    if quiet >= STREAM_PING:
                        self.write(": still here\n\n")
                        await self.flush()
                        quiet = 0.0
                    await asyncio.sleep(STREAM_POLL)
        except StreamClosedError:  # the browser went away
            return
        self.finish()


class StopHandler(_Base):
    @web.authenticated
    @authorized
    async def post(self, run_id: str):
        run = self.run_of(run_id)
        from ..train import stop

        try:  # through the train API: a SageMaker run is stopped where it runs
            await asyncio.to_thread(stop, run.id, self.index().root, False)
        except OSError as err:
            raise web.HTTPError(409, f"cannot ask run {run.id} to stop: {err.strerror or err} "
                                     f"(is {self.index().root} read-only?)") from None
        self.reply({"id": run.id, "state": run.state.value, "stop_requested": run.stop_requested})


class ActionHandler(_Base):
    @web.authenticated
    @authorized
    async def post(self, run_id: str, action: str):
        run, index = self.run_of(run_id), self.index()
        words: list[str] = []
        try:
            if action == "fork":
                words = await asyncio.to_thread(self._fork_settings, run)
            job = self.kit.jobs.start(action, run, index.root.absolute(), words)
        except UnityNbError as err:
            raise web.HTTPError(400 if isinstance(err, ValueError) else 409, str(err)) from None
        except (RuntimeError, ValueError) as err:
            raise web.HTTPError(409, str(err)) from None
        except OSError as err:
            raise web.HTTPError(409, f"cannot start {action} for run {run.id}: {err.strerror or err}") from None
        self.reply({"job": job.describe()}, 202)


    def _fork_settings(self, run) -> list[str]:
        """The words of a fork's settings (``{"settings": "--lr 1e-4"}``), refused here with the reason when
        they or the run cannot make a fork (no checkpoint, a setting the checkpoint holds)."""
        from ..train.forks import fork_config, latest_checkpoint
        from ..verbs import settings_from_text

        try:
            body = json.loads(self.request.body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadValue('the body must be JSON like {"settings": "--lr 1e-4"}') from None
        if not isinstance(body, dict) or set(body) - {"settings"}:
            raise BadValue('the body must be JSON like {"settings": "--lr 1e-4"}')
        words, changes = settings_from_text(body.get("settings", ""))
        fork_config(run, latest_checkpoint(run), changes)  # what the command would refuse, said now
        return words


class JobHandler(_Base):
    @web.authenticated
    @authorized
    async def get(self, job_id: str):
        job = self.kit.jobs.get(job_id)
        if job is None:
            raise web.HTTPError(404, f"no job {job_id[:40]!r} on this server (jobs are forgotten when it restarts)")
        self.reply({"job": await asyncio.to_thread(job.describe)})


class ArtifactsHandler(_Base):
    @web.authenticated
    @authorized
    async def get(self, run_id: str):
        run = self.run_of(run_id)
        files = []
        for path in await asyncio.to_thread(run.artifacts):
            relative = path.relative_to(run.path).as_posix()
            files.append({"name": path.name, "path": relative, "kind": path.parent.name, "bytes": path.stat().st_size,
                          "url": url_path_join(self.base_url, "unity-nb/api/files", run.id, relative)})
        self.reply({"id": run.id, "files": files})


class FileHandler(_Kit, JupyterHandler, web.StaticFileHandler):
    """One exported model or kept video of a run (byte ranges, so a video can seek)."""

    def get_login_url(self):
        raise web.HTTPError(403)  # as the API handlers: a 403, never a redirect to a login page

    def write_error(self, status_code: int, **kwargs):
        self.set_header("Content-Type", "application/json")
        error = kwargs.get("exc_info", (None, None))[1]
        message = getattr(error, "log_message", None) or self._reason
        self.finish(json.dumps({"message": message}))

    @web.authenticated
    @authorized
    def get(self, path: str, include_body: bool = True):
        return web.StaticFileHandler.get(self, self._checked(path), include_body=include_body)

    @web.authenticated
    @authorized
    def head(self, path: str):
        return web.StaticFileHandler.get(self, self._checked(path), include_body=False)

    def _checked(self, path: str) -> str:
        run_id, _, inner = path.partition("/")
        run = self.run_of(run_id)
        wanted = {p.relative_to(run.path).as_posix(): p for p in run.artifacts()}
        if inner not in wanted:
            raise web.HTTPError(404, f"run {run.id} has no file {inner[:80]!r}; it has "
                                     f"{', '.join(wanted) or 'none yet (export it, or make a video)'}")
        return str(wanted[inner].resolve()).lstrip("/")

    def get_content_type(self) -> str:
        return {".mp4": "video/mp4", ".gif": "image/gif"}.get(Path(self.absolute_path).suffix,
                                                              "application/octet-stream")


class EndpointsHandler(_Base):
    @web.authenticated
    @authorized
    async def get(self):
        from ..deploy.endpoint import endpoints

        local = [{"port": e.port, "url": e.url, "pid": e.pid, "model": e.model, "run": e.run}
                 for e in await asyncio.to_thread(endpoints)]
        out: dict[str, Any] = {"local": local}
        if self.get_query_argument("sagemaker", "0") not in ("0", "", "false"):
            out["sagemaker"], out["sagemaker_note"] = await asyncio.to_thread(_sagemaker_endpoints)
        self.reply(out)


def _sagemaker_endpoints() -> tuple[list, str | None]:
    from ..deploy.listing import SageMakerNote, sagemaker_endpoints

    found = sagemaker_endpoints(None)
    notes = [str(e) for e in found if isinstance(e, SageMakerNote)]
    rows = [{"name": e.name, "url": getattr(e, "url", None), "status": getattr(e, "status", None),
             "run": getattr(e, "run", None)} for e in found if not isinstance(e, SageMakerNote)]
    return rows, (notes[0] if notes else None)


class EndpointHandler(_Base):
    @web.authenticated
    @authorized
    async def delete(self, port: str):
        from ..deploy.endpoint import endpoints

        running = {str(e.port): e for e in await asyncio.to_thread(endpoints)}
        if port not in running:
            raise web.HTTPError(404, f"no local endpoint on port {port[:10]!r}; running: "
                                     f"{', '.join(running) or 'none'}")
        await asyncio.to_thread(running[port].stop)
        self.reply({"stopped": int(port)})


class QuickstartHandler(_Base):
    @web.authenticated
    @authorized
    async def get(self):
        path = self.kit.quickstart_path()
        if path is None:
            raise web.HTTPError(404, "the quickstart notebook is not installed with this copy of unity-nb")
        self.reply(json.loads(path.read_text()))


def handlers(base_url: str) -> list[tuple]:
    api = url_path_join(base_url, "unity-nb", "api")
    run = r"/runs/(?P<run_id>[^/]+)"
    return [
        (api + r"/runs/?", RunsHandler),
        (api + run + r"/?", RunHandler),
        (api + run + r"/stream", StreamHandler),
        (api + run + r"/stop", StopHandler),
        (api + run + r"/artifacts", ArtifactsHandler),
        (api + run + rf"/(?P<action>{'|'.join(ACTIONS)})", ActionHandler),
        (api + r"/files/(.+)", FileHandler, {"path": "/"}),
        (api + r"/jobs/(?P<job_id>[^/]+)", JobHandler),
        (api + r"/endpoints/?", EndpointsHandler),
        (api + r"/endpoints/(?P<port>[^/]+)", EndpointHandler),
        (api + r"/quickstart", QuickstartHandler),
    ]

