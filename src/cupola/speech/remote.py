"""Speech to text on a running server (a ``cupola serve`` or any OpenAI-compatible endpoint).

:class:`RemoteTranscriber` has the :class:`~cupola.speech.transcriber.Transcriber`'s ``stream``
(and ``transcribe``, built on it), so the CLI, and later knowledge-base ingest, use either one
the same way. It posts the file as OpenAI's multipart form with ``stream=true`` and yields the
server's events; an error answer becomes the matching Cupola error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from cupola.errors import EngineError
from cupola.openai_http import OpenAIHTTP
from cupola.speech import formats


class RemoteTranscriber:
    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 3600) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        if not self.base_url.endswith("/v1"):
            self.base_url += "/v1"
        self._http = OpenAIHTTP(self.base_url, headers=headers, timeout=timeout, name=f"the server at {self.base_url}",
                                hint="is `cupola serve` running? use --local to transcribe in this process")

    async def stream(self, model: str, audio: bytes, *, task: str = "transcribe", filename: str = "audio",
                     language: str | None = None, prompt: str | None = None, temperature: float = 0.0,
                     word_timestamps: bool = False, vad_filter: bool = True) -> AsyncIterator[dict[str, Any]]:
        fields: dict[str, Any] = {"model": model, "stream": "true", "temperature": str(temperature),
                                  "vad_filter": "true" if vad_filter else "false"}
        if language:
            fields["language"] = language
        if prompt:
            fields["prompt"] = prompt
        if word_timestamps:
            fields["timestamp_granularities[]"] = ["word"]
        path = "/audio/translations" if task == "translate" else "/audio/transcriptions"
        async for event in self._http.events(path, form=fields, files={"file": (filename, audio)}):
            yield event

    async def transcribe(self, model: str, audio: bytes, **options: Any) -> dict[str, Any]:
        events = [event async for event in self.stream(model, audio, **options)]
        if not events or events[-1].get("type") != "transcript.text.done":
            raise EngineError("the server's transcription stream ended without transcript.text.done")
        return formats.result_from_events(events, options.get("task", "transcribe"))

    async def close(self) -> None:
        await self._http.aclose()
