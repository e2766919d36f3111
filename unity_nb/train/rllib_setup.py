"""From a TrainConfig to an RLlib algorithm over Unity agents (new API stack, PyTorch).

Each env runner drives one Unity process; every agent in it (3DBall: 12 per
area) is one sub-environment of a gymnasium VectorEnv, so all agents feed one
shared policy as a batch. A Unity process that crashes or hangs raises in the
env step; RLlib's ``restart_failed_sub_environments`` then builds a new env
(a new Unity process) and sampling goes on; the restarts are counted.
"""

from __future__ import annotations

import logging

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.tune.registry import register_env

from ..envs.behaviors_env import UnityBehaviorsEnv, behavior_of
from ..envs.gym_env import UnityVectorEnv
from ..envs.scenes import SCENES
from ..envs.source import EnvSource
from .config import ConfigError, TrainConfig

ENV_NAME = "unity_nb_agents"
ENV_NAME_BEHAVIORS = "unity_nb_behaviors"
WINDOW = 100  # episodes in the moving mean/min/max, as in the Unity benchmarks

logger = logging.getLogger(__name__)


def _open(ctx, view):
    """One Unity process for an env runner (seeds differ per runner), wrapped by ``view``."""
    offset = 1000 * int(getattr(ctx, "worker_index", 0) or 0) + int(getattr(ctx, "vector_index", 0) or 0)
    source = EnvSource(ctx["scene"], mode=ctx["mode"], seed=ctx["seed"] + offset, num_areas=ctx["num_areas"],
                       params=ctx["env_params"], connect_timeout=ctx["unity_timeout"])
    try:
        return view(source)
    except BaseException:
        source.close()
        raise


def make_env(ctx) -> UnityVectorEnv:
    """RLlib's vector entry point: one Unity process, one sub-env per agent of the trained behavior."""
    env = _open(ctx, lambda source: UnityVectorEnv(source, behavior=ctx.get("behavior"), autoreset_mode="next_step"))
    wanted = ctx.get("num_envs")
    if wanted is not None and env.num_envs != wanted:
        env.close()
        raise RuntimeError(f"{env.source.name} has {env.num_envs} agents, expected {wanted}: agents must not come and go")
    return env


def make_behaviors_env(ctx) -> UnityBehaviorsEnv:
    """RLlib's env creator for several behaviors: one Unity process, one policy per behavior."""
    return _open(ctx, UnityBehaviorsEnv)


def behaviors(config: TrainConfig) -> list[str]:
    """The behaviors a run trains: the one named, or all of the scene's (a build: opened once)."""
    if config.behavior is not None:
        return [config.behavior]
    if config.scene_name is not None:
        return [b.name for b in SCENES[config.scene_name].behavior_list()]
    env = make_behaviors_env(_env_config(config))
    try:
        return list(env.specs)
    finally:
        env.close()


def count_agents(config: TrainConfig) -> int:
    """Agents in one Unity process (built-in scenes: known; a build: opened once to count)."""
    if config.scene_name is not None:
        cls = SCENES[config.scene_name]
        owners = list(cls.area_behaviors or (0,) * cls.agents_per_area)
        index = [b.name for b in cls.behavior_list()].index(config.behavior or cls.behavior.name)
        return owners.count(index) * config.num_areas
    env = make_env(_env_config(config))
    try:
        return env.num_envs
    finally:
        env.close()


class UnityEpisodeMetrics(RLlibCallback):
    """Logs each agent episode's return and length as Unity counted them (and per behavior)."""

    def on_episode_step(self, *, episode, metrics_logger=None, **kwargs):
        if metrics_logger is None:
            return
        infos = episode.get_infos(-1) or {}
        # a single-agent episode gives one info dict; a multi-agent one, a dict per agent id
        multi = hasattr(episode, "agent_episodes")
        for agent, info in (infos.items() if multi else [(None, infos)]):
            if not isinstance(info, dict) or "episode_return" not in info:
                continue
            value = float(info["episode_return"])
            for suffix in [""] + ([] if agent is None else [f"/{behavior_of(agent)}"]):
                for reduce in ("mean", "min", "max"):
                    metrics_logger.log_value(f"unity_episode_return_{reduce}{suffix}", value, reduce=reduce,
                                             window=WINDOW)
            metrics_logger.log_value("unity_episode_length_mean", int(info["episode_length"]), reduce="mean",
                                     window=WINDOW)
            metrics_logger.log_value("unity_episodes", 1, reduce="lifetime_sum")


def _policy_of(agent_id, episode=None, **kwargs) -> str:
    return behavior_of(agent_id)


def _env_config(config: TrainConfig) -> dict:
    return {
        "scene": config.scene,
        "mode": config.mode,
        "seed": config.seed,
        "num_areas": config.num_areas,
        "env_params": dict(config.env_params),
        "unity_timeout": config.unity_timeout,
        "behavior": config.behavior,
    }


def algorithm_config(config: TrainConfig, trained: list[str]) -> AlgorithmConfig:
    """The RLlib AlgorithmConfig for a resolved TrainConfig and the behaviors it trains."""
    from ray.rllib.algorithms.registry import ALGORITHMS

    if config.scene_name == "GridWorld":
        raise ConfigError(
            "scene: training on GridWorld's camera observations needs an image encoder that this release "
            "does not ship yet; try Basic or 3DBall (GridWorld works as an environment: unity_nb.envs.make)"
        )
    algo = ALGORITHMS[config.algorithm]()[1]  # (class, default config)
    # "auto" derives it from the batch size, which the asynchronous algorithms do not support
    fragment = 50 if config.algorithm in ("APPO", "IMPALA") else "auto"
    hidden = [config.hidden_units] * config.num_layers
    if len(trained) == 1:  # every agent of the behavior is a sub-env of one vector env: one policy
        register_env(ENV_NAME, make_env)
        algo.environment(ENV_NAME, env_config={**_env_config(config), "behavior": trained[0]})
        algo.env_runners(num_env_runners=config.num_env_runners, num_envs_per_env_runner=count_agents(config),
                         gym_env_vectorize_mode="vector_entry_point", rollout_fragment_length=fragment,
                         num_cpus_per_env_runner=1)
        algo.rl_module(model_config={"fcnet_hiddens": hidden})
    else:  # one policy per behavior
        from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
        from ray.rllib.core.rl_module.rl_module import RLModuleSpec

        register_env(ENV_NAME_BEHAVIORS, make_behaviors_env)
        algo.environment(ENV_NAME_BEHAVIORS, env_config=_env_config(config))
        algo.env_runners(num_env_runners=config.num_env_runners, rollout_fragment_length=fragment,
                         num_cpus_per_env_runner=1)
        algo.multi_agent(policies=set(trained), policy_mapping_fn=_policy_of)
        algo.rl_module(rl_module_spec=MultiRLModuleSpec(
            rl_module_specs={b: RLModuleSpec(model_config={"fcnet_hiddens": hidden}) for b in trained}))
    if config.normalize:
        from ray.rllib.connectors.env_to_module import MeanStdFilter

        algo.env_runners(env_to_module_connector=lambda env, spaces=None, device=None: MeanStdFilter())
    wanted = {
        "lr": config.lr,
        "gamma": config.gamma,
        "lambda_": config.lambda_,
        "train_batch_size_per_learner": config.train_batch_size,
        "minibatch_size": config.minibatch_size,
        "num_epochs": config.num_epochs,
        "entropy_coeff": config.entropy_coeff,
        "clip_param": config.clip_param,
    }
    if config.algorithm in ("APPO", "IMPALA"):  # they learn from whole fragments, not minibatches
        wanted["minibatch_size"] = None
    if config.algorithm == "SAC":  # SAC learns actor, critic and temperature with rates of their own
        wanted.update(lr=None, actor_lr=config.lr, critic_lr=config.lr, alpha_lr=config.lr)
    algo.training(**{k: v for k, v in wanted.items() if hasattr(algo, k)})
    algo.fault_tolerance(restart_failed_sub_environments=True)
    algo.callbacks(UnityEpisodeMetrics)
    algo.debugging(seed=config.seed, log_level="ERROR")
    algo.reporting(metrics_num_episodes_for_smoothing=WINDOW)
    return algo
