"""The version of unigroups (also in pyproject.toml; tests hold the two equal)."""

__version__ = "0.1.0"
