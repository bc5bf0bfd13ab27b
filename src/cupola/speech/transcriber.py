"""Speech to text for the HTTP routes, the CLI and knowledge-base ingest.

:class:`Transcriber` has two public methods: ``await transcribe(model, audio, **options)`` returns
the whole result (the engine's ``verbose_json`` shape) and ``stream(model, audio, **options)``
yields a ``transcript.text.delta`` event per segment as it is decoded, then
``transcript.text.done``. Options are the engine's: ``task`` (``transcribe`` or ``translate``),
``language``, ``prompt``, ``temperature``, ``word_timestamps``, ``vad_filter``.

Models are the runtime's: speech models load, stay resident and unload under the same keep-alive,
residency limit and admission as the others, and every transcription is a request record (with
its contract: the audio's sha256 and length, the options, the real-time factor). The Transcriber
checks what a model can do from its catalog entry before anything loads, and shapes the events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from cupola.engines.whisper import TASKS
from cupola.engines.whisper_languages import require_code
from cupola.errors import InvalidParameter
from cupola.models.catalog import CatalogEntry
from cupola.runtime.runtime import Runtime
from cupola.speech import formats

class Transcriber:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.store = runtime.store

    # -- checks that need no model loaded --------------------------------------------------

    def entry(self, model: str) -> CatalogEntry:
        """The catalog entry of a speech model: 404 for an unknown name, 400 for another kind."""
        entry = self.store.entry(model)
        if entry.kind != "speech":
            speech = ", ".join(e.alias for e in self.store.entries() if e.kind == "speech")
            raise InvalidParameter(f"{model} is a {entry.kind} model and cannot transcribe audio; use a speech "
                                   f"model: {speech}", param="model")
        return entry

    def check(self, model: str, task: str = "transcribe", language: str | None = None) -> CatalogEntry:
        """Refuse a request the model cannot serve, from its catalog entry, before any loading."""
        entry = self.entry(model)
        if task not in TASKS:
            raise InvalidParameter(f"unknown task {task!r}: use transcribe or translate", param="task")
        if task == "translate" and "translation" not in entry.capabilities:
            raise InvalidParameter(f"{model} cannot translate (it is English-only); use a multilingual "
                                   "model such as whisper-base", param="model")
        code = require_code(language) if language else None
        if code and entry.languages is not None and code not in entry.languages:
            raise InvalidParameter(f"{model} understands only {', '.join(entry.languages)}, not {language!r}; "
                                   "use a multilingual model such as whisper-base", param="language")
        return entry

    # -- public API ------------------------------------------------------------------------

    async def transcribe(self, model: str, audio: bytes, *, task: str = "transcribe",
                         **options: Any) -> dict[str, Any]:
        """Transcribe (or, with ``task="translate"``, translate into English) the whole file."""
        result: dict[str, Any] = {}
        async for event in self._run(model, audio, task, options, stream=False):
            result = event
        return result

    async def stream(self, model: str, audio: bytes, *, task: str = "transcribe",
                     **options: Any) -> AsyncIterator[dict[str, Any]]:
        """The stream events (see ``cupola.speech.formats``), each segment as soon as it is decoded."""
        async for event in self._run(model, audio, task, options, stream=True):
            yield event

    async def close(self) -> None:
        """Nothing of its own to close: the runtime owns the models."""

    def loaded(self) -> list[str]:
        return [alias for alias, m in self.runtime.models.items() if m.entry.kind == "speech"]

    async def _run(self, model: str, audio: bytes, task: str, options: dict[str, Any],
                   *, stream: bool) -> AsyncIterator[dict[str, Any]]:
        """Yield stream events, or (``stream=False``) only the final result."""
        self.check(model, task, options.get("language"))
        first, duration = True, 0.0
        events = self.runtime.transcribe(model, audio, task=task, stream=stream, **options)
        async with aclosing(events):
            async for event in events:
                kind = event.pop("type")
                if kind == "info":
                    duration = event.get("duration") or 0.0
                elif kind == "result":
                    event.pop("queue_ms", None)
                    yield formats.done_event(event) if stream else event
                elif stream:
                    delta = event["text"].lstrip() if first else event["text"]
                    first = False
                    yield formats.delta_event(event, delta, duration)
