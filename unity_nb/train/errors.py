"""The error every configuration source raises (kept apart so config readers do not import each other)."""

from ..errors import BadValue


class ConfigError(BadValue):
    """A training configuration key is unknown or its value is wrong."""
