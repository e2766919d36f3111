"""The built-in scenes: simulations of Unity's example scenes, faithful to their published specs."""

from __future__ import annotations

from ...errors import NotFound
from .ball3d import Ball3D
from .base import ActionBatch, AgentBatch, BehaviorInfo, ObservationInfo, Scene
from .basic import Basic, BasicDuo
from .gridworld import GridWorld
from .signpost import SignPost

SCENES: dict[str, type[Scene]] = {cls.name: cls for cls in (Basic, Ball3D, GridWorld, BasicDuo, SignPost)}


def scene_class(name: str) -> type[Scene]:
    """Look a built-in scene up by name (case-insensitive), with a helpful error."""
    for key, cls in SCENES.items():
        if key.lower() == str(name).lower():
            return cls
    raise UnknownSceneError(name)


def is_builtin(target) -> bool:
    """Whether ``target`` names a built-in scene (case-insensitive), rather than a Unity build."""
    return isinstance(target, str) and target.lower() in {name.lower() for name in SCENES}


class UnknownSceneError(NotFound):
    def __init__(self, name):
        self.name = name
        super().__init__(name)

    def __str__(self):
        return (
            f"unknown scene {self.name!r}. Built-in scenes: {', '.join(SCENES)}. "
            "To use your own Unity build, pass the path to its executable (e.g. ./MyGame.x86_64)."
        )


__all__ = ["SCENES", "scene_class", "is_builtin", "Scene", "Basic", "BasicDuo", "Ball3D", "GridWorld", "SignPost", "ActionBatch", "AgentBatch",
           "BehaviorInfo", "ObservationInfo", "UnknownSceneError"]
