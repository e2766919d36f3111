"""RLlib's MultiAgentEnv for training scenes with several behaviors: one policy per behavior.

RLlib's new stack wants every agent id known up front, and an id that is done
may not act again in the same episode, while a Unity agent plays episode after
episode. So each Unity agent is a slot (``agents.Slots``: it keeps its agent,
whichever way the build numbers agents), and each of its episodes within one
RLlib episode is a generation: ``"<behavior>#<slot>.<generation>"``. A slot's
next Unity episode joins as the next generation in the same step its last one
ends, so no step is lost. RLlib episodes last ``horizon`` steps (everyone is
then truncated, with an observation to bootstrap from), or end sooner when every
running agent episode ends in the same step (RLlib would end it then anyway);
``reset()`` carries on where Unity is, without a Unity RESET. An agent's reward is its own plus
its group's (ML-Agents' extrinsic reward, for every trainer). The source comes seeded for its env
runner (``agents.runner_seed``, applied where RLlib's env creator opens it).
"""

from __future__ import annotations

import numpy as np
from ray.rllib.env.multi_agent_env import MultiAgentEnv

from . import spaces
from .agents import Slots, send_actions
from .source import EnvSource


class UnityBehaviorsEnv(MultiAgentEnv):
    """Every agent of every behavior, with ids RLlib can know in advance."""

    def __init__(self, source: EnvSource, horizon: int = 200):
        super().__init__()
        self.source = source
        self.horizon = horizon
        source.call("reset")
        self.specs = dict(source.base.behavior_specs)
        self._slots: dict[str, Slots] = {}
        self.observation_spaces, self.action_spaces = {}, {}
        for b, spec in self.specs.items():
            self._slots[b] = Slots(source.name, b, source.call("get_steps", b)[0])
            obs_space, act_space = spaces.observation_space(spec), spaces.action_space(spec)
            for slot in range(len(self._slots[b])):
                for gen in range(horizon + 1):  # at most one new episode per slot per step
                    self.observation_spaces[f"{b}#{slot}.{gen}"] = obs_space
                    self.action_spaces[f"{b}#{slot}.{gen}"] = act_space
        self.possible_agents = list(self.observation_spaces)
        self._gen = {b: [0] * len(s) for b, s in self._slots.items()}
        self._returns = {b: np.zeros(len(s)) for b, s in self._slots.items()}
        self._lengths = {b: np.zeros(len(s), dtype=np.int64) for b, s in self._slots.items()}
        self._last: dict[str, object] = {}  # each RLlib agent's latest observation (a lost agent's last one)
        self._t = 0
        self._exchanges = 0  # Unity steps taken through this env
        self._began = {b: np.zeros(len(s), dtype=np.int64) for b, s in self._slots.items()}  # each slot's episode start
        self._restart = False  # restart(): a full reset at the next reset

    def agent_counts(self) -> dict[str, int]:
        """Agents of each behavior in this Unity process."""
        return {b: len(slots) for b, slots in self._slots.items()}

    def _key(self, b: str, slot: int) -> str:
        return f"{b}#{slot}.{self._gen[b][slot]}"

    def _keys(self, b: str, agent_ids) -> list[str | None]:
        """The ids of Unity agents ``agent_ids`` of behavior ``b``: their slots' current generation (None: an agent
        waiting for a slot)."""
        return [None if slot is None else self._key(b, slot) for slot in self._slots[b].slots_of(agent_ids)]

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self.source.open(seed)
        if seed is not None or (options or {}).get("full") or self._restart:
            self._restart = False
            self.source.call("reset")
            for b in self.specs:
                self._slots[b].restart(self.source.call("get_steps", b)[0])
                self._returns[b][:] = 0.0
                self._lengths[b][:] = 0
                self._began[b][:] = self._exchanges
        self._t = 0
        obs, infos = {}, {}
        for b in self.specs:
            self._gen[b] = [0] * len(self._slots[b])
            decision, _ = self.source.call("get_steps", b)
            where = {int(a): i for i, a in enumerate(decision.agent_id)}
            for slot, aid in enumerate(self._slots[b].ids):
                if aid not in where:  # its agent left; the slot waits for another
                    continue
                obs[self._key(b, slot)] = spaces.to_observation(decision.obs, where[aid])
                infos[self._key(b, slot)] = _info(decision, where[aid])
        self.agents = list(obs)
        self._last = dict(obs)
        return obs, infos

    def restart(self) -> None:
        """End the running episode at the next step and reset Unity when RLlib resets (self-play's team change:
        every agent starts a new episode with the policy its team now plays)."""
        self._restart = True

    def _end_for_restart(self):
        """Every running agent truncated where it is (no Unity step: the reset that follows restarts it)."""
        obs = {k: self._last[k] for k in self.agents if k in self._last}
        rewards = {k: 0.0 for k in obs}
        terminateds = {k: False for k in obs}
        truncateds = {k: True for k in obs}
        terminateds["__all__"], truncateds["__all__"] = False, True
        self.agents = []
        return obs, rewards, terminateds, truncateds, {k: {} for k in obs}

    def step(self, action_dict):
        if self._restart:
            return self._end_for_restart()
        send_actions(self, action_dict, self._keys)
        self.source.call("step")
        self._t += 1
        self._exchanges += 1
        cut = self._t >= self.horizon
        read = {}
        for b in self.specs:
            decision, terminal = self.source.call("get_steps", b)
            read[b] = (decision, terminal, *self._slots[b].read(decision, terminal))
        # RLlib ends an episode once every agent it knows is done, also when new agents join in that same step
        # (MultiAgentEpisode.add_env_step), and then gives them no action. So when the last running agent episodes
        # end together (often with one area per behavior), the RLlib episode ends with them and the slots' next
        # episodes start the next RLlib episode, as at the horizon.
        ending = {self._key(b, slot) for b, (_, _, ended, _, vanished) in read.items() for slot in [*ended, *vanished]}
        all_end = bool(self.agents) and set(self.agents) <= ending
        obs, rewards, terminateds, truncateds, infos = {}, {}, {}, {}, {}
        for b, (decision, terminal, ended, decided, vanished) in read.items():
            for slot in vanished:  # lost without a terminal step: its RLlib agent ends, with no episode to count
                key = self._key(b, slot)
                if key in self._last:
                    truncateds[key], terminateds[key] = True, False
                    obs[key], rewards[key], infos[key] = self._last[key], 0.0, {}
                self._next_generation(b, slot)
            for slot, row in ended.items():  # this agent episode ends; the slot's next one starts as a new generation
                key = self._key(b, slot)
                obs[key] = spaces.to_observation(terminal.obs, row)
                rewards[key] = float(terminal.reward[row]) + float(terminal.group_reward[row])
                truncateds[key] = bool(terminal.interrupted[row])
                terminateds[key] = not truncateds[key]
                infos[key] = {"episode_return": self._returns[b][slot] + rewards[key],
                              "episode_length": int(self._lengths[b][slot]) + 1, "group_id": int(terminal.group_id[row]),
                              "episode_began": int(self._began[b][slot])}
                if terminateds[key]:  # how a game ended for this agent (self-play's ELO): its last and group reward
                    infos[key]["final_reward"] = rewards[key]
                self._next_generation(b, slot)
            for slot, (row, new_episode) in decided.items():
                if new_episode:
                    self._began[b][slot] = self._exchanges
                if new_episode and (cut or all_end):
                    continue  # the next generation starts in the next RLlib episode
                key = self._key(b, slot)
                obs[key], infos[key] = spaces.to_observation(decision.obs, row), _info(decision, row)
                if new_episode:
                    continue  # it has acted on nothing yet: no reward
                rewards[key] = float(decision.reward[row]) + float(decision.group_reward[row])
                self._returns[b][slot] += rewards[key]
                self._lengths[b][slot] += 1
                if cut:
                    terminateds[key], truncateds[key] = False, True
        terminateds["__all__"], truncateds["__all__"] = all_end and not cut, cut
        self.agents = [k for k in obs if not (terminateds.get(k) or truncateds.get(k))]
        self._last.update(obs)
        return obs, rewards, terminateds, truncateds, infos

    def running_since(self, behavior: str) -> tuple[int, int] | None:
        """(exchange it began at, ``episode_began``; its slot) of the oldest episode of ``behavior`` still running
        (ties: the lowest slot); None when none runs. Lets a count of finished episodes take them in the order they
        began: the first to end are the short ones (Escape's slayers), which the first N to end would over-count."""
        slots = self._slots[behavior]
        began = [(int(self._began[behavior][s]), s) for s in range(len(slots)) if s not in slots.open
                 and slots.ids[s] is not None]
        return min(began, default=None)

    def _next_generation(self, b: str, slot: int) -> None:
        self._last.pop(self._key(b, slot), None)
        self._returns[b][slot], self._lengths[b][slot] = 0.0, 0
        self._gen[b][slot] += 1

    def render(self):
        return self.source.frame()

    def close(self):
        self.source.close()


def _info(decision, row: int) -> dict:
    """A deciding agent's infos: its action mask (where its behavior masks) and Unity group (0 = none)."""
    return {**spaces.mask_info(decision, row), "group_id": int(decision.group_id[row])}


__all__ = ["UnityBehaviorsEnv"]
