"""PPO with the KL penalty off and an unclipped value loss, trained by a PPO that counts its iterations."""

from ray.rllib.algorithms.ppo import PPO, PPOConfig


class CountingPPO(PPO):
    def training_step(self):
        super().training_step()
        self.metrics.log_value("counted_iterations", 1, reduce="sum")


class SteadyPPOConfig(PPOConfig):
    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or CountingPPO)
        self.use_kl_loss = False
        self.vf_clip_param = float("inf")
