"""Evaluation episodes (deterministic or sampled) of a trained policy (or one policy per behavior), with a table of returns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..envs.gym_env import UnityVectorEnv
from ..envs.scenes import agents_leave, find_scene
from ..envs.source import EnvSource
from ..errors import BadValue, NotFound, NotPossible
from ..train.schema import PLAYS
from .policy import SINGLE, Policy, for_behaviors, load_policies, snapshot_policy


@dataclass
class Evaluation:
    """Returns of N episodes (as in the SageMaker walkthrough's evaluation table), played ``play``
    (deterministic: the policy's greedy actions; sampled: draws from its distribution).

    A run with one policy per behavior has N episodes per behavior, in ``by_behavior``.
    """

    returns: list[float]
    lengths: list[int] = field(default_factory=list)
    by_behavior: dict[str, list[float]] = field(default_factory=dict)
    play: str = "deterministic"
    sampled: "Evaluation | None" = None  # play="both": the same episodes' count played sampled (this one greedy)
    benchmark: float | None = None  # the return Unity's own trained model of the scene reaches (None: a build)
    # who played the other side: "scripted" (the scene's scripted opponent) or a self-play snapshot
    # ("snapshot 1 (4,214 steps, ELO 1197.5)"); None: every side played by the run's policies
    opponent: str | None = None

    @property
    def against(self) -> str:
        """" against the scripted opponent" / " against snapshot 1 (...)" ("" with no opponent), for printers."""
        if not self.opponent:
            return ""
        return " against the scripted opponent" if self.opponent == "scripted" else f" against {self.opponent}"

    def plays(self) -> dict[str, "Evaluation"]:
        """This evaluation and its sampled twin, by play."""
        return {self.play: self, **({"sampled": self.sampled} if self.sampled is not None else {})}

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    def table(self) -> dict[str, float]:
        return _stats(self.returns)

    def rows(self) -> dict[str, dict[str, float]]:
        """One table per behavior (and ``all``) for a run with several; just ``all`` otherwise. Against an
        opponent, each also counts the games ``won``, ``drawn`` and ``lost`` (a return above, at or below 0)."""
        rows = {"all": self.table()}
        rows.update({b: _stats(r) for b, r in self.by_behavior.items()})
        if self.opponent:
            everyone = {"all": self.returns, **self.by_behavior}
            for name, returns in everyone.items():
                r = np.asarray(returns)
                rows[name].update(won=int((r > 0).sum()), drawn=int((r == 0).sum()), lost=int((r < 0).sum()))
        return rows

    def _repr_html_(self) -> str:
        return "".join(e._table_html() for e in self.plays().values())

    def _table_html(self) -> str:
        rows = self.rows()
        # a column per behavior (and "all") for a run with several; one unnamed column otherwise
        head = "<tr><th></th>" + "".join(f"<th>{name}</th>" for name in rows) + "</tr>" if len(rows) > 1 else ""
        body = ""
        counts = ("episodes", "won", "drawn", "lost")
        for key in ("episodes", "mean", "min", "max", "std") + (counts[1:] if self.opponent else ()):
            cells = "".join(f"<td>{t[key] if key in counts else f'{t[key]:.3f}'}</td>" for t in rows.values())
            body += f"<tr><th style='text-align:left'>{key}</th>{cells}</tr>"
        against = self.against
        return (f"<table class='unity-nb-evaluation'><caption>{self.play} episodes{against}: return</caption>"
                f"{head}{body}</table>")

    def __repr__(self):
        return "; ".join(e._text() for e in self.plays().values())

    def _text(self) -> str:
        parts = []
        for name, t in self.rows().items():
            label = "" if name == "all" else f"{name}: "
            record = f" (won {t['won']}, drawn {t['drawn']}, lost {t['lost']})" if self.opponent else ""
            parts.append(f"{label}{t['episodes']} episodes: mean {t['mean']:.3f}, min {t['min']:.3f}, "
                         f"max {t['max']:.3f}, std {t['std']:.3f}{record}")
        against = self.against
        return f"Evaluation({self.play}{against}: {'; '.join(parts)})"


def _stats(returns) -> dict[str, float]:
    r = np.asarray(returns, dtype=float)
    return {"episodes": len(r), "mean": float(r.mean()), "min": float(r.min()), "max": float(r.max()),
            "std": float(r.std())}


def evaluate(checkpoint, scene: str, *, episodes: int = 100, mode: str = "inprocess", seed: int = 12345,
             num_areas: int = 1, params: dict | None = None, behavior: str | None = None,
             max_steps: int = 1_000_000, policies: dict[str, Policy] | None = None,
             play: str = "deterministic", opponent: str | None = None) -> Evaluation:
    """Play ``episodes`` episodes with the policy's greedy actions (``play="sampled"``: actions drawn from
    its distribution, from random numbers seeded by ``seed``; ``"both"``: the greedy evaluation with its
    sampled twin in ``.sampled``); every agent of the scene plays.

    A checkpoint with one policy per behavior plays every behavior with its own policy and
    gives ``episodes`` episodes of each. ``policies`` (instead of a checkpoint) plays policies
    being trained (the run's confirmation of a reached target).

    ``opponent="scripted"`` (a built-in scene with teams, such as Pong): each team's policy plays ``episodes``
    episodes against the scene's scripted opponent on the other side, and the result counts games won, drawn
    and lost; ``opponent="snapshot:N"``: against snapshot N of a self-play run's window (from ``checkpoint``).
    """
    if not isinstance(episodes, int) or isinstance(episodes, bool) or episodes < 1:
        raise BadValue(f"episodes must be a whole number >= 1, got {episodes!r}")
    if play not in (*PLAYS, "both"):
        raise BadValue(f"play must be one of {', '.join(PLAYS)} or both, got {play!r}")
    scripted, against = _opponent(scene, opponent, checkpoint)
    if policies is None:
        policies = load_policies(checkpoint)
    # both plays at once, on twice the areas (half the agents each): a built-in scene's areas are free to add,
    # and one pass costs little more than one play; a Unity build's areas are its own, so it plays twice
    one_policy = set(policies) == {SINGLE} and not agents_leave(scene)  # a vector env of the behavior's agents
    side_by_side = play == "both" and mode == "inprocess" and one_policy and scripted is None
    if play == "both" and not side_by_side:
        kwargs = dict(episodes=episodes, mode=mode, seed=seed, num_areas=num_areas, params=params, behavior=behavior,
                      max_steps=max_steps, policies=policies, opponent=opponent)
        greedy = evaluate(checkpoint, scene, play="deterministic", **kwargs)
        greedy.sampled = evaluate(checkpoint, scene, play="sampled", **kwargs)
        return greedy  # each with its benchmark
    import torch

    sampled = play == "sampled"
    source = EnvSource(scene, mode=mode, seed=seed, num_areas=num_areas * (2 if side_by_side else 1), params=params)
    # the draws come from torch's random numbers, seeded here without touching a training process's own
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            if scripted is not None:
                result = _play_against(source, policies, scripted, against, behavior, episodes, max_steps, sampled)
            elif side_by_side:
                result = _play_both(UnityVectorEnv(source, behavior=behavior), policies[SINGLE], episodes, max_steps)
            elif one_policy:
                env = UnityVectorEnv(source, behavior=behavior)
                result = _play_one(env, policies[SINGLE], episodes, max_steps, sampled)
            else:
                from ..envs.behaviors_env import UnityBehaviorsEnv

                result = _play_behaviors(UnityBehaviorsEnv(source), policies, episodes, max_steps, sampled)
        finally:
            source.close()
    if not side_by_side:
        result.play = play
    found = find_scene(scene)
    for each in result.plays().values():
        each.benchmark = found.benchmark_return if found else None
    return result


class ScriptedOpponent:
    """A scene's scripted player (its ``heuristic``) in a policy's place."""

    def __init__(self, scene_cls):
        self.heuristic = scene_cls.heuristic

    def act(self, observations, action_mask=None, sampled=False):
        return self.heuristic(list(observations) if isinstance(observations, tuple) else [observations])


def _opponent(scene: str, opponent: str | None, checkpoint) -> tuple[object, str] | tuple[None, None]:
    """The player asked for on the other side, and its name: the scene's scripted opponent, or a self-play run's
    snapshot (``snapshot:N``); (None, None) when none is asked for; or why it cannot be."""
    if opponent is None:
        return None, None
    slot = re.fullmatch(r"snapshot[: ](\d+)", opponent.strip()) if isinstance(opponent, str) else None
    if slot:
        if checkpoint is None:
            raise NotPossible("a snapshot opponent is played from a run's checkpoint (run.evaluate(opponent=...))")
        policy, meta = snapshot_policy(checkpoint, int(slot[1]))
        return policy, f"snapshot {meta['slot']} ({meta['env_steps']:,} steps, ELO {meta['elo']:.1f})"
    if opponent != "scripted":
        raise BadValue("opponent must be 'scripted' (the scene's scripted player), 'snapshot:N' (a self-play run's "
                       f"snapshot N of its window) or None, got {opponent!r}")
    return _scripted_opponent(scene), "scripted"


def _scripted_opponent(scene: str) -> ScriptedOpponent:
    """The scene's scripted opponent, or why there is none."""
    found = find_scene(scene)
    with_teams = _scenes_with_teams()
    if found is None or found not in with_teams:
        raise NotPossible(f"{found.name if found else scene} has no scripted opponent: it comes with a built-in "
                          f"scene of two teams ({', '.join(cls.name for cls in with_teams)})")
    return ScriptedOpponent(found)


def _scenes_with_teams() -> list:
    from ..envs.scenes import SCENES

    return [cls for cls in SCENES.values() if hasattr(cls, "heuristic") and len(cls.behavior_list()) > 1]


def _play_against(source, policies: dict, scripted, against: str, behavior: str | None, episodes: int,
                  max_steps: int, sampled: bool) -> Evaluation:
    """Each trained team against the opponent (``against`` names it) on the other side: ``episodes`` episodes of
    each."""
    from ..envs.behaviors_env import UnityBehaviorsEnv

    env = UnityBehaviorsEnv(source)
    teams = list(env.specs)
    if set(policies) == {SINGLE} and behavior is None:
        raise NotPossible("a policy trained for one behavior plays against the scripted opponent once the run says "
                          f"which team it trained (behavior=, one of {', '.join(teams)})")
    # a run that trained one team (``behavior``) has one policy, for that team
    trained = {behavior: policies[SINGLE]} if set(policies) == {SINGLE} else for_behaviors(policies, teams)
    by_behavior = {}
    for team in [t for t in teams if t in trained]:
        players = {t: trained[team] if t == team else scripted for t in teams}
        env.reset(options={"full": True})  # every agent starts an episode with its team's player
        by_behavior[team] = _play_behaviors(env, players, episodes, max_steps, sampled).by_behavior[team]
    return Evaluation([x for r in by_behavior.values() for x in r], [], by_behavior, opponent=against)


def _act(policy, observations, mask, sampled: bool):
    """A policy's actions; a policy object of your own (``act(observations, mask)``) is asked for samples only
    when they are wanted."""
    return policy.act(observations, mask, sampled=True) if sampled else policy.act(observations, mask)


class _FirstToBegin:
    """Finished episodes counted in the order they began (ties: by agent, never by outcome): the first
    ``episodes`` to begin, not the first to end. Short episodes end first and would be over-counted: a policy
    that reaches its goal quickly but loops forever from some starts would look perfect, one that drops
    3DBall's ball early would look worse than it is. An episode is keyed (exchange it began at, agent)."""

    def __init__(self, episodes: int):
        self.episodes = episodes
        self.finished: list[tuple[tuple[int, int], float, int]] = []  # (key, return, length), in the order they ended

    def add(self, key: tuple[int, int], episode_return: float, length: int) -> None:
        self.finished.append((key, float(episode_return), int(length)))

    def all_ended(self, oldest_running) -> bool:
        """Whether the first ``episodes`` to begin have all ended: none still running comes before the last of
        them. ``oldest_running()``: the earliest key of the episodes running, None when none runs (asked only
        once enough have ended)."""
        if len(self.finished) < self.episodes:
            return False
        last_counted = sorted(key for key, _, _ in self.finished)[self.episodes - 1]
        oldest = oldest_running()
        return oldest is None or oldest > last_counted

    def first(self) -> list[tuple[tuple[int, int], float, int]]:
        return sorted(self.finished, key=lambda x: x[0])[:self.episodes]

    def evaluation(self, play: str | None = None) -> Evaluation:
        first = self.first()
        result = Evaluation([r for _, r, _ in first], [n for _, _, n in first])
        if play is not None:
            result.play = play
        return result


class _VectorCount(_FirstToBegin):
    """The count for a vector env's agents ``rows`` (each a sub-env whose episodes follow one another)."""

    def __init__(self, rows: np.ndarray, episodes: int):
        super().__init__(episodes)
        self.rows = rows
        self.began = np.zeros(len(rows), dtype=np.int64)  # the exchange each agent's running episode began

    def step(self, exchange: int, info: dict) -> None:
        if "episode_return" not in info:
            return
        ended = info["_episode_return"] & self.rows
        for i in np.flatnonzero(ended):
            self.add((int(self.began[i]), int(i)), info["episode_return"][i], info["episode_length"][i])
        self.began[ended] = exchange  # the agent's next episode begins with this exchange's observation

    def done(self) -> bool:
        return self.all_ended(lambda: min((int(self.began[i]), int(i)) for i in np.flatnonzero(self.rows)))


def _play_one(env: UnityVectorEnv, policy: Policy, episodes: int, max_steps: int, sampled: bool) -> Evaluation:
    counted = _VectorCount(np.ones(env.num_envs, dtype=bool), episodes)
    obs, info = env.reset()
    for exchange in range(1, max_steps + 1):
        obs, _, _, _, info = env.step(_act(policy, obs, info.get("action_mask"), sampled))
        counted.step(exchange, info)
        if counted.done():
            break
    return counted.evaluation()


def _play_both(env: UnityVectorEnv, policy: Policy, episodes: int, max_steps: int) -> Evaluation:
    """The greedy play on the first half of the agents and the sampled one on the other half, in one pass:
    the greedy evaluation with its sampled twin in ``.sampled``."""
    draws = np.arange(env.num_envs) >= env.num_envs // 2  # the agents that play sampled
    plays = {False: _VectorCount(~draws, episodes), True: _VectorCount(draws, episodes)}
    obs, info = env.reset()
    for exchange in range(1, max_steps + 1):
        mask = info.get("action_mask")
        if isinstance(policy, Policy):  # one forward pass for both plays
            actions = policy.act(obs, mask, sampled=draws)
        else:
            greedy, drawn = _act(policy, obs, mask, False), _act(policy, obs, mask, True)
            actions = np.where(_column(draws, greedy), drawn, greedy)
        obs, _, _, _, info = env.step(actions)
        for counted in plays.values():
            counted.step(exchange, info)
        if all(counted.done() for counted in plays.values()):
            break
    greedy = plays[False].evaluation("deterministic")
    greedy.sampled = plays[True].evaluation("sampled")
    return greedy


def _column(rows: np.ndarray, actions) -> np.ndarray:
    """A per-agent flag shaped to broadcast over a batch of actions (one row per agent)."""
    return rows.reshape((-1,) + (1,) * (np.ndim(actions) - 1))


def joint_actions(policies: dict[str, Policy], obs: dict, infos: dict | None = None, sampled: bool = False,
                  agents: list | None = None) -> dict:
    """Actions for a multi-agent observation dict: each behavior's agents, batched, through its own policy
    (``infos``: each agent's info, whose ``action_mask`` the policy honours). ``agents``: the ones that act
    (the env's ``agents``; an agent whose episode just ended has an observation but acts no more)."""
    from ..envs.agents import behavior_of

    acting = obs if agents is None else [k for k in agents if k in obs]
    actions = {}
    for b, policy in policies.items():
        keys = [k for k in acting if behavior_of(k) == b]
        if not keys:
            continue
        first = obs[keys[0]]
        batch = (tuple(np.stack(part) for part in zip(*(obs[k] for k in keys))) if isinstance(first, tuple)
                 else np.stack([obs[k] for k in keys]))
        masks = [(infos or {}).get(k, {}).get("action_mask") for k in keys]
        given = next((m for m in masks if m is not None), None)
        mask = None if given is None else np.stack([np.ones_like(given) if m is None else m for m in masks])
        actions.update(zip(keys, _act(policy, batch, mask, sampled)))
    return actions


def _play_behaviors(env, policies: dict[str, Policy], episodes: int, max_steps: int, sampled: bool) -> Evaluation:
    """Every behavior acts with its own policy until each has finished the first ``episodes`` episodes to begin
    (ties by slot; not the first to end: short episodes end first, and would be over-counted)."""
    from ..envs.agents import behavior_of

    policies = for_behaviors(policies, env.specs) or policies
    missing = [b for b in env.specs if b not in policies]
    if missing:
        raise NotFound(f"the scene's behavior {missing[0]!r} has no trained policy (the run has {', '.join(policies)})")
    counts = {b: _FirstToBegin(episodes) for b in env.specs}
    obs, infos = env.reset()
    for _ in range(max_steps):
        obs, _, terminated, truncated, infos = env.step(joint_actions(policies, obs, infos, sampled, env.agents))
        for key, info in infos.items():
            if "episode_return" in info:
                slot = int(key.rsplit("#", 1)[1].split(".")[0])  # "Behavior#slot.generation": ties by slot
                counts[behavior_of(key)].add((info.get("episode_began", 0), slot), info["episode_return"],
                                             info["episode_length"])
        if all(count.all_ended(lambda b=b: env.running_since(b)) for b, count in counts.items()):
            break
        if truncated.get("__all__") or terminated.get("__all__"):
            obs, infos = env.reset()  # the wrapper's own cut (or all its agents ended at once); Unity carries on
    first = {b: count.first() for b, count in counts.items()}
    by_behavior = {b: [r for _, r, _ in f] for b, f in first.items()}
    lengths = [n for f in first.values() for _, _, n in f]
    return Evaluation([x for r in by_behavior.values() for x in r], lengths, by_behavior)
