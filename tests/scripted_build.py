"""A Unity build whose agents come and go, for the wrappers' tests.

A test double, because no Unity build can run here: it wraps a built-in scene in-process (the same
DecisionSteps/TerminalSteps the real client builds) and changes what the "build" reports, exchange by
exchange, the way a Unity build with the ML-Agents package can:

- ``disable``: the agent is disabled mid-episode: Unity sends one terminal step (done, not interrupted)
  and then nothing more from it;
- ``enable``: a disabled agent is enabled again, so it initialises again under a new id;
- ``come_back``: a disabled agent asks again under the same id (an agent that ended and asks only later);
- ``vanish``: the agent stops being reported with no terminal step (a broken build);
- ``duplicate``: the first agent is reported twice in one DecisionSteps (a broken build);
- ``new_ids=True``: every episode under a new id, as a build that instantiates an agent per episode does;
- ``groups=N``: scene agent i is in group ``1 + i % N`` (a cooperative build's ``SimpleMultiAgentGroup``), and
  every step reports a group reward of ``0.1 * group``.

Hidden agents still move in the wrapped scene (their actions are zeros); only what is reported changes.
"""

from __future__ import annotations

import numpy as np
from mlagents_envs.base_env import ActionTuple, BaseEnv, DecisionSteps, TerminalSteps

from unity_nb.envs.inprocess import InProcessEnv
from unity_nb.envs.source import EnvSource


class ScriptedBuild(BaseEnv):
    def __init__(self, scene: str = "3DBall", *, seed: int = 0, num_areas: int = 1, new_ids: bool = False,
                 events: dict[int, list[tuple[str, int]]] | None = None, absent: tuple[int, ...] = (),
                 groups: int = 0):
        self.inner = InProcessEnv(scene, seed=seed, num_areas=num_areas)
        self.scene = self.inner.scene  # frames for videos
        self.behavior = self.inner.scene.behavior.name
        self.new_ids, self.events = new_ids, events or {}
        n = self.inner.scene.n
        self.outer = np.arange(n, dtype=np.int32)  # the id each scene agent is reported under
        self.next_id = 1000
        self.absent = set(absent)  # scene agents disabled from the start (``enable`` adds them later)
        self.hidden: set[int] = set()
        self.exchange = 0
        self.steps = None
        self.groups = groups

    @property
    def behavior_specs(self):
        return self.inner.behavior_specs

    def reset(self) -> None:
        self.inner.reset()
        self.exchange = 0
        self.hidden = set(self.absent)
        self.steps = self._report(self.inner.get_steps(self.behavior), [])

    def step(self) -> None:
        self.inner.step()
        self.exchange += 1
        decision, terminal = self.inner.get_steps(self.behavior)
        extra = []  # scene agents whose terminal step this exchange adds (disabled)
        for what, agent in self.events.get(self.exchange, []):
            if what == "disable":
                extra.append(agent)
                self.hidden.add(agent)
            elif what == "enable":
                self.hidden.discard(agent)
                self.outer[agent] = self._new_id()
            elif what == "come_back":
                self.hidden.discard(agent)
            elif what == "vanish":
                self.hidden.add(agent)
        self.steps = self._report((decision, terminal), extra)
        if ("duplicate", 0) in self.events.get(self.exchange, []):
            d, t = self.steps
            rows = np.concatenate([[0], np.arange(len(d))])
            self.steps = (DecisionSteps([o[rows] for o in d.obs], d.reward[rows], d.agent_id[rows],
                                        None if d.action_mask is None else [m[rows] for m in d.action_mask],
                                        d.group_id[rows], d.group_reward[rows]), t)

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _report(self, steps, disabled: list[int]):
        decision, terminal = steps
        # terminal rows: the scene's (visible agents) and the disabled agents' last decision as a terminal step
        t_rows = [i for i, a in enumerate(terminal.agent_id) if int(a) not in self.hidden]
        d_index = {int(a): i for i, a in enumerate(decision.agent_id)}
        off = [d_index[a] for a in disabled if a in d_index]
        t_obs = [np.concatenate([o[t_rows], d[off]]) for o, d in zip(terminal.obs, decision.obs)]
        t_ids = np.concatenate([terminal.agent_id[t_rows], decision.agent_id[off]]).astype(np.int32)
        reported_terminal = TerminalSteps(
            t_obs, np.concatenate([terminal.reward[t_rows], decision.reward[off]]).astype(np.float32),
            np.concatenate([terminal.interrupted[t_rows], np.zeros(len(off), bool)]),
            self.outer[t_ids], *self._group(t_ids))
        if self.new_ids:  # the agents that ended come back as new agents
            for a in terminal.agent_id[t_rows]:
                self.outer[int(a)] = self._new_id()
        d_rows = [i for i, a in enumerate(decision.agent_id) if int(a) not in self.hidden]
        mask = None if decision.action_mask is None else [m[d_rows] for m in decision.action_mask]
        reported_decision = DecisionSteps(
            [o[d_rows] for o in decision.obs], decision.reward[d_rows], self.outer[decision.agent_id[d_rows]], mask,
            *self._group(decision.agent_id[d_rows]))
        self._rows = decision.agent_id[d_rows]  # the scene agent of each reported decision row
        return reported_decision, reported_terminal

    def _group(self, scene_agents) -> tuple[np.ndarray, np.ndarray]:
        """The group id and group reward of each of these scene agents."""
        ids = np.asarray(scene_agents, dtype=np.int64)
        group = (1 + ids % self.groups if self.groups else np.zeros(len(ids))).astype(np.int32)
        return group, (0.1 * group).astype(np.float32)

    def get_steps(self, behavior_name):
        return self.steps

    def set_actions(self, behavior_name, action: ActionTuple) -> None:
        spec = self.inner.behavior_specs[self.behavior].action_spec
        n = len(self.inner.get_steps(self.behavior)[0])
        full = spec.empty_action(n)
        reported = len(self.steps[0])
        if spec.continuous_size:
            full.continuous[self._rows] = action.continuous[:reported][: len(self._rows)]
        if spec.discrete_size:
            full.discrete[self._rows] = action.discrete[:reported][: len(self._rows)]
        self.inner.set_actions(self.behavior, full)

    def set_action_for_agent(self, behavior_name, agent_id, action) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.inner.close()


def scripted_source(scene: str = "3DBall", **kwargs) -> EnvSource:
    """An EnvSource (what every wrapper takes) over a ScriptedBuild."""
    source = EnvSource(scene, mode="inprocess", seed=kwargs.get("seed", 0), num_areas=kwargs.get("num_areas", 1))
    source.base.close()
    source.base = ScriptedBuild(scene, **kwargs)
    source.name = f"scripted {scene}"
    return source
