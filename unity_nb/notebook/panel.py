"""The hyperparameter panel: settings as widgets, a Train button, and a compare view.

Every change is checked with the same ``TrainConfig`` validation the magics and
the command line use; while a setting is wrong the Train button is disabled and
the panel says which setting and why.
"""

from __future__ import annotations

import html

from ..envs.scenes import SCENES
from ..errors import BadValue
from ..train.config import ALGORITHMS, SCENE_DEFAULTS, ConfigError
from ..train.flags import help_text
from .compare import Comparison
from .dashboard import Dashboard

BACKENDS = {"this machine (local Ray)": "local", "Ray cluster (address below)": "cluster",
            "Amazon SageMaker (instances below)": "sagemaker"}


class Panel:
    """Widgets for a training configuration, a Train button and a compare view.

    scene: the scene whose defaults fill the panel (a built-in scene name).
    runs_dir: where runs go (default ./runs or $UNITY_NB_RUNS).

    ``.config()`` is the TrainConfig the widgets describe (or raises ConfigError);
    ``.train()`` is what the Train button does, and returns the ``Run``;
    ``.runs`` lists the runs started here; ``.dashboards`` their dashboards.
    """

    def __init__(self, scene: str = "Basic", runs_dir=None):
        import ipywidgets as w

        if scene not in SCENES:
            raise BadValue(f"scene must be a built-in scene ({', '.join(SCENES)}), got {scene!r}; "
                           "for your own build use %unity_train PATH")
        self.runs_dir = runs_dir
        self.runs: list = []
        self.dashboards: list[Dashboard] = []
        style = {"description_width": "150px"}
        layout = w.Layout(width="340px")

        def field(cls, name, label, **kw):
            widget = cls(description=label, style=style, layout=layout, **kw)
            widget.tooltip = help_text(name)
            widget.observe(self._validate, names="value")
            return widget

        self.scene = field(w.Dropdown, "scene", "scene", options=list(SCENES), value=scene)
        self.algorithm = field(w.Dropdown, "algorithm", "algorithm", options=list(ALGORITHMS), value="PPO")
        self.lr = field(w.FloatLogSlider, "lr", "learning rate", base=10, min=-5, max=-1, step=0.1, value=3e-4,
                        readout_format=".1e")
        self.gamma = field(w.BoundedFloatText, "gamma", "gamma", min=0.0, max=1.0, step=0.01, value=0.99)
        self.train_batch_size = field(w.IntText, "train_batch_size", "train batch size", value=256)
        self.minibatch_size = field(w.IntText, "minibatch_size", "minibatch size", value=128)
        self.num_epochs = field(w.IntSlider, "num_epochs", "epochs", min=1, max=30, value=4)
        self.hidden_units = field(w.Dropdown, "hidden_units", "hidden units", options=[16, 32, 64, 128, 256, 512],
                                  value=32)
        self.num_layers = field(w.IntSlider, "num_layers", "hidden layers", min=1, max=4, value=2)
        self.steps = field(w.IntText, "steps", "steps", value=20_000)
        self.target_return = field(w.Text, "target_return", "stop at return", value="0.9",
                                   placeholder="a number, or off")
        self.backend = field(w.Dropdown, "address", "runs on", options=list(BACKENDS))
        self.address = field(w.Text, "address", "Ray address", placeholder="10.0.0.5:6379", disabled=True)
        # SageMaker: role, region and bucket come from the environment (SAGEMAKER_ROLE, AWS_REGION, ...)
        self.instance_type = field(w.Text, "instance_type", "instance type", placeholder="ml.c5.2xlarge",
                                   disabled=True)
        self.instance_count = field(w.BoundedIntText, "instance_count", "instances", min=1, max=20, value=1,
                                    disabled=True)
        self.num_env_runners = field(w.IntSlider, "num_env_runners", "env runners", min=0, max=8, value=0)
        self.scene.observe(self._scene_defaults, names="value")
        self.backend.observe(self._backend_fields, names="value")

        self.error = w.HTML()
        self.error.add_class("unity-nb-panel-error")
        self.train_button = w.Button(description="Train", icon="play", button_style="success")
        self.train_button.add_class("unity-nb-train")
        self.train_button.on_click(lambda _: self._on_train())
        self.output = w.Output()

        self.compare_select = w.SelectMultiple(description="runs", rows=5, layout=w.Layout(width="520px"))
        self.compare_button = w.Button(description="Compare", icon="line-chart")
        self.compare_button.on_click(lambda _: self._on_compare())
        self.compare_output = w.Output()
        self.comparison: Comparison | None = None

        settings = w.HBox([
            w.VBox([self.scene, self.algorithm, self.lr, self.gamma, self.steps, self.target_return, self.backend,
                    self.address, self.instance_type, self.instance_count]),
            w.VBox([self.train_batch_size, self.minibatch_size, self.num_epochs, self.hidden_units, self.num_layers,
                    self.num_env_runners]),
        ])
        train_tab = w.VBox([settings, w.HBox([self.train_button, self.error]), self.output])
        compare_tab = w.VBox([w.HBox([self.compare_select, self.compare_button]), self.compare_output])
        self.widget = w.Tab(children=[train_tab, compare_tab], titles=("Train", "Compare runs"))
        self.widget.add_class("unity-nb-panel")
        self.widget.observe(lambda change: self._refresh_runs() if change["new"] == 1 else None,
                            names="selected_index")
        self._scene_defaults({"new": scene})
        self._refresh_runs()

    # ---- settings
    def _backend_fields(self, change) -> None:
        where = BACKENDS[change["new"]]
        self.address.disabled = where != "cluster"
        self.instance_type.disabled = self.instance_count.disabled = where != "sagemaker"
        if where == "sagemaker":  # the SDK takes seconds to import: start on it while the user fills in
            from ..train.sagemaker import warm_up

            warm_up()

    def _scene_defaults(self, change) -> None:
        defaults = SCENE_DEFAULTS[change["new"]]
        for name in ("lr", "gamma", "train_batch_size", "minibatch_size", "num_epochs", "hidden_units", "num_layers",
                     "steps"):
            widget = getattr(self, name)
            value = defaults[name]
            if name == "hidden_units" and value not in widget.options:
                widget.options = sorted({*widget.options, value})
            widget.value = value
        self.target_return.value = str(defaults["target_return"])
        self._validate()

    def values(self) -> dict:
        """The settings as TrainConfig keywords."""
        values = {name: getattr(self, name).value for name in (
            "scene", "algorithm", "lr", "gamma", "train_batch_size", "minibatch_size", "num_epochs", "hidden_units",
            "num_layers", "steps", "num_env_runners")}
        values["target_return"] = self.target_return.value.strip()  # a number or "off"; TrainConfig checks it
        if BACKENDS[self.backend.value] == "cluster":
            values["address"] = self.address.value.strip() or None
        if BACKENDS[self.backend.value] == "sagemaker":
            values.update(backend="sagemaker", instance_type=self.instance_type.value.strip() or None,
                          instance_count=self.instance_count.value)
        return values

    def config(self):
        """The validated TrainConfig of the current settings (ConfigError names a wrong one)."""
        from ..train import make_config

        values = self.values()
        if BACKENDS[self.backend.value] == "cluster" and not values.get("address"):
            raise ConfigError("address: give the Ray cluster's address (host:port), or choose 'this machine'")
        return make_config(**values)

    def _validate(self, change=None) -> bool:
        try:
            self.config()
        except (ConfigError, ValueError) as err:
            self.error.value = f"<span style='color:#d93025'>{html.escape(str(err))}</span>"
            self.train_button.disabled = True
            return False
        self.error.value = ""
        self.train_button.disabled = False
        return True

    # ---- actions
    def train(self):
        """Start a run with the current settings and show its dashboard below the panel; returns the Run."""
        from ..train import train

        run = train(self.config(), runs_dir=self.runs_dir)
        self.runs.append(run)
        dashboard = Dashboard(run)
        self.dashboards.append(dashboard)
        self.output.clear_output()
        with self.output:
            from IPython.display import display

            display(dashboard)
        self._refresh_runs()
        return run

    def _on_train(self) -> None:
        if not self._validate():
            return
        self.train_button.disabled = True
        try:
            self.train()
        except Exception as err:  # shown in the panel: a button has no cell to raise into
            self.error.value = f"<span style='color:#d93025'>could not start: {html.escape(str(err))}</span>"
        finally:
            self.train_button.disabled = False

    def _refresh_runs(self) -> None:
        from ..train import runs

        ids = [r.id for r in runs(self.runs_dir)][::-1]
        chosen = [i for i in self.compare_select.value if i in ids]
        self.compare_select.options = ids
        self.compare_select.value = chosen or ids[: min(3, len(ids))]

    def compare(self, runs=None) -> Comparison:
        """Overlay the reward curves of ``runs`` (default: those selected in the Compare tab)."""
        runs = list(runs if runs is not None else self.compare_select.value)
        if self.comparison is None:
            self.comparison = Comparison(runs, runs_dir=self.runs_dir)
            with self.compare_output:
                from IPython.display import display

                display(self.comparison)
        else:
            self.comparison.show(runs)
        return self.comparison

    def _on_compare(self) -> None:
        try:
            self.compare()
        except Exception as err:
            self.compare_output.clear_output()
            with self.compare_output:
                print(f"cannot compare: {err}")

    def _repr_mimebundle_(self, **kwargs):
        from .figures import bundle

        return bundle(self.widget, None, repr(self))

    def __repr__(self):
        return f"Panel(scene={self.scene.value!r}, runs started={len(self.runs)})"
