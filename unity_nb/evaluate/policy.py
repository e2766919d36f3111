"""Trained policies acting deterministically: from a run's checkpoint (no Ray runtime needed) or live in training.

A run that trained one policy per behavior has one module per behavior; a run that
normalised its observations carries the running mean/std in its checkpoint, and
every observation is normalised with them exactly as in training.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

SINGLE = "default_policy"  # RLlib's module id when one policy serves every agent


class Policy:
    """One trained RLModule; ``act`` maps a batch of observations to greedy actions."""

    def __init__(self, module, normalizer=None):
        import torch

        self.module = module
        self.normalizer = normalizer  # RLlib's MeanStdFilter with the training statistics, or None
        self._torch = torch
        self._dist = module.get_inference_action_dist_cls()

    @classmethod
    def load(cls, checkpoint: str | Path, module_id: str = SINGLE) -> "Policy":
        """The policy ``module_id`` of a checkpoint folder (``run.latest_checkpoint()``)."""
        return load_policies(checkpoint, [module_id])[module_id]

    def act(self, observations: np.ndarray) -> np.ndarray:
        torch = self._torch
        obs = np.asarray(observations, dtype=np.float32)
        if self.normalizer is not None:
            obs = np.asarray(self.normalizer(obs, update=False), dtype=np.float32)
        with torch.no_grad():
            out = self.module.forward_inference({"obs": torch.as_tensor(obs)})
            dist = self._dist.from_logits(out["action_dist_inputs"]).to_deterministic()
            return dist.sample().cpu().numpy()


def load_policies(checkpoint: str | Path, module_ids: list[str] | None = None) -> dict[str, Policy]:
    """Every policy of a checkpoint (or those named), keyed by module id (behavior name or ``default_policy``)."""
    import logging

    from ray.rllib.core.rl_module.rl_module import RLModule

    # RLlib warns about its own deprecated internals when loading a module; not the user's concern
    logging.getLogger("ray._common.deprecation").setLevel(logging.ERROR)
    checkpoint = Path(checkpoint).resolve()  # RLlib reads it through pyarrow, which needs an absolute path
    modules_dir = checkpoint / "learner_group" / "learner" / "rl_module"
    if not modules_dir.is_dir():
        raise FileNotFoundError(f"{checkpoint} is not a unity-nb/RLlib checkpoint (no {modules_dir.relative_to(checkpoint)})")
    found = sorted(p.name for p in modules_dir.iterdir() if p.is_dir())
    wanted = found if module_ids is None else module_ids
    missing = [m for m in wanted if m not in found]
    if missing:
        raise KeyError(f"{checkpoint.name} has no policy {missing[0]!r}; it has {', '.join(found)}")
    normalizer = _normalizer(checkpoint)
    policies = {}
    for module_id in wanted:
        module = RLModule.from_checkpoint(str(modules_dir / module_id))
        module.eval()
        policies[module_id] = Policy(module, normalizer)
    return policies


def live_policies(algo) -> dict[str, Policy]:
    """The policies of an algorithm being trained (its current weights and normalisation), for a check mid-run."""
    state = algo.env_runner.get_state(components="env_to_module_connector").get("env_to_module_connector", {})
    normalizer = _filter_from_state(state.get("MeanStdFilter"))
    module = algo.get_module()
    if hasattr(module, "keys"):  # one policy per behavior: a MultiRLModule
        return {mid: Policy(algo.get_module(mid), normalizer) for mid in module.keys()}
    return {SINGLE: Policy(module, normalizer)}


def _normalizer(checkpoint: Path):
    path = checkpoint / "env_runner" / "env_to_module_connector" / "MeanStdFilter" / "state.pkl"
    if not path.exists():
        return None
    with open(path, "rb") as f:
        return _filter_from_state(pickle.load(f))


def _filter_from_state(state):
    """RLlib's MeanStdFilter holding the saved running statistics (None: the run did not normalise)."""
    if not state:
        return None
    from ray.rllib.utils.filter import MeanStdFilter, RunningStat

    (saved,) = state.values()  # one filter: every agent of a behavior shares the statistics
    stats = [RunningStat.from_state(s) for s in saved["running_stats"]]
    if len(stats) != 1:
        raise NotImplementedError("normalised observations with several parts (dict spaces) are not supported")
    flt = MeanStdFilter(tuple(saved["shape"]), demean=saved["de_mean_to_zero"], destd=saved["de_std_to_one"],
                        clip=saved["clip_by_value"])
    flt.running_stats = stats[0]
    return flt
