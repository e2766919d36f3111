"""Adversarial self-play as Unity's ghost trainer plays it, over RLlib's multi-agent PPO.

Each game (Pong; or a striker and a goalie, each its own) has two modules: the learning policy
(``module_id(game)``), which RLlib trains, and its ghost (``module_id(game + "#ghost")``), which plays
the opponents with a snapshot's weights and is never trained. One team learns at a time: its agents play
the learning policy, every other team's agents play the ghosts (``policy_of``). ``GhostTrainer`` runs
between training iterations and keeps Unity's counters:

- a snapshot of each learning policy when ``save_steps`` learning-team steps passed since the last, in a
  ring of ``window`` (the first is the untrained policy);
- a swap when ``swap_steps`` opponent steps passed: each ghost takes, with probability
  ``play_against_latest_model_ratio``, the current weights, else a snapshot drawn uniformly;
- a team change after ``team_change`` learning-team steps (teams in turn), with a full reset of every
  Unity area and a swap;
- ELO from every game the learning team finished (not interrupted): the learner gains
  ``result - expected``, the opponent's snapshot loses as much (no K factor, as Unity).

Unity counts its steps per trainer update; here they are counted per iteration (RLlib's own batch), so
a snapshot, swap or team change happens at the first iteration end after its count is passed.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ..envs.agents import behavior_of
from ..envs.teams import GHOST, games, split_team, teams
from ..errors import NotPossible
from ..evaluate.policy import module_id
from ..train.self_play import SNAPSHOTS, elo_change, result_of

_learning = {"team": 0}  # the learning team, in every process that maps agents to modules (set_learning_team)


def learner_module(behavior_or_game: str) -> str:
    """The module that plays (and learns) a game: its name's, whichever team."""
    return module_id(split_team(behavior_or_game)[0])


def ghost_module(game: str) -> str:
    """The module that plays a game's opponents with a snapshot's weights."""
    return module_id(game + GHOST)


def policy_of(agent_id, episode=None, **kwargs) -> str:
    """RLlib's agent-to-module mapping under self-play: the learning team plays its game's learning policy,
    the others its ghost."""
    game, team = split_team(behavior_of(agent_id))
    return module_id(game) if team == _learning["team"] else ghost_module(game)


def set_learning_team(runner, team: int, restart: bool) -> bool:
    """In an env runner's process: map agents with ``team`` learning from now on; ``restart``: every Unity
    area resets (the episode running ends at the next step), so no agent plays on with its old module."""
    _learning["team"] = team
    if restart:
        env = getattr(runner, "env", None)
        for sub in getattr(env, "envs", []) if env is not None else []:
            sub.unwrapped.restart()
    return True


class GhostTrainer:
    """Snapshots, swaps, team changes and ELO ratings of one self-play run (see the module's text)."""

    def __init__(self, settings: dict, behaviors: list[str], seed: int):
        self.settings = settings
        self.teams = teams(behaviors)  # team -> its behaviors
        self.games = games(behaviors)
        self.team_games = {t: games(bs) for t, bs in self.teams.items()}
        self.learning = next(iter(self.teams))
        self.learned = self.learning  # the team that learned in the last iteration
        self.rng = np.random.default_rng(seed)
        self.elo = {g: settings["initial_elo"] for g in self.games}  # each learning policy's rating
        self.snapshots: dict[str, list[dict]] = {g: [] for g in self.games}  # {"weights", "elo", "env_steps"}
        self.next_slot = {g: 0 for g in self.games}  # where the ring's next snapshot goes
        self.opponent: dict[str, int | None] = {g: None for g in self.games}  # a ghost's snapshot (None: latest)
        self.since_save = self.since_change = self.since_swap = 0
        self.games_counted = 0

    # ---- in a run
    def start(self, algo, env_steps: int, resumed: bool) -> list[dict]:
        """A new run snapshots the untrained policies and swaps; a resumed one goes on with its ghosts."""
        events = []
        if not resumed:
            for g in self.games:
                events.append(self._snapshot(algo, g, env_steps))
            events += self._swap(algo, env_steps)
        self._tell_runners(algo, restart=False)
        return events

    def after_iteration(self, algo, result: dict, outcomes: list, env_steps: int) -> list[dict]:
        """Rate the games the learning team finished, then snapshot, change teams and swap as the counters say;
        the events to record, in order."""
        events = []
        self.learned = self.learning  # the iteration's figures are of the team that learned in it
        learning = {learner_module(g) for g in self.team_games[self.learning]}
        for module, final_reward in outcomes:
            if module in learning:
                self._rate(_game_of(module, self.games), result_of(final_reward))
        steps = (result.get("env_runners") or {}).get("num_module_steps_sampled") or {}
        self.since_save += sum(int(steps.get(m, 0)) for m in learning)
        self.since_change += sum(int(steps.get(m, 0)) for m in learning)
        self.since_swap += sum(int(v) for m, v in steps.items() if m.endswith(module_id(GHOST)))
        s = self.settings
        if self.since_save >= s["save_steps"]:
            self.since_save = 0
            events += [self._snapshot(algo, g, env_steps) for g in self.team_games[self.learning]]
        if self.since_change >= s["team_change"] and len(self.teams) > 1:
            self.since_change = self.since_swap = 0
            order = list(self.teams)
            self.learning = order[(order.index(self.learning) + 1) % len(order)]
            self._tell_runners(algo, restart=True)
            events.append({"event": "self_play", "what": "team_change", "env_steps": env_steps,
                           "learning_team": self.learning})
            events += self._swap(algo, env_steps)
        elif self.since_swap >= s["swap_steps"]:
            self.since_swap = 0
            events += self._swap(algo, env_steps)
        return events

    def metrics(self) -> dict:
        """The iteration event's self-play figures: the learning team, each game's rating (``elo`` for the
        first game, ``elo/<game>`` for each when there are several) and the games rated so far."""
        out = {"learning_team": self.learned, "elo": round(self.elo[self.games[0]], 3),
               "games_rated": self.games_counted}
        if len(self.games) > 1:
            out.update({f"elo/{g}": round(r, 3) for g, r in self.elo.items()})
        return out

    # ---- the steps
    def _rate(self, game: str, result: float) -> None:
        """One finished game of ``game``'s learning policy against the ghosts of the other teams."""
        others = [g for t, gs in self.team_games.items() if t != self.learning for g in gs]
        opponent = others[0] if others else game
        change = elo_change(self.elo[game], self._opponent_elo(opponent), result)
        self.elo[game] += change
        # the opponent loses what the learner gains: against the current policy of the same game the two cancel
        if self.opponent[opponent] is None:
            self.elo[opponent] -= change
        else:
            self.snapshots[opponent][self.opponent[opponent]]["elo"] -= change
        self.games_counted += 1

    def _opponent_elo(self, game: str) -> float:
        slot = self.opponent[game]
        return self.elo[game] if slot is None else self.snapshots[game][slot]["elo"]

    def _snapshot(self, algo, game: str, env_steps: int) -> dict:
        weights = _learner_call(algo, lambda learner, m=learner_module(game): _copy(learner.module[m].get_state()))
        ring, slot = self.snapshots[game], self.next_slot[game]
        taken = {"weights": weights, "elo": self.elo[game], "env_steps": env_steps}
        if slot < len(ring):
            ring[slot] = taken
        else:
            ring.append(taken)
        self.next_slot[game] = (slot + 1) % self.settings["window"]
        return {"event": "self_play", "what": "snapshot", "game": game, "slot": slot, "env_steps": env_steps,
                "elo": round(self.elo[game], 3), "snapshots": len(ring)}

    def _swap(self, algo, env_steps: int) -> list[dict]:
        """Each opponent game's ghost takes the current weights or a snapshot; the env runners get them at once."""
        events = []
        for team, gs in self.team_games.items():
            if team == self.learning:
                continue
            for g in gs:
                latest = self.rng.uniform() < self.settings["play_against_latest_model_ratio"] or not self.snapshots[g]
                self.opponent[g] = None if latest else int(self.rng.integers(len(self.snapshots[g])))
                _learner_call(algo, partial_set(g, None if latest else self.snapshots[g][self.opponent[g]]["weights"]))
                events.append({"event": "self_play", "what": "swap", "game": g, "env_steps": env_steps,
                               "opponent": "latest" if latest else f"snapshot {self.opponent[g]}",
                               "opponent_elo": round(self._opponent_elo(g), 3)})
        algo.env_runner_group.sync_weights(from_worker_or_learner_group=algo.learner_group, inference_only=True)
        return events

    def _tell_runners(self, algo, restart: bool) -> None:
        team = self.learning
        _learning["team"] = team  # this process (the local env runner, and confirmation's mapping)
        algo.env_runner_group.foreach_env_runner(lambda runner: set_learning_team(runner, team, restart),
                                                 local_env_runner=True)

    # ---- checkpoints
    def state(self) -> dict:
        """What a checkpoint's progress carries (the snapshots' weights go to ``save``'s file)."""
        return {"learning": self.learning, "elo": self.elo, "next_slot": self.next_slot,
                "opponent": self.opponent, "counters": [self.since_save, self.since_change, self.since_swap],
                "games_rated": self.games_counted, "rng": self.rng.bit_generator.state,
                "snapshots": {g: [{"elo": s["elo"], "env_steps": s["env_steps"]} for s in ring]
                              for g, ring in self.snapshots.items()}}

    def save(self, checkpoint: Path) -> None:
        """Each game's snapshots (weights, rating, steps) into the checkpoint: resume and evaluation read them."""
        with open(Path(checkpoint) / SNAPSHOTS, "wb") as f:
            pickle.dump(self.snapshots, f)

    def restore(self, state: dict | None, checkpoint: Path) -> None:
        """Go on from a checkpoint: its ratings, counters and snapshots. A checkpoint without them cannot
        go on as self-play (its ghosts would have nothing to play)."""
        path = Path(checkpoint) / SNAPSHOTS
        if not state or not path.exists():
            raise NotPossible(f"{Path(checkpoint).name} has no self-play snapshots ({SNAPSHOTS} and its ratings): "
                              "it was not saved by a self-play run, or the file was removed; train a new run, or "
                              "start one from its weights with init_path")
        with open(path, "rb") as f:
            snapshots = pickle.load(f)
        self.learning = int(state["learning"])
        self.elo = {g: float(v) for g, v in state["elo"].items()}
        self.next_slot = {g: int(v) for g, v in state["next_slot"].items()}
        self.opponent = {g: (None if v is None else int(v)) for g, v in state["opponent"].items()}
        self.since_save, self.since_change, self.since_swap = state["counters"]
        self.games_counted = int(state["games_rated"])
        self.rng.bit_generator.state = state["rng"]
        self.snapshots = {g: snapshots[g] for g in self.games}


def partial_set(game: str, weights):
    """A learner call that gives ``game``'s ghost these weights (None: the learning policy's current ones)."""
    def apply(learner):
        source = learner.module[learner_module(game)].get_state() if weights is None else weights
        learner.module[ghost_module(game)].set_state(source)
        return True
    return apply


def _learner_call(algo, fn):
    """``fn(learner)`` on the run's learner (the kit trains with one), its result."""
    return next(iter(algo.learner_group.foreach_learner(fn))).get()


def _copy(state):
    """A snapshot that later updates cannot change: numpy copies of a module's tensors."""
    if isinstance(state, dict):
        return {k: _copy(v) for k, v in state.items()}
    if hasattr(state, "detach"):
        return state.detach().cpu().numpy().copy()
    return np.array(state, copy=True) if isinstance(state, np.ndarray) else state


def _game_of(module: str, names: list[str]) -> str:
    return next(g for g in names if module_id(g) == module)
