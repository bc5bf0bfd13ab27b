"""Speech to text on Whisper models in CTranslate2 format, through faster-whisper.

A blocking engine, like the others: callers run :meth:`WhisperEngine.transcribe` on a worker
thread. CTranslate2 runs the model in int8 on the CPU (no PyTorch). Audio in any format FFmpeg
reads (wav, mp3, m4a, ogg, flac, webm, ...) is decoded by PyAV, the library faster-whisper
uses, to 16 kHz mono. Silero voice-activity detection (shipped inside faster-whisper) drops
the silent stretches first, so silence does not turn into invented text.

The result has the shape of OpenAI's ``verbose_json`` transcription: ``text``, ``language``
(an ISO 639-1 code here; the HTTP edge names it), ``duration`` and ``segments`` (``id``,
``seek``, ``start``, ``end``, ``text``, ``tokens``, ``temperature``, ``avg_logprob``,
``compression_ratio``, ``no_speech_prob``), plus ``words`` (``word``, ``start``, ``end``,
``probability``) when word timestamps are asked for. Segments are decoded lazily, one 30-second
window at a time, and handed to ``on_segment`` as each is ready; it returns True to stop (the
client went away).
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cupola.engines.whisper_languages import require_code
from cupola.errors import EngineError, InvalidParameter

log = logging.getLogger("cupola.engines.whisper")

SAMPLE_RATE = 16000
TASKS = ("transcribe", "translate")

OnSegment = Callable[[dict[str, Any]], bool]
"""Receives each decoded segment; returning True stops the transcription."""
OnInfo = Callable[[dict[str, Any]], None]
"""Receives ``{"language", "duration"}`` once the audio is decoded, before the first segment."""

_FORMATS_HINT = "send audio in a common format: wav, mp3, m4a, ogg, flac or webm"


def decode_audio(data: bytes) -> np.ndarray:
    """Decode audio bytes to 16 kHz mono float32 samples, or raise :class:`InvalidParameter`.

    Packets that fail to decode are skipped (as FFmpeg does), so a file with a few damaged
    frames still transcribes; a file most of whose packets are damaged is refused as corrupt.
    """
    import av

    if not data:
        raise InvalidParameter("the audio file is empty (0 bytes)", param="file")
    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise InvalidParameter(f"the file is not audio Cupola can decode (FFmpeg: {_short(exc)}); {_FORMATS_HINT}",
                               param="file") from exc
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    fifo = av.AudioFifo()  # frames are resampled in large batches: far fewer calls than per frame
    chunks: list[np.ndarray] = []
    good = bad = 0
    last_shape: tuple[Any, ...] = ()

    def resample(frame: Any) -> None:
        chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))

    with container:
        if not container.streams.audio:
            raise InvalidParameter("the file has no audio stream (is it a picture or a silent video?)", param="file")
        stream = container.streams.audio[0]
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except (av.InvalidDataError, ValueError):
                    bad += 1
                    continue
                good += 1
                for frame in frames:
                    shape = (frame.sample_rate, frame.format.name, frame.layout.name)
                    if fifo.samples and shape != last_shape:  # the stream changed format mid-way
                        resample(fifo.read())
                        resample(None)
                        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
                        fifo = av.AudioFifo()
                    last_shape = shape
                    frame.pts = None  # resample whatever the timestamps say
                    fifo.write(frame)
                    if fifo.samples >= 500_000:
                        resample(fifo.read())
        except av.FFmpegError as exc:  # the container itself breaks off: keep what decoded
            log.warning("audio stream cut short: %s", exc)
            bad += 1
        if fifo.samples:
            resample(fifo.read())
        resample(None)
    if bad and bad >= good:
        raise InvalidParameter(f"the audio file is corrupt: {bad} of {good + bad} packets could not be "
                               "decoded", param="file")
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    if samples.size == 0:
        raise InvalidParameter("the audio file contains no sound samples", param="file")
    return samples.astype(np.float32) / 32768.0


def _short(exc: BaseException) -> str:
    text = (getattr(exc, "strerror", None) or str(exc)).strip() or exc.__class__.__name__
    return text if len(text) < 160 else text[:157] + "..."


def temperatures(temperature: float) -> tuple[float, ...]:
    """Whisper's fallback schedule: start at ``temperature`` and retry 0.2 higher up to 1.0 when
    a window's decode looks like a failure (repetitive or improbable), as OpenAI's API does."""
    if not 0 <= temperature <= 1:
        raise InvalidParameter(f"temperature must be between 0 and 1, not {temperature}", param="temperature")
    steps = [round(temperature, 4)]
    while steps[-1] + 0.2 <= 1.0 + 1e-9:
        steps.append(round(steps[-1] + 0.2, 4))
    return tuple(steps)


class WhisperEngine:
    """One Whisper model (a CTranslate2 directory: ``model.bin``, ``config.json``,
    ``tokenizer.json``, ``vocabulary.txt``) loaded for CPU inference."""

    def __init__(self, model_dir: Path, *, threads: int = 0, beam_size: int = 5,
                 compute_type: str = "int8") -> None:
        from faster_whisper import WhisperModel

        try:
            self.model = WhisperModel(str(model_dir), device="cpu", compute_type=compute_type,
                                      cpu_threads=threads or os.cpu_count() or 1, num_workers=1,
                                      local_files_only=True)
        except Exception as exc:
            raise EngineError(f"could not load the Whisper model in {model_dir}: {exc}") from exc
        self.model_dir = Path(model_dir)
        self.beam_size = beam_size
        self.multilingual: bool = bool(self.model.model.is_multilingual)

    def knows_language(self, code: str) -> bool:
        """Whether the model has a language token for ``code`` (99 or 100 languages; English-only
        models know only ``en``)."""
        if not self.multilingual:
            return code == "en"
        return self.model.hf_tokenizer.token_to_id(f"<|{code}|>") is not None

    def check(self, task: str, language: str | None) -> str | None:
        """Refuse what this model cannot do, before any audio is decoded; return the language's
        code (a name such as ``German`` is accepted too)."""
        if task not in TASKS:
            raise InvalidParameter(f"unknown task {task!r}: use transcribe or translate", param="task")
        if task == "translate" and not self.multilingual:
            raise InvalidParameter("this Whisper model is English-only and cannot translate; "
                                   "use a multilingual model such as whisper-base", param="model")
        if language is None or language == "":
            return None
        code = require_code(language)
        if not self.knows_language(code):
            if not self.multilingual:
                raise InvalidParameter(f"this Whisper model understands only English, not {language!r}; "
                                       "use a multilingual model such as whisper-base", param="language")
            raise InvalidParameter(f"this Whisper model does not know the language {language!r}", param="language")
        return code

    def transcribe(self, audio: bytes, *, task: str = "transcribe", language: str | None = None,
                   prompt: str | None = None, temperature: float = 0.0, word_timestamps: bool = False,
                   vad_filter: bool = True, on_segment: OnSegment | None = None,
                   on_info: OnInfo | None = None) -> dict[str, Any]:
        """Transcribe (or translate into English) ``audio``; see the module docstring for the result."""
        language = self.check(task, language)
        schedule = temperatures(temperature)
        samples = decode_audio(audio)
        duration = samples.size / SAMPLE_RATE
        try:
            segments, info = self.model.transcribe(
                samples, task=task, language=language, initial_prompt=prompt or None, temperature=schedule,
                beam_size=self.beam_size, word_timestamps=word_timestamps, vad_filter=vad_filter)
        except Exception as exc:
            raise EngineError(f"Whisper failed to start on this audio: {exc}") from exc
        if on_info is not None:
            on_info({"language": info.language, "duration": round(duration, 3)})
        result: dict[str, Any] = {"task": task, "language": info.language, "duration": round(duration, 3),
                                  "text": "", "segments": []}
        if word_timestamps:
            result["words"] = []
        try:
            for segment in segments:  # lazily decoded: one window at a time
                item = _segment(segment, len(result["segments"]))
                result["segments"].append(item)
                if word_timestamps:
                    result["words"].extend(item.get("words", ()))
                if on_segment is not None and on_segment(item):
                    break
        except Exception as exc:
            raise EngineError(f"Whisper failed while decoding: {exc}") from exc
        result["text"] = "".join(s["text"] for s in result["segments"]).strip()
        return result

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]


def _segment(segment: Any, index: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": index, "seek": int(segment.seek), "start": round(float(segment.start), 3),
        "end": round(float(segment.end), 3), "text": segment.text, "tokens": list(segment.tokens),
        "temperature": float(segment.temperature or 0.0), "avg_logprob": float(segment.avg_logprob),
        "compression_ratio": float(segment.compression_ratio), "no_speech_prob": float(segment.no_speech_prob),
    }
    if segment.words is not None:
        item["words"] = [{"word": w.word, "start": round(float(w.start), 3), "end": round(float(w.end), 3),
                          "probability": round(float(w.probability), 4)} for w in segment.words]
    return item
