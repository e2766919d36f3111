"""Unity's teams, read from behavior names: ``Name?team=N`` is team N of the game ``Name``.

A symmetric game (Pong) has one name for both teams; an asymmetric one (a striker against a goalie) a
name per team. Self-play (``train/self_play.py``, ``trainer/ghost.py``) trains one policy per game.
"""

from __future__ import annotations

import re

from ..errors import BadValue

GHOST = "#ghost"  # self-play: a game's opponent module is its name and this (``Pong#ghost``); Unity names have no '#'
_TEAM = re.compile(r"^(?P<game>.*)\?team=(?P<team>[^&]*)$")


def split_team(behavior: str) -> tuple[str, int | None]:
    """A behavior's game and team: ``Pong?team=1`` -> ("Pong", 1); ``3DBall`` -> ("3DBall", None).
    A team that is not a whole number is refused (Unity reads it as one)."""
    found = _TEAM.match(behavior)
    if not found:
        return behavior, None
    try:
        return found["game"], int(found["team"])
    except ValueError:
        raise BadValue(f"behavior {behavior!r}: the team after '?team=' must be a whole number, "
                       f"got {found['team']!r}") from None


def teams(behaviors) -> dict[int, list[str]]:
    """The teams of these behaviors (team id -> its behaviors); a behavior without a team is not in one."""
    out: dict[int, list[str]] = {}
    for behavior in behaviors:
        game, team = split_team(behavior)
        if team is not None:
            out.setdefault(team, []).append(behavior)
    return dict(sorted(out.items()))


def games(behaviors) -> list[str]:
    """The policies self-play trains: one per game name (Pong's two teams share "Pong")."""
    return list(dict.fromkeys(split_team(b)[0] for b in behaviors))
