"""The live view of a sweep: every trial's curve, a table sortable by any column, parallel coordinates over the
swept settings coloured by the result, which setting mattered, and a Promote button.

It reads the sweep's folder and its trials' run folders only (as the dashboard reads a run), from a background
thread, so it attaches to any sweep by id. Parameter importance is a random forest from the swept settings to
each trial's result (scikit-learn's impurity importances, as W&B's panel computes it), once three trials have a
result; it says so until then.
"""

from __future__ import annotations

import html
import math
import threading

from ..errors import BadValue, WrongType
from ..train.sweeps import Sweep, find_sweep
from .figures import DRAW_LOCK, bundle, live_figure

PALETTE = ("#1a73e8", "#e37400", "#188038", "#9334e6", "#d93025", "#12b5cb", "#b06000", "#5f6368")
ENDED = ("finished", "stopped", "failed")
MIN_FOR_IMPORTANCE = 3  # a forest over fewer trials says nothing


class SweepView:
    """Live view of a sweep (display it; it updates itself while the sweep runs).

    ``.table()`` the trials (sorted as the view shows them), ``.importance()`` each swept setting's share of
    what explains the result, ``.promote()`` the best trial's run (the Promote button: later cells'
    ``%unity_eval``, ``%unity_export``, ``%unity_deploy`` without a run id use it; it is also ``run``).
    """

    def __init__(self, sweep: Sweep | str, *, runs_dir=None, poll: float = 1.0, start: bool = True, shell=None):
        import ipywidgets as w

        if isinstance(sweep, str):
            sweep = find_sweep(sweep, runs_dir)
        if not isinstance(sweep, Sweep):
            raise WrongType(f"sweep must be a Sweep or a sweep id, got {type(sweep).__name__}")
        if not isinstance(poll, (int, float)) or not 0 < poll <= 60:
            raise BadValue(f"poll must be seconds in (0, 60], got {poll!r}")
        self.sweep, self.plan, self._poll, self._shell = sweep, sweep.plan, poll, shell
        self.metric = self.plan.metric
        self.curves: dict[str, list[tuple[int, float]]] = {}  # run id -> (steps, metric) per iteration
        self._offsets: dict[str, int] = {}
        self.sort_by, self.descending = self.metric, self.plan.mode == "max"
        self.promoted = None
        self.draws = 0
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._ended_seen = -1

        from .chart import LiveChart

        self.chart = LiveChart(panels=[{"title": f"{self.metric} of each trial", "lines": []}])
        self.title = w.HTML()
        self.status = w.HTML()
        columns = ["trial", "run", *self.plan.spaces, "state", "env_steps", self.metric]
        self.sort = w.Dropdown(options=columns, value=self.metric, description="sort by",
                               layout=w.Layout(width="260px"))
        self.order = w.ToggleButton(value=self.descending, description="descending", icon="sort-amount-desc")
        self.sort.observe(lambda change: self._resort(), names="value")
        self.order.observe(lambda change: self._resort(), names="value")
        self.table_html = w.HTML()
        self.table_html.add_class("unity-nb-sweep-table")
        self.importance_html = w.HTML()
        self.importance_html.add_class("unity-nb-sweep-importance")
        self.fig, axes, self.canvas = live_figure(9.5, 3.0, 1, 1, left=0.07, right=0.9, bottom=0.12, top=0.86,
                                                  widget=False)
        self.coords_ax = axes[0]
        self.coords = w.Image(format="png")
        self.promote_button = w.Button(description="Promote the best", icon="trophy",
                                       tooltip="the best trial becomes the run later cells evaluate, export, deploy")
        self.promote_button.add_class("unity-nb-promote")
        self.promote_button.on_click(lambda _: self.promote())
        self.stop_button = w.Button(description="Stop sweep", icon="stop", button_style="warning",
                                    tooltip="no new trials; the running ones checkpoint and stop")
        self.stop_button.on_click(lambda _: self.stop())
        self.message = w.HTML()
        self.widget = w.VBox([self.title, w.HBox([self.status, self.stop_button, self.promote_button]), self.message,
                              self.chart, w.HBox([self.sort, self.order]), self.table_html,
                              w.HTML("<b>parallel coordinates</b> (each line a trial, coloured by its result)"),
                              self.coords, self.importance_html])
        self.widget.add_class("unity-nb-sweep")
        self.update()
        self._thread = None
        if start and self.sweep.state not in ENDED:
            self._thread = threading.Thread(target=self._follow, name=f"unity-nb sweep {sweep.id}", daemon=True)
            self._thread.start()

    # ---- reading
    def update(self) -> None:
        """Read what is new in the sweep's folder and its trials' runs, and show it."""
        with self._lock:
            trials = self.sweep.trials()
            runs = self.sweep.runs_by_id()
            for trial in trials:
                run = runs.get(trial["run"])
                if run is None:
                    continue
                events, self._offsets[run.id] = run.read_events(self._offsets.get(run.id, 0))
                points = self.curves.setdefault(run.id, [])
                points += [(e["env_steps"], e[self.metric]) for e in events
                           if e.get("event") == "iteration" and isinstance(e.get(self.metric), (int, float))]
            self._rows = self._make_rows(trials, runs)
            self._push_chart(trials)
            self._show_table()
            ended = sum(r["state"] in ENDED for r in self._rows)
            if ended != self._ended_seen:  # a trial ended: the coordinates and importances change
                self._ended_seen = ended
                self._draw_coordinates()
                self._show_importance()
            state = self.sweep.state
            self.title.value = (f"<b>{html.escape(self.sweep.id)}</b> &nbsp; <small>{html.escape(self.plan.describe())}"
                                f"</small>")
            self.status.value = (f"<b>{html.escape(state)}</b> &nbsp; {len(trials)} of {self.plan.trials} trials "
                                 f"started, {ended} ended")
            self.stop_button.disabled = state in ENDED

    def _make_rows(self, trials, runs) -> list[dict]:
        rows = []
        for trial in trials:
            run = runs.get(trial["run"])
            if run is None:
                continue
            curve = self.curves.get(run.id) or []
            state = run.state.value
            rows.append({"trial": trial["trial"], "run": run.id, **trial["settings"],
                         "state": "stopped early" if trial.get("stopped_early") and state == "stopped" else state,
                         "forked_from": trial.get("forked_from"),
                         "env_steps": curve[-1][0] if curve else 0, self.metric: curve[-1][1] if curve else None})
        return rows

    def _follow(self) -> None:
        try:
            while not self._closed.is_set():
                self.update()
                if self.sweep.state in ENDED:
                    self.update()
                    return
                self._closed.wait(self._poll)
        except Exception as err:  # a viewer never takes the kernel down: it says what happened
            self.message.value = f"<span style='color:#d93025'>the view stopped updating: {html.escape(repr(err))}</span>"

    # ---- showing
    def _push_chart(self, trials) -> None:
        ids = [t["run"] for t in trials if t["run"] in self.curves]
        lines = [{"key": rid, "color": PALETTE[i % len(PALETTE)], "label": rid.rsplit("-", 1)[-1]}
                 for i, rid in enumerate(ids)]
        if lines != self.chart.panels[0]["lines"]:
            self.chart.panels = [{"title": f"{self.metric} of each trial", "lines": lines}]
        # each trial's rows one after another: its column has values there and gaps elsewhere
        xs, columns = [], {rid: [] for rid in ids}
        for rid in ids:
            for steps, value in self.curves[rid]:
                xs.append(steps)
                for other in ids:
                    columns[other].append(value if other == rid else None)
        self.chart.set_columns({"x": xs, **columns})

    def table(self):
        """The trials as the view shows them, sorted by its chosen column."""
        import pandas as pd

        frame = pd.DataFrame(self._rows)
        if len(frame) and self.sort_by in frame:
            frame = frame.sort_values(self.sort_by, ascending=not self.descending, na_position="last")
        return frame

    def _resort(self) -> None:
        self.sort_by, self.descending = self.sort.value, self.order.value
        self.order.icon = "sort-amount-desc" if self.descending else "sort-amount-asc"
        self.order.description = "descending" if self.descending else "ascending"
        with self._lock:
            self._show_table()

    def _show_table(self) -> None:
        frame = self.table()
        self.table_html.value = "<i>no trials yet</i>" if not len(frame) else frame.to_html(
            index=False, na_rep="-", float_format=lambda v: f"{v:.4g}")

    def importance(self) -> dict[str, float] | None:
        """Each swept setting's share (0-1) of what a random forest over the trials' settings uses to predict
        their result; None until MIN_FOR_IMPORTANCE trials have one."""
        import numpy as np
        from sklearn.ensemble import RandomForestRegressor

        names = list(self.plan.spaces)
        done = [r for r in self._rows if isinstance(r.get(self.metric), (int, float))]
        if len(done) < MIN_FOR_IMPORTANCE:
            return None
        x = np.array([[self._axis(n, r[n]) for n in names] for r in done], dtype=float)
        y = np.array([r[self.metric] for r in done], dtype=float)
        if np.ptp(y) == 0:
            return {n: 0.0 for n in names}
        forest = RandomForestRegressor(n_estimators=200, random_state=0).fit(x, y)
        return dict(zip(names, (float(v) for v in forest.feature_importances_)))

    def _show_importance(self) -> None:
        found = self.importance()
        if found is None:
            self.importance_html.value = (f"<b>which setting mattered</b>: shown once {MIN_FOR_IMPORTANCE} trials have "
                                          f"a {html.escape(self.metric)}")
            return
        bars = "".join(f"<div><code>{html.escape(n)}</code> <span style='display:inline-block;background:#1a73e8;"
                       f"height:9px;width:{round(200 * v)}px'></span> {v:.2f}</div>"
                       for n, v in sorted(found.items(), key=lambda kv: -kv[1]))
        self.importance_html.value = (f"<b>which setting mattered</b> (random forest importance over {len(self._rows)} "
                                      f"trials' {html.escape(self.metric)})" + bars)

    def _draw_coordinates(self) -> None:
        import matplotlib

        names = list(self.plan.spaces)
        done = [r for r in self._rows if isinstance(r.get(self.metric), (int, float))]
        with DRAW_LOCK:
            ax = self.coords_ax
            ax.clear()
            axes = [*names, self.metric]
            ax.set_xticks(range(len(axes)), axes, fontsize=8)
            ax.set_yticks([])
            for i in range(len(axes)):
                ax.axvline(i, color="#999", lw=0.8)
            if done:
                values = {a: [self._axis(a, r[a]) for r in done] for a in axes}
                for a in axes:  # each axis' range, written at its ends
                    ax.annotate(f"{max(values[a]):.3g}", (axes.index(a), 1.02), ha="center", fontsize=7)
                    ax.annotate(f"{min(values[a]):.3g}", (axes.index(a), -0.08), ha="center", fontsize=7)
                    if self._log_axis(a):  # a log-uniform space is drawn on a log scale
                        values[a] = [math.log10(v) for v in values[a]]
                spans = {a: (min(v), max(v)) for a, v in values.items()}
                results = values[self.metric]
                lo, hi = min(results), max(results)
                cmap = matplotlib.colormaps["viridis"]
                for k, r in enumerate(done):
                    ys = [_scaled(values[a][k], *spans[a]) for a in axes]
                    ax.plot(range(len(axes)), ys, color=cmap(_scaled(results[k], lo, hi)), lw=1.4, alpha=0.85)
            ax.set_ylim(-0.12, 1.08)
            self.fig.canvas.draw()
            self.coords.value = _png(self.fig)
        self.draws += 1

    def _axis(self, name: str, value) -> float:
        """A value on its axis: a number as it is, a word (a schedule's name) by its place among the choices."""
        if isinstance(value, (int, float)):
            return float(value)
        space = self.plan.spaces.get(name)
        choices = list(space.args) if space is not None else []
        return float(choices.index(value)) if value in choices else math.nan

    def _log_axis(self, name: str) -> bool:
        space = self.plan.spaces.get(name)
        return space is not None and space.kind in ("loguniform", "qloguniform")

    # ---- actions
    def promote(self):
        """The best trial's run (by the sweep's metric): later cells' magics without a run id use it, and the
        notebook's ``run`` names it."""
        try:
            best = self.sweep.best()
        except Exception as err:  # a button has nowhere else to say it
            self.message.value = f"<span style='color:#d93025'>{html.escape(str(err))}</span>"
            return None
        self.promoted = best
        shell = self._shell
        if shell is None:
            from IPython import get_ipython

            shell = get_ipython()
        if shell is not None:
            shell.user_ns["run"] = best
            magics = shell.magics_manager.registry.get("UnityMagics")
            if magics is not None:
                magics.current_run = best.id
        self.message.value = (f"promoted <b>{html.escape(best.id)}</b> ({html.escape(self.metric)} "
                              f"{best.last().get(self.metric)}): it is <code>run</code>, and %unity_eval, "
                              f"%unity_export, %unity_deploy without a run id use it")
        return best

    def stop(self) -> None:
        self.sweep.stop(wait=False)
        self.stop_button.disabled = True
        self.message.value = "stop requested: no new trials; the running ones checkpoint and stop"

    def close(self) -> None:
        self._closed.set()

    def wait(self, timeout: float | None = None) -> "SweepView":
        self.sweep.wait(timeout)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.update()
        return self

    def _ipython_display_(self):
        from IPython.display import display

        display(bundle(self.widget, self.fig, repr(self)), raw=True)

    def __repr__(self):
        return f"SweepView({self.sweep.id!r}, state={self.sweep.state!r}, trials={len(self._rows)})"


def _scaled(value: float, low: float, high: float) -> float:
    return 0.5 if high == low or math.isnan(value) else (value - low) / (high - low)


def _png(fig) -> bytes:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()
