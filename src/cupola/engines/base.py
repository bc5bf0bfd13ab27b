"""The engine contracts: two tiny protocols."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

OnChunk = Callable[[dict[str, Any]], bool]
"""Receives each streamed chunk; returning True stops the generation (and frees its slot)."""


@runtime_checkable
class ChatEngine(Protocol):
    """Runs OpenAI-shaped chat / completion requests on one loaded model."""

    def generate(self, endpoint: str, body: dict[str, Any], on_chunk: OnChunk | None = None) -> dict[str, Any] | None:
        """``endpoint`` is ``"chat"`` or ``"completion"``. Without ``on_chunk`` return the whole
        response; with it, stream chunks into it and return None. Raise Cupola errors."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class EmbeddingEngine(Protocol):
    def embed(self, texts: list[str]) -> tuple[np.ndarray, int]:
        """Return one row per text (float32) and the number of input tokens used."""
        ...

    def close(self) -> None: ...
