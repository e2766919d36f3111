"""What the wrappers share about Unity's agents: whose episode ends and starts, slots, ids, sending actions.

A Unity build with the ML-Agents package (``com.unity.ml-agents``' ``Agent.LazyInitialize``) draws an
agent's id once, when the agent initialises; it keeps it across ``EndEpisode``, max-step resets and
environment resets, and draws a new one only when the agent is disabled and enabled again (or the scene
reloads). The step that ends an episode reports the agent in ``TerminalSteps`` and, once it restarts, the
same id in ``DecisionSteps``. A build that instantiates a new agent per episode sends a new id instead.
``Roster`` reads either way into the same events, so every wrapper copes with both.

``multi_agent.UnityMultiAgentEnv`` and ``behaviors_env.UnityBehaviorsEnv`` name
agents differently, but both ids start ``"<behavior>#"``, both give Unity each
behavior's actions the same way, and every Unity process RLlib opens gets the
seed of its env runner. No Ray here: evaluation and the kernel side may use it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from . import spaces
from ..errors import BadValue

log = logging.getLogger("unity_nb.envs")

# Exchanges an agent in an episode may go unreported (neither a decision nor a terminal step) while other
# agents of its behavior are reported, before its episode counts as lost. Unity's Decision Requester asks at
# most every 20 steps; an agent gone longer than this left without the terminal step Unity sends on disable.
VANISH_AFTER = 100


@dataclass
class Exchange:
    """One exchange of one behavior, agent by agent: ``(Unity id, row)`` pairs of its steps."""

    ended: list[tuple[int, int]] = field(default_factory=list)  # an agent episode ended (row of TerminalSteps)
    started: list[tuple[int, int]] = field(default_factory=list)  # an agent episode's first decision (DecisionSteps)
    going: list[tuple[int, int]] = field(default_factory=list)  # a decision within a running episode
    vanished: list[int] = field(default_factory=list)  # agents whose episode ended with no terminal step


class Roster:
    """Which agents of one behavior are in an episode, read exchange by exchange.

    Terminal rows come first, as Unity sends them: an id in both steps ended an episode and began the next.
    An id that ends and asks again later, an agent disabled mid-episode (a terminal step, then silence), a
    new agent appearing mid-run and a build that gives every episode a new id all read as ended/started.
    """

    def __init__(self, owner: str, behavior: str):
        self.owner, self.behavior = owner, behavior
        self.unseen: dict[int, int] = {}  # agents in an episode -> exchanges since they were last reported
        self._said_vanished = False

    def read(self, decision, terminal=None) -> Exchange:
        """Classify an exchange's ``DecisionSteps`` and ``TerminalSteps`` (None: a reset's, with no terminal)."""
        ex = Exchange()
        for row, aid in enumerate([] if terminal is None else terminal.agent_id.tolist()):
            if self.unseen.pop(aid, None) is not None:  # a terminal step of an agent never seen deciding: nothing
                ex.ended.append((aid, row))
        for row, aid in enumerate(decision.agent_id.tolist()):
            (ex.going if aid in self.unseen else ex.started).append((aid, row))
            self.unseen[aid] = 0
        if len(decision) or ex.ended:  # a silent behavior is waiting for its decision period: no one is missing
            reported = {aid for aid, _ in ex.going} | {aid for aid, _ in ex.started}
            for aid in [a for a in self.unseen if a not in reported]:
                self.unseen[aid] += 1
                if self.unseen[aid] > VANISH_AFTER:
                    del self.unseen[aid]
                    ex.vanished.append(aid)
        if ex.vanished and not self._said_vanished:
            self._said_vanished = True
            log.warning("%s: agent %d of behavior %r went unreported for %d exchanges with no terminal step; its "
                        "episode is dropped (not counted in any mean). Unity sends a terminal step when an agent is "
                        "disabled or destroyed; this warning is given once.", self.owner, ex.vanished[0],
                        self.behavior, VANISH_AFTER)
        return ex

    def forget(self) -> None:
        """A full reset: every agent starts again."""
        self.unseen.clear()


class Slots:
    """A fixed number of places for one behavior's agents: a vector env's sub-envs, RLlib's known agent ids.

    A slot keeps its agent across episodes. When its agent ends and does not start again in the same exchange,
    the slot is open: the agent takes it back when it returns, unless a new agent starting its episode takes it
    first (a build that gives every episode a new id). A new agent with no open slot waits, given Unity's empty
    (zero) action, until a slot opens when its next episode starts, so every episode a slot reports is whole.
    """

    def __init__(self, owner: str, behavior: str, decision):
        self.owner, self.behavior = owner, behavior
        self.roster = Roster(owner, behavior)
        self.roster.read(decision)
        self.ids: list[int | None] = []
        self._where: dict[int, int] = {}  # agent id -> slot: a lookup per agent per exchange (108 agents in 3DBall)
        self._fill(decision.agent_id.tolist())
        self.open: set[int] = set()  # slots whose agent ended (or vanished) and has no new episode yet
        self._said_waiting = False

    def __len__(self) -> int:
        return len(self.ids)

    def slot_of(self, aid: int) -> int | None:
        return self._where.get(aid)

    def _fill(self, ids: list[int]) -> None:
        self.ids = list(ids)
        self._where = {aid: slot for slot, aid in enumerate(ids) if aid is not None}

    def _assign(self, slot: int, aid: int | None) -> None:
        if self.ids[slot] is not None:
            self._where.pop(self.ids[slot], None)
        self.ids[slot] = aid
        if aid is not None:
            self._where[aid] = slot

    def read(self, decision, terminal) -> tuple[dict[int, int], dict[int, tuple[int, bool]], list[int]]:
        """This exchange per slot: ``ended`` {slot: terminal row}, ``decided`` {slot: (decision row, a new
        episode?)} and the slots whose agent ``vanished`` (episode dropped)."""
        ex = self.roster.read(decision, terminal)
        ended, decided, vanished = {}, {}, []
        for aid, row in ex.ended:
            slot = self.slot_of(aid)
            if slot is not None:
                ended[slot] = row
                self.open.add(slot)
        for aid in ex.vanished:
            slot = self.slot_of(aid)
            if slot is not None:
                vanished.append(slot)
                self.open.add(slot)
                self._assign(slot, None)
        newcomers = []
        for aid, row in ex.started:
            slot = self.slot_of(aid)
            if slot is not None and slot in self.open:  # its own agent's next episode
                self.open.discard(slot)
                decided[slot] = (row, True)
            elif slot is None:
                newcomers.append((aid, row))
        for aid, row in newcomers:
            if self.open:
                slot = min(self.open)
                self.open.discard(slot)
                self._assign(slot, aid)
                decided[slot] = (row, True)
            elif not self._said_waiting:
                self._said_waiting = True
                log.warning("%s: agent %d of behavior %r joined while all %d places are taken; it gets Unity's empty "
                            "action until a place opens (an agent leaves). Use unity_nb.envs.make_multi_agent() for "
                            "scenes whose agents come and go; this warning is given once.", self.owner, aid,
                            self.behavior, len(self.ids))
        for aid, row in ex.going:
            slot = self.slot_of(aid)
            if slot is not None:
                decided[slot] = (row, False)
        return ended, decided, vanished

    def slots_of(self, agent_ids) -> list[int | None]:
        """The slot of each of these Unity agents, e.g. a DecisionSteps' rows (None: an agent waiting for a place)."""
        where = self._where
        return [where.get(a) for a in np.asarray(agent_ids).tolist()]

    def restart(self, decision, size: int | None = None) -> None:
        """A full reset: the agents that ask now fill the slots again (``size``: keep that many slots; those
        left empty are open to the next agents that come, and agents beyond them wait for a place)."""
        self.roster.forget()
        self.roster.read(decision)
        ids = decision.agent_id.tolist()
        if size is None:
            self._fill(ids)
            self.open.clear()
        else:
            self._fill([*ids[:size], *[None] * (size - len(ids))])
            self.open = {slot for slot, aid in enumerate(self.ids) if aid is None}


def check_unique_ids(owner: str, behavior: str, decision, terminal) -> None:
    """Refuse a build that reports an agent twice in one ``DecisionSteps`` (or ``TerminalSteps``)."""
    for steps, what in ((decision, "DecisionSteps"), (terminal, "TerminalSteps")):
        ids = steps.agent_id
        if len(ids) > 1 and len(np.unique(ids)) != len(ids):
            values, counts = np.unique(ids, return_counts=True)
            raise BadValue(
                f"{owner} sent agent {int(values[counts > 1][0])} of behavior {behavior!r} twice in one {what}; an "
                "agent asks for one decision per step. Check that each Agent component is on its own GameObject "
                "and that nothing calls RequestDecision() twice per step.")


def behavior_of(agent_id: str) -> str:
    """The behavior in a multi-agent id (``'3DBall#17'``, ``'BasicLeft#3.0'`` -> the part before '#')."""
    return agent_id.rsplit("#", 1)[0]


def runner_seed(env_config, seed: int) -> int:
    """``seed`` offset by RLlib's env-runner and vector indices, so Unity processes differ.

    ``env_config`` is RLlib's EnvContext (a dict carrying ``worker_index`` and
    ``vector_index``); a plain dict or None leaves the seed as it is.
    """
    worker = int(getattr(env_config, "worker_index", 0) or 0)
    vector = int(getattr(env_config, "vector_index", 0) or 0)
    return seed + 1000 * worker + vector


def send_actions(env, action_dict: dict, agent_keys: Callable[[str, Sequence], list[str | None]], *,
                 allow_idle_behaviors: bool = False) -> None:
    """Give Unity, for each behavior, the action of every agent that asked for a decision.

    ``env``: a wrapper with ``source`` (an EnvSource), ``specs`` (behavior -> BehaviorSpec)
    and ``get_action_space(agent_key)``. ``agent_keys(behavior, unity_agent_ids)``: the
    wrapper's ids of those agents, in the same order (None: an agent the wrapper does not
    drive, which gets Unity's empty action). An agent that asked and has no action in
    ``action_dict`` is an error, unless ``allow_idle_behaviors`` and no agent of its
    behavior has one (that behavior then gets Unity's empty actions); so is an action for
    an agent that did not ask.
    """
    for b, spec in env.specs.items():
        decision, _ = env.source.call("get_steps", b)
        keys = agent_keys(b, decision.agent_id) if len(decision) else []
        asked = set(keys)
        unasked = [k for k in action_dict if k != "__all__" and behavior_of(k) == b and k not in asked]
        if unasked:
            who = ", ".join(k for k in keys[:5] if k) + (" ..." if len(keys) > 5 else "") if any(keys) else "none"
            raise BadValue(f"an action for agent {unasked[0]!r} of behavior {b!r}, which did not ask for a decision "
                           f"this step (the agents that asked: {who}). Give actions to the agents in env.agents only: "
                           "an agent whose episode just ended, or that asked for no decision, gets none")
        driven = [(row, k) for row, k in enumerate(keys) if k is not None]
        if not driven:
            continue
        missing = [k for _, k in driven if k not in action_dict]
        if missing:
            if allow_idle_behaviors and len(missing) == len(driven):
                continue  # nobody of this behavior acted: Unity gets empty actions
            raise BadValue(f"no action for agents {missing[:5]} of behavior {b!r}; every agent that asked needs one")
        space = env.get_action_space(driven[0][1])
        batch = spaces.to_action_tuple(space, spec, [action_dict[k] for _, k in driven], f"{b} agents")
        env.source.call("set_actions", b, spaces.in_rows(spec, batch, [row for row, _ in driven], len(keys)))


__all__ = ["Exchange", "Roster", "Slots", "VANISH_AFTER", "behavior_of", "check_unique_ids", "runner_seed",
           "send_actions"]
