"""The live dashboard of one training run: curves, progress, status, and Stop, Deploy and Fork buttons.

It reads the run folder only (``Run.read_events``), so it attaches to any run
by id, also one started before a kernel restart or by ``unity-nb train`` in a
terminal. A background thread tails the run's events and redraws at most
``max_updates_per_s`` times a second; it only updates widgets and the figure,
never prints or displays, so output never lands in another cell. A fork's curves
continue its parent's, drawn faint up to the step it was forked at.
"""

from __future__ import annotations

import html
import math
import os
import threading
import time

from ..errors import BadValue, UnityNbError, WrongType
from ..train.forks import changes_text
from ..train.metrics import BLUE, GREEN, HEADLINE, drawn, panels
from ..train.schema import TERMINAL, confirmation_low, confirmation_text
from ..run import Run
from .figures import DRAW_LOCK, bundle, live_figure

STATE_COLORS = {"starting": "#888", "running": "#1a73e8", "stopping": "#b06000", "finished": "#188038", "stopped": "#b06000",
                "failed": "#d93025", "unknown": "#888"}


class Dashboard:
    """Live view of a run. Display it (it is the cell's output) and it updates itself.

    run: a ``Run`` (``unity_nb.train(...)`` returns one) or a run id.
    max_updates_per_s: redraws per second at most (default 10).
    poll: seconds between looks at the run folder (default 0.1).
    figure: "browser" (default) draws the live curves in the browser from widget state: it keeps
    growing while a later cell blocks (``run.wait()``) and costs training next to nothing;
    "matplotlib" shows a live ipympl figure instead (``.fig``, to zoom or restyle). Either way
    the saved notebook holds a picture of the curves for viewers without widgets.

    ``.points`` holds the iteration events drawn so far (``.before``: those of the runs a fork goes on
    from, drawn faint); ``.stop()`` stops the run (the Stop button does the same); ``.fork("--lr 1e-4")``
    starts a fork of an ended run and shows its dashboard below (the Fork button does the same);
    ``.close()`` stops watching.
    """

    def __init__(self, run: Run | str, *, runs_dir=None, max_updates_per_s: float = 10.0, poll: float = 0.1,
                 start: bool = True, figure: str = "browser"):
        if isinstance(run, str):
            from ..train import get_run

            run = get_run(run, runs_dir)
        if not isinstance(run, Run):
            raise WrongType(f"run must be a Run or a run id, got {type(run).__name__}")
        if not isinstance(max_updates_per_s, (int, float)) or not 0 < max_updates_per_s <= 60:
            raise BadValue(f"max_updates_per_s must be a number in (0, 60], got {max_updates_per_s!r}")
        if figure not in ("browser", "matplotlib"):
            raise BadValue(f"figure must be 'browser' (curves drawn by the browser) or 'matplotlib' (a live ipympl "
                           f"figure), got {figure!r}")
        self.figure_mode = figure
        self.run = run
        self.config = run.config
        self.points: list[dict] = []
        self.before = _points_before(run)  # a fork's parents' iterations, up to where each was forked
        self.forked: "Dashboard | None" = None  # the dashboard of a fork started here
        self.logs: list[str] = []
        self.confirmations: list[dict] = []  # checks of a reached target (each play's episodes)
        self.lessons: list[dict] = []  # a curriculum's lesson events (the lesson at start, then each change)
        self.state = "starting"
        self.error: str | None = None
        self.draws = 0  # renders of the matplotlib figure
        self.chart_updates = 0  # data sent to the browser's chart
        self._min_interval = 1.0 / max_updates_per_s
        self._poll = poll
        self._offset = 0
        self._closed = threading.Event()
        self._read_lock = threading.Lock()  # update() runs in the follower thread and from wait()
        self._display_id: str | None = None
        self._stop_requested = False
        self._figure_stale = False
        self._build()
        self.update()  # what is already in the folder (a finished run shows complete at once)
        self._thread = None
        if start and self.state not in TERMINAL:
            self._thread = threading.Thread(target=self._follow, name=f"unity-nb dashboard {run.id}", daemon=True)
            self._thread.start()

    # ---- widgets and figure
    def _build(self) -> None:
        import ipywidgets as w

        cfg = self.config
        self.panels = panels(cfg)  # the metric table's panels this run has (self-play's ELO only with self-play)
        rows = -(-len(self.panels) // 2)  # two panels a row: the grid grows with the metric table's panels
        self.fig, axes, self.canvas = live_figure(9.5, 2.6 * rows, rows, 2, left=0.07, right=0.94,
                                                  bottom=0.18 / rows, top=1 - 0.12 / rows, wspace=0.28, hspace=0.42,
                                                  widget=self.figure_mode == "matplotlib")
        for ax in axes[len(self.panels):]:
            ax.set_visible(False)
        self.chart = _chart(cfg, faint=bool(self.before)) if self.figure_mode == "browser" else None
        self.axes: dict[str, object] = {}  # panel name -> its axes (and "<name>/right" for a second axis)
        self.lines: dict[str, object] = {}  # metric key -> its line
        self.bands: dict[str, object] = {}  # panel name -> its shaded band (redrawn each time)
        for panel, ax in zip(self.panels, axes):
            self.axes[panel.name] = ax
            ax.set_title(_title(panel, cfg), fontsize=9)
            ax.set_xlabel("agent steps", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            legend = []  # what the panel's legend names
            if panel.target and cfg.target is not None:
                legend.append(ax.axhline(cfg.target, color=GREEN, ls="--", lw=0.8, label="target"))
            for metric in drawn(panel.name):
                on = ax
                if metric.axis == "right":
                    on = self.axes.get(f"{panel.name}/right") or ax.twinx()
                    on.tick_params(labelsize=7)
                    self.axes[f"{panel.name}/right"] = on
                style = dict(lw=0, marker=".", ms=2.5, alpha=0.45) if metric.dots else \
                    dict(lw=1.5 if metric.key == HEADLINE else 1.2)
                (self.lines[metric.key],) = on.plot([], [], color=metric.color, label=_label(metric, cfg), **style)
                if self.before and not metric.dots:  # the parent's part of the curve, faint
                    (self.lines[_BEFORE + metric.key],) = on.plot([], [], color=metric.color, lw=1.2, alpha=0.3)
                if metric.label:
                    legend.append(self.lines[metric.key])
            if panel.confirmations:
                (self.line_confirm,) = ax.plot([], [], ls="", marker="D", ms=5, color=GREEN,
                                               label="confirmation (its lowest play)")
                legend.append(self.line_confirm)
            if legend:
                ax.legend(handles=legend, fontsize=7, loc="lower right" if panel.target else "upper right")
        self._lesson_artists: list = []  # the lesson changes' lines and labels on the lessons panel

        where = min(str(self.run.path), os.path.relpath(self.run.path), key=len)
        fork = self.run.forked_from
        lineage = "" if not fork else (
            f"<br><small>fork of <b>{html.escape(fork['parent'])}</b> at {fork['env_steps']:,} steps (its curve "
            f"drawn faint); changed: {html.escape(changes_text(fork))}</small>")
        self.title = w.HTML(f"<b>{html.escape(self.run.id)}</b> &nbsp; {html.escape(cfg.algorithm)} on "
                            f"{html.escape(str(cfg.scene))} &nbsp; <code>{html.escape(where)}</code><br>"
                            f"<small>{html.escape(cfg.describe())}</small>{lineage}")
        self.status = w.HTML()
        self.status.add_class("unity-nb-status")
        self.progress = w.FloatProgress(min=0.0, max=1.0, value=0.0, layout=w.Layout(width="320px"))
        self.progress_text = w.HTML()
        self.progress_text.add_class("unity-nb-progress")
        self.points_label = w.HTML("0")
        self.points_label.add_class("unity-nb-points")
        self.stop_button = w.Button(description="Stop", icon="stop", button_style="warning",
                                    tooltip="checkpoint, then stop the run")
        self.stop_button.add_class("unity-nb-stop")
        self.stop_button.on_click(lambda _: self.stop())
        self.deploy_button = w.Button(description="Deploy", icon="cloud-upload", tooltip=(
            "export the trained policy (ONNX Unity loads) and serve it on a local endpoint "
            "(a SageMaker run: on a SageMaker endpoint)"),
            layout=w.Layout(display="none"))  # shown once the run has ended with a checkpoint
        self.deploy_button.add_class("unity-nb-deploy")
        self.deploy_button.on_click(lambda _: self.deploy(background=True))
        self.endpoint_view = None
        self.deploy_area = w.VBox()
        self.fork_button = w.Button(description="Fork", icon="code-fork", tooltip=(
            "start a new run from this run's checkpoint with some settings changed"),
            layout=w.Layout(display="none"))  # shown once the run has ended with a checkpoint
        self.fork_button.add_class("unity-nb-fork")
        self.fork_settings = w.Text(placeholder="settings to change, e.g. --lr 1e-4 --steps 60000",
                                    layout=w.Layout(width="360px"))
        self.fork_settings.add_class("unity-nb-fork-settings")
        self.fork_start = w.Button(description="Start fork", button_style="primary")
        self.fork_start.add_class("unity-nb-fork-start")
        self.fork_start.on_click(lambda _: self.fork(self.fork_settings.value))
        self.fork_area = w.VBox()
        self.fork_button.on_click(lambda _: self._show_fork_form())
        self.message = w.HTML()
        children = [self.title, w.HBox([self.status, self.progress, self.progress_text]),
                    w.HBox([self.stop_button, self.deploy_button, self.fork_button,
                            w.HTML("&nbsp;points on the curve:&nbsp;"), self.points_label]),
                    self.message, self.deploy_area, self.fork_area]
        if self.chart is not None:
            children.append(self.chart)
        elif self.canvas is not None:
            children.append(self.canvas)
        self.widget = w.VBox(children)
        self.widget.add_class("unity-nb-dashboard")

    # ---- reading the run
    def update(self, draw_figure: bool = True) -> bool:
        """Read new events from the run folder and show them; True if anything changed.

        draw_figure=False updates the numbers only and leaves the figure for a later call.
        """
        with self._read_lock:
            state_info = self.run.status  # read first: no event written before the end is missed
            events, self._offset = self.run.read_events(self._offset)
            changed = bool(events) or state_info["state"] != self.state
            for event in events:
                kind = event.get("event")
                if kind == "iteration":
                    self.points.append(event)
                elif kind == "log":
                    self.logs.append(event.get("message", ""))
                elif kind == "confirmation":
                    self.confirmations.append(event)
                elif kind == "lesson":
                    self.lessons.append(event)
            self.state = state_info["state"]
            self.error = state_info.get("error")
            self._figure_stale |= changed
            if changed and self.chart is not None:
                self._push_chart()
            # with the browser's chart, the matplotlib figure is only the picture of the end
            if self._figure_stale and draw_figure and (self.chart is None or self.state in TERMINAL):
                self._draw()
                self._figure_stale = False
            if changed:
                self._update_text()
            return changed

    def _figure_interval(self) -> float:
        # A redraw of the figure costs the front-end's render in this process (0.1-0.3 s on a
        # small machine): pace redraws so they take ~2 % of one core, never more than 10 a second.
        cost = getattr(self.canvas, "render_seconds", 0.0) if self.canvas is not None else 0.0
        return max(self._min_interval, 50 * cost)

    def _follow(self) -> None:
        last_draw = 0.0
        try:
            while not self._closed.is_set():
                now = time.monotonic()
                due = now - last_draw >= self._figure_interval() or len(self.points) < 2
                draws = self.draws
                self.update(draw_figure=due)
                if self.draws != draws:
                    last_draw = now
                if self.state in TERMINAL:
                    self.update(draw_figure=True)
                    self._final_picture()
                    return
                self._closed.wait(max(self._poll, self._min_interval))
        except Exception as err:  # a viewer must never take the kernel down; say what happened, in the widget
            self.message.value = f"<span style='color:#d93025'>dashboard stopped updating: {html.escape(repr(err))}</span>"

    # ---- drawing
    def _push_chart(self) -> None:
        pts, before = self.points, self.before
        own = [k for k in self.chart.column_keys() if not k.startswith(_BEFORE)]
        # the parents' rows first: each line's own column has gaps there, its faint twin has the values
        columns = {"x": [p["env_steps"] for p in before + pts],
                   **{k: [None] * len(before) + [p.get(k) for p in pts] for k in own}}
        if before:
            columns.update({_BEFORE + k: [p.get(k) for p in before] + [None] * len(pts) for k in own})
        self.chart.set_columns(columns)
        self.chart.markers = {"x": [c["env_steps"] for c in self.confirmations],
                              "y": [confirmation_low(c) for c in self.confirmations]}
        changes = self.lesson_changes()
        self.chart.lessons = {"x": [e["env_steps"] for e in changes], "label": [_lesson_label(e) for e in changes]}
        self.chart_updates += 1

    def _draw(self) -> None:
        pts = self.points
        x = [p["env_steps"] for p in pts]

        def col(key):
            return [_nan(p.get(key)) for p in pts]

        with DRAW_LOCK:
            for key, line in self.lines.items():
                if key.startswith(_BEFORE):
                    key = key[len(_BEFORE):]
                    line.set_data([p["env_steps"] for p in self.before], [_nan(p.get(key)) for p in self.before])
                else:
                    line.set_data(x, col(key))
            for panel in self.panels:
                ax = self.axes[panel.name]
                if panel.confirmations:
                    self.line_confirm.set_data([c["env_steps"] for c in self.confirmations],
                                               [confirmation_low(c) for c in self.confirmations])
                if panel.band:
                    if panel.name in self.bands:
                        self.bands[panel.name].remove()
                    low, high = panel.band
                    color = self.lines[HEADLINE].get_color() if HEADLINE in self.lines else BLUE
                    self.bands[panel.name] = ax.fill_between(x, col(low), col(high), color=color, alpha=0.15, lw=0)
                if panel.lessons:
                    for artist in self._lesson_artists:
                        artist.remove()
                    self._lesson_artists = []
                    for e in self.lesson_changes():
                        self._lesson_artists.append(ax.axvline(e["env_steps"], color="#b06000", ls=":", lw=0.9))
                        self._lesson_artists.append(ax.annotate(
                            _lesson_label(e), (e["env_steps"], 0.02), xycoords=("data", "axes fraction"), fontsize=6,
                            color="#b06000", rotation=90, ha="right", va="bottom"))
            for ax in self.axes.values():
                ax.relim()
                ax.autoscale_view()
            if self.canvas is not None:
                # render and push the picture now: with draw_idle, ipympl's front-end asks back for it and
                # drops every later request until an image arrives, so one lost answer froze the plot
                self.canvas.draw()
        self.draws += 1

    def _update_text(self) -> None:
        last = self.points[-1] if self.points else {}
        steps, total = last.get("env_steps", 0), self.config.steps or 0
        self.progress.value = min(steps / total, 1.0) if total else 0.0
        ret = last.get("episode_return_mean")
        parts = [f"{steps:,} / {total:,} steps"]
        if ret is not None:
            parts.append(f"mean return {ret:.3f} (last {last.get('episodes_window')} episodes)")
        lessons = self.current_lessons()
        if lessons:
            parts.append("lesson " + ", ".join(f"{p}: {e['name']} ({e['lesson'] + 1} of {e['lessons']})"
                                               for p, e in lessons.items()))
        if self.confirmations:
            c = self.confirmations[-1]
            verdict = "confirmed" if c["passed"] else "not confirmed"
            parts.append(f"{html.escape(confirmation_text(c))}: {verdict}")
        if self.state == "running" and last.get("steps_per_s"):
            parts.append(f"{last['steps_per_s']:.0f} steps/s")
            parts.append(f"ETA {_duration(last.get('eta_s', 0))}")
        elif last.get("time_s") is not None:
            parts.append(f"{_duration(last['time_s'])} elapsed")
        self.progress_text.value = " &nbsp;·&nbsp; ".join(parts)
        color = STATE_COLORS.get(self.state, "#888")
        self.status.value = f"<b style='color:{color}'>{html.escape(self.state)}</b>"
        self.points_label.value = str(len(self.points))
        if self.state in TERMINAL:
            self.stop_button.disabled = True
            self.stop_button.description = self.state.capitalize()
            self.stop_button.button_style = ""
            self.progress.bar_style = {"finished": "success", "stopped": "warning", "failed": "danger"}[self.state]
            if self.state != "failed" and self.run.latest_checkpoint() is not None:
                self.deploy_button.layout.display = None
                if self.run.config.backend == "local":
                    self.fork_button.layout.display = None
        if self.state == "failed":
            self.message.value = (f"<span style='color:#d93025'>failed: {html.escape(str(self.error))}</span> "
                                  f"(log: <code>{html.escape(str(self.run.log_path()))}</code>)")
        elif self.logs:
            self.message.value = html.escape(self.logs[-1])

    # ---- a curriculum
    def current_lessons(self) -> dict[str, dict]:
        """Each curriculum parameter's latest lesson event (the lesson it is in)."""
        return {e["parameter"]: e for e in self.lessons}

    def lesson_changes(self) -> list[dict]:
        """The lesson events that moved a parameter on (not the lessons a run started or resumed in)."""
        return [e for e in self.lessons if e.get("previous") is not None]

    # ---- control
    def stop(self) -> None:
        """Ask the run to checkpoint and stop (returns at once; pressing Stop twice is harmless)."""
        if self.state in TERMINAL:
            self.message.value = f"the run has already {html.escape(self.state)}"
            return
        if self._stop_requested:
            self.message.value = "stop already requested: the run is saving its checkpoint"
            return
        self._stop_requested = True
        self.stop_button.disabled = True
        self.stop_button.description = "Stopping..."
        self.run.stop(wait=False)

    def deploy(self, background: bool = False):
        """Export the run's policy and serve it on a local endpoint, shown below (the Deploy button).

        Returns the EndpointView (None with ``background``: the view appears when ready)."""
        if self.endpoint_view is not None:
            return self.endpoint_view
        self.deploy_button.disabled = True
        self.deploy_button.description = "Deploying..."
        if background:
            threading.Thread(target=self._deploy, name=f"unity-nb deploy {self.run.id}", daemon=True).start()
            return None
        return self._deploy()

    def _deploy(self):
        from .endpoint_view import EndpointView

        try:
            if self.run.config.backend == "sagemaker":  # trained on SageMaker: served there too
                def progress(line):
                    self.message.value = html.escape(line)

                endpoint = self.run.deploy(target="sagemaker", progress=progress)
            else:
                endpoint = self.run.deploy()
            self.endpoint_view = EndpointView(endpoint)
        except Exception as err:  # shown on the dashboard: a button has nowhere else to report
            self.message.value = f"<span style='color:#d93025'>deploy failed: {html.escape(str(err))}</span>"
            self.deploy_button.disabled = False
            self.deploy_button.description = "Deploy"
            return None
        self.deploy_area.children = [self.endpoint_view.widget]
        self.deploy_button.description = "Deployed"
        return self.endpoint_view

    def _show_fork_form(self) -> None:
        self.fork_area.children = [self.fork_settings, self.fork_start] if not self.fork_area.children else []

    def fork(self, settings: str = "") -> "Dashboard | None":
        """Start a fork of this run with ``settings`` changed (flags as ``%unity_fork`` takes them, e.g.
        ``"--lr 1e-4 --steps 60000"``) and show its dashboard below; returns it (None if refused: the
        reason is shown on the dashboard)."""
        from ..verbs import settings_from_text

        try:
            _, changes = settings_from_text(settings)
            child = self.run.fork(**changes)
        except (UnityNbError, ValueError, OSError) as err:
            self.message.value = f"<span style='color:#d93025'>fork refused: {html.escape(str(err))}</span>"
            return None
        self.forked = Dashboard(child, max_updates_per_s=1 / self._min_interval, poll=self._poll,
                                figure=self.figure_mode)
        self.fork_area.children = [self.forked.widget]
        self.message.value = f"fork {html.escape(child.id)} started: its dashboard is below"
        return self.forked

    def wait(self, timeout: float | None = None) -> "Dashboard":
        """Block until the run ends and the dashboard has drawn its last point."""
        self.run.wait(timeout)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.update()
        return self

    def close(self) -> None:
        """Stop watching the run (the run itself goes on)."""
        self._closed.set()

    # ---- display
    def _final_picture(self) -> None:
        # the static image saved with the notebook: replace the empty one shown at start
        if self._display_id is not None:
            from IPython.display import update_display

            update_display(self._bundle(), display_id=self._display_id, raw=True)

    def _bundle(self) -> dict:
        with self._read_lock:
            if self._figure_stale:  # the picture shows every point read so far
                self._draw()
                self._figure_stale = False
        return bundle(self.widget, self.fig, repr(self))

    def _ipython_display_(self):
        from IPython.display import display

        handle = display(self._bundle(), raw=True, display_id=True)
        self._display_id = handle.display_id if handle is not None else None

    def __repr__(self):
        last = self.points[-1] if self.points else {}
        return (f"Dashboard(run={self.run.id!r}, state={self.state!r}, points={len(self.points)}, "
                f"env_steps={last.get('env_steps', 0)}, return={last.get('episode_return_mean')})")


_BEFORE = "before:"  # the key of a line's faint twin: the runs a fork goes on from


def _points_before(run) -> list[dict]:
    """The iteration events of the runs ``run`` was forked from, oldest first, each up to where it was forked."""
    points = []
    for parent, at in reversed(run.ancestry()):
        points += [e for e in parent.events() if e.get("event") == "iteration" and e.get("env_steps", 0) <= at]
    return points


def _title(panel, cfg) -> str:
    return panel.title.format(window=cfg.return_window)


def _label(metric, cfg) -> str:
    return metric.label.format(window=cfg.return_window)


def _chart(cfg, faint: bool = False):
    """The browser-drawn chart of the dashboard's panels (the same as the matplotlib figure's), from the
    metric table (train/metrics.py); ``faint``: each line has a faint twin for a fork's parents."""
    from .chart import LiveChart

    specs = []
    for panel in panels(cfg):
        lines = []
        for m in drawn(panel.name):
            axis = {"axis": "right"} if m.axis == "right" else {}
            if faint and not m.dots:
                lines.append({"key": _BEFORE + m.key, "color": m.color, "faint": True, **axis})
            lines.append({"key": m.key, "color": m.color, **({"label": _label(m, cfg)} if m.label else {}),
                          **({"dots": True} if m.dots else {}), **axis})
        spec = {"title": _title(panel, cfg), "lines": lines}
        if panel.band:
            spec["band"] = [*panel.band, BLUE]
        if panel.target:
            spec["hline"] = cfg.target
        if panel.confirmations:
            spec["markers"] = True
        if panel.lessons:
            spec["lessons"] = True
        specs.append(spec)
    return LiveChart(panels=specs)


def _lesson_label(event: dict) -> str:
    return f"{event['parameter']}: {event['name']}"


def _nan(value):
    return math.nan if value is None else value


def _duration(seconds) -> str:
    seconds = int(round(seconds or 0))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"
