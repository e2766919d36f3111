"""Evaluating trained policies: deterministic episodes, their statistics, and videos of them."""

from .policy import Policy
from .rollout import Evaluation, evaluate
from .video import Video, encode, record

__all__ = ["Policy", "Evaluation", "evaluate", "Video", "encode", "record"]
