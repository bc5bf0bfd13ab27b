"""OpenAI-compatible speech to text: ``POST /v1/audio/transcriptions`` and ``/v1/audio/translations``.

Multipart form, as OpenAI's: ``file``, ``model``, ``language``, ``prompt``, ``response_format``
(json, text, srt, verbose_json, vtt), ``temperature``, ``timestamp_granularities[]``, ``stream``;
and Cupola's ``vad_filter`` (``false`` transcribes silence too). The route only translates: the
options are validated by ``cupola.speech.options``, run by the app's ``Transcriber`` and rendered
by ``cupola.speech.formats``. Everything that can be refused is refused before the audio is read
(model, options, size announced by ``Content-Length``) or before anything is sent (bad audio: the
stream's first event is awaited first), so each problem is a 400/404 with an OpenAI error body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from cupola.engines.whisper_languages import spellings
from cupola.errors import Cancelled, InvalidParameter
from cupola.server.streaming import prefetch, sse
from cupola.speech import formats
from cupola.speech.options import MB, TranscriptionOptions, check_size
from cupola.speech.transcriber import Transcriber

router = APIRouter(prefix="/v1/audio", tags=["OpenAI-compatible"])
T = TypeVar("T")

_MULTIPART_SLACK = 1 << 16  # form fields and part headers around the file


def _form_schema() -> dict[str, Any]:
    schema = TranscriptionOptions.model_json_schema()
    props = {"file": {"type": "string", "format": "binary",
                      "description": "The audio: wav, mp3, m4a, ogg, flac, webm, ... (any format FFmpeg reads)"}}
    for name, prop in schema["properties"].items():
        branches = [b for b in prop.pop("anyOf", []) if b.get("type") != "null"]  # a form field is never null
        prop.update(branches[0] if len(branches) == 1 else {"anyOf": branches} if branches else {})
        props["timestamp_granularities[]" if name == "timestamp_granularities" else name] = prop
    props["language"]["enum"] = ["", *spellings()]  # also any case, and regions: en-US
    props["timestamp_granularities[]"]["items"] = {"enum": ["segment", "word"]}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file", "model"], "properties": props}}}}}


def transcriber_of(request: Request) -> Transcriber:
    return request.app.state.transcriber


async def _read(request: Request, task: str) -> tuple[TranscriptionOptions, bytes]:
    """The validated options and the audio bytes, or the first problem as an error."""
    limit = request.app.state.settings.max_audio_mb
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit * MB + _MULTIPART_SLACK:
        check_size(int(length), limit)  # refused before the body is read
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidParameter("send the audio as multipart/form-data with the file in a field named 'file' "
                               "(as the OpenAI clients do)", param="file")
    form = await request.form(max_files=1, max_fields=64)
    try:
        fields: dict[str, Any] = {k: v for k, v in form.items() if not isinstance(v, UploadFile)}
        fields.pop("timestamp_granularities[]", None)
        granularities = form.getlist("timestamp_granularities[]") or form.getlist("timestamp_granularities")
        fields["timestamp_granularities"] = [g for g in granularities if isinstance(g, str)]
        options = TranscriptionOptions.parse(fields)
        transcriber_of(request).check(options.model, task, options.language)  # 404 / 400 before reading
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidParameter("missing required parameter: file (the audio, as a multipart file)", param="file")
        audio = await upload.read(int(limit * MB) + 1)
        check_size(len(audio), limit)
    finally:
        await form.close()
    return options, audio


async def _unless_gone(request: Request, work: Awaitable[T], poll: float = 1.0) -> T:
    """Await ``work``, cancelling it (which stops the engine at its next segment) if the client
    disconnects first: a long file is not transcribed for nobody."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=poll)
            if done:
                return task.result()
            if await request.is_disconnected():
                raise Cancelled("the client went away")
    finally:
        task.cancel()


async def _serve(request: Request, task: str) -> Response:
    options, audio = await _read(request, task)
    transcriber = transcriber_of(request)
    if options.stream:
        return sse(await prefetch(transcriber.stream(options.model, audio, task=task, **options.engine_options())))
    result = await _unless_gone(request, transcriber.transcribe(options.model, audio, task=task,
                                                                 **options.engine_options()))
    body, media_type = formats.render(result, options.response_format, options.timestamp_granularities)
    return Response(body, media_type=media_type)


@router.post("/transcriptions", summary="Transcribe audio into text (SSE events with stream=true)",
             openapi_extra=_form_schema(), response_model=None)
async def transcriptions(request: Request) -> Response:
    return await _serve(request, "transcribe")


@router.post("/translations", summary="Translate speech into English text",
             openapi_extra=_form_schema(), response_model=None)
async def translations(request: Request) -> Response:
    return await _serve(request, "translate")
