"""Notebook-only parts of the kit: magics, the live dashboard, the hyperparameter panel, run comparison.

    %load_ext unity_nb          # the magics: %unity_train, %unity_runs, %unity_video, ...
    from unity_nb.notebook import Dashboard, Panel, Comparison
    Dashboard(run_id)           # re-attach to any run, also after a kernel restart
    Panel()                     # settings as widgets, a Train button, a compare view
"""

from .compare import Comparison
from .dashboard import Dashboard
from .panel import Panel

__all__ = ["Dashboard", "Panel", "Comparison"]
