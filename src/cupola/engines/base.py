"""The engine contract: how one model runs, in-process or on another server.

An :class:`Engine` is async and small: ``chat``, ``stream``, ``embed``, ``close``, plus a
:class:`Capabilities` record that says what it can do. Layers above read the capabilities instead
of asking which engine it is: the tool-call adapter renders tools itself unless the engine has a
native tool template, and constrains decoding with a grammar or a JSON schema only where the
engine can; knowledge grounding and routers read the context length.

Each engine owns its :class:`~cupola.runtime.admission.Admission` (``engine.admission``): at most
``capabilities.concurrency`` requests run at once, a bounded queue waits, the rest get 429. An
upstream's models share their upstream's admission.

In-process engines are blocking libraries (llama.cpp, ONNX Runtime): they implement the small
*backend* protocols below and are made async by the one thread bridge, ``engines.bridge``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from cupola.errors import ContextLengthExceeded

Endpoint = Literal["chat", "completion"]


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do. Everything defaults to "no"."""

    chat: bool = False
    completion: bool = False
    embeddings: bool = False
    speech: bool = False  # transcribes (and perhaps translates) audio
    native_tools: bool = False  # its chat template renders tool schemas and calls itself
    grammar: bool = False  # accepts llama.cpp's `grammar` field (llguidance / GBNF)
    json_schema: bool = False  # enforces response_format json_schema while decoding
    context_length: int | None = None  # tokens per request (prompt + answer)
    concurrency: int = 1  # requests it decodes at once
    resident: bool = True  # runs in this process (False: a remote server)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class Engine(Protocol):
    """One model, ready to answer. Bodies and answers are OpenAI-shaped dicts.

    ``chat`` and ``stream`` take a chat-completion body (``endpoint="chat"``) or a
    text-completion body (``endpoint="completion"``). ``stream`` yields OpenAI chunks; closing it
    early stops the generation. Errors are Cupola errors.
    """

    capabilities: Capabilities
    admission: Any  # cupola.runtime.admission.Admission

    async def chat(self, body: dict[str, Any], endpoint: Endpoint = "chat") -> dict[str, Any]: ...

    def stream(self, body: dict[str, Any], endpoint: Endpoint = "chat") -> AsyncIterator[dict[str, Any]]: ...

    async def embed(self, texts: list[str], truncate: bool = False) -> tuple[np.ndarray, int]:
        """One float32 row per text, and the number of input tokens. A text longer than the model
        takes raises :class:`~cupola.errors.ContextLengthExceeded` (naming the limit and its token
        count) unless ``truncate``, which cuts it to the limit."""
        ...

    async def close(self) -> None: ...


# -- blocking backends (in-process libraries), made async by engines.bridge --------------------

OnChunk = Callable[[dict[str, Any]], bool]
"""Receives each streamed chunk; returning True stops the generation (and frees its slot)."""


@runtime_checkable
class ChatBackend(Protocol):
    """A blocking chat/completion library (llama.cpp)."""

    def generate(self, endpoint: str, body: dict[str, Any], on_chunk: OnChunk | None = None) -> dict[str, Any] | None:
        """Without ``on_chunk`` return the whole response; with it, stream chunks into it and
        return None. Raise Cupola errors."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class EmbeddingBackend(Protocol):
    """A blocking embedding library (ONNX Runtime)."""

    def embed(self, texts: list[str], truncate: bool = False) -> tuple[np.ndarray, int]: ...

    def close(self) -> None: ...


def input_too_long(model: str, index: int, count: int, limit: int) -> ContextLengthExceeded:
    """The one error for an embedding input longer than its model takes (no silent truncation)."""
    return ContextLengthExceeded(
        f"input {index} is {count:,} tokens but {model} embeds at most {limit:,} tokens per input; shorten or split "
        f"it, or send \"truncate\": true to embed only its first {limit:,} tokens", param="input",
        hint="split long texts into chunks (knowledge bases do this for you)")
