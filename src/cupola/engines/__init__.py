"""How one model runs. Engines are blocking (they wrap native code); the runtime drives them
from worker threads and gives the rest of Cupola an async interface."""

from cupola.engines.base import ChatEngine, EmbeddingEngine

__all__ = ["ChatEngine", "EmbeddingEngine"]
