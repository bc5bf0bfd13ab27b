"""Upstreams with httpx's MockTransport: dialect shaping, retries, the breaker, fallbacks and routes.

Real servers (a second `cupola serve`, a raw llama.cpp server) are in test_upstreams_live.py.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from cupola.config import RouterConfig, Settings, UpstreamConfig
from cupola.errors import ContextLengthExceeded, Overloaded, Unavailable, UpstreamError, UpstreamTimeout
from cupola.runtime.runtime import Runtime
from cupola.runtime.upstreams import Upstreams

from conftest import FakeFactory, fake_store

HELLO = [{"role": "user", "content": "hi"}]


def sse(*chunks: dict, done: bool = True) -> bytes:
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    return body + (b"data: [DONE]\n\n" if done else b"")


def chunk(text: str | None = None, finish: str | None = None, usage: dict | None = None) -> dict:
    choices = [] if text is None and finish is None else [
        {"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish}]
    out = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "model": "upstream-name", "choices": choices}
    if usage:
        out["usage"] = usage
    return out


ANSWER = sse(chunk("Hello"), chunk(" there"), chunk(finish="stop"),
             chunk(usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}))


class Recorder:
    """A MockTransport handler that records requests and plays a script of responses."""

    def __init__(self, *script):
        self.script = list(script)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        if callable(step):
            return step(request)
        return step

    def body(self, i: int = -1) -> dict:
        return json.loads(self.requests[i].content)


def ok_stream() -> httpx.Response:
    return httpx.Response(200, content=ANSWER, headers={"content-type": "text/event-stream"})


def upstreams(kind: str, url: str, handler, **cfg) -> Upstreams:
    config = UpstreamConfig(url=url, kind=kind, models={"lab-model": "the-model"}, **cfg)
    return Upstreams({"lab": config}, transports={"lab": httpx.MockTransport(handler)},
                     environ={"LAB_KEY": "sekret"})


async def run_chat(ups: Upstreams) -> dict:
    try:
        return await ups.engine("lab-model").chat({"messages": HELLO})
    finally:
        await ups.close()


# -- dialects -----------------------------------------------------------------------------

async def test_openai_dialect_shapes_url_headers_and_model():
    rec = Recorder(ok_stream())
    answer = await run_chat(upstreams("openai", "http://127.0.0.1:9/v1", rec, api_key_env="LAB_KEY"))
    req = rec.requests[0]
    assert str(req.url) == "http://127.0.0.1:9/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sekret"
    sent = rec.body()
    assert sent["model"] == "the-model" and sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert answer["choices"][0]["message"]["content"] == "Hello there"
    assert answer["usage"]["completion_tokens"] == 2


async def test_openai_dialect_adds_v1_to_a_bare_server_url():
    rec = Recorder(ok_stream())
    await run_chat(upstreams("openai", "http://127.0.0.1:9", rec))
    assert str(rec.requests[0].url) == "http://127.0.0.1:9/v1/chat/completions"
    assert "authorization" not in rec.requests[0].headers


async def test_ollama_dialect_uses_v1_routes_and_lists_api_tags():
    rec = Recorder(ok_stream())
    await run_chat(upstreams("ollama", "http://127.0.0.1:11434", rec))
    assert str(rec.requests[0].url) == "http://127.0.0.1:11434/v1/chat/completions"
    tags = Recorder(httpx.Response(200, json={"models": [{"name": "llama3.2:1b"}, {"name": "qwen2.5:0.5b"}]}))
    ups = upstreams("ollama", "http://127.0.0.1:11434/v1", tags)
    assert await ups.servers["lab"].models() == ["llama3.2:1b", "qwen2.5:0.5b"]
    assert str(tags.requests[0].url) == "http://127.0.0.1:11434/api/tags"
    await ups.close()


async def test_azure_deployments_dialect():
    rec = Recorder(ok_stream())
    await run_chat(upstreams("azure", "https://res.openai.azure.com", rec, api_key_env="LAB_KEY"))
    req = rec.requests[0]
    assert req.url.path == "/openai/deployments/the-model/chat/completions"
    assert req.url.params["api-version"] == "2024-10-21"
    assert req.headers["api-key"] == "sekret" and "authorization" not in req.headers
    assert "model" not in rec.body()  # the deployment in the URL names it


async def test_azure_v1_and_foundry_dialects():
    rec = Recorder(ok_stream())
    await run_chat(upstreams("azure", "https://res.openai.azure.com/openai/v1", rec, api_key_env="LAB_KEY"))
    assert str(rec.requests[0].url) == "https://res.openai.azure.com/openai/v1/chat/completions"
    assert rec.body()["model"] == "the-model" and rec.requests[0].headers["api-key"] == "sekret"
    rec = Recorder(ok_stream())
    await run_chat(upstreams("azure", "https://res.services.ai.azure.com/models", rec, api_key_env="LAB_KEY",
                             api_version="2024-05-01-preview"))
    req = rec.requests[0]
    assert req.url.path == "/models/chat/completions" and req.url.params["api-version"] == "2024-05-01-preview"
    assert rec.body()["model"] == "the-model"


async def test_missing_api_key_is_a_clear_unavailable():
    ups = Upstreams({"lab": UpstreamConfig(url="http://127.0.0.1:9/v1", api_key_env="NOPE_KEY", models={"m": "x"})},
                    environ={})
    with pytest.raises(Unavailable, match=r"\$NOPE_KEY"):
        ups.engine("m")
    await ups.close()


async def test_embeddings_through_an_upstream():
    rec = Recorder(httpx.Response(200, json={"data": [{"index": 1, "embedding": [0.0, 1.0]},
                                                      {"index": 0, "embedding": [1.0, 0.0]}],
                                             "usage": {"prompt_tokens": 4}}))
    ups = upstreams("openai", "http://127.0.0.1:9/v1", rec)
    vectors, tokens = await ups.engine("lab-model").embed(["a", "b"])
    await ups.close()
    assert vectors.tolist() == [[1.0, 0.0], [0.0, 1.0]] and tokens == 4
    assert rec.body() == {"input": ["a", "b"], "model": "the-model"}


# -- retries and the breaker --------------------------------------------------------------

async def test_retries_5xx_and_connection_errors_before_the_first_byte():
    rec = Recorder(httpx.ConnectError("refused"), httpx.Response(503, json={"error": {"message": "warming"}}),
                   ok_stream())
    answer = await run_chat(upstreams("openai", "http://127.0.0.1:9/v1", rec, retries=2))
    assert len(rec.requests) == 3
    assert answer["choices"][0]["message"]["content"] == "Hello there"


async def test_retries_exhausted_raise_the_last_error():
    rec = Recorder(httpx.Response(502, text="bad gateway"))
    with pytest.raises(UpstreamError, match="502"):
        await run_chat(upstreams("openai", "http://127.0.0.1:9/v1", rec, retries=1))
    assert len(rec.requests) == 2


async def test_429_is_retried_after_retry_after_and_kept_as_429():
    rec = Recorder(httpx.Response(429, headers={"retry-after": "1"}, json={"error": {"message": "busy"}}))
    with pytest.raises(Overloaded) as err:
        await run_chat(upstreams("openai", "http://127.0.0.1:9/v1", rec, retries=1))
    assert err.value.retry_after == 1 and len(rec.requests) == 2


async def test_client_errors_are_not_retried():
    rec = Recorder(httpx.Response(400, json={"error": {"message": "too long", "code": "context_length_exceeded"}}))
    with pytest.raises(ContextLengthExceeded):
        await run_chat(upstreams("openai", "http://127.0.0.1:9/v1", rec, retries=3))
    assert len(rec.requests) == 1


async def test_no_retry_once_output_started():
    broken = httpx.Response(200, content=sse(chunk("Hel"), done=False) + b"data: {not json",
                            headers={"content-type": "text/event-stream"})
    rec = Recorder(broken, ok_stream())
    ups = upstreams("openai", "http://127.0.0.1:9/v1", rec, retries=3)
    got = []
    with pytest.raises(UpstreamError):
        async for c in ups.engine("lab-model").stream({"messages": HELLO}):
            got.append(c)
    await ups.close()
    assert len(rec.requests) == 1 and got[0]["choices"][0]["delta"]["content"] == "Hel"


async def test_first_token_timeout():
    async def slow(request: httpx.Request) -> httpx.Response:
        async def body():
            await asyncio.sleep(5)
            yield ANSWER
        return httpx.Response(200, content=body(), headers={"content-type": "text/event-stream"})

    ups = Upstreams({"lab": UpstreamConfig(url="http://127.0.0.1:9/v1", models={"m": "x"}, timeout=0.2, retries=0)},
                    transports={"lab": httpx.MockTransport(slow)})
    with pytest.raises(UpstreamTimeout, match="no token within 0.2s"):
        await ups.engine("m").chat({"messages": HELLO})
    await ups.close()


async def test_breaker_opens_skips_and_closes_after_a_good_trial():
    rec = Recorder(httpx.ConnectError("refused"))
    ups = upstreams("openai", "http://127.0.0.1:9/v1", rec, retries=0, breaker_failures=2, breaker_cooldown=0.2)
    engine = ups.engine("lab-model")
    for _ in range(2):
        with pytest.raises(Unavailable, match="cannot reach"):
            await engine.chat({"messages": HELLO})
    with pytest.raises(Unavailable, match="skipped"):
        await engine.chat({"messages": HELLO})
    assert len(rec.requests) == 2  # the open breaker sent nothing
    state = ups.describe()[0]["breaker"]
    assert state["state"] == "open" and state["consecutive_failures"] == 2
    await asyncio.sleep(0.25)
    rec.script = [ok_stream()]
    answer = await engine.chat({"messages": HELLO})  # the half-open trial succeeds
    assert answer["choices"][0]["message"]["content"] == "Hello there"
    assert ups.describe()[0]["breaker"]["state"] == "closed"
    await ups.close()


async def test_upstream_admission_queue_answers_429():
    gate = asyncio.Event()

    async def held(request: httpx.Request) -> httpx.Response:
        async def body():
            await gate.wait()
            yield ANSWER
        return httpx.Response(200, content=body(), headers={"content-type": "text/event-stream"})

    ups = upstreams("openai", "http://127.0.0.1:9/v1", held, max_concurrency=1, max_queue=1)
    engine = ups.engine("lab-model")
    tasks = [asyncio.create_task(engine.chat({"messages": HELLO})) for _ in range(2)]
    await asyncio.sleep(0.05)
    with pytest.raises(Overloaded, match="upstream lab is busy"):
        await engine.chat({"messages": HELLO})
    gate.set()
    assert all(r["choices"][0]["message"]["content"] == "Hello there" for r in await asyncio.gather(*tasks))
    await ups.close()


# -- the runtime: fallbacks, routes, routers ------------------------------------------------

def runtime_with(settings: Settings, handler, *, fallbacks=None, routers=None, factory=None, **cfg) -> Runtime:
    upstream = UpstreamConfig(url="http://127.0.0.1:9/v1", models={"lab-model": "the-model"}, retries=0, **cfg)
    settings = settings.model_copy(update={"upstreams": {"lab": upstream}, "fallbacks": fallbacks or {},
                                           "routers": routers or {}})
    ups = Upstreams(settings.upstreams, transports={"lab": httpx.MockTransport(handler)})
    return Runtime(settings, fake_store(settings.home), engine_factory=factory or FakeFactory(), upstreams=ups)


async def test_fallback_on_an_unreachable_upstream_names_the_model_and_why(settings):
    runtime = runtime_with(settings, Recorder(httpx.ConnectError("refused")),
                           fallbacks={"lab-model": ["smollm2-135m"]})
    done = await runtime.complete("lab-model", {"messages": HELLO})
    assert done.response["model"] == "smollm2-135m"
    assert done.response["choices"][0]["message"]["content"] == "Hello from the fake model."
    assert done.route.failed and "lab-model: cannot reach upstream lab" in done.route.header()
    records = runtime.records.recent(2)
    assert [r["model"] for r in records] == ["smollm2-135m", "lab-model"]
    assert records[0]["requested"] == "lab-model" and records[1]["status"] == "error"
    await runtime.close()


async def test_streams_fall_back_before_the_first_token_only(settings):
    runtime = runtime_with(settings, Recorder(httpx.Response(503, text="down")),
                           fallbacks={"lab-model": ["smollm2-135m"]})
    streamed = await runtime.open_stream("lab-model", {"messages": HELLO})
    text = "".join([(c["choices"][0]["delta"].get("content") or "") async for c in streamed if c["choices"]])
    assert text == "Hello from the fake model." and streamed.route.model == "smollm2-135m"
    await runtime.close()


async def test_context_length_falls_back_only_to_larger_contexts(settings):
    too_long = httpx.Response(400, json={"error": {"message": "too long", "code": "context_length_exceeded"}})
    runtime = runtime_with(settings, Recorder(too_long), fallbacks={"lab-model": ["smollm2-135m"]},
                           context_length=100_000)
    with pytest.raises(ContextLengthExceeded, match="too long"):  # smollm2's context is smaller: not tried
        await runtime.complete("lab-model", {"messages": HELLO})
    assert [r["model"] for r in runtime.records.recent()] == ["lab-model"]
    await runtime.close()
    runtime = runtime_with(settings, Recorder(too_long), fallbacks={"lab-model": ["smollm2-135m"]},
                           context_length=512)
    done = await runtime.complete("lab-model", {"messages": HELLO})
    assert done.route.model == "smollm2-135m"
    await runtime.close()


async def test_bad_requests_do_not_fall_back(settings):
    runtime = runtime_with(settings, Recorder(httpx.Response(400, json={"error": {"message": "bad top_p"}})),
                           fallbacks={"lab-model": ["smollm2-135m"]})
    with pytest.raises(Exception, match="bad top_p"):
        await runtime.complete("lab-model", {"messages": HELLO})
    await runtime.close()


async def test_configuration_mistakes_stop_the_runtime(settings):
    with pytest.raises(Exception, match="not a model"):
        runtime_with(settings, Recorder(ok_stream()), fallbacks={"lab-model": ["no-such-model"]})
    with pytest.raises(Exception, match="also a local model"):
        bad = settings.model_copy(update={"upstreams": {"x": UpstreamConfig(url="http://h:1", models={
            "smollm2-135m": "y"})}})
        Runtime(bad, fake_store(settings.home), engine_factory=FakeFactory())
    with pytest.raises(Exception, match="candidate 'nope' is not a model"):
        runtime_with(settings, Recorder(ok_stream()),
                     routers={"auto": RouterConfig(candidates=["smollm2-135m", "nope"])})


async def test_remote_models_are_listed_with_where_they_run(settings):
    runtime = runtime_with(settings, Recorder(ok_stream()),
                           routers={"auto": RouterConfig(candidates=["smollm2-135m", "lab-model"])})
    listed = {m["id"]: m for m in runtime.describe_models()}
    assert listed["lab-model"]["location"] == "upstream:lab" and listed["lab-model"]["upstream_model"] == "the-model"
    assert listed["auto"]["location"] == "router" and listed["smollm2-135m"]["location"] == "local"
    await runtime.close()


async def test_untrained_router_uses_the_honest_heuristic(settings):
    runtime = runtime_with(settings, Recorder(ok_stream()),
                           routers={"auto": RouterConfig(candidates=["smollm2-135m", "lab-model"])})
    short = await runtime.complete("auto", {"messages": HELLO})
    assert short.route.model == "smollm2-135m" and "heuristic" in short.route.reason
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    with_tools = await runtime.complete("auto", {"messages": HELLO, "tools": tools})
    assert with_tools.route.model == "lab-model" and "tools" in with_tools.route.reason
    await runtime.close()


# -- the CLI: config.toml edited in place, secrets never written -----------------------------

def test_upstreams_add_list_rm_keep_the_file_and_never_write_keys(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from cupola.cli.main import app

    home = tmp_path / "home"
    home.mkdir()
    config = home / "config.toml"
    config.write_text("# my settings\nport = 9000  # keep this comment\n")
    monkeypatch.setenv("LAB_KEY", "sekret-value")
    runner = CliRunner()
    added = runner.invoke(app, ["upstreams", "add", "lab", "http://127.0.0.1:8080/v1", "--kind", "openai",
                                "--model", "lab-qwen=qwen2.5-7b-instruct", "--api-key-env", "LAB_KEY",
                                "--max-concurrency", "8", "--timeout", "120"])
    assert added.exit_code == 0, added.output
    text = config.read_text()
    assert "# keep this comment" in text and "sekret-value" not in text
    loaded = Settings.load().settings
    assert loaded.port == 9000
    lab = loaded.upstreams["lab"]
    assert (lab.url, lab.kind, lab.api_key_env, lab.models, lab.max_concurrency, lab.timeout) == (
        "http://127.0.0.1:8080/v1", "openai", "LAB_KEY", {"lab-qwen": "qwen2.5-7b-instruct"}, 8, 120)
    listed = json.loads(runner.invoke(app, ["upstreams", "list", "--json"]).output)
    assert listed["lab"]["models"] == {"lab-qwen": "qwen2.5-7b-instruct"} and listed["lab"]["api_key_set"]
    models = runner.invoke(app, ["models", "list", "--json"])
    remote = [m for m in json.loads(models.output) if m["alias"] == "lab-qwen"]
    assert remote == [{"alias": "lab-qwen", "kind": "chat", "location": "upstream:lab",
                       "upstream_model": "qwen2.5-7b-instruct"}]
    again = runner.invoke(app, ["upstreams", "add", "lab", "http://h:1/v1", "--model", "x=y"])
    assert again.exit_code != 0 and "exists already" in again.output
    clash = runner.invoke(app, ["upstreams", "add", "other", "http://h:1/v1", "--model", "smollm2-135m=y"])
    assert clash.exit_code != 0 and "local model's name" in clash.output
    bad = runner.invoke(app, ["upstreams", "add", "x", "ftp://h", "--model", "a=b"])
    assert bad.exit_code != 0 and "http://" in bad.output
    with open(config, "a") as fh:
        fh.write('\n[fallbacks]\nlab-qwen = ["smollm2-135m"]\n')
    used = runner.invoke(app, ["upstreams", "rm", "lab"])
    assert used.exit_code != 0 and "[fallbacks] lab-qwen" in used.output
    gone = runner.invoke(app, ["upstreams", "rm", "lab", "--force"])
    assert gone.exit_code == 0, gone.output
    after = Settings.load().settings
    assert after.upstreams == {} and after.fallbacks == {} and after.port == 9000


def test_upstreams_test_reports_an_unreachable_server(tmp_path, monkeypatch):
    import socket

    from typer.testing import CliRunner

    from cupola.cli.main import app

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(f'[upstreams.gone]\nurl = "http://127.0.0.1:{port}/v1"\n'
                                      f'models = {{ "m" = "x" }}\nretries = 0\n')
    result = CliRunner().invoke(app, ["upstreams", "test", "gone"])
    assert result.exit_code == 1
    assert "failed models: cannot reach upstream gone" in " ".join(result.output.split())
