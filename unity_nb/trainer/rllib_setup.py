"""From a TrainConfig to an RLlib algorithm over Unity agents (new API stack, PyTorch).

Each env runner drives one Unity process; every agent in it (3DBall: 12 per
area) is one sub-environment of a gymnasium VectorEnv, so all agents feed one
shared policy as a batch. A Unity process that crashes or hangs raises in the
env step; RLlib's ``restart_failed_sub_environments`` then builds a new env
(a new Unity process) and sampling goes on; the restarts are counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import batch_space
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.tune.registry import register_env

from ..envs import spaces
from ..envs.agents import behavior_of, runner_seed
from ..envs.behaviors_env import UnityBehaviorsEnv
from ..envs.groups import largest_group
from ..envs.gym_env import UnityVectorEnv
from ..envs.scenes import SCENES
from ..envs.source import EnvSource
from ..envs.spaces import policy_to_unity
from ..envs.teams import games, split_team
from ..errors import NotPossible
from ..evaluate.policy import SINGLE, module_id
from ..train import self_play
from ..train.checks import is_multi_agent, minibatch_misfit, time_horizon_misfit
from ..train.config import ConfigError, TrainConfig
from ..train.settings import SCHEDULE_FLOORS
from .encoders import check_image
from .ppo_learner import ScheduledClipPPOLearner
from .unity_module import UnityPPOModule, is_image, needs_unity_module, sensor_spaces
from .user_module import load_class, user_frame

ENV_NAME = "unity_nb_agents"
ENV_NAME_BEHAVIORS = "unity_nb_behaviors"
# Every finished agent episode as (behavior, return, length), a list the driver reads once per
# iteration (RLlib's own windows restart each iteration: the driver keeps the true last-N window).
EPISODES = "unity_episodes"
# Every game an agent finished (not interrupted) as (module id, last reward + group reward): self-play's ELO
GAMES = "unity_games"


def _open(ctx, view):
    """One Unity process for an env runner (seeds differ per runner), wrapped by ``view``."""
    source = EnvSource(ctx["scene"], mode=ctx["mode"], seed=runner_seed(ctx, ctx["seed"]), num_areas=ctx["num_areas"],
                       params=ctx["env_params"], connect_timeout=ctx["unity_timeout"])
    try:
        return view(source)
    except BaseException:
        source.close()
        raise


# Algorithms whose policies output an unbounded Gaussian for continuous actions: ML-Agents' contract
# applies (SAC squashes its own actions into the bounds).
RAW_GAUSSIAN = ("PPO", "APPO", "IMPALA")


class TrainingVectorEnv(UnityVectorEnv):
    """The vector env RLlib trains on. The policy's raw continuous actions reach Unity as ML-Agents
    sends them (clamp(x, -3, 3) / 3), so training, evaluation and export agree; a behavior that masks
    actions gives each observation with its decision's mask (``spaces.with_mask``)."""

    def __init__(self, source, *, raw_gaussian: bool, masked: bool, **kwargs):
        super().__init__(source, **kwargs)
        self.raw_gaussian = raw_gaussian
        self.masked = masked  # decided once for the run (scene_behaviors), so every env runner's space agrees
        if self.masked:
            self.single_observation_space = spaces.with_mask(self.single_observation_space, self.behavior_spec)
            self.observation_space = batch_space(self.single_observation_space, self.num_envs)

    def _with_mask(self, obs, infos):
        if not self.masked:
            return obs
        return {spaces.OBSERVATIONS: obs, spaces.ACTION_MASK: infos["action_mask"].astype(np.float32)}

    def reset(self, *, seed=None, options=None):
        obs, infos = super().reset(seed=seed, options=options)
        return self._with_mask(obs, infos), infos

    def step(self, actions):
        if self.raw_gaussian:
            actions = policy_to_unity(self.single_action_space, actions)
        obs, rewards, terminated, truncated, infos = super().step(actions)
        return self._with_mask(obs, infos), rewards, terminated, truncated, infos


class TrainingBehaviorsEnv(UnityBehaviorsEnv):
    """Several behaviors, one policy each, with ML-Agents' continuous-action contract and masks as above."""

    def __init__(self, source, *, raw_gaussian: bool, masked: set[str], max_mates: int = 0):
        super().__init__(source)
        self.raw_gaussian = raw_gaussian
        self.masked = set(masked)  # the behaviors trained with their masks (scene_behaviors decides, once)
        self.groups = None  # POCA: every agent's teammates in its infos, for the group critic
        if max_mates:
            from ..envs.groups import GroupView

            (behavior,) = self.specs  # POCA trains one behavior's groups (checks.check_poca)
            key = next(k for k in self.observation_spaces if behavior_of(k) == behavior)
            self.groups = GroupView(max_mates, self.observation_spaces[key], self.action_spaces[key])
        for key, space in self.observation_spaces.items():
            spec = self.specs[behavior_of(key)]
            if behavior_of(key) in self.masked:
                self.observation_spaces[key] = spaces.with_mask(space, spec)

    def _with_masks(self, obs: dict, infos: dict) -> dict:
        for key in obs:
            b = behavior_of(key)
            if b in self.masked:  # a terminal observation carries no mask: every action allowed
                mask = infos.get(key, {}).get("action_mask")
                if mask is None:
                    mask = np.ones(self.observation_spaces[key][spaces.ACTION_MASK].shape, np.float32)
                obs[key] = {spaces.OBSERVATIONS: obs[key], spaces.ACTION_MASK: np.asarray(mask, np.float32)}
        return obs

    def reset(self, *, seed=None, options=None):
        obs, infos = super().reset(seed=seed, options=options)
        if self.groups is not None:
            self.groups.reset(obs, infos)
        return self._with_masks(obs, infos), infos

    def step(self, action_dict):
        chosen = action_dict  # as the policy chose them (the group critic's baseline reads these)
        if self.raw_gaussian:
            action_dict = {k: policy_to_unity(self.action_spaces[k], a) for k, a in action_dict.items()}
        obs, rewards, terminateds, truncateds, infos = super().step(action_dict)
        if self.groups is not None:
            self.groups.step(chosen, obs, rewards, terminateds, truncateds, infos)
        return self._with_masks(obs, infos), rewards, terminateds, truncateds, infos


def make_env(ctx) -> UnityVectorEnv:
    """RLlib's vector entry point: one Unity process, one sub-env per agent of the trained behavior."""
    env = _open(ctx, lambda source: TrainingVectorEnv(source, raw_gaussian=bool(ctx.get("raw_gaussian")),
                                                      masked=ctx.get("behavior") in ctx.get("masked", ()),
                                                      behavior=ctx.get("behavior"), autoreset_mode="next_step"))
    wanted = ctx.get("num_envs")
    if wanted is not None and env.num_envs != wanted:
        env.close()
        raise NotPossible(f"{env.source.name} has {env.num_envs} agents, expected {wanted}: agents must not come and go")
    return env


def make_behaviors_env(ctx) -> UnityBehaviorsEnv:
    """RLlib's env creator for several behaviors: one Unity process, one policy per behavior."""
    return _open(ctx, lambda source: TrainingBehaviorsEnv(source, raw_gaussian=bool(ctx.get("raw_gaussian")),
                                                          masked=set(ctx.get("masked", ())),
                                                          max_mates=int(ctx.get("max_mates", 0))))


@dataclass(frozen=True)
class BehaviorFacts:
    """What the algorithm is built from, for one behavior of the scene."""

    agents: int  # in one Unity process
    continuous: bool  # continuous actions (else discrete)
    observation_space: gym.Space  # as the training env gives it (a masked behavior's with its mask)
    goal_sensors: tuple[int, ...] = ()  # which sensors carry a goal signal (ML-Agents' ObservationType.GOAL_SIGNAL)
    largest_group: int = 0  # the most agents one Unity group holds after a reset (0: the agents are in no group)
    spec: object = None  # mlagents-envs' BehaviorSpec, as the scene or build reports it

    @property
    def masked(self) -> bool:
        """Trained with each decision's action mask beside its observations."""
        return isinstance(self.observation_space, gym.spaces.Dict)

    @property
    def needs_unity_module(self) -> bool:
        """Cameras, several sensors or masks: RLlib's default networks take one vector, so the kit's module."""
        return needs_unity_module(self.observation_space)

    def cameras(self) -> list[tuple[int, ...]]:
        """The shape of each camera (height, width, channels)."""
        return [tuple(p.shape) for p in sensor_spaces(self.observation_space) if is_image(p)]


def scene_behaviors(config: TrainConfig) -> dict[str, BehaviorFacts]:
    """Each behavior of the scene, as one Unity process shows it after a reset.

    A built-in scene is asked in this process (no player started) and says whether it masks actions; a Unity
    build is opened once, and a behavior trains with its masks when a mask forbids something within its
    first ``MASK_PROBE`` exchanges of random actions (mlagents-envs gives every discrete behavior a mask,
    all allowed when the agents write none).
    """
    ctx = _env_config(config)
    if config.scene_name is not None:
        ctx["mode"] = "inprocess"
    source = _open(ctx, lambda source: source)
    try:
        source.call("reset")
        specs = dict(source.base.behavior_specs)
        if config.scene_name is not None:
            known = {b.name: b.masks_actions for b in SCENES[config.scene_name].behavior_list()}
            masked = {b for b in specs if known.get(b)}
        else:
            masked = _masks_seen(source, specs)
        facts = {}
        for b, spec in specs.items():
            decision, _ = source.call("get_steps", b)
            space = spaces.observation_space(spec)
            if b in masked:
                space = spaces.with_mask(space, spec)
            facts[b] = BehaviorFacts(len(decision), bool(spec.action_spec.continuous_size), space,
                                     spaces.goal_sensors(spec), largest_group(decision.group_id), spec)
        return facts
    finally:
        source.close()


MASK_PROBE = 20  # exchanges a Unity build is played with random actions to see whether it masks any


def _masks_seen(source: EnvSource, specs: dict) -> set[str]:
    """The discrete behaviors of an opened build whose masks forbid an action within ``MASK_PROBE`` exchanges."""
    seen = set()
    for _ in range(MASK_PROBE):
        for b, spec in specs.items():
            decision, _ = source.call("get_steps", b)
            if spec.action_spec.discrete_size and spaces.forbids_any(decision):
                seen.add(b)
            if len(decision):
                source.call("set_actions", b, spec.action_spec.random_action(len(decision)))
        if len(seen) == len(specs):
            break
        source.call("step")
    return seen


def behaviors(config: TrainConfig) -> list[str]:
    """The behaviors a run trains: the one named, or all of the scene's."""
    return [config.behavior] if config.behavior is not None else list(scene_behaviors(config))


class UnityEpisodeMetrics(RLlibCallback):
    """Reports each finished agent episode's return and length as Unity counted them (and its behavior)."""

    def on_episode_step(self, *, episode, metrics_logger=None, **kwargs):
        if metrics_logger is None:
            return
        infos = episode.get_infos(-1) or {}
        # a single-agent episode gives one info dict; a multi-agent one, a dict per agent id
        multi = hasattr(episode, "agent_episodes")
        for agent, info in (infos.items() if multi else [(None, infos)]):
            if not isinstance(info, dict) or "episode_return" not in info:
                continue
            behavior = "" if agent is None else behavior_of(agent)
            finished = (behavior, float(info["episode_return"]), int(info["episode_length"]))
            metrics_logger.log_value(EPISODES, finished, reduce="item_series")
            if "final_reward" in info:
                game = (episode.module_for(agent), float(info["final_reward"]))
                metrics_logger.log_value(GAMES, game, reduce="item_series")


# ML-Agents starts its policies near-uniform: the action layer is Kaiming-normal scaled by 0.1 (discrete
# branches) or 0.2 (a Gaussian's mean), with zero bias. RLlib's default head starts with logits far enough
# apart that for some seeds Basic's first policy already leaned to the near, small goal and never found
# the large one (seeds 4, 10, 11 of 0-14 stuck at 0.07 for 20,000 steps).
OUTPUT_GAIN = {"discrete": 0.1, "continuous": 0.2}


class StartNearUniform(RLlibCallback):
    """Re-initialises the action layer of the RLlib default modules the kit builds (PPO, APPO, IMPALA), as
    ML-Agents does, before the first sample; your own modules and the kit's camera module (which starts
    near-uniform itself) are left as they are."""

    def on_algorithm_init(self, *, algorithm, metrics_logger=None, **kwargs) -> None:
        kinds = algorithm.config.learner_config_dict.get("unity_nb_start_near_uniform") or {}
        if not kinds:
            return

        def rescale(learner):
            import torch

            for module_id, kind in kinds.items():
                layer = [m for m in learner.module[module_id].pi.modules() if isinstance(m, torch.nn.Linear)][-1]
                with torch.no_grad():
                    torch.nn.init.kaiming_normal_(layer.weight)
                    layer.weight.mul_(OUTPUT_GAIN[kind])
                    layer.bias.zero_()

        algorithm.learner_group.foreach_learner(rescale)
        algorithm.env_runner_group.sync_weights(from_worker_or_learner_group=algorithm.learner_group,
                                                inference_only=True)


class UnityCallbacks(UnityEpisodeMetrics, StartNearUniform):
    """The kit's callbacks: Unity's episode counts, and ML-Agents' near-uniform first policy."""


def schedule(config: TrainConfig, key: str, agents_per_env_step: int = 1):
    """A setting's value, or RLlib's [[step, value], ...] when it decays linearly over the step budget.
    RLlib's schedules count env steps: with several behaviors one env step is an exchange of all their agents
    (``agents_per_env_step``), so the budget in agent steps ends at steps / agents."""
    value = getattr(config, key)
    kind = {"lr": config.lr_schedule, "entropy_coeff": config.entropy_schedule, "clip_param": config.clip_schedule}[key]
    if kind == "constant" or value is None:
        return value
    return [[0, value], [max(1, -(-config.steps // agents_per_env_step)), min(value, SCHEDULE_FLOORS[key])]]


def learner_settings(config: TrainConfig, agents_per_env_step: int = 1) -> dict:
    """What the learner trains with, in RLlib's names, as ``config`` says: the run's settings, or one
    behavior's own (``config.for_behavior``). None: a setting the algorithm does not take."""
    wanted = {
        "lr": schedule(config, "lr", agents_per_env_step),
        "gamma": config.gamma,
        "lambda_": config.lambda_,
        "train_batch_size_per_learner": config.train_batch_size,
        "minibatch_size": config.minibatch_size,
        "num_epochs": config.num_epochs,
        "entropy_coeff": schedule(config, "entropy_coeff", agents_per_env_step),
        "clip_param": config.clip_param,
    }
    if config.algorithm == "PPO":
        # ML-Agents' PPO where RLlib's defaults differ (docs/trainer-yaml.md): no KL penalty on top of the
        # clip, the squared value error not clipped (RLlib's 10 drops most of 3DBall's value gradient),
        # the value loss weighed 0.5
        wanted.update(use_kl_loss=False, vf_clip_param=float("inf"), vf_loss_coeff=0.5)
    if config.algorithm in ("APPO", "IMPALA"):  # they learn from whole fragments, not minibatches
        wanted["minibatch_size"] = None
    if config.algorithm == "SAC":  # SAC learns actor, critic and temperature with rates of their own
        rate = wanted["lr"]
        wanted.update(lr=None, actor_lr=rate, critic_lr=rate, alpha_lr=rate)
    return wanted


# the learner's settings a behavior's module may have of its own (``PER_BEHAVIOR``'s learner side: its network
# is its module spec's)
MODULE_SETTINGS = ("lr", "actor_lr", "critic_lr", "alpha_lr", "entropy_coeff", "clip_param")


def _module_settings(own: TrainConfig, agents_per_env_step: int) -> dict:
    """What one behavior's module trains with where it may differ from the others."""
    return {k: v for k, v in learner_settings(own, agents_per_env_step).items()
            if k in MODULE_SETTINGS and (v is not None or k == "lr")}


def _policy_of(agent_id, episode=None, **kwargs) -> str:
    return module_id(behavior_of(agent_id))


def _env_config(config: TrainConfig) -> dict:
    return {
        "scene": config.scene,
        "mode": config.mode,
        "seed": config.seed,
        "num_areas": config.num_areas,
        "env_params": config.scene_params("first"),  # a curriculum's first lessons (the driver moves them on)
        "unity_timeout": config.unity_timeout,
        "behavior": config.behavior,
        "raw_gaussian": config.algorithm in RAW_GAUSSIAN,
    }


def algorithm_config(config: TrainConfig, trained: list[str]) -> AlgorithmConfig:
    """The RLlib AlgorithmConfig for a resolved TrainConfig and the behaviors it trains."""
    from ray.rllib.algorithms.registry import ALGORITHMS

    facts = scene_behaviors(config)
    _check_unity_module_fits(config, {b: facts[b] for b in trained})
    masked = [b for b in trained if facts[b].masked]  # decided once: every env runner's spaces agree
    if config.custom_algorithm:  # your own AlgorithmConfig subclass
        try:
            algo = load_class(config.algorithm, "algorithm", base=AlgorithmConfig)()
        except ConfigError:
            raise
        except Exception as err:
            raise ConfigError(f"algorithm: {config.algorithm}() failed: {user_frame(err)}") from None
    else:
        algo = ALGORITHMS[config.algorithm]()[1]  # (class, default config)
        if config.threaded:  # PPO that learns in a process of its own while the driver samples
            from .overlap import OverlappedPPO

            algo.algo_class = OverlappedPPO
            algo.learners(num_learners=1)
    # A trajectory piece per agent: time_horizon steps (mlagents' cut, bootstrapped from the value
    # function), else "auto" (the batch spread over the agents); the asynchronous algorithms need a number.
    fragment = config.time_horizon or (50 if config.algorithm in ("APPO", "IMPALA") else "auto")
    user_model = dict(config.rllib.get("rl_module", {}).get("model_config") or {})
    strangers = [b for b in config.behavior_settings if b not in trained and b not in games(trained)]
    if strangers:  # a Unity build's behaviors are known only now (a built-in scene's were by TrainConfig)
        raise ConfigError(f"behavior_settings.{strangers[0]}: not a behavior this run trains; it trains "
                          f"{', '.join(trained)}")
    if len(trained) == 1:  # one policy: the behavior's own settings are the run's
        config = config.for_behavior(trained[0])

    multi = is_multi_agent(config, trained)

    def module_of(behavior: str) -> str:
        """The module that trains ``behavior`` (self-play: its game's, whichever team)."""
        if not multi:
            return SINGLE
        return module_id(split_team(behavior)[0]) if config.self_play else module_id(behavior)

    def model(behavior: str) -> dict:
        # as ML-Agents' networks: Swish activations; continuous actions with one learned,
        # state-independent log-std per action (it starts at 0: std 1 before the /3 of the contract)
        own = config.for_behavior(behavior)
        out = {"fcnet_hiddens": [own.hidden_units] * own.num_layers, "vf_share_layers": config.shared_critic,
               "fcnet_activation": "swish"}
        if facts[behavior].continuous and config.algorithm in ("PPO", "APPO", "IMPALA"):
            out["free_log_std"] = True
        if facts[behavior].needs_unity_module:
            out.update(vis_encode_type=config.vis_encode_type, goal_sensors=list(facts[behavior].goal_sensors),
                       goal_conditioning_type=config.goal_conditioning_type)
        return {**out, **user_model}  # rllib: rl_module.model_config adds to (or replaces) the kit's keys

    def spec(behavior: str) -> RLModuleSpec:
        path = config.model_for(behavior)
        if config.poca:  # RLlib's default policy network beside a group critic (checks.check_poca: vectors only)
            from .poca import POCAModule

            return RLModuleSpec(module_class=POCAModule, model_config=model(behavior))
        if path is None and facts[behavior].needs_unity_module:  # cameras, several sensors, masks
            return RLModuleSpec(module_class=UnityPPOModule, model_config=model(behavior))
        if path is None:  # RLlib's default network for the algorithm
            return RLModuleSpec(model_config=model(behavior))
        key = "model" if isinstance(config.model, str) else f"model.{behavior}"
        return RLModuleSpec(module_class=load_class(path, key), model_config=model(behavior))

    # agents acting in one env step: RLlib's schedules count env steps (one exchange of all of a process's agents)
    per_env_step = max(1, sum(facts[b].agents for b in trained)) if multi else 1
    if not multi:  # every agent of the behavior is a sub-env of one vector env: one policy
        misfit = config.algorithm == "PPO" and isinstance(fragment, int) and time_horizon_misfit(
            fragment, config.train_batch_size, facts[trained[0]].agents, config.num_env_runners)
        if misfit:  # a Unity build's agents are counted only now (a built-in scene's were by TrainConfig)
            raise ConfigError(f"time_horizon {misfit}")
        register_env(ENV_NAME, make_env)
        algo.environment(ENV_NAME, env_config={**_env_config(config), "behavior": trained[0], "masked": masked})
        algo.env_runners(num_env_runners=config.num_env_runners, num_envs_per_env_runner=facts[trained[0]].agents,
                         gym_env_vectorize_mode="vector_entry_point", rollout_fragment_length=fragment,
                         num_cpus_per_env_runner=1)
        if config.model_for(trained[0]) is None and not facts[trained[0]].needs_unity_module:
            algo.rl_module(model_config=model(trained[0]))
        else:
            algo.rl_module(rl_module_spec=spec(trained[0]))
    else:  # one policy per behavior (self-play: per game, and a ghost of each to play the opponents), or one for all
        from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

        register_env(ENV_NAME_BEHAVIORS, make_behaviors_env)
        max_mates = 0
        if config.poca:
            largest = facts[trained[0]].largest_group
            if largest < 2:  # a Unity build's groups are known only now (a built-in scene's were by TrainConfig)
                raise ConfigError(f"poca: the agents of {trained[0]!r} are in no group of two or more after a reset, "
                                  "and POCA's critic learns from a group (Unity's SimpleMultiAgentGroup: "
                                  "RegisterAgent); put the agents in a group in Unity, or train with PPO")
            if len(trained) > 1 or facts[trained[0]].needs_unity_module:
                raise ConfigError(f"poca: the kit's POCA trains one behavior with one vector observation; "
                                  f"{', '.join(trained)} " + ("are several behaviors: name one with behavior"
                                                              if len(trained) > 1 else "has cameras, several "
                                                              "sensors or action masks"))
            max_mates = largest - 1
        algo.environment(ENV_NAME_BEHAVIORS, env_config={**_env_config(config), "masked": masked,
                                                          "max_mates": max_mates})
        algo.env_runners(num_env_runners=config.num_env_runners, rollout_fragment_length=fragment,
                         num_cpus_per_env_runner=1)
        # RLlib's env check steps once at random and wants every agent it gets an observation of to be in
        # env.agents after the step; an agent whose episode ends there (Escape's slayer, from its first move)
        # has left env.agents, as PettingZoo's rules say. The kit's env is tested on its own (test_pettingzoo).
        algo.environment(disable_env_checking=True)
        # each behavior's own rate and loss coefficients: RLlib's per-module overrides of the learner's settings
        overrides = {module_of(b): {k: v for k, v in _module_settings(config.for_behavior(b), per_env_step).items()
                                    if hasattr(algo, k)} for b in trained
                     if config.for_behavior(b) is not config}  # those with settings of their own
        specs = {module_of(b): spec(b) for b in trained}
        if config.self_play:
            from .ghost import ghost_module, policy_of

            try:  # a Unity build's teams are known only now (a built-in scene's were by TrainConfig)
                self_play.check_teams(trained, f"{config.scene}")
            except ValueError as err:
                raise ConfigError(f"self_play {err}") from None
            ghosts = {ghost_module(game): spec(next(b for b in trained if split_team(b)[0] == game))
                      for game in games(trained)}
            algo.multi_agent(policies=[*specs, *ghosts], policy_mapping_fn=policy_of,
                             policies_to_train=list(specs))
            specs.update(ghosts)
        else:
            # a list, not a set: the modules are built (and draw their first weights) in one order every run
            algo.multi_agent(policies=list(specs), policy_mapping_fn=_policy_of)
        algo.rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs),
                       algorithm_config_overrides_per_module=overrides)
    if config.normalize:
        from .normalize import MeanStdFilter

        per_behavior, per_game = multi, bool(config.self_play)
        algo.env_runners(env_to_module_connector=lambda env, spaces=None, device=None: MeanStdFilter(
            per_behavior=per_behavior, per_game=per_game))
    wanted = learner_settings(config, per_env_step)
    if per_env_step > 1:  # the batch is in agent steps; RLlib fills it in env steps, each an exchange of all agents
        # (RLlib's own count_steps_by="agent_steps" fails on agents that come and go: NaN counts of agents gone)
        misfit = config.algorithm == "PPO" and wanted.get("minibatch_size") and minibatch_misfit(
            wanted["minibatch_size"], config.train_batch_size, per_env_step)
        if misfit:  # a Unity build's agents are counted only now (a built-in scene's were by TrainConfig)
            raise ConfigError(f"minibatch_size ({wanted['minibatch_size']}) {misfit}")
        wanted["train_batch_size_per_learner"] = max(1, -(-config.train_batch_size // per_env_step))
    clip_schedules = {module_of(b): schedule(config.for_behavior(b), "clip_param", per_env_step) for b in trained
                      if config.for_behavior(b).clip_schedule != "constant"}
    signals = config.reward_signals()
    for name in signals:  # a Unity build's sensors are known only now (a built-in scene's were by TrainConfig)
        odd = [b for b in trained if facts[b].needs_unity_module]
        if odd:
            raise ConfigError(f"{name}: behavior {odd[0]!r} has cameras, several sensors or action masks; the kit's "
                              f"{name} network reads one vector observation yet")
    if "gail" in signals:
        _check_demonstration(signals["gail"]["demo_path"], trained, facts, "gail")
    if config.algorithm == "PPO" and (clip_schedules or config.poca or config.behavioral_cloning or signals):
        learner = ScheduledClipPPOLearner
        if config.poca:
            from .poca import POCALearner as learner
        cloning = None
        if config.behavioral_cloning:  # the demonstration's behavior (a built-in scene's checked by checks.py)
            _check_demonstration(config.behavioral_cloning["demo_path"], trained, facts)
            cloning = {"module": module_of(trained[0]), "settings": config.behavioral_cloning,
                       "raw_gaussian": config.algorithm in RAW_GAUSSIAN}
        algo.learners(learner_class=learner, learner_config_dict={
            "clip_schedule": clip_schedules if multi else clip_schedules.get(SINGLE), "behavioral_cloning": cloning,
            "reward_signals": {"modules": sorted({module_of(b) for b in trained}), "settings": signals} if signals
            else None})
    near_uniform = {module_of(b): "continuous" if facts[b].continuous else "discrete"
                    for b in trained if config.algorithm in RAW_GAUSSIAN and config.model_for(b) is None
                    and not facts[b].needs_unity_module}
    algo.learners(learner_config_dict={"unity_nb_start_near_uniform": near_uniform,
                                       "unity_nb_agents_per_env_step": per_env_step})
    algo.training(**{k: v for k, v in wanted.items() if hasattr(algo, k)})
    if config.algorithm in RAW_GAUSSIAN:  # raw actions to the env, which applies ML-Agents' clamp(x, -3, 3) / 3
        algo.environment(normalize_actions=False, clip_actions=False)
    algo.fault_tolerance(restart_failed_sub_environments=True)
    algo.callbacks(UnityCallbacks)
    algo.debugging(seed=config.seed, log_level="ERROR")
    apply_rllib_settings(algo, config.rllib)
    return algo


def _check_demonstration(path: str, trained: list[str], facts: dict[str, BehaviorFacts],
                         where: str = "behavioral_cloning") -> None:
    """A Unity build's behaviors are known only now: cloning (or GAIL) takes one, whose spec the demonstration
    has."""
    from ..envs.demo import load_demo

    if len(trained) > 1:
        raise ConfigError(f"{where}: learns from one behavior's demonstration and the run trains "
                          f"{', '.join(trained)}: name the demonstrated one with behavior")
    differs = load_demo(path).differences(facts[trained[0]].spec, trained[0])
    if differs:
        raise ConfigError(f"{where}.demo_path: was recorded from another behavior than "
                          f"{trained[0]!r}: " + "; ".join(differs))


def _check_unity_module_fits(config: TrainConfig, facts: dict[str, BehaviorFacts]) -> None:
    """Refuse, by name, what the kit's camera/mask networks cannot train (ConfigError)."""
    for behavior, fact in facts.items():
        if not fact.needs_unity_module or config.model_for(behavior):
            continue  # RLlib's own networks, or the user's module (which sees the observations as they are)
        what = "camera observations" if fact.cameras() else (
            "action masks" if fact.masked else "several sensors")
        if config.algorithm != "PPO" and not config.custom_algorithm:
            raise ConfigError(
                f"algorithm: {config.algorithm} cannot train behavior {behavior!r}: its {what} need the kit's "
                f"camera and mask networks, which train with PPO (RLlib's default {config.algorithm} networks take "
                "one vector only); use algorithm PPO, or give your own module with model=")
        if config.normalize:
            raise ConfigError(
                f"normalize: true is not supported for behavior {behavior!r} with {what} yet (RLlib's filter would "
                "normalise camera pixels and masks too); set normalize false")
        for i, shape in enumerate(fact.cameras()):
            try:
                check_image(shape, config.vis_encode_type, f"{i} of {behavior}")
            except ValueError as err:
                raise ConfigError(f"vis_encode_type: {err}") from None


def rllib_settings_as_built(algo, settings: dict, module_id: str) -> str:
    """The ``rllib:`` settings as the built algorithm holds them: ``training.kl_coeff=0.3, ...``
    (``rl_module.model_config``: the keys given, as module ``module_id`` received them)."""
    shown = []
    for group, values in settings.items():
        for name, given in values.items():
            if (group, name) == ("rl_module", "model_config"):
                received = algo.get_module(module_id).model_config
                held = {k: received.get(k, "?") for k in given}
            else:
                held = getattr(algo.config, name, "?")
            shown.append(f"{group}.{name}={held!r}")
    return ", ".join(shown)


def apply_rllib_settings(algo: AlgorithmConfig, settings: dict) -> None:
    """The run's ``rllib:`` settings (checked on the kernel side), after the kit's own, group by group."""
    for group, values in settings.items():
        values = {k: v for k, v in values.items() if not (group == "rl_module" and k == "model_config")}
        if not values:
            continue
        try:
            getattr(algo, group)(**values)
        except Exception as err:  # RLlib's own refusal, named by the user's keys
            keys = ", ".join(f"{group}.{k}" for k in values)
            raise ConfigError(f"rllib: RLlib refused {keys}: {err}") from None
