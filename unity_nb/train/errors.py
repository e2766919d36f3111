"""The error every configuration source raises (kept apart so config readers do not import each other)."""


class ConfigError(ValueError):
    """A training configuration key is unknown or its value is wrong."""
