"""wan: a command-line tool for the wan2.6-image model."""

__version__ = "0.1.0"
