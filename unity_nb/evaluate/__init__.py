"""Evaluating trained policies: deterministic episodes and their statistics."""

from .policy import Policy
from .rollout import Evaluation, evaluate

__all__ = ["Policy", "Evaluation", "evaluate"]
