"""Reward curves of several runs on one plot, with a summary table."""

from __future__ import annotations

from ..errors import BadValue
from ..run import Run
from .figures import DRAW_LOCK, bundle, live_figure


class Comparison:
    """Overlay the mean-return curves of ``runs`` (Run objects or ids).

    ``.table`` is a pandas DataFrame with one summary row per run;
    ``.show(runs)`` redraws with another selection.
    """

    def __init__(self, runs, *, runs_dir=None):
        import ipywidgets as w

        self.runs_dir = runs_dir
        self.fig, (self.ax,), self.canvas = live_figure(8, 3.6, right=0.98, bottom=0.14, top=0.95)
        self.table_view = w.HTML()
        self.widget = w.VBox([c for c in (self.canvas, self.table_view) if c is not None])
        self.widget.add_class("unity-nb-compare")
        self.show(runs)

    def show(self, runs) -> "Comparison":
        import pandas as pd

        from ..train import get_run

        if isinstance(runs, (str, Run)):
            runs = [runs]
        if not runs:
            raise BadValue("runs: give at least one run (a Run or a run id; `%unity_runs` lists them)")
        self.runs = [r if isinstance(r, Run) else get_run(r, self.runs_dir) for r in runs]
        self.table = pd.DataFrame([r.summary() for r in self.runs])
        labels = _labels(self.runs)
        with DRAW_LOCK:
            self.ax.clear()
            for run, label in zip(self.runs, labels):
                metrics = run.metrics
                if len(metrics) and "episode_return_mean" in metrics:
                    self.ax.plot(metrics["env_steps"], metrics["episode_return_mean"].astype(float), lw=1.4,
                                 label=label)
                else:
                    self.ax.plot([], [], label=f"{label} (no points yet)")
            self.ax.set_xlabel("agent steps", fontsize=8)
            self.ax.set_ylabel("mean episode return", fontsize=8)
            self.ax.tick_params(labelsize=7)
            self.ax.grid(alpha=0.3)
            self.ax.legend(fontsize=7, loc="lower right")
            if self.canvas is not None:
                self.canvas.draw_idle()
        self.table_view.value = self.table.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="-")
        return self

    def _repr_mimebundle_(self, **kwargs):
        return bundle(self.widget, self.fig, repr(self))

    def __repr__(self):
        return f"Comparison({', '.join(r.id for r in self.runs)})"


def _labels(runs) -> list[str]:
    """Each run's id and the settings in which the runs differ (what the comparison is about)."""
    configs = [r.config.to_dict() for r in runs]
    differ = [k for k in configs[0] if k not in ("address", "checkpoint_every")
              and any(c.get(k) != configs[0].get(k) for c in configs)]
    labels = []
    for run, config in zip(runs, configs):
        settings = ", ".join(f"{k.rstrip('_')}={config[k]:g}" if isinstance(config[k], float) else
                             f"{k.rstrip('_')}={config[k]}" for k in differ[:3])
        labels.append(f"{run.id} ({settings})" if settings else run.id)
    return labels
