"""Behavioural cloning beside PPO, from Unity ``.demo`` files (ML-Agents' ``behavioral_cloning`` block).

As ML-Agents' BC module does: after each PPO update the policy takes ``num_epoch`` passes over the demonstrated
steps in batches of ``batch_size`` (at most ``samples_per_update`` samples a pass; 0 = all), with an Adam
optimizer of its own whose rate is the policy's times ``strength``, decayed linearly to zero over ``steps``
agent steps (0 = constant; once at zero, cloning stops). The loss is the cross-entropy of the demonstrated
action per discrete branch, and the squared error of the policy's mean against the demonstrated continuous
action (ML-Agents compares a sampled action; the demo holds actions as Unity received them, clamp(x, -3, 3) / 3,
so the target is the raw action that gives them). RLlib has no such module: its learners get a hook after
each update (``after_gradient_based_update``), which runs this.
"""

from __future__ import annotations

import numpy as np
import torch
from ray.rllib.core.columns import Columns

LR_FLOOR = 1e-10  # ML-Agents decays to this and stops there


class BehavioralCloning:
    """One module's cloning of a demonstration (see the module's docstring)."""

    def __init__(self, settings: dict, *, policy_lr: float, batch_size: int, num_epochs: int, raw_gaussian: bool):
        from ..envs.demo import load_demo

        demo = load_demo(settings["demo_path"])
        episodes = demo.episodes()
        self.obs = torch.as_tensor(np.concatenate([e.observations[0] for e in episodes]), dtype=torch.float32)
        self.obs = self.obs.reshape(len(self.obs), -1)
        self.branches = tuple(int(n) for n in demo.spec.action_spec.discrete_branches)
        self.discrete = torch.as_tensor(np.concatenate([e.discrete for e in episodes]), dtype=torch.long)
        continuous = np.concatenate([e.continuous for e in episodes]).astype(np.float32)
        if raw_gaussian:  # the raw action whose clamp(x, -3, 3) / 3 Unity received
            continuous = np.clip(continuous * 3.0, -3.0, 3.0)
        self.continuous = torch.as_tensor(continuous)
        self.rate = policy_lr * float(settings["strength"])  # the block as checks.check_behavioral_cloning filled it
        self.anneal_steps = int(settings.get("steps") or 0)
        self.batch_size = int(settings.get("batch_size") or batch_size)
        self.num_epochs = int(settings.get("num_epoch") or num_epochs)
        self.samples_per_update = int(settings.get("samples_per_update") or 0)
        self.optimizer: torch.optim.Optimizer | None = None

    def __len__(self) -> int:
        return len(self.obs)

    def rate_at(self, step: int) -> float:
        """The cloning rate after ``step`` agent steps: linear from policy rate x strength to ~0 over ``steps``."""
        if not self.anneal_steps:
            return self.rate
        return max(LR_FLOOR, self.rate - (self.rate - LR_FLOOR) * min(step, self.anneal_steps) / self.anneal_steps)

    def update(self, module, step: int) -> float | None:
        """Clone the demonstration into ``module``'s policy once; the mean loss, or None once the rate is spent."""
        if self.rate <= LR_FLOOR or (self.anneal_steps and step >= self.anneal_steps):
            return None
        rate = self.rate_at(step)
        if self.optimizer is None:
            self.optimizer = torch.optim.Adam(module.parameters(), lr=rate)
        for group in self.optimizer.param_groups:
            group["lr"] = rate
        batch = max(1, min(self.batch_size, len(self)))
        batches = max(1, len(self) // batch)
        if self.samples_per_update:
            batches = max(1, min(batches, self.samples_per_update // batch))
        losses = []
        for _ in range(self.num_epochs):
            order = torch.randperm(len(self))
            for i in range(batches):
                rows = order[i * batch:(i + 1) * batch]
                loss = self.loss(module, rows)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                losses.append(float(loss.detach()))
        return float(np.mean(losses))

    def loss(self, module, rows) -> torch.Tensor:
        inputs = module.forward_train({Columns.OBS: self.obs[rows]})[Columns.ACTION_DIST_INPUTS]
        size = self.continuous.shape[1]
        loss = torch.zeros((), dtype=torch.float32)
        if size:  # a Gaussian's inputs: the means, then the log-stds
            loss = loss + torch.nn.functional.mse_loss(inputs[:, :size], self.continuous[rows])
        if self.branches:
            logits = torch.split(inputs[:, -sum(self.branches):], list(self.branches), dim=1)
            loss = loss + torch.stack([torch.nn.functional.cross_entropy(branch, self.discrete[rows, k])
                                       for k, branch in enumerate(logits)]).mean()
        return loss


__all__ = ["BehavioralCloning"]
