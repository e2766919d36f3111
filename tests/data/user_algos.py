"""AlgorithmConfigs a user might bring (tests/test_user_model.py copies this file next to its runs)."""

from ray.rllib.algorithms.ppo import PPO, PPOConfig


class SteadyPPO(PPO):
    """PPO whose every iteration also reports how many iterations it has run (a metric of its own)."""

    def training_step(self):
        super().training_step()
        self.metrics.log_value("steady_iterations", 1, reduce="sum")


class SteadyPPOConfig(PPOConfig):
    """PPO without the KL penalty and with an unclipped value loss, trained by SteadyPPO."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or SteadyPPO)
        self.use_kl_loss = False
        self.vf_clip_param = float("inf")


class NotAConfig:
    pass
