"""The package version, at the bottom so the engine can stamp it on a run's manifest without
importing the public API module (`driftgate/__init__.py`, the top layer). Keep it equal to
`version` in pyproject.toml."""

__version__ = "0.1.0"
