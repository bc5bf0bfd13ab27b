"""Cupola: a local-first AI foundry."""

__version__ = "0.1.0"
