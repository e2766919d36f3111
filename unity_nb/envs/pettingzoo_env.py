"""PettingZoo's ParallelEnv over any Unity scene or build: every agent of every behavior, under stable names.

PettingZoo wants its agents named up front (``possible_agents``) and never revived within an episode, while
Unity agents play episode after episode and may get new ids, leave or join. So each agent is a slot
(``agents.Slots``), named ``"<behavior>#<slot>"`` (``"Striker?team=0#1"``), and a PettingZoo episode is one
Unity episode of each slot, from a Unity reset:

- ``reset()`` resets Unity (every agent begins an episode) and the agents then asking fill the slots;
- a slot whose agent's episode ends is terminated (or truncated, when Unity interrupted it, or the agent left
  without a terminal step) and is done until the next ``reset()``; its agent goes on in Unity with Unity's
  empty action meanwhile;
- an agent that joins while a slot has had no agent this episode takes it (it joins ``agents``);
- the episode is over once no slot is live; ``max_cycles`` (if given) truncates everyone after that many steps.

Each agent's ``infos`` carry its Unity ``group_id`` and ``group_reward`` (for cooperative scenes), and its
``action_mask`` where the behavior masks actions. A live agent that asked for no decision this step (a decision
period above 1) keeps its last observation with a reward of 0; its action is not sent. The slots are those of the
first reset: an agent beyond them waits, with the empty action, for a place to open at a later reset.
"""

from __future__ import annotations

from pettingzoo import ParallelEnv

from . import spaces
from ..errors import BadValue, NotPossible
from .agents import Slots, send_actions
from .source import EnvSource


class UnityParallelEnv(ParallelEnv):
    """Every agent of every behavior of a Unity scene as a PettingZoo ``ParallelEnv``."""

    metadata = {"name": "unity_nb", "render_modes": ["rgb_array"], "is_parallelizable": True}

    def __init__(self, source: EnvSource, max_cycles: int | None = None, render_mode: str | None = None):
        if max_cycles is not None and (not isinstance(max_cycles, int) or isinstance(max_cycles, bool)
                                       or max_cycles < 1):
            raise BadValue(f"max_cycles must be a whole number >= 1 (steps before every agent is truncated), or "
                           f"None to leave episode ends to Unity; got {max_cycles!r}")
        self.source = source
        self.max_cycles = max_cycles
        self.render_mode = render_mode
        source.call("reset")
        self.specs = dict(source.base.behavior_specs)
        self._slots = {b: Slots(source.name, b, source.call("get_steps", b)[0]) for b in self.specs}
        self.possible_agents = [self._name(b, slot) for b in self.specs for slot in range(len(self._slots[b]))]
        if not self.possible_agents:
            raise NotPossible(f"{source.name} has no agent asking for a decision after a reset: a PettingZoo env "
                              "names its agents from those present then")
        # one space object per behavior: PettingZoo asks that an agent's space is the same object every time
        by_behavior = {b: (spaces.observation_space(s), spaces.action_space(s)) for b, s in self.specs.items()}
        self._behavior = {self._name(b, slot): (b, slot) for b in self.specs for slot in range(len(self._slots[b]))}
        self.observation_spaces = {a: by_behavior[b][0] for a, (b, _) in self._behavior.items()}
        self.action_spaces = {a: by_behavior[b][1] for a, (b, _) in self._behavior.items()}
        self.agents: list[str] = []
        self._done: set[str] = set()  # slots whose episode ended since the last reset
        self._last: dict[str, object] = {}  # each live agent's latest observation
        self._t = 0
        self._started = False  # the first reset() reuses the reset done above

    @staticmethod
    def _name(behavior: str, slot: int) -> str:
        return f"{behavior}#{slot}"

    def observation_space(self, agent):
        return self.observation_spaces[agent]

    def action_space(self, agent):
        return self.action_spaces[agent]

    def reset(self, seed=None, options=None):
        if seed is not None:
            self.source.open(seed)  # a Unity process takes its seed at launch
        if seed is not None or self._started:
            self.source.call("reset")
        self._started = True
        self._t = 0
        self._done.clear()
        obs, infos = {}, {}
        for b, slots in self._slots.items():
            decision, _ = self.source.call("get_steps", b)
            slots.restart(decision, size=len(slots))
            where = {aid: row for row, aid in enumerate(decision.agent_id.tolist())}
            for slot, aid in enumerate(slots.ids):
                if aid is not None:
                    name = self._name(b, slot)
                    obs[name] = spaces.to_observation(decision.obs, where[aid])
                    infos[name] = self._info(decision, where[aid])
        self.agents = [a for a in self.possible_agents if a in obs]
        self._last = dict(obs)
        return obs, infos

    def step(self, actions):
        if not self._started:
            raise NotPossible("call reset() before step(): a PettingZoo episode starts with a reset")
        if not self.agents:
            if isinstance(actions, dict) and not actions:
                # nothing asked, nothing given: RLlib's ParallelPettingZooEnv takes "__all__" to be all-terminated
                # or all-truncated, so an episode whose last agents end one terminated, one truncated gets one more
                # step with no actions; the empty answer makes both "__all__" true
                return {}, {}, {}, {}, {}
            raise NotPossible("this episode is over (no agent is live): call reset() to start the next")
        if not isinstance(actions, dict):
            raise BadValue(f"actions must be a dict from agent name to action, got {type(actions).__name__}")
        for agent in actions:
            if agent not in self._behavior:
                raise BadValue(f"{agent!r} is not an agent of this env; its agents: {', '.join(self.possible_agents)}")
            if agent not in self.agents:
                raise BadValue(f"{agent!r} is not alive: its episode ended this episode (it comes back at the next "
                               f"reset()); the live agents: {', '.join(self.agents)}")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise BadValue(f"no action for the live agent{'s' * (len(missing) > 1)} {', '.join(missing)}: give every "
                           "agent in env.agents an action")
        # the live agents that asked for a decision now (every live one has an action, checked above)
        asking = {name: actions[name] for b in self._slots
                  for name in self._keys(b, self.source.call("get_steps", b)[0].agent_id) if name is not None}
        send_actions(self, asking, self._keys)
        self.source.call("step")
        self._t += 1
        obs, rewards, terminateds, truncateds, infos = {}, {}, {}, {}, {}
        live = set(self.agents)
        for b, slots in self._slots.items():
            decision, terminal = self.source.call("get_steps", b)
            ended, decided, vanished = slots.read(decision, terminal)
            for slot in vanished:  # gone without a terminal step: truncated where it stood
                name = self._name(b, slot)
                if name in live:
                    obs[name], rewards[name], infos[name] = self._last[name], 0.0, {}
                    terminateds[name], truncateds[name] = False, True
            for slot, row in ended.items():
                name = self._name(b, slot)
                if name in live:
                    obs[name], rewards[name] = spaces.to_observation(terminal.obs, row), float(terminal.reward[row])
                    truncateds[name] = bool(terminal.interrupted[row])
                    terminateds[name] = not truncateds[name]
                    infos[name] = self._info(terminal, row)
            for slot, (row, new_episode) in decided.items():
                name = self._name(b, slot)
                if name in obs or name in self._done or (new_episode and name in live):
                    continue  # ended this episode (its agent plays on with the empty action), or just now
                if name not in live and not new_episode:
                    continue
                obs[name], infos[name] = spaces.to_observation(decision.obs, row), self._info(decision, row)
                rewards[name] = 0.0 if new_episode else float(decision.reward[row])  # a newcomer acted on nothing
                terminateds[name], truncateds[name] = False, False
        for name in live - set(obs):  # live, but asked for no decision this step
            obs[name], rewards[name], infos[name] = self._last[name], 0.0, {}
            terminateds[name], truncateds[name] = False, False
        if self.max_cycles is not None and self._t >= self.max_cycles:
            for name in obs:
                if not terminateds[name]:
                    truncateds[name] = True
        ended_now = {a for a in obs if terminateds[a] or truncateds[a]}
        self._done |= ended_now
        self.agents = [a for a in self.possible_agents if a in obs and a not in ended_now]
        self._last = {a: obs[a] for a in self.agents}
        return obs, rewards, terminateds, truncateds, infos

    def _keys(self, behavior: str, agent_ids) -> list[str | None]:
        """The names of Unity agents ``agent_ids`` of ``behavior`` that this step drives (None: Unity's empty
        action, for an agent whose slot is done or that waits for a place)."""
        names = [None if slot is None else self._name(behavior, slot)
                 for slot in self._slots[behavior].slots_of(agent_ids)]
        return [n if n in self.agents else None for n in names]

    @staticmethod
    def _info(steps, row: int) -> dict:
        info = {"group_id": int(steps.group_id[row]), "group_reward": float(steps.group_reward[row])}
        if hasattr(steps, "action_mask"):  # a terminal step has no mask
            info.update(spaces.mask_info(steps, row))
        return info

    def get_action_space(self, agent):  # what send_actions asks of a wrapper
        return self.action_spaces[agent]

    def render(self):
        if self.render_mode != "rgb_array":
            raise NotPossible("render() needs render_mode='rgb_array' when the env is made")
        return self.source.frame()

    def close(self):
        self.source.close()


__all__ = ["UnityParallelEnv"]
