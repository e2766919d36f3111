"""The training process: what runs beside the kernel, never inside it.

    driver.py       one run: join Ray, build the algorithm, train, write the run folder
    standby.py      a driver started ahead of time, waiting for its run on stdin
    rllib_setup.py  TrainConfig -> RLlib AlgorithmConfig (envs, models, callbacks)
    window.py       the moving window of finished episodes

Only this package imports Ray, RLlib and torch for training; the kernel side
(``unity_nb.train``) starts it as a process (``python -m unity_nb.trainer.driver``).
"""

import sys

# Ray imports jsonschema, whose format checkers import rfc3987_syntax when it is installed (Jupyter's
# jsonschema[format-nongpl] brings it): that builds a grammar at import, ~1 s of every driver's start-up,
# for an "iri" format nothing here validates. Without it jsonschema skips that one checker.
sys.modules.setdefault("rfc3987_syntax", None)
