"""The kit's PPO learner: RLlib's, with a scheduled clip range, reward signals and behavioural cloning."""

from __future__ import annotations

from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME
from ray.rllib.utils.schedules.scheduler import Scheduler

BC_LOSS = "bc_loss"  # the behavioural cloning loss of an update (trainer/cloning.py)


class ScheduledClipPPOLearner(PPOTorchLearner):
    """RLlib's PPO learner whose clip range follows a schedule, as its entropy coefficient can
    (mlagents' epsilon_schedule; RLlib has no clip schedule of its own), and which clones a demonstration
    after each update when the run has a ``behavioral_cloning`` block (trainer/cloning.py), and which trains
    the run's ``curiosity`` / ``rnd`` / ``gail`` reward signals on each minibatch (trainer/reward_signals.py)."""

    def build(self) -> None:
        super().build()
        given = self.config.learner_config_dict.get("clip_schedule") or {}  # one schedule, or one per module
        per_module = given if isinstance(given, dict) else {None: given}
        self.clip_schedulers = {m: Scheduler(fixed_value_or_schedule=v, framework="torch", device=self._device)
                                for m, v in per_module.items()}
        self.cloning = {}
        cloning = self.config.learner_config_dict.get("behavioral_cloning")
        if cloning:
            from .cloning import BehavioralCloning

            module = cloning["module"]
            own = self.config.get_config_for_module(module)
            rate = own.lr if isinstance(own.lr, (int, float)) else own.lr[0][1]  # a schedule's first rate
            self.cloning[module] = BehavioralCloning(cloning["settings"], policy_lr=float(rate),
                                                     batch_size=own.minibatch_size or own.train_batch_size_per_learner,
                                                     num_epochs=own.num_epochs, raw_gaussian=cloning["raw_gaussian"])
        self.reward_signals = {}
        given = self.config.learner_config_dict.get("reward_signals")
        if given:
            from ray.rllib.connectors.learner import GeneralAdvantageEstimation
            from .reward_signals import AddIntrinsicRewards, build_signals

            trained = {m: self.module[m].unwrapped() for m in given["modules"]}
            self.reward_signals = build_signals(given["settings"], trained)
            pipeline = self._learner_connector
            if pipeline is not None:  # before the advantages (GAE; POCA's replaces it after this build)
                connector = AddIntrinsicRewards()
                connector.signals = self.reward_signals
                pipeline.insert_before(GeneralAdvantageEstimation, connector)

    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        scheduler = self.clip_schedulers.get(module_id, self.clip_schedulers.get(None))
        if scheduler is not None:  # else this module's clip range is constant
            config = _ClipRange(config, float(scheduler.get_current_value()))
        return super().compute_loss_for_module(module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)

    def _update(self, batch):
        out = super()._update(batch)
        for module_id, signals in self.reward_signals.items():
            if module_id in batch:
                for signal in signals:
                    for key, value in signal.update(batch[module_id]).items():
                        self.metrics.log_value((module_id, key), value, window=1)
        return out

    def after_gradient_based_update(self, *, timesteps) -> None:
        super().after_gradient_based_update(timesteps=timesteps)
        env_steps = timesteps.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0)
        for scheduler in self.clip_schedulers.values():
            scheduler.update(timestep=env_steps)
        agent_steps = env_steps * self.config.learner_config_dict.get("unity_nb_agents_per_env_step", 1)
        for module_id, cloning in self.cloning.items():
            loss = cloning.update(self.module[module_id].unwrapped(), agent_steps)
            if loss is not None:
                self.metrics.log_value((module_id, BC_LOSS), loss, window=1)


class _ClipRange:
    """A module's (frozen) PPO config with the scheduled clip range in place of the fixed one."""

    def __init__(self, config, clip_param: float):
        self._config, self.clip_param = config, clip_param

    def __getattr__(self, name):
        return getattr(self._config, name)


__all__ = ["ScheduledClipPPOLearner", "BC_LOSS"]
