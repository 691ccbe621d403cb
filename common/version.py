"""The one place the project's version is written; setup.py, the zip and --version read it."""

__version__ = "0.1.0"
