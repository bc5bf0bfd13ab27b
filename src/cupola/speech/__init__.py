"""Speech to text: request options, response formats and stream events, and the Transcriber
that runs Whisper models for the HTTP routes and the CLI."""

from cupola.speech.options import TranscriptionOptions, check_size
from cupola.speech.transcriber import Transcriber

__all__ = ["Transcriber", "TranscriptionOptions", "check_size"]
