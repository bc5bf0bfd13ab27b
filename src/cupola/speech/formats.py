"""What a transcription looks like on the wire: OpenAI's response formats and stream events.

Every function here takes the engine's result (the ``verbose_json`` shape, see
``cupola.engines.whisper``) or one of its segments, so the HTTP routes, the CLI and anything
else render a transcript the same way.

* ``json``: ``{"text", "usage": {"type": "duration", "seconds"}}``
* ``text``: the text and a newline
* ``srt`` / ``vtt``: one cue per segment (``00:00:01,500`` / ``00:00:01.500``)
* ``verbose_json``: ``task``, ``language`` (OpenAI's name: ``english``), ``duration``, ``text``,
  ``segments`` and, with word granularity, ``words``
* stream: a ``transcript.text.delta`` event per segment as it is decoded (Cupola adds the
  ``segment`` and the audio's ``duration``, enough for a progress bar or subtitles), then one
  ``transcript.text.done``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

from cupola.engines.whisper_languages import language_name

ResponseFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]
RESPONSE_FORMATS: tuple[str, ...] = ("json", "text", "srt", "verbose_json", "vtt")
MEDIA_TYPES = {"json": "application/json", "verbose_json": "application/json",
               "text": "text/plain; charset=utf-8", "srt": "application/x-subrip; charset=utf-8",
               "vtt": "text/vtt; charset=utf-8"}
SUFFIXES = {"json": ".json", "verbose_json": ".json", "text": ".txt", "srt": ".srt", "vtt": ".vtt"}


def usage(result: dict[str, Any]) -> dict[str, Any]:
    return {"type": "duration", "seconds": result["duration"]}


def timestamp(seconds: float, decimal: str = ",") -> str:
    """``HH:MM:SS,mmm`` (SubRip) or, with ``decimal="."``, ``HH:MM:SS.mmm`` (WebVTT)."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def _cues(segments: Iterable[dict[str, Any]]) -> list[tuple[float, float, str]]:
    """Segments as subtitle cues: text stripped, empty ones skipped, never ending before they start."""
    cues = []
    for seg in segments:
        text = seg["text"].strip()
        if text:
            cues.append((seg["start"], max(seg["end"], seg["start"]), text))
    return cues


def srt(segments: Iterable[dict[str, Any]]) -> str:
    return "".join(f"{n}\n{timestamp(start)} --> {timestamp(end)}\n{text}\n\n"
                   for n, (start, end, text) in enumerate(_cues(segments), 1))


def vtt(segments: Iterable[dict[str, Any]]) -> str:
    return "WEBVTT\n\n" + "".join(f"{timestamp(start, '.')} --> {timestamp(end, '.')}\n{text}\n\n"
                                  for start, end, text in _cues(segments))


def verbose_json(result: dict[str, Any], granularities: Iterable[str] = ()) -> dict[str, Any]:
    """OpenAI's verbose_json: segments unless only word timestamps were asked for, words when they were."""
    wanted = set(granularities) or {"segment"}
    task = result.get("task", "transcribe")
    body: dict[str, Any] = {
        "task": task,
        # a translation's language is the output's, as OpenAI reports it
        "language": "english" if task == "translate" else language_name(result["language"]),
        "duration": result["duration"],
        "text": result["text"],
    }
    if "segment" in wanted:
        body["segments"] = [{k: v for k, v in seg.items() if k != "words"} for seg in result["segments"]]
    if "word" in wanted:
        body["words"] = [w for seg in result["segments"] for w in seg.get("words", ())]
    body["usage"] = usage(result)
    return body


def render(result: dict[str, Any], response_format: str, granularities: Iterable[str] = ()) -> tuple[str, str]:
    """The response body (as text) and its media type."""
    if response_format == "text":
        body = result["text"] + "\n"
    elif response_format == "srt":
        body = srt(result["segments"])
    elif response_format == "vtt":
        body = vtt(result["segments"])
    elif response_format == "verbose_json":
        body = json.dumps(verbose_json(result, granularities), ensure_ascii=False)
    elif response_format == "json":
        body = json.dumps({"text": result["text"], "usage": usage(result)}, ensure_ascii=False)
    else:
        raise ValueError(f"unknown response format {response_format!r}")
    return body, MEDIA_TYPES[response_format]


# -- stream events --------------------------------------------------------------------------

def delta_event(segment: dict[str, Any], delta: str, duration: float) -> dict[str, Any]:
    return {"type": "transcript.text.delta", "delta": delta, "segment": segment, "duration": duration}


def done_event(result: dict[str, Any]) -> dict[str, Any]:
    task = result.get("task", "transcribe")
    return {"type": "transcript.text.done", "text": result["text"], "usage": usage(result),
            "language": "english" if task == "translate" else language_name(result["language"]),
            "duration": result["duration"]}


def result_from_events(events: Iterable[dict[str, Any]], task: str = "transcribe") -> dict[str, Any]:
    """Rebuild the engine-shaped result from a stream's events (what a client does to render
    subtitles from a stream)."""
    segments: list[dict[str, Any]] = []
    done: dict[str, Any] = {}
    for event in events:
        if event.get("type") == "transcript.text.delta" and isinstance(event.get("segment"), dict):
            segments.append(event["segment"])
        elif event.get("type") == "transcript.text.done":
            done = event
    return {"task": task, "language": done.get("language", "english"), "duration": done.get("duration", 0.0),
            "text": done.get("text", "".join(s["text"] for s in segments).strip()), "segments": segments}
