"""Speech to text on a running server (a ``cupola serve`` or any OpenAI-compatible endpoint).

:class:`RemoteTranscriber` has the :class:`~cupola.speech.transcriber.Transcriber`'s ``stream``
(and ``transcribe``, built on it), so the CLI, and later knowledge-base ingest, use either one
the same way. It posts the file as OpenAI's multipart form with ``stream=true`` and yields the
server's events; an error answer becomes the matching Cupola error.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from cupola.openai_http import error_from
from cupola.errors import EngineError, RuntimeFailure
from cupola.speech import formats


class RemoteTranscriber:
    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 3600) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        if not self.base_url.endswith("/v1"):
            self.base_url += "/v1"
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers,
                                       timeout=httpx.Timeout(timeout, connect=10))

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
        try:
            async with self._http.stream("POST", path, data=fields, files={"file": (filename, audio)}) as resp:
                if resp.status_code != 200:
                    raise error_from(resp.status_code, await resp.aread())
                async for line in resp.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    event = json.loads(data)
                    if "error" in event:
                        raise error_from(500, data)
                    yield event
        except httpx.TransportError as exc:
            raise RuntimeFailure(f"cannot reach the server at {self.base_url}: {exc}",
                               hint="is `cupola serve` running? use --local to transcribe in this process") from exc

    async def transcribe(self, model: str, audio: bytes, **options: Any) -> dict[str, Any]:
        events = [event async for event in self.stream(model, audio, **options)]
        if not events or events[-1].get("type") != "transcript.text.done":
            raise EngineError("the server's transcription stream ended without transcript.text.done")
        return formats.result_from_events(events, options.get("task", "transcribe"))

    async def close(self) -> None:
        await self._http.aclose()
