"""RLlib's MultiAgentEnv over a Unity environment: every agent of every behavior.

Agent ids are ``"<behavior>#<Unity agent id>.<episode>"``: RLlib lets an id
that is done act no more in the same episode, so a finished agent leaves
(terminated or truncated) and its next episode joins under the next episode
number in the same RLlib episode (``agents.Roster`` reads the build's ids, kept
across episodes as Unity does or new each episode). RLlib
episodes are cut every ``episode_horizon`` exchanges (all agents truncated);
the next ``reset()`` then carries on where Unity is, without a Unity RESET, so
no agent episode is thrown away. Each finished agent episode's return and
length arrive in that agent's last info dict.
"""

from __future__ import annotations

from ray.rllib.env.multi_agent_env import MultiAgentEnv

from . import spaces
from ..errors import BadValue
from .agents import Roster, behavior_of, runner_seed, send_actions
from .source import EnvSource

DEFAULT_HORIZON = 1000


class UnityMultiAgentEnv(MultiAgentEnv):
    """Every agent and behavior of a Unity scene as an RLlib MultiAgentEnv.

    ``config`` (RLlib's env_config) takes the keyword arguments of
    ``unity_nb.envs.make``: ``scene`` (name or path), ``mode``, ``seed``,
    ``num_areas``, ``params``, ``connect_timeout``, ... and ``episode_horizon``.
    RLlib's worker index offsets the seed so env runners differ.
    """

    def __init__(self, config: dict | None = None):
        super().__init__()
        context = config  # RLlib's EnvContext carries the runner's index (see runner_seed)
        config = dict(config or {})
        scene = config.pop("scene", "Basic")
        horizon = config.pop("episode_horizon", DEFAULT_HORIZON)
        if not isinstance(horizon, int) or isinstance(horizon, bool) or horizon < 1:
            raise BadValue(f"episode_horizon must be a whole number >= 1, got {horizon!r}")
        self.episode_horizon = horizon
        seed = config.pop("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise BadValue(f"seed must be an integer, got {seed!r}")
        self.source = EnvSource(scene, seed=runner_seed(context, seed), **config)
        self.source.call("reset")
        self.specs = dict(self.source.base.behavior_specs)
        self.observation_spaces = {b: spaces.observation_space(s) for b, s in self.specs.items()}
        self.action_spaces = {b: spaces.action_space(s) for b, s in self.specs.items()}
        self._needs_full_reset = False  # the source was just reset
        self._rosters = {b: Roster(self.source.name, b) for b in self.specs}
        self._episode: dict[tuple[str, int], int] = {}  # (behavior, Unity id) -> its current episode's number
        self._returns: dict[str, float] = {}
        self._lengths: dict[str, int] = {}
        self._t = 0

    # RLlib asks for spaces per agent id; ours are per behavior
    def get_observation_space(self, agent_id):
        return self.observation_spaces[behavior_of(agent_id)]

    def get_action_space(self, agent_id):
        return self.action_spaces[behavior_of(agent_id)]

    @property
    def behaviors(self) -> list[str]:
        return list(self.specs)

    def _key(self, behavior: str, agent_id) -> str:
        """This wrapper's id of a Unity agent's current episode."""
        return f"{behavior}#{int(agent_id)}.{self._episode.get((behavior, int(agent_id)), 0)}"

    def _keys(self, behavior: str, agent_ids) -> list[str]:
        return [self._key(behavior, a) for a in agent_ids]

    def _start(self, behavior: str, agent_id: int) -> str:
        """A new episode of an agent (the first one, or the next after its last ended): its new key."""
        where = (behavior, agent_id)
        self._episode[where] = self._episode[where] + 1 if where in self._episode else 0
        key = self._key(behavior, agent_id)
        self._returns[key], self._lengths[key] = 0.0, 0
        return key

    def reset(self, *, seed=None, options=None):
        options = options or {}
        if seed is not None:
            self.source.open(seed)
            self._needs_full_reset = True
        if self._needs_full_reset or options.get("full"):
            self.source.call("reset")
            self._returns.clear()
            self._lengths.clear()
            for roster in self._rosters.values():
                roster.forget()
        self._needs_full_reset = False
        self._t = 0
        # a new RLlib episode: only the agents in an episode need their number (a build that gives every
        # episode a new id would otherwise grow this without end)
        self._episode = {k: n for k, n in self._episode.items() if k[1] in self._rosters[k[0]].unseen}
        obs, infos = {}, {}
        for b in self.specs:
            decision, _ = self.source.call("get_steps", b)
            started = {aid for aid, _ in self._rosters[b].read(decision).started}
            for i, aid in enumerate(decision.agent_id.tolist()):
                key = self._start(b, aid) if aid in started else self._key(b, aid)
                obs[key] = spaces.to_observation(decision.obs, i)
                infos[key] = spaces.mask_info(decision, i)
        self.agents = list(obs)
        return obs, infos

    def step(self, action_dict):
        send_actions(self, action_dict, self._keys, allow_idle_behaviors=True)
        self.source.call("step")
        self._t += 1
        obs, rewards, terminateds, truncateds, infos = {}, {}, {}, {}, {}
        for b in self.specs:
            decision, terminal = self.source.call("get_steps", b)
            exchange = self._rosters[b].read(decision, terminal)
            for aid in exchange.vanished:  # lost without a terminal step: dropped, never counted
                key = self._key(b, aid)
                self._returns.pop(key, None)
                self._lengths.pop(key, None)
            for aid, i in exchange.ended:
                key = self._key(b, aid)
                r = float(terminal.reward[i])
                obs[key] = spaces.to_observation(terminal.obs, i)
                rewards[key] = r
                truncateds[key] = bool(terminal.interrupted[i])
                terminateds[key] = not truncateds[key]
                infos[key] = {
                    "episode_return": self._returns.pop(key, 0.0) + r,
                    "episode_length": self._lengths.pop(key, 0) + 1,
                }
            for aid, i in exchange.started:  # an agent's next episode begins: it has acted on nothing yet
                key = self._start(b, aid)
                obs[key] = spaces.to_observation(decision.obs, i)
                infos[key] = spaces.mask_info(decision, i)
            for aid, i in exchange.going:
                key = self._key(b, aid)
                obs[key] = spaces.to_observation(decision.obs, i)
                infos[key] = spaces.mask_info(decision, i)
                rewards[key] = float(decision.reward[i])
                self._returns[key] += rewards[key]
                self._lengths[key] += 1
        horizon = self._t >= self.episode_horizon
        if horizon:
            for key in obs:
                if key not in terminateds:
                    truncateds[key] = True
                    terminateds[key] = False
        terminateds["__all__"] = False
        truncateds["__all__"] = horizon
        self.agents = [k for k in obs if not (terminateds.get(k) or truncateds.get(k))]
        return obs, rewards, terminateds, truncateds, infos

    def render(self):
        return self.source.frame()

    def set_param(self, key: str, value: float) -> None:
        """Change an environment parameter from the next agent episodes on (curriculum)."""
        self.source.set_param(key, value)

    def close(self):
        self.source.close()


__all__ = ["UnityMultiAgentEnv"]
