"""PPO that learns from one batch while it collects the next (the ``threaded`` setting; mlagents' ``threaded``).

RLlib's PPO samples a batch, then updates, then samples again: one core waits while the other works. Here the
update runs in a learner process of its own (RLlib's ``num_learners=1``) on the batch collected in the previous
iteration, while this iteration's batch is collected in the driver. The collecting policy is then one update
behind the learner's, which PPO's importance ratio accounts for (the actions' log-probabilities are the
collecting policy's). A thread instead of a process gains nothing: sampling and the update are both bound by
Python, and took turns on the GIL (3DBall: 10,600 steps/s either way).

Between iterations nothing runs in the background: the update is waited for and its weights synced to the env
runners before ``training_step`` returns, so a checkpoint, a confirmation or a stop sees one set of weights. The
batch collected last is learned from in the next iteration (a run's final batch is counted, never learned from).
"""

from __future__ import annotations

from ray.rllib.algorithms.ppo import PPO
from ray.rllib.execution.rollout_ops import synchronous_parallel_sample
from ray.rllib.utils.metrics import (
    ALL_MODULES,
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_MODULE_STEPS_TRAINED_LIFETIME,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TIMERS,
)


class OverlappedPPO(PPO):
    """RLlib's PPO (new API stack, one remote learner) with sampling and learning side by side."""

    _held = None  # the episodes collected in the last iteration: this one learns from them

    def training_step(self) -> None:
        config = self.config  # one remote learner: rllib_setup sets it, checks.check_threaded refuses another number
        held, self._held = self._held, None
        if held is not None:  # sent now, learned from while the next batch is collected below
            self.learner_group.update(
                episodes=held, async_update=True, num_epochs=config.num_epochs, minibatch_size=config.minibatch_size,
                shuffle_batch_per_epoch=config.shuffle_batch_per_epoch,
                timesteps={
                    NUM_ENV_STEPS_SAMPLED_LIFETIME: self.metrics.peek(
                        (ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME)),
                    NUM_MODULE_STEPS_TRAINED_LIFETIME: self.metrics.peek(
                        (LEARNER_RESULTS, ALL_MODULES, NUM_MODULE_STEPS_TRAINED_LIFETIME), default=0),
                })
        with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
            limit = "max_agent_steps" if config.count_steps_by == "agent_steps" else "max_env_steps"
            episodes, env_runner_results = synchronous_parallel_sample(
                worker_set=self.env_runner_group, sample_timeout_s=config.sample_timeout_s,
                _uses_new_env_runners=True, _return_metrics=True, **{limit: config.total_train_batch_size})
        if episodes:
            self._held = episodes
            self.metrics.aggregate(env_runner_results, key=ENV_RUNNER_RESULTS)
        if held is None:
            return
        with self.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):  # the part of the update sampling did not hide
            # RLlib's LearnerGroup hands out an async update's results only when asked: ask, and wait for them
            ready = self.learner_group._worker_manager.fetch_ready_async_reqs(timeout_seconds=None)
            learner_results = self.learner_group._get_results(ready)
        self.metrics.aggregate(learner_results, key=LEARNER_RESULTS)
        with self.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
            self.env_runner_group.sync_weights(from_worker_or_learner_group=self.learner_group,
                                               policies=set(learner_results[0]) - {ALL_MODULES}, inference_only=True)
