"""Execution contracts, request records, replay and diff, and OpenTelemetry spans, on fake engines."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from typer.testing import CliRunner

from cupola import tracing
from cupola.agents import Agent, Runner, tool
from cupola.cli.main import app as cli
from cupola.client import LocalClient
from cupola.runtime import contract
from cupola.runtime.runtime import Runtime

from conftest import FakeFactory, fake_store

ASK = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is the secret word?"}]


def runtime_for(settings, **update) -> Runtime:
    return Runtime(settings.model_copy(update=update), fake_store(settings.home), engine_factory=FakeFactory())


async def test_contract_of_a_chat_request(settings):
    runtime = runtime_for(settings)
    await runtime.complete("smollm2-135m", {"messages": ASK, "max_tokens": 3})
    row = runtime.records.recent(1, full=True)[0]
    c = row["contract"]
    assert c["input"]["messages"] == 2 and c["input"]["system_sha256"] == contract.sha256("Be brief.")
    assert c["input"]["rendered_sha256"] and c["input"]["rendered_from"] == "request_json"  # fake engine
    assert c["input"]["prompt_tokens"] == row["prompt_tokens"]
    decode = c["decode"]
    assert decode["temperature"] == 0.2 and decode["top_k"] == 40  # the catalog's defaults, as applied
    assert decode["max_tokens"] == 3 and isinstance(decode["seed"], int) and decode["seed_source"] == "cupola"
    ex = c["execution"]
    assert ex["model"] == "smollm2-135m" and ex["location"] == "local" and ex["engine"] == "fake chat engine"
    assert ex["finish_reason"] == "length" and ex["queue_ms"] >= 0 and ex["concurrent"] == 0
    assert c["trace"]["trace_id"] == row["trace_id"] and len(row["trace_id"]) == 32
    assert row["content"] is None  # capture_content is off by default
    await runtime.close()


async def test_two_requests_differing_in_temperature_diff_to_that_field(settings):
    runtime = runtime_for(settings)
    await runtime.complete("smollm2-135m", {"messages": ASK, "seed": 7, "temperature": 0.2})
    await runtime.complete("smollm2-135m", {"messages": ASK, "seed": 7, "temperature": 0.9})
    b, a = runtime.records.recent(2, full=True)
    changes = contract.meaningful(contract.diff(a["contract"], b["contract"]))
    assert changes == [("decode.temperature", 0.2, 0.9)]
    result = CliRunner().invoke(cli, ["requests", "diff", a["id"], b["id"], "--json"], env={
        "CUPOLA_HOME": str(settings.home)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["differences"] == [{"field": "decode.temperature", "a": 0.2, "b": 0.9}]
    await runtime.close()


async def test_content_is_absent_from_the_database_unless_captured(settings):
    runtime = runtime_for(settings)
    await runtime.complete("smollm2-135m", {"messages": ASK})
    await runtime.close()
    files = [p for p in settings.home.iterdir() if p.name.startswith(("requests.db", "traces.db"))]
    assert files and not any(b"secret word" in p.read_bytes() for p in files)
    captured = runtime_for(settings, capture_content=True)
    await captured.complete("smollm2-135m", {"messages": ASK, "seed": 3})
    row = captured.records.recent(1, full=True)[0]
    assert row["content"]["messages"] == ASK and row["content"]["output"] == "Hello from the fake model."
    assert row["content"]["params"]["seed"] == 3
    await captured.close()


async def test_streams_and_cancellations_are_recorded_with_their_contract(settings):
    runtime = runtime_for(settings)
    chunks = runtime.stream("smollm2-135m", ASK)
    await chunks.__anext__()
    await chunks.aclose()
    row = runtime.records.recent(1, full=True)[0]
    assert row["status"] == "cancelled" and row["contract"]["execution"]["status"] == "cancelled"
    await runtime.close()


async def test_knowledge_budget_cuts_are_recorded_as_shaping(settings):
    from cupola.knowledge.service import KnowledgeService
    from cupola.knowledge.store import KnowledgeStore
    from cupola.knowledge.retrieval import SearchOptions

    runtime = runtime_for(settings)
    service = KnowledgeService(KnowledgeStore(settings.db_path("knowledge")), LocalClient(runtime),
                               models=runtime.store)
    service.create("kb")
    from cupola.knowledge.documents import Document

    await service.ingest("kb", [Document(id=f"d{i}", text=f"secret word number {i} " * 60, title=f"d{i}")
                                for i in range(6)])
    events = [e async for e in service.ask("kb", "secret word", options=SearchOptions(k=6), budget_tokens=200)]
    assert events[0]["type"] == "sources"
    chat = next(r for r in runtime.records.recent(5, full=True) if r["endpoint"] == "chat")  # then citing embeds
    shaping = chat["contract"]["shaping"]
    assert shaping and shaping[0]["what"] == "knowledge sources" and "200-token budget" in shaping[0]["detail"]
    service.store.close()
    await runtime.close()


async def test_records_are_pruned_by_count(settings):
    runtime = runtime_for(settings, request_retention_count=100)
    runtime.records.db.query("SELECT 1")
    for _ in range(3):
        await runtime.complete("smollm2-135m", {"messages": ASK, "max_tokens": 1})
    assert runtime.records.prune(max_age_s=None, max_count=2) == 1
    assert len(runtime.records.recent(10)) == 2
    assert runtime.records.prune(max_age_s=0.0, max_count=None) == 2
    await runtime.close()


def _memory_spans(settings) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    tracing.add_processor(SimpleSpanProcessor(exporter))
    return exporter


async def test_agent_run_span_tree(settings):
    call = '<tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}}</tool_call>'
    runtime = Runtime(settings, fake_store(settings.home), engine_factory=FakeFactory(reply=call))
    exporter = _memory_spans(settings)

    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    agent = Agent("adder", "Add numbers with the tool.", tools=[add], settings={"tool_choice": "required"})
    result = await Runner(LocalClient(runtime)).run(agent, "2 + 3?")
    assert result.turns == 2
    spans = {s.name: s for s in exporter.get_finished_spans()}
    root, tool_span = spans["invoke_agent adder"], spans["execute_tool add"]
    chats = [s for s in exporter.get_finished_spans() if s.name == "chat smollm2-135m"]
    assert len(chats) == 2 and all(s.parent.span_id == root.context.span_id for s in chats)
    assert tool_span.parent.span_id == root.context.span_id
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent" and root.attributes["gen_ai.agent.id"] == \
        result.run_id
    assert tool_span.attributes["gen_ai.tool.name"] == "add" and tool_span.attributes["gen_ai.tool.type"] == "function"
    chat = chats[0].attributes
    assert chat["gen_ai.request.model"] == "smollm2-135m" and chat["gen_ai.provider.name"] == "cupola"
    assert chat["gen_ai.usage.output_tokens"] > 0 and chat["gen_ai.request.temperature"] == 0.2
    assert "gen_ai.input.messages" not in chat  # content only when captured
    rows = runtime.records.recent(5, full=True)
    assert {r["run_id"] for r in rows} == {result.run_id} and sorted(r["turn"] for r in rows) == [1, 2]
    await runtime.close()


async def test_workflow_steps_and_cli_trace_tree(settings, monkeypatch):
    from cupola.client import FunctionClient
    from cupola.workflows import AgentStep, FunctionStep, Workflow, WorkflowRunner, WorkflowStore, run_to_end

    runtime = runtime_for(settings)
    store = WorkflowStore(settings.db_path("workflows"))
    runner = WorkflowRunner(Runner(LocalClient(runtime)), store)
    flow = Workflow("desk", [FunctionStep("prep", lambda s: "topic"), AgentStep("write", Agent("writer", "Write."))])
    last = await run_to_end(runner.run(flow, "bees"))
    assert last["type"] == "workflow_finished"
    tracing.flush()
    spans = tracing.store().trace(runtime.records.recent(1)[0]["trace_id"])
    names = [s["name"] for s in spans]
    assert names[0] == "invoke_workflow desk" and "step desk/prep" in names and "invoke_agent writer" in names
    assert "chat smollm2-135m" in names
    step = next(s for s in spans if s["name"] == "step desk/write")
    agent = next(s for s in spans if s["name"] == "invoke_agent writer")
    assert agent["parent_id"] == step["span_id"]
    monkeypatch.setenv("CUPOLA_HOME", str(settings.home))
    shown = CliRunner().invoke(cli, ["trace", "show", spans[0]["trace_id"][:10]])
    assert shown.exit_code == 0, shown.output
    assert "invoke_workflow desk" in shown.output and "chat smollm2-135m" in shown.output and "tokens" in shown.output
    store.close()
    await runtime.close()
    assert FunctionClient  # the import the other workflow tests use


async def test_traceparent_continues_the_callers_trace(settings):
    from cupola.server.app import create_app

    runtime = runtime_for(settings)
    app = create_app(settings, runtime)
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cupola") as client:
            resp = await client.post("/v1/chat/completions", headers={"traceparent": parent},
                                     json={"model": "smollm2-135m", "messages": ASK})
            assert resp.status_code == 200
            rid = runtime.records.recent(1)[0]["id"]
            one = (await client.get(f"/api/requests/{rid}")).json()
    assert one["trace_id"] == "0af7651916cd43dd8448eb211c80319c" and one["parent_span_id"] == "b7ad6b7169203331"
    assert one["contract"]["decode"]["seed_source"] == "cupola"


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self):  # noqa: N802 - the http.server API
        _Receiver.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args):
        pass


async def test_otlp_http_export_to_a_receiver_on_loopback(settings, monkeypatch):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    _Receiver.bodies = []
    runtime = runtime_for(settings, tracing="otlp")
    await runtime.complete("smollm2-135m", {"messages": ASK})
    trace_id = runtime.records.recent(1)[0]["trace_id"]
    await runtime.close()
    tracing.flush()
    for _ in range(50):
        if _Receiver.bodies:
            break
        time.sleep(0.05)
    server.shutdown()
    spans = []
    for body in _Receiver.bodies:
        req = ExportTraceServiceRequest.FromString(body)
        spans += [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    exported = [s for s in spans if s.trace_id.hex() == trace_id]
    assert [s.name for s in exported] == ["chat smollm2-135m"]
    attrs = {a.key: a.value for a in exported[0].attributes}
    assert attrs["gen_ai.request.model"].string_value == "smollm2-135m"
    local = tracing.store()
    assert local is not None  # recorded locally as well


async def test_tracing_off_creates_no_spans_and_records_still_have_contracts(settings):
    runtime = runtime_for(settings, tracing="off")
    await runtime.complete("smollm2-135m", {"messages": ASK})
    row = runtime.records.recent(1, full=True)[0]
    assert row["trace_id"] is None and row["contract"]["decode"]["seed"] is not None
    assert tracing.store() is None
    await runtime.close()


async def test_traceparent_is_passed_on_to_upstreams(settings):
    from cupola.config import UpstreamConfig
    from cupola.runtime.upstreams import Upstreams

    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("traceparent"))
        body = (b'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}\n\n'
                b'data: [DONE]\n\n')
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    cfg = {"lab": UpstreamConfig(url="http://127.0.0.1:9/v1", models={"lab-m": "m"})}
    ups = Upstreams(cfg, transports={"lab": httpx.MockTransport(handler)})
    runtime = Runtime(settings.model_copy(update={"upstreams": cfg}), fake_store(settings.home),
                      engine_factory=FakeFactory(), upstreams=ups)
    await runtime.complete("lab-m", {"messages": ASK})
    streamed = await runtime.open_stream("lab-m", {"messages": ASK})
    async for _ in streamed:
        pass
    rows = runtime.records.recent(2, full=True)
    for header, row in zip(reversed(seen), rows):
        assert header.startswith(f"00-{row['trace_id']}-{row['span_id']}-")  # the chat span is the parent
    assert rows[0]["contract"]["input"]["request_sha256"] and rows[0]["contract"]["execution"]["location"] == \
        "upstream:lab"
    await runtime.close()
