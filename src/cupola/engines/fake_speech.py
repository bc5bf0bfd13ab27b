"""A fake speech engine for tests: the real audio decoding, a scripted transcript, no weights.

It has :class:`~cupola.engines.whisper.WhisperEngine`'s ``transcribe``/``close`` and result
shape, so the Transcriber, the HTTP routes and the CLI can be tested without a model. Audio is
decoded by the same PyAV code as the real engine, so bad audio fails exactly as it does there.
The transcript is ``sentences``, one segment each, spread evenly over the audio's duration.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from cupola.engines.whisper import SAMPLE_RATE, OnInfo, OnSegment, decode_audio, temperatures
from cupola.engines.whisper_languages import require_code
from cupola.errors import InvalidParameter


class FakeSpeechEngine:
    def __init__(self, sentences: tuple[str, ...] = ("Hello from the fake speech model.",), *,
                 delay: float = 0.0, multilingual: bool = True) -> None:
        self.sentences = sentences
        self.delay = delay  # seconds per segment, to look like decoding takes time
        self.multilingual = multilingual
        self.requests: list[dict[str, Any]] = []
        self.stopped = threading.Event()
        self.closed = False
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def transcribe(self, audio: bytes, *, task: str = "transcribe", language: str | None = None,
                   prompt: str | None = None, temperature: float = 0.0, word_timestamps: bool = False,
                   vad_filter: bool = True, on_segment: OnSegment | None = None,
                   on_info: OnInfo | None = None) -> dict[str, Any]:
        if task == "translate" and not self.multilingual:
            raise InvalidParameter("this Whisper model is English-only and cannot translate", param="model")
        code = require_code(language) if language else None
        temperatures(temperature)
        self.requests.append({"task": task, "language": code, "prompt": prompt, "temperature": temperature,
                              "word_timestamps": word_timestamps, "vad_filter": vad_filter, "bytes": len(audio)})
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            duration = round(decode_audio(audio).size / SAMPLE_RATE, 3)
            if on_info is not None:
                on_info({"language": code or "en", "duration": duration})
            segments: list[dict[str, Any]] = []
            step = duration / max(1, len(self.sentences))
            for i, sentence in enumerate(self.sentences):
                time.sleep(self.delay)
                start, end = round(i * step, 3), round((i + 1) * step, 3)
                segment: dict[str, Any] = {
                    "id": i, "seek": 0, "start": start, "end": end, "text": " " + sentence, "tokens": [],
                    "temperature": temperature, "avg_logprob": -0.1, "compression_ratio": 1.2, "no_speech_prob": 0.01}
                if word_timestamps:
                    words = sentence.split()
                    width = (end - start) / max(1, len(words))
                    segment["words"] = [{"word": " " + w, "start": round(start + j * width, 3),
                                         "end": round(start + (j + 1) * width, 3), "probability": 0.9}
                                        for j, w in enumerate(words)]
                segments.append(segment)
                if on_segment is not None and on_segment(segment):
                    self.stopped.set()
                    break
            result: dict[str, Any] = {"task": task, "language": code or "en", "duration": duration,
                                      "text": "".join(s["text"] for s in segments).strip(), "segments": segments}
            if word_timestamps:
                result["words"] = [w for s in segments for w in s.get("words", ())]
            return result
        finally:
            with self._lock:
                self.active -= 1

    def close(self) -> None:
        self.closed = True
