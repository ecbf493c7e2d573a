"""Lamina's version: in run.json, MLflow tags and the server's metadata (pyproject.toml reads it from here)."""

__version__ = "0.1.0"
