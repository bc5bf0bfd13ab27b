"""Which models are loaded, admission and queueing, request records."""

from cupola.runtime.runtime import Runtime

__all__ = ["Runtime"]
