"""RLlib's MultiAgentEnv for training scenes with several behaviors: one policy per behavior.

RLlib's new stack wants every agent id known up front, and an id that is done
may not act again in the same episode; ML-Agents numbers each agent *episode*.
So each Unity agent is a slot, and each of its episodes within one RLlib
episode is a generation: ``"<behavior>#<slot>.<generation>"``. A slot's next
Unity episode joins as the next generation in the same step its last one
ends, so no step is lost. RLlib episodes last ``horizon`` steps (everyone is
then truncated, with an observation to bootstrap from); ``reset()`` carries on
where Unity is, without a Unity RESET. The source comes seeded for its env
runner (``agents.runner_seed``, applied where RLlib's env creator opens it).
"""

from __future__ import annotations

import numpy as np
from ray.rllib.env.multi_agent_env import MultiAgentEnv

from . import spaces
from .agents import send_actions
from .source import EnvSource


class UnityBehaviorsEnv(MultiAgentEnv):
    """Every agent of every behavior, with ids RLlib can know in advance."""

    def __init__(self, source: EnvSource, horizon: int = 200):
        super().__init__()
        self.source = source
        self.horizon = horizon
        source.call("reset")
        self.specs = dict(source.base.behavior_specs)
        self._slots: dict[str, list[int]] = {}
        self.observation_spaces, self.action_spaces = {}, {}
        for b, spec in self.specs.items():
            self._slots[b] = source.call("get_steps", b)[0].agent_id.tolist()
            obs_space, act_space = spaces.observation_space(spec), spaces.action_space(spec)
            for slot in range(len(self._slots[b])):
                for gen in range(horizon + 1):  # at most one new episode per slot per step
                    self.observation_spaces[f"{b}#{slot}.{gen}"] = obs_space
                    self.action_spaces[f"{b}#{slot}.{gen}"] = act_space
        self.possible_agents = list(self.observation_spaces)
        self._gen = {b: [0] * len(s) for b, s in self._slots.items()}
        self._returns = {b: np.zeros(len(s)) for b, s in self._slots.items()}
        self._lengths = {b: np.zeros(len(s), dtype=np.int64) for b, s in self._slots.items()}
        self._t = 0

    def agent_counts(self) -> dict[str, int]:
        """Agents of each behavior in this Unity process."""
        return {b: len(slots) for b, slots in self._slots.items()}

    def _key(self, b: str, slot: int) -> str:
        return f"{b}#{slot}.{self._gen[b][slot]}"

    def _keys(self, b: str, agent_ids) -> list[str]:
        """The ids of Unity agents ``agent_ids`` of behavior ``b``: their slots' current generation."""
        slot_of = {aid: slot for slot, aid in enumerate(self._slots[b])}
        return [self._key(b, slot_of[int(a)]) for a in agent_ids]

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self.source.open(seed)
        if seed is not None or (options or {}).get("full"):
            self.source.call("reset")
            for b in self.specs:
                self._slots[b] = self.source.call("get_steps", b)[0].agent_id.tolist()
                self._returns[b][:] = 0.0
                self._lengths[b][:] = 0
        self._t = 0
        obs, infos = {}, {}
        for b in self.specs:
            self._gen[b] = [0] * len(self._slots[b])
            decision, _ = self.source.call("get_steps", b)
            where = {int(a): i for i, a in enumerate(decision.agent_id)}
            for slot, aid in enumerate(self._slots[b]):
                obs[self._key(b, slot)] = spaces.to_observation(decision.obs, where[aid])
                infos[self._key(b, slot)] = spaces.mask_info(decision, where[aid])
        self.agents = list(obs)
        return obs, infos

    def step(self, action_dict):
        send_actions(self, action_dict, self._keys)
        self.source.call("step")
        self._t += 1
        cut = self._t >= self.horizon
        obs, rewards, terminateds, truncateds, infos = {}, {}, {}, {}, {}
        for b in self.specs:
            decision, terminal = self.source.call("get_steps", b)
            known = set(self._slots[b])
            newcomers = [int(a) for a in decision.agent_id if int(a) not in known]
            where = {int(a): i for i, a in enumerate(decision.agent_id)}
            for slot, aid in enumerate(self._slots[b]):
                key = self._key(b, slot)
                hit = np.flatnonzero(terminal.agent_id == aid)
                if len(hit):  # this agent episode ends; the slot's next one starts as a new generation
                    i = int(hit[0])
                    obs[key], rewards[key] = spaces.to_observation(terminal.obs, i), float(terminal.reward[i])
                    truncateds[key] = bool(terminal.interrupted[i])
                    terminateds[key] = not truncateds[key]
                    infos[key] = {"episode_return": self._returns[b][slot] + rewards[key],
                                  "episode_length": int(self._lengths[b][slot]) + 1}
                    self._returns[b][slot], self._lengths[b][slot] = 0.0, 0
                    if not newcomers:
                        raise RuntimeError(f"{self.source.name}: Unity did not restart the agent of {key}")
                    self._slots[b][slot] = aid = newcomers.pop(0)
                    self._gen[b][slot] += 1
                    if cut:
                        continue  # the next generation starts in the next RLlib episode
                    key = self._key(b, slot)
                    obs[key] = spaces.to_observation(decision.obs, where[aid])
                    infos[key] = spaces.mask_info(decision, where[aid])
                else:
                    i = where[aid]
                    obs[key], rewards[key] = spaces.to_observation(decision.obs, i), float(decision.reward[i])
                    infos[key] = spaces.mask_info(decision, i)
                    self._returns[b][slot] += rewards[key]
                    self._lengths[b][slot] += 1
                    if cut:
                        terminateds[key], truncateds[key] = False, True
        terminateds["__all__"], truncateds["__all__"] = False, cut
        self.agents = [k for k in obs if not (terminateds.get(k) or truncateds.get(k))]
        return obs, rewards, terminateds, truncateds, infos

    def render(self):
        return self.source.frame()

    def close(self):
        self.source.close()


__all__ = ["UnityBehaviorsEnv"]
