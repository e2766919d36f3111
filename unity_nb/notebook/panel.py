"""The hyperparameter panel: settings as widgets, a Train button, a Sweep tab, and a compare view.

Every change is checked with the same ``TrainConfig`` validation the magics and
the command line use; while a setting is wrong the Train button is disabled and
the panel says which setting and why. The Sweep tab sweeps the settings it names
over search spaces, the Train tab's values fixing the others.
"""

from __future__ import annotations

import html

from ..envs.scenes import SCENES
from ..errors import BadValue
from ..train.config import SCENE_DEFAULTS, ConfigError
from ..train.settings import ALGORITHMS
from ..train.sweeps import SCHEDULERS
from ..train.flags import help_text
from .compare import Comparison
from .dashboard import Dashboard

DEFAULT_SEARCH = "lr: loguniform(1e-4, 3e-3)\nnum_epochs: choice(2, 4, 8)\n"
BACKENDS = {"this machine (local Ray)": "local", "Ray cluster (address below)": "cluster",
            "Amazon SageMaker (instances below)": "sagemaker"}


class Panel:
    """Widgets for a training configuration, a Train button and a compare view.

    scene: the scene whose defaults fill the panel (a built-in scene name).
    runs_dir: where runs go (default ./runs or $UNITY_NB_RUNS).

    ``.config()`` is the TrainConfig the widgets describe (or raises ConfigError);
    ``.train()`` is what the Train button does, and returns the ``Run``;
    ``.runs`` lists the runs started here; ``.dashboards`` their dashboards.
    ``.sweep_plan()`` is the sweep the Sweep tab describes (the Train tab's settings, the searched ones drawn);
    ``.sweep()`` is what its Sweep button does, and returns the ``Sweep``; ``.sweeps`` lists them.
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

        # the Sweep tab: which settings to search and how; the Train tab's values fix the others
        self.sweeps: list = []
        self.sweep_views: list = []
        self.search = w.Textarea(value=DEFAULT_SEARCH, description="search", style=style,
                                 layout=w.Layout(width="520px", height="90px"))
        self.search.tooltip = ("one swept setting per line, with one of Tune's search spaces: uniform, loguniform, "
                               "quniform, qloguniform, randint, choice, grid")
        self.trials = w.BoundedIntText(description="trials", value=4, min=1, max=1000, style=style, layout=layout)
        self.scheduler = w.Dropdown(description="scheduler", options=list(SCHEDULERS), value="asha", style=style,
                                    layout=layout)
        self.scheduler.tooltip = ("asha: stops the worse trials early; median; fifo: all run to the end; pbt: the "
                                  "worse go on as forks of the better")
        for widget in (self.search, self.trials, self.scheduler):
            widget.observe(self._validate_sweep, names="value")
        self.sweep_error = w.HTML()
        self.sweep_error.add_class("unity-nb-panel-error")
        self.sweep_button = w.Button(description="Sweep", icon="random", button_style="success")
        self.sweep_button.add_class("unity-nb-sweep")
        self.sweep_button.on_click(lambda _: self._on_sweep())
        self.sweep_output = w.Output()

        settings = w.HBox([
            w.VBox([self.scene, self.algorithm, self.lr, self.gamma, self.steps, self.target_return, self.backend,
                    self.address, self.instance_type, self.instance_count]),
            w.VBox([self.train_batch_size, self.minibatch_size, self.num_epochs, self.hidden_units, self.num_layers,
                    self.num_env_runners]),
        ])
        train_tab = w.VBox([settings, w.HBox([self.train_button, self.error]), self.output])
        compare_tab = w.VBox([w.HBox([self.compare_select, self.compare_button]), self.compare_output])
        sweep_tab = w.VBox([w.HTML("<small>The Train tab's settings, with the ones named here drawn from their "
                                   "spaces; each trial is a run.</small>"),
                            self.search, w.HBox([self.trials, self.scheduler]),
                            w.HBox([self.sweep_button, self.sweep_error]), self.sweep_output])
        self.widget = w.Tab(children=[train_tab, sweep_tab, compare_tab], titles=("Train", "Sweep", "Compare runs"))
        self.widget.add_class("unity-nb-panel")
        self.widget.observe(lambda change: self._on_tab(change["new"]), names="selected_index")
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
        return _checked(self.config, self.error, self.train_button)

    # ---- the sweep tab
    def searched(self) -> dict:
        """The Sweep tab's search spaces: {setting: space as text} (ConfigError names a line that is not one)."""
        from ..train.config import parse_yaml
        from ..train.sweeps import check_search

        parsed = parse_yaml(self.search.value, "search") if self.search.value.strip() else {}
        return check_search(parsed)

    def _sweep_settings(self) -> tuple[str, dict]:
        """The scene, and the Train tab's settings with the searched ones as their spaces."""
        values = self.values()
        return values.pop("scene"), {**values, **self.searched()}

    def sweep_plan(self):
        """The validated plan of the sweep the Sweep tab describes (ConfigError names what is wrong)."""
        from ..train.sweeps import make_plan

        scene, settings = self._sweep_settings()
        return make_plan(scene, trials=self.trials.value, scheduler=self.scheduler.value, **settings)

    def _validate_sweep(self, change=None) -> bool:
        return _checked(self.sweep_plan, self.sweep_error, self.sweep_button)

    def sweep(self):
        """Start the sweep the Sweep tab describes and show its live view below; returns the Sweep."""
        from ..train import sweep as start_sweep

        scene, settings = self._sweep_settings()
        found = start_sweep(scene, trials=self.trials.value, scheduler=self.scheduler.value, runs_dir=self.runs_dir,
                            **settings)
        self.sweeps.append(found)
        from .sweep_view import SweepView

        view = SweepView(found)
        self.sweep_views.append(view)
        self.sweep_output.clear_output()
        with self.sweep_output:
            from IPython.display import display

            display(view)
        return found

    def _on_sweep(self) -> None:
        if self._validate_sweep():
            _pressed(self.sweep, self.sweep_error, self.sweep_button)

    def _on_tab(self, index: int) -> None:
        if index == 1:
            self._validate_sweep()  # the Train tab's settings may have changed meanwhile
        elif index == 2:
            self._refresh_runs()

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
        if self._validate():
            _pressed(self.train, self.error, self.train_button)

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
        return f"Panel(scene={self.scene.value!r}, runs started={len(self.runs)}, sweeps={len(self.sweeps)})"


def _checked(check, error, button) -> bool:
    """Run ``check``; while it refuses, ``error`` says why and ``button`` is disabled."""
    try:
        check()
    except (ConfigError, ValueError) as err:
        error.value = f"<span style='color:#d93025'>{html.escape(str(err))}</span>"
        button.disabled = True
        return False
    error.value = ""
    button.disabled = False
    return True


def _pressed(action, error, button) -> None:
    """What a button does: ``action``, its failure shown in ``error`` (a button has no cell to raise into)."""
    button.disabled = True
    try:
        action()
    except Exception as err:
        error.value = f"<span style='color:#d93025'>could not start: {html.escape(str(err))}</span>"
    finally:
        button.disabled = False
