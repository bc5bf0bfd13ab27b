"""What a transcription request may ask for, validated: OpenAI's multipart fields plus Cupola's.

``TranscriptionOptions.model_validate(fields)`` checks the form fields of
``/v1/audio/transcriptions`` and ``/v1/audio/translations`` (strings, as multipart sends them);
unknown fields are ignored, as in the rest of the OpenAI-compatible API. :func:`check_size`
enforces the upload limit (the ``max_audio_mb`` setting).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cupola.engines.whisper_languages import require_code
from cupola.errors import InvalidParameter, invalid
from cupola.speech.formats import ResponseFormat

MB = 1_000_000


class TranscriptionOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(..., min_length=1, description="A speech model, e.g. whisper-tiny-en or whisper-base")
    language: str | None = Field(None, description="The spoken language (ISO 639-1 code such as en, or a name); "
                                 "detected when not given")
    prompt: str | None = Field(None, max_length=2000, description="Text that came before, or spellings to prefer")
    response_format: ResponseFormat = Field("json", description="json, text, srt, verbose_json or vtt")
    temperature: float = Field(0.0, ge=0, le=1, description="0: greedy, raised automatically on a failed window")
    timestamp_granularities: list[str] = Field(default_factory=list, description="segment and/or word "
                                               "(needs response_format verbose_json)")
    stream: bool = Field(False, description="Send transcript.text.delta events as segments are decoded")
    vad_filter: bool = Field(True, description="Cupola: skip silence with voice-activity detection")

    @field_validator("language")
    @classmethod
    def _language(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        try:
            return require_code(v)
        except InvalidParameter as exc:
            raise ValueError(exc.message) from None

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, v: str | None) -> str | None:
        return v if v and v.strip() else None

    @field_validator("timestamp_granularities")
    @classmethod
    def _granularities(cls, v: list[str]) -> list[str]:
        for item in v:
            if item not in ("segment", "word"):
                raise ValueError(f"{item!r} is not a timestamp granularity: use segment or word")
        return sorted(set(v))

    @property
    def word_timestamps(self) -> bool:
        return "word" in self.timestamp_granularities

    def engine_options(self) -> dict[str, Any]:
        """Keyword arguments for the engine's ``transcribe``."""
        return {"language": self.language, "prompt": self.prompt, "temperature": self.temperature,
                "word_timestamps": self.word_timestamps, "vad_filter": self.vad_filter}

    @classmethod
    def parse(cls, fields: dict[str, Any]) -> "TranscriptionOptions":
        """Validate, turning the first problem into an :class:`InvalidParameter` naming the field."""
        try:
            options = cls.model_validate(fields)
        except ValidationError as exc:
            raise invalid(exc.errors()) from None
        if options.timestamp_granularities and options.response_format != "verbose_json" and not options.stream:
            raise InvalidParameter("timestamp_granularities needs response_format verbose_json",
                                   param="timestamp_granularities")
        return options


def check_size(size: int, limit_mb: float) -> None:
    """Refuse an upload over the limit, saying both sizes and how to raise the limit."""
    if size > limit_mb * MB:
        raise InvalidParameter(f"the audio file is {size / MB:.1f} MB, over the {limit_mb:g} MB limit; "
                               "split it, compress it (e.g. to mp3 or opus), or raise the max_audio_mb setting",
                               param="file", code="file_too_large")
