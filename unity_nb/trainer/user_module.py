"""Your own RLModule class, imported in the training process and checked against the scene.

The class is named in the run's settings (``model: my_models:ResidualMLP``). It is imported with
the folder the run was started from first on the path, then registered with Ray's cloudpickle *by
value*: env-runner processes, a Ray cluster's nodes and the run's checkpoints carry the class itself,
so neither the cluster nor a later evaluation needs the file on its path. What goes wrong is told
in the user's terms: the file and line of the user's code, not Ray's stack.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

from ..train.errors import ConfigError


def user_frame(err: BaseException) -> str:
    """``ValueError: ... (my_models.py, line 12, in setup)``: the error and the last frame in the user's files
    (any file outside Ray, torch and the kit)."""
    frames = traceback.extract_tb(err.__traceback__)
    if isinstance(err, SyntaxError) and err.filename:
        return f"SyntaxError: {err.msg} ({os.path.basename(err.filename)}, line {err.lineno})"

    ours = [f for f in frames
            if not any(part in f.filename for part in ("site-packages", "/ray/", "/torch/", "unity_nb", "<frozen"))]
    where = f" ({os.path.basename(ours[-1].filename)}, line {ours[-1].lineno}, in {ours[-1].name})" if ours else ""
    return f"{type(err).__name__}: {err}{where}"


HINTS = {"RLModule": "subclass ray.rllib.core.rl_module.torch.TorchRLModule (and ValueFunctionAPI for PPO)",
         "AlgorithmConfig": "subclass ray.rllib.algorithms.algorithm_config.AlgorithmConfig (or PPOConfig ...)"}


def load_class(path: str, key: str = "model", base=None):
    """Import ``module:Class`` (the current folder, the run's caller's, first on the path) and return the class,
    which must be a subclass of ``base`` (default RLModule)."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    base = base or RLModule

    module_name, _, qualname = path.partition(":")
    folder = os.getcwd()
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        module = importlib.import_module(module_name)
    except Exception as err:
        if isinstance(err, ModuleNotFoundError) and err.name and module_name.startswith(err.name):
            raise ConfigError(f"{key}: no module {err.name!r} in {folder} or the installed packages; put "
                              f"{err.name}.py next to the notebook, or pip install its package") from None
        raise ConfigError(f"{key}: importing {module_name} failed: {user_frame(err)}") from None
    found = module
    for part in qualname.split("."):
        if not hasattr(found, part):
            classes = sorted(n for n, v in vars(module).items() if isinstance(v, type) and issubclass(v, base)
                             and v.__module__ == module.__name__)
            raise ConfigError(f"{key}: {module_name} has no {qualname}"
                              + (f"; its {base.__name__} classes: {', '.join(classes)}" if classes else
                                 f"; it defines no {base.__name__} class"))
        found = getattr(found, part)
    if not (isinstance(found, type) and issubclass(found, base)):
        kind = f"a class ({', '.join(b.__name__ for b in found.__mro__[1:3])} ...)" if isinstance(found, type) else \
            type(found).__name__
        raise ConfigError(f"{key}: {path} is {kind}, not an {base.__name__}: {HINTS.get(base.__name__, '')}")
    _travel_by_value(module, folder)
    return found


def _travel_by_value(module, folder: str) -> None:
    """Pickle the user's modules by value: the class's own module and any other module from ``folder``
    it imported (a sibling my_layers.py), so other processes and checkpoints need none of the files."""
    import ray.cloudpickle

    kit = ("ray", "unity_nb", "torch")
    tops = {module.__name__.split(".")[0]}
    for name, loaded in list(sys.modules.items()):
        where = getattr(loaded, "__file__", None)
        if where and os.path.abspath(where).startswith(folder + os.sep) and "site-packages" not in where:
            tops.add(name.split(".")[0])
    for top in sorted(tops - set(kit)):
        if top in sys.modules:
            ray.cloudpickle.register_pickle_by_value(sys.modules[top])


def check_module(module, key: str) -> None:
    """Play a batch of the scene's observations through ``module``: its outputs must fit the scene's actions."""
    import numpy as np
    import torch
    from ray.rllib.core.columns import Columns

    space = module.observation_space
    batch = np.stack([space.sample() for _ in range(4)]).astype(np.float32)
    try:
        with torch.no_grad():
            out = module.forward_inference({Columns.OBS: torch.as_tensor(batch)})
    except Exception as err:
        raise ConfigError(f"{key}: {type(module).__name__} failed on the scene's observations (shape "
                          f"{tuple(space.shape)}): {user_frame(err)}") from None
    if Columns.ACTION_DIST_INPUTS not in out:
        raise ConfigError(f"{key}: {type(module).__name__}'s forward returns {', '.join(map(str, out)) or 'nothing'}; "
                          f"it must return {Columns.ACTION_DIST_INPUTS!r} (the action distribution's inputs)")
    dist = module.get_inference_action_dist_cls()
    wanted = dist.required_input_dim(module.action_space, model_config=module.model_config)
    got = tuple(out[Columns.ACTION_DIST_INPUTS].shape)
    if got != (len(batch), wanted):
        raise ConfigError(f"{key}: {type(module).__name__} gives action-distribution inputs of shape {got[1:]} per "
                          f"observation; the scene's actions ({module.action_space}, {dist.__name__}) need ({wanted},)")
