"""Record demonstrations (Unity's ``.demo`` files) from any player: a trained policy, or a heuristic (a Python
function of observations), playing a built-in scene or a Unity build."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from mlagents_envs.base_env import ActionTuple

from ..envs.demo import DemoWriter, load_demo
from ..envs.source import EnvSource
from ..errors import BadValue, NotFound
from .policy import SINGLE, Policy, for_behaviors

RECORDED_AGENT = 0  # the area's first agent of the behavior is recorded (Unity records one agent per file)


def record_demo(player: Policy | Callable, scene: str, path: str | Path, *, episodes: int = 10,
                behavior: str | None = None, seed: int = 0, mode: str = "inprocess", params: dict | None = None,
                max_steps: int = 100_000, sampled: bool = False):
    """Play ``episodes`` episodes of ``scene`` with ``player`` and write the first agent's play to ``path``
    (a ``.demo`` file Unity's loader and mlagents-learn read). Returns the file read back (a ``Demonstration``).

    player: a trained ``Policy`` (greedy; ``sampled=True`` draws from it), a run's policies by behavior
    (``load_policies``), or a function of the observations (a list with one batch per sensor) returning a batch
    of actions, like ``Pong.heuristic``. Every agent of the behavior plays, the first one is recorded; another
    behavior is played by the run's policy for it, or by the same player when its spec is the recorded one's
    (Pong's other side), else stands still. ``max_steps``: exchanges before giving up.
    """
    if not isinstance(episodes, int) or isinstance(episodes, bool) or episodes < 1:
        raise BadValue(f"episodes must be a whole number >= 1, got {episodes!r}")
    if not (isinstance(player, (Policy, dict)) or callable(player)):
        raise BadValue(f"player must be a trained Policy or a function of observations, got {type(player).__name__}")
    source = EnvSource(scene, mode=mode, seed=seed, num_areas=1, params=params or {})
    try:
        source.call("reset")
        specs = dict(source.base.behavior_specs)
        name = behavior or next(iter(specs))
        if name not in specs:
            raise NotFound(f"behavior {name!r} is not in {source.name}; it has {', '.join(specs)}")
        spec = specs[name]
        players = _players(player, specs, name)
        recorded, last = None, spec.action_spec.empty_action(1)
        with DemoWriter(path, name, spec) as writer:
            for _ in range(max_steps):
                decision, terminal = source.call("get_steps", name)
                if recorded is None and len(decision):
                    recorded = int(decision.agent_id[RECORDED_AGENT])
                ended = ending_record(terminal, recorded, last)
                if ended is not None:
                    writer.record(agent_id=recorded, **ended)
                    if writer.meta.number_episodes >= episodes:
                        break
                actions = actions_for(players[name], spec, decision, sampled)
                row = row_of(decision, recorded)
                if row is not None:
                    last = ActionTuple(continuous=actions.continuous[row:row + 1], discrete=actions.discrete[row:row + 1])
                    writer.record(agent_id=recorded, **decision_record(decision, row, last))
                source.call("set_actions", name, actions)
                step_with_others(source, specs, name, players, sampled)
            else:
                raise BadValue(f"{max_steps} exchanges played and only {writer.meta.number_episodes} of {episodes} "
                               "episodes ended: give max_steps more room")
    finally:
        source.close()
    return load_demo(path)


def row_of(steps, agent: int | None) -> int | None:
    """The agent's row in a batch of DecisionSteps or TerminalSteps, None if it is not there."""
    found = np.flatnonzero(steps.agent_id == agent) if agent is not None else ()
    return int(found[0]) if len(found) else None


def decision_record(decision, row: int, action: ActionTuple) -> dict:
    """What a .demo keeps of one agent's decision (``DemoWriter.record``'s keywords): its observations, the
    reward that came with them, its action mask, and the action it took (a batch of one)."""
    mask = None if decision.action_mask is None else np.concatenate([m[row] for m in decision.action_mask])
    return dict(observations=[o[row] for o in decision.obs], reward=float(decision.reward[row]), done=False,
                action_mask=mask, continuous=action.continuous[0], discrete=action.discrete[0])


def ending_record(terminal, agent: int | None, last: ActionTuple) -> dict | None:
    """What a .demo keeps of the agent's episode ending in ``terminal`` (with the last action it took), or None
    if its episode did not end."""
    row = row_of(terminal, agent)
    if row is None:
        return None
    return dict(observations=[o[row] for o in terminal.obs], reward=float(terminal.reward[row]), done=True,
                max_step_reached=bool(terminal.interrupted[row]), continuous=last.continuous[0],
                discrete=last.discrete[0])


def step_with_others(source: EnvSource, specs: dict, played: str, players: dict, sampled: bool) -> None:
    """Give every other behavior its player's actions (standing still without one), then step the scene."""
    for b, s in specs.items():
        if b != played:
            other, _ = source.call("get_steps", b)
            source.call("set_actions", b, actions_for(players[b], s, other, sampled) if b in players
                        else s.action_spec.empty_action(len(other)))
    source.call("step")


def _players(player, specs: dict, recorded: str) -> dict:
    """Who plays each behavior: a run's policy for each of its behaviors (or its one policy); a single player
    also plays every behavior with the recorded one's spec (Pong's other side); the rest stand still."""
    if isinstance(player, dict):
        out = for_behaviors(player, specs)
        if SINGLE in player:
            out.setdefault(recorded, player[SINGLE])
        if recorded not in out:
            raise NotFound(f"the run has no policy for behavior {recorded!r}")
        return out
    return {b: player for b, s in specs.items() if s == specs[recorded]}


def actions_for(player, spec, decision, sampled: bool) -> ActionTuple:
    """The player's actions for a decision batch, as Unity takes them."""
    n = len(decision)
    if n == 0:
        return spec.action_spec.empty_action(0)
    obs = list(decision.obs)
    if isinstance(player, Policy):
        allowed = None if decision.action_mask is None else ~np.concatenate(decision.action_mask, axis=1)
        actions = player.act(obs[0] if len(obs) == 1 else tuple(obs), allowed, sampled=sampled)
    else:
        actions = player(obs)
    actions = np.asarray(actions)
    a = spec.action_spec
    if a.continuous_size:
        return ActionTuple(continuous=actions.reshape(n, a.continuous_size).astype(np.float32))
    return ActionTuple(discrete=actions.reshape(n, a.discrete_size).astype(np.int32))
