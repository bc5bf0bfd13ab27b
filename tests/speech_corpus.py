"""Speech made on this machine: espeak-ng reads known sentences to WAV; PyAV encodes them to MP3.

Used by the speech tests and by ``bench/transcription.py``. espeak-ng is a Debian package
(``apt-get install espeak-ng``; ``.ci/run`` installs it when it is missing).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

ENGLISH = (
    "The weather today is sunny with a light breeze from the west.",
    "Please send the report to my office before Friday afternoon.",
    "We walked along the river and watched the boats go by.",
    "The library opens at nine in the morning and closes at six.",
    "My brother bought a new bicycle for his long ride to work.",
    "Fresh bread and hot coffee make a very good breakfast.",
    "The children played football in the park after school.",
    "Turn left at the next corner and the station is on your right.",
)

GERMAN = ("Guten Morgen. Heute ist das Wetter sehr schön. Ich trinke jeden Morgen eine Tasse Kaffee. "
          "Wo ist der Bahnhof? Ich möchte nach Berlin fahren. Das Buch liegt auf dem Tisch in der Küche.")
GERMAN_IN_ENGLISH = ("morning", "weather", "coffee", "berlin", "table", "kitchen")  # what a translation names
GERMAN_WORDS = ("der", "die", "das", "ist", "ich", "und", "eine", "dem", "wetter", "kaffee", "tisch", "küche")

RATE = 22050  # espeak-ng's output rate


@dataclass(frozen=True)
class Sample:
    text: str
    wav: Path
    mp3: Path


def espeak() -> str | None:
    return shutil.which("espeak-ng")


def say(text: str, path: Path, *, voice: str = "en-us", speed: int = 150) -> Path:
    """espeak-ng reads ``text`` into a WAV file (22.05 kHz mono)."""
    subprocess.run([espeak() or "espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text],
                   check=True, capture_output=True)
    return path


def encode(wav: Path, target: Path, container: str, codec: str, rate: int | None = None) -> Path:
    """Encode a WAV file with PyAV's FFmpeg (``container`` and ``codec`` as FFmpeg names them)."""
    import av

    buf = io.BytesIO()
    with av.open(str(wav)) as src, av.open(buf, "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate or src.streams.audio[0].rate)
        for frame in src.decode(audio=0):
            frame.pts = None
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    target.write_bytes(buf.getvalue())
    return target


def to_mp3(wav: Path, mp3: Path) -> Path:
    """Encode a WAV file to MP3 (LAME, inside PyAV's FFmpeg)."""
    return encode(wav, mp3, "mp3", "libmp3lame")


def _frames(path: Path) -> bytes:
    with wave.open(str(path)) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2
        return w.readframes(w.getnframes())


def write_wav(path: Path, frames: bytes) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(frames)
    return path


def silence(path: Path, seconds: float) -> Path:
    return write_wav(path, b"\0\0" * int(RATE * seconds))


def concatenate(paths: list[Path], path: Path, gap: float = 0.8) -> Path:
    """The files one after the other, ``gap`` seconds of silence between them."""
    pause = b"\0\0" * int(RATE * gap)
    return write_wav(path, pause.join(_frames(p) for p in paths))


def english(directory: Path) -> list[Sample]:
    """Each English sentence as WAV and MP3."""
    directory.mkdir(parents=True, exist_ok=True)
    samples = []
    for i, text in enumerate(ENGLISH):
        wav = say(text, directory / f"en{i}.wav")
        samples.append(Sample(text, wav, to_mp3(wav, directory / f"en{i}.mp3")))
    return samples


def joined(directory: Path, samples: list[Sample], repeats: int = 1, name: str = "all") -> Sample:
    """All sentences, ``repeats`` times, as one file (WAV and MP3): 40 s of speech per repeat, so
    Whisper decodes it in several 30-second windows."""
    order = [s for _ in range(repeats) for s in samples]
    wav = concatenate([s.wav for s in order], directory / f"{name}.wav")
    return Sample(" ".join(s.text for s in order), wav, to_mp3(wav, directory / f"{name}.mp3"))


def german(directory: Path) -> Path:
    return say(GERMAN, directory / "de.wav", voice="de", speed=130)


def require_espeak() -> None:
    """Skip speech tests where espeak-ng is missing, except in CI (where it must be there)."""
    import pytest

    if espeak() is None:
        message = "espeak-ng is not installed (apt-get install espeak-ng; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
