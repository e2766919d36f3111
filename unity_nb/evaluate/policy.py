"""A trained policy loaded from a run's checkpoint, acting deterministically (no Ray needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class Policy:
    """The RLModule of a checkpoint; ``act`` maps a batch of observations to greedy actions."""

    def __init__(self, checkpoint: str | Path):
        import logging

        import torch
        from ray.rllib.core.rl_module.rl_module import RLModule

        # RLlib warns about its own deprecated internals when loading a module; not the user's concern
        logging.getLogger("ray._common.deprecation").setLevel(logging.ERROR)

        checkpoint = Path(checkpoint).resolve()  # RLlib reads it through pyarrow, which needs an absolute path
        module_dir = checkpoint / "learner_group" / "learner" / "rl_module" / "default_policy"
        if not module_dir.exists():
            raise FileNotFoundError(f"{checkpoint} is not a unity-nb/RLlib checkpoint (no {module_dir.relative_to(checkpoint)})")
        if (checkpoint / "env_runner" / "env_to_module_connector").exists() and _has_filter(checkpoint):
            raise NotImplementedError("evaluating runs trained with normalize=true is not supported yet")
        self.checkpoint = checkpoint
        self.module = RLModule.from_checkpoint(str(module_dir))
        self.module.eval()
        self._torch = torch
        self._dist = self.module.get_inference_action_dist_cls()

    def act(self, observations: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.no_grad():
            out = self.module.forward_inference({"obs": torch.as_tensor(np.asarray(observations, dtype=np.float32))})
            dist = self._dist.from_logits(out["action_dist_inputs"]).to_deterministic()
            return dist.sample().cpu().numpy()


def _has_filter(checkpoint: Path) -> bool:
    return any("MeanStdFilter" in p.name for p in (checkpoint / "env_runner" / "env_to_module_connector").iterdir())
