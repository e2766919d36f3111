"""Self-play's settings, teams and ELO, as Unity's ghost trainer has them (no Ray here).

A ``self_play`` block (Unity's trainer-file keys) turns a scene of two teams into adversarial self-play:
one team learns at a time against a window of snapshots of its own policy; the trainer side is
``trainer/ghost.py``. Teams come from Unity's behavior names, ``Name?team=N``: a symmetric game (Pong)
has one name for both teams and trains one policy; an asymmetric one (a striker against a goalie) has a
name per team and a policy each.
"""

from __future__ import annotations

from typing import Any

from ..envs.teams import games, split_team, teams  # noqa: F401 (self-play's view of Unity's teams)
from ..errors import BadValue

SNAPSHOTS = "self_play.pkl"  # in a checkpoint folder: each game's snapshots, [{weights, elo, env_steps}] by game
# mlagents-learn's defaults (ml-agents SelfPlaySettings); team_change defaults to 5 x save_steps there too
DEFAULTS: dict[str, Any] = {"save_steps": 20_000, "team_change": None, "swap_steps": 2_000, "window": 10,
                            "play_against_latest_model_ratio": 0.5, "initial_elo": 1200.0}
WHOLE = ("save_steps", "team_change", "swap_steps", "window")  # whole numbers >= 1
HELP = {
    "save_steps": "learning-team agent steps between snapshots of the learning policy",
    "team_change": "learning-team agent steps before the other team learns (default 5 x save_steps)",
    "swap_steps": "opponent agent steps between changes of the opponent's snapshot",
    "window": "snapshots kept to play against, the newest ones",
    "play_against_latest_model_ratio": "chance that a swap picks the current policy rather than a snapshot",
    "initial_elo": "the ELO rating every policy starts with",
}


def settings(given: Any, fail=None) -> dict[str, Any]:
    """A ``self_play`` block with mlagents-learn's defaults filled in, each value checked; ``True`` (or
    ``{}``) takes every default. A bad key or value is ``fail(key, message)`` (default: ``BadValue``)."""
    fail = fail or _refuse
    if given is True:
        given = {}
    if not isinstance(given, dict):
        fail("self_play", f"must be a mapping of self-play settings ({', '.join(DEFAULTS)}) or true, got {given!r}")
    unknown = [k for k in given if k not in DEFAULTS]
    if unknown:
        fail(f"self_play.{unknown[0]}", f"is not a self-play setting; they are {', '.join(DEFAULTS)}")
    out = {**DEFAULTS, **given}
    if out["team_change"] is None:
        out["team_change"] = 5 * out["save_steps"] if _whole(out["save_steps"]) else None
    for key in WHOLE:
        value = out[key]
        if not _whole(value) or value < 1:
            fail(f"self_play.{key}", f"must be a whole number >= 1 ({HELP[key]}), got {value!r}")
    ratio = out["play_against_latest_model_ratio"]
    if not _number(ratio) or not 0 <= ratio <= 1:
        fail("self_play.play_against_latest_model_ratio", f"must be a number in [0, 1] (the {HELP['play_against_latest_model_ratio']}), got {ratio!r}")
    if not _number(out["initial_elo"]):
        fail("self_play.initial_elo", f"must be a number, got {out['initial_elo']!r}")
    out["play_against_latest_model_ratio"] = float(ratio)
    out["initial_elo"] = float(out["initial_elo"])
    return out


def _refuse(key: str, message: str):
    raise BadValue(f"{key} {message}")


def check_teams(behaviors, what: str) -> dict[int, list[str]]:
    """The teams self-play plays with ``behaviors`` (those of ``what``, a scene or build); fewer than two is
    refused, saying why (the message follows "self_play ")."""
    found = teams(behaviors)
    if len(found) < 2:
        names = ", ".join(behaviors)
        raise BadValue(f"needs two teams or more, and {what} has {len(found) or 'none'} (behaviors: {names}): Unity names a team's behavior Name?team=N (Pong has Pong?team=0 and Pong?team=1); "
                       "remove self_play")
    return found


def expected_score(rating: float, opponent: float) -> float:
    """The score (1 win, 0.5 draw, 0 loss) ELO expects of a player rated ``rating`` against ``opponent``."""
    return 1.0 / (1.0 + 10 ** ((opponent - rating) / 400.0))


def elo_change(rating: float, opponent: float, result: float) -> float:
    """What one finished game moves the learner's rating by (the opponent's moves by as much the other way).
    Unity's ghost trainer uses no K factor: at most one point per game."""
    return result - expected_score(rating, opponent)


def result_of(final_reward: float) -> float:
    """A finished game's result from the learner's last reward (with its group reward): > 0 won, < 0 lost,
    0 a draw, as Unity reads it."""
    return 1.0 if final_reward > 0 else 0.0 if final_reward < 0 else 0.5


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and abs(value) != float("inf")
