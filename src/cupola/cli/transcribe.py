"""`cupola transcribe FILE`: speech to text, through the running server or in this process."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from cupola.cli.common import (LocalOpt, UrlOpt, console, err_console, fail, load_settings,
                               progress_bars, seconds_bars, server_url)
from cupola.config import Settings
from cupola.speech import formats

_BY_SUFFIX = {".srt": "srt", ".vtt": "vtt", ".txt": "text", ".json": "verbose_json"}


def transcribe(
    file: Annotated[Path, typer.Argument(help="Audio file: wav, mp3, m4a, ogg, flac, webm, ...")],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Speech model (default: the "
                                                 "default_speech_model setting, whisper-tiny-en)")] = None,
    language: Annotated[Optional[str], typer.Option("--language", "-l", help="Spoken language, e.g. en or de "
                                                    "(default: detected)")] = None,
    translate: Annotated[bool, typer.Option("--translate", help="Translate the speech into English "
                                            "(needs a multilingual model such as whisper-base)")] = False,
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help="text, json, verbose_json, srt or vtt "
                                               "(default: from the -o suffix, else text)")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write here instead of printing")] = None,
    prompt: Annotated[Optional[str], typer.Option("--prompt", help="Preceding text or spellings to prefer")] = None,
    temperature: Annotated[float, typer.Option(help="Sampling temperature, 0 to 1")] = 0.0,
    words: Annotated[bool, typer.Option("--words", help="Word timestamps (in verbose_json)")] = False,
    vad: Annotated[bool, typer.Option("--vad/--no-vad", help="Skip silence with voice-activity detection")] = True,
    url: UrlOpt = None,
    local: LocalOpt = False,
) -> None:
    """Transcribe an audio file (or translate it into English), with a progress bar.

    Uses the running `cupola serve` when there is one (or --url), else loads the model in this process.
    """
    settings = load_settings()
    response_format = fmt or _BY_SUFFIX.get(output.suffix.lower() if output else "", "text")
    if response_format not in formats.RESPONSE_FORMATS:
        fail(f"unknown format {response_format!r}", "use text, json, verbose_json, srt or vtt")
    if not file.is_file():
        fail(f"{file} does not exist or is not a file")
    audio = file.read_bytes()
    alias = model or settings.default_speech_model
    options: dict[str, Any] = {"task": "translate" if translate else "transcribe", "language": language,
                               "prompt": prompt, "temperature": temperature, "word_timestamps": words,
                               "vad_filter": vad}
    found = None if local else server_url(settings, url)
    result = asyncio.run(_run(settings, found, alias, file, audio, options))
    body, _ = formats.render(result, response_format, ["segment", "word"] if words else [])
    if output is None:
        console.out(body, end="" if body.endswith("\n") else "\n", highlight=False)
        return
    _write(output, body)
    err_console.print(f"wrote {output} ({response_format}, {result['duration']:.1f} s of audio)", highlight=False)


async def _run(settings: Settings, url: str | None, alias: str, file: Path, audio: bytes,
               options: dict[str, Any]) -> dict[str, Any]:
    if url:
        from cupola.speech.remote import RemoteTranscriber

        client: Any = RemoteTranscriber(url, settings.api_key)
        options = {**options, "filename": file.name}
    else:
        from cupola.runtime.runtime import Runtime
        from cupola.speech.transcriber import Transcriber

        runtime = Runtime(settings)
        client = Transcriber(runtime)
        client.close = runtime.close  # type: ignore[method-assign]  # this process's runtime goes with it
        client.check(alias, options["task"], options["language"])
        if not client.store.info(alias).pulled:
            err_console.print(f"pulling {alias}")
            with progress_bars() as progress:
                await asyncio.to_thread(client.store.pull, alias, progress)
    events = []
    try:
        with seconds_bars() as progress:
            async for event in client.stream(alias, audio, **options):
                events.append(event)
                if event["type"] == "transcript.text.delta":
                    progress(file.name, min(event["segment"]["end"], event["duration"]), event["duration"])
                else:
                    progress(file.name, event["duration"], event["duration"])
    finally:
        await client.close()
    return formats.result_from_events(events, options["task"])


def _write(path: Path, text: str) -> None:
    """Atomically: a reader never sees half a file."""
    path = path.expanduser()
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
