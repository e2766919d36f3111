"""A scene played with random actions through the real ML-Agents client: a first look, and a check
that a scene or a Unity build opens (``unity-nb play``, ``%unity_play``, ``unity-nb doctor``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from . import spaces
from .agents import Roster
from .source import EnvSource


@dataclass
class Played:
    """Episodes played with random actions: each one's agent, return and length."""

    scene: str
    episodes: list[dict]
    seconds: float

    @property
    def mean(self) -> float:
        return float(sum(e["return"] for e in self.episodes) / len(self.episodes))

    def __str__(self):
        return (f"mean return over {len(self.episodes)} episodes: {self.mean:.3f} (random actions; "
                f"elapsed {self.seconds:.1f} s)")

    def __repr__(self):
        return f"Played({self.scene!r}, {len(self.episodes)} episodes, mean return {self.mean:.3f})"

    def _repr_html_(self):
        rows = "".join(f"<tr><td>{i}</td><td>{e['agent']}</td><td>{e['return']:.3f}</td><td>{e['length']}</td></tr>"
                       for i, e in enumerate(self.episodes, 1))
        return (f"<table><caption>{self.scene}: random actions</caption><tr><th>episode</th><th>agent</th>"
                f"<th>return</th><th>length</th></tr>{rows}</table><p>{str(self)}</p>")


def play_random(scene: str, *, episodes: int = 5, seed: int = 0, mode: str = "player", connect_timeout: float = 30.0,
                report: Callable[[str], None] = lambda line: None) -> Played:
    """Play ``episodes`` episodes of ``scene`` with random actions through the real ML-Agents client;
    ``report`` gets a line per event.

    Drives the client directly (no RLlib), so it starts in a second, also in a notebook kernel.
    """
    started = time.perf_counter()
    source = EnvSource(scene, mode=mode, seed=seed, connect_timeout=connect_timeout)
    finished: list[dict] = []
    running: dict[tuple[str, int], list] = {}  # (behavior, Unity agent id) -> [return, length] so far
    try:
        source.call("reset")
        specs = dict(source.base.behavior_specs)
        rosters = {b: Roster(source.name, b) for b in specs}
        action_spaces = {b: spaces.action_space(spec) for b, spec in specs.items()}
        for space in action_spaces.values():
            space.seed(seed)
        agents = sum(len(source.call("get_steps", b)[0]) for b in specs)
        report(f"unity-nb: {source.name} ready in {time.perf_counter() - started:.1f} s "
               f"(behaviors: {', '.join(specs)}; agents: {agents})")
        while len(finished) < episodes:
            for b, spec in specs.items():
                decision, terminal = source.call("get_steps", b)
                exchange = rosters[b].read(decision, terminal)
                for agent in exchange.vanished:
                    running.pop((b, agent), None)
                for agent, i in exchange.ended:
                    so_far = running.pop((b, agent), [0.0, 0])
                    if len(finished) < episodes:
                        finished.append({"agent": f"{b}#{agent}", "return": so_far[0] + float(terminal.reward[i]),
                                         "length": so_far[1] + 1})
                        e = finished[-1]
                        report(f"episode {len(finished):3d}  agent {e['agent']:14s} return {e['return']:8.3f}  "
                               f"length {e['length']}")
                for agent, _ in exchange.started:  # an agent episode begins: it has acted on nothing yet
                    running[b, agent] = [0.0, 0]
                for agent, i in exchange.going:
                    running[b, agent][0] += float(decision.reward[i])
                    running[b, agent][1] += 1
                if len(decision):
                    space = action_spaces[b]
                    actions = [space.sample() for _ in decision.agent_id]
                    source.call("set_actions", b, spaces.to_action_tuple(space, spec, actions, f"{b} agents"))
            source.call("step")
    finally:
        source.close()
    return Played(source.name, finished, time.perf_counter() - started)
