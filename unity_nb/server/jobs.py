"""Slow things the sidebar asks for (export, deploy, a video), each a ``unity-nb`` command in its own process.

The Jupyter server never imports Ray, RLlib or torch and never blocks on them: it starts the
same command a person would type, keeps its output in the run's ``logs/`` (nothing is lost
if the server restarts) and answers "running / done / failed" with the output's tail.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BadValue, NotPossible
from ..run import Run

ACTIONS = ("export", "deploy", "video", "fork")
URL = re.compile(r"https?://[\w.:-]+")
STARTED_RUN = re.compile(r"^unity-nb: run (\S+) \(", re.M)  # the line `unity-nb train`/`fork` starts with


@dataclass
class Job:
    """One command the sidebar started for a run."""

    id: str
    action: str
    run: Run
    process: subprocess.Popen | None  # None: nothing to run (the video exists already)
    log: Path | None
    started: float = field(default_factory=time.time)
    video: Path | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def describe(self) -> dict[str, Any]:
        code = 0 if self.process is None else self.process.poll()
        output = self.log.read_text(errors="replace") if self.log is not None and self.log.exists() else ""
        state = "running" if code is None else ("done" if code == 0 else "failed")
        out: dict[str, Any] = {"id": self.id, "action": self.action, "run": self.run.id, "state": state,
                               "exit_code": code, "started": self.started, "output": output[-4000:],
                               "log": self.log and str(self.log)}
        if state == "done" and self.action == "deploy":
            found = URL.findall(output)
            out["url"] = found[0] if found else None
        if self.action == "fork":  # the new run, once the command has made it (it then watches it train)
            found = STARTED_RUN.findall(output)
            out["fork"] = found[0] if found else None
        if state == "done" and self.video is not None:
            out["file"] = self.video.relative_to(self.run.path).as_posix()
        if state == "failed":  # the command's own one-line reason, for a notification
            lines = output.strip().splitlines()
            errors = [line for line in lines if "error:" in line]
            out["error"] = (errors or lines or [f"exited with code {code}"])[-1]
        return out


class Jobs:
    """The commands started by this server (forgotten when it stops; their logs stay)."""

    def __init__(self):
        self._jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)

    def start(self, action: str, run: Run, runs_root: Path, words: list[str] = ()) -> Job:
        """Start ``action``'s command for ``run`` (``words``: a fork's settings, checked by the caller)."""
        if action not in ACTIONS:
            raise BadValue(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        running = [j for j in self._jobs.values()
                   if j.run.id == run.id and j.action == action and j.running and action != "fork"]
        if running:  # a second click while the first is busy joins it (each fork is a new run)
            return running[0]
        command = [sys.executable, "-m", "unity_nb.cli", action, run.id, "--runs-dir", str(runs_root)]
        video = None
        job_id = f"{next(self._ids)}"
        if action == "video":
            checkpoint = run.latest_checkpoint()
            if checkpoint is None:
                raise NotPossible(f"run {run.id} has no checkpoint yet: a video needs trained weights")
            video = run.videos_dir / f"{checkpoint.name}.mp4"
            if video.exists():  # this checkpoint was filmed already: nothing to run
                job = self._jobs[job_id] = Job(job_id, action, run, None, None, video=video)
                return job
            run.videos_dir.mkdir(exist_ok=True)
            command += ["--out", str(video), "--max-frames", "300"]
        if action == "fork":  # the fork is watched by its own dashboard or the sidebar: no evaluation at the end
            command += ["--eval-episodes", "0", *words]
        log = run.log_path(f"sidebar-{action}-{time.strftime('%Y%m%d-%H%M%S')}-{job_id}")
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       cwd=run.path, start_new_session=True)
        job = self._jobs[job_id] = Job(job_id, action, run, process, log, video=video)
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)
