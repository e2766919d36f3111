"""The built-in scenes: simulations of Unity's example scenes, faithful to their published specs."""

from __future__ import annotations

from ...errors import NotFound
from .ball3d import Ball3D
from .base import ActionBatch, AgentBatch, BehaviorInfo, ObservationInfo, Scene
from .basic import Basic, BasicDuo
from .escape import Escape
from .gridworld import GridWorld
from .pong import Pong
from .pyramids import Pyramids
from .signpost import SignPost

# The built-in scenes, in the order they are listed. A new scene is its file (physics, behavior, training
# defaults, target and benchmark: see Scene) and its class here.
SCENES: dict[str, type[Scene]] = {cls.name: cls for cls in (Basic, Ball3D, GridWorld, BasicDuo, SignPost, Pong, Escape,
                                                      Pyramids)}
_BY_LOWER_NAME = {name.lower(): cls for name, cls in SCENES.items()}


def find_scene(target) -> type[Scene] | None:
    """The built-in scene ``target`` names (case-insensitive), or None (a Unity build's path, 'editor', ...):
    the one place a scene's name is resolved."""
    if not isinstance(target, str):
        return None
    return _BY_LOWER_NAME.get(target.lower())


def scene_class(name: str) -> type[Scene]:
    """Look a built-in scene up by name (case-insensitive), with a helpful error."""
    found = find_scene(name)
    if found is None:
        raise UnknownSceneError(name)
    return found


def is_builtin(target) -> bool:
    """Whether ``target`` names a built-in scene (case-insensitive), rather than a Unity build."""
    return find_scene(target) is not None


def agents_leave(target) -> bool:
    """Whether ``target`` is a built-in scene whose agents leave mid-episode (Escape): played and trained as
    many agents that come and go (``UnityBehaviorsEnv``), never as a vector env of a fixed number of agents."""
    found = find_scene(target)
    return found is not None and found.agents_leave


def play_mode(target) -> str:
    """How a trained policy plays ``target`` unless asked otherwise: a built-in scene in this process (fast,
    the same trajectories as through the player), a Unity build as its own process ("player")."""
    return "inprocess" if is_builtin(target) else "player"


class UnknownSceneError(NotFound):
    def __init__(self, name):
        self.name = name
        super().__init__(name)

    def __str__(self):
        return (
            f"unknown scene {self.name!r}. Built-in scenes: {', '.join(SCENES)}. "
            "To use your own Unity build, pass the path to its executable (e.g. ./MyGame.x86_64)."
        )


__all__ = ["SCENES", "find_scene", "agents_leave", "scene_class", "is_builtin", "play_mode", "Scene", "Basic", "BasicDuo", "Ball3D", "GridWorld", "SignPost", "Pong", "Escape", "ActionBatch", "AgentBatch",
           "BehaviorInfo", "ObservationInfo", "UnknownSceneError"]
