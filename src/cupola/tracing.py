"""Tracing: OpenTelemetry spans for model calls, agents, tools, workflow steps and knowledge search,
recorded locally (``traces.db``) and, when asked, exported with the standard OTLP exporter.

* ``tracing = "local"`` (the default) records every finished span in ``$CUPOLA_HOME/traces.db``
  (batched, off the request path), which is what ``cupola trace show`` and the request records'
  ``trace_id`` read. ``"otlp"`` also exports them with the OpenTelemetry SDK's OTLP/HTTP exporter,
  configured by the standard variables (``OTEL_EXPORTER_OTLP_ENDPOINT``, ...);
  ``OTEL_TRACES_EXPORTER=otlp`` turns export on too. ``"off"`` creates no spans at all.
* Spans follow the OpenTelemetry GenAI semantic conventions: ``chat {model}``,
  ``text_completion {model}``, ``embeddings {model}``, ``execute_tool {tool}``,
  ``invoke_agent {agent}``, ``invoke_workflow {name}`` with one span per step, and ``retrieve {base}``
  per knowledge search; ``gen_ai.*`` attributes, ``error.type`` on failures. Message content is
  recorded only when ``capture_content`` is on.
* W3C ``traceparent`` on an incoming request continues the caller's trace; calls to upstreams and
  MCP servers carry it on.
* :func:`scope` adds the run, step and turn an agent or workflow call belongs to; the runtime puts
  them in each request's execution contract. :func:`note_shaping` records that something was
  dropped or shortened on the way (history trimmed, sources cut to a budget): Cupola never
  shortens silently, and the next request record says so.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import NonRecordingSpan, Span, SpanKind, Status, StatusCode

from cupola import __version__
from cupola.storage import Database

log = logging.getLogger("cupola.tracing")

INSTRUMENTATION = "cupola"
_call: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("cupola_call", default={})
_shaping: contextvars.ContextVar[list[dict[str, str]] | None] = contextvars.ContextVar("cupola_shaping",
                                                                                       default=None)
_provider: TracerProvider | None = None
_recorder: SpanStore | None = None
_capture = False
_lock = threading.Lock()

MIGRATIONS = [
    ("0001_spans", """
        CREATE TABLE spans (
            span_id TEXT PRIMARY KEY,
            trace_id TEXT NOT NULL,
            parent_id TEXT,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            start_ns INTEGER NOT NULL,
            end_ns INTEGER NOT NULL,
            status TEXT NOT NULL,
            attributes TEXT NOT NULL
        );
        CREATE INDEX spans_trace ON spans (trace_id, start_ns);
        CREATE INDEX spans_start ON spans (start_ns)
    """),
]


# -- configuration ----------------------------------------------------------------------------

class SpanStore(SpanExporter):
    """An SDK exporter writing finished spans to SQLite (used through a BatchSpanProcessor)."""

    def __init__(self, path: Path) -> None:
        self.db = Database(path, MIGRATIONS)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        rows = []
        for s in spans:
            ctx = s.get_span_context()
            parent = s.parent.span_id if s.parent is not None else None
            rows.append((f"{ctx.span_id:016x}", f"{ctx.trace_id:032x}", f"{parent:016x}" if parent else None, s.name,
                         s.kind.name, s.start_time or 0, s.end_time or 0, s.status.status_code.name,
                         json.dumps(dict(s.attributes or {}), default=str)))
        try:
            with self.db.transaction() as conn:
                conn.executemany("INSERT OR REPLACE INTO spans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        except Exception:  # a full disk must not break requests
            log.exception("could not record %d spans", len(rows))
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT * FROM spans WHERE trace_id = ? ORDER BY start_ns", (trace_id,))
        return [dict(r) | {"attributes": json.loads(r["attributes"])} for r in rows]

    def recent_traces(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self.db.query("""SELECT trace_id, MIN(start_ns) AS start_ns, MAX(end_ns) AS end_ns, COUNT(*) AS spans,
                                       (SELECT name FROM spans r WHERE r.trace_id = s.trace_id AND r.parent_id IS NULL
                                        ORDER BY start_ns LIMIT 1) AS root
                                FROM spans s GROUP BY trace_id ORDER BY start_ns DESC LIMIT ?""", (limit,))
        return [dict(r) for r in rows]

    def prune(self, before_ns: int) -> int:
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM spans WHERE start_ns < ?", (before_ns,)).rowcount

    def shutdown(self) -> None:
        self.db.close()


def configure(home: Path, mode: str = "local", *, capture_content: bool = False) -> None:
    """Set up tracing for this process (again, for another home or mode: tests, the CLI)."""
    global _provider, _recorder, _capture
    with _lock:
        _shutdown()
        _capture = capture_content
        exporter_env = os.environ.get("OTEL_TRACES_EXPORTER", "")
        if mode == "off":
            return
        provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME",
                                                                                             "cupola"),
                                                           "service.version": __version__}))
        _recorder = SpanStore(home / "traces.db")
        provider.add_span_processor(BatchSpanProcessor(_recorder, schedule_delay_millis=500))
        if mode == "otlp" or "otlp" in exporter_env.split(","):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        _provider = provider


def _shutdown() -> None:
    global _provider, _recorder
    if _provider is not None:
        try:
            _provider.shutdown()
        except Exception:  # noqa: BLE001 - never fail a close on telemetry
            log.exception("tracing shutdown failed")
    _provider, _recorder = None, None


def flush() -> None:
    if _provider is not None:
        _provider.force_flush(5000)


def shutdown() -> None:
    with _lock:
        _shutdown()


def add_processor(processor: Any) -> None:
    """Add a span processor (tests: an in-memory exporter) to the configured provider."""
    if _provider is None:
        raise RuntimeError("tracing is off")
    _provider.add_span_processor(processor)


def store() -> SpanStore | None:
    return _recorder


def capture_content() -> bool:
    return _capture


def tracer() -> trace.Tracer:
    return _provider.get_tracer(INSTRUMENTATION, __version__) if _provider is not None else trace.NoOpTracer()


# -- spans ------------------------------------------------------------------------------------

def start(name: str, kind: SpanKind = SpanKind.INTERNAL, *, attributes: dict[str, Any] | None = None,
          parent: Any = None) -> Span:
    """Start a span (a child of the current one unless ``parent`` is a context); end it yourself."""
    attrs = {k: v for k, v in (attributes or {}).items() if v is not None}
    return tracer().start_span(name, context=parent, kind=kind, attributes=attrs)


@contextmanager
def span(name: str, kind: SpanKind = SpanKind.INTERNAL, *, attributes: dict[str, Any] | None = None,
         expected: tuple[type[BaseException], ...] = ()) -> Iterator[Span]:
    """A span that is current inside the block; an exception on the way sets ``error.type`` (unless it
    is one of ``expected``: control flow such as a workflow pausing for approval)."""
    s = start(name, kind=kind, attributes=attributes)
    token = otel_context.attach(trace.set_span_in_context(s))
    try:
        yield s
    except expected:
        raise
    except BaseException as exc:
        fail(s, exc)
        raise
    finally:
        detach(token)
        s.end()


def activate(s: Span) -> object:
    """Make ``s`` current (for code that spans ``yield``s: generators); undo with :func:`detach`."""
    return otel_context.attach(trace.set_span_in_context(s))


def detach(token: object) -> None:
    try:
        otel_context.detach(token)  # type: ignore[arg-type]
    except (ValueError, RuntimeError):  # closed from another context (a generator collected late)
        pass


def fail(s: Span, exc: BaseException) -> None:
    kind = getattr(exc, "code", None) or type(exc).__name__
    s.set_attribute("error.type", str(kind))
    s.set_status(Status(StatusCode.ERROR, str(getattr(exc, "message", exc))[:500]))


def ids(s: Span | None = None) -> tuple[str | None, str | None]:
    """(trace id, span id) of ``s`` (or the current span), as hex; (None, None) when not recording."""
    s = s or trace.get_current_span()
    ctx = s.get_span_context()
    if not ctx.is_valid:
        return None, None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


def current_parent_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.span_id:016x}" if ctx.is_valid else None


def inject(headers: dict[str, str] | None = None, s: Span | None = None) -> dict[str, str]:
    """``traceparent`` (and ``tracestate``) headers for the current span, or ``s``."""
    headers = dict(headers or {})
    ctx = trace.set_span_in_context(s) if s is not None else None
    propagate.inject(headers, context=ctx)
    return headers


def extract(headers: dict[str, str]) -> Any:
    return propagate.extract(headers)


def remote_parent(traceparent: str | None) -> Any:
    """A context whose parent is a ``traceparent`` (the caller's span), or None."""
    if not traceparent:
        return None
    ctx = propagate.extract({"traceparent": traceparent})
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def non_recording(trace_id: str, span_id: str) -> NonRecordingSpan:
    return NonRecordingSpan(trace.SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True))


# -- the run, step and turn a model call belongs to; shaping notes ------------------------------

@contextmanager
def scope(**fields: Any) -> Iterator[None]:
    """Add fields (``run_id``, ``agent``, ``workflow``, ``step``, ``turn``) to the calls made inside."""
    token = _call.set({**_call.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        try:
            _call.reset(token)
        except ValueError:
            pass


def set_scope(**fields: Any) -> contextvars.Token:
    return _call.set({**_call.get(), **{k: v for k, v in fields.items() if v is not None}})


def reset_scope(token: contextvars.Token) -> None:
    try:
        _call.reset(token)
    except ValueError:
        pass


def call_scope() -> dict[str, Any]:
    return dict(_call.get())


def note_shaping(what: str, detail: str) -> None:
    """Record that something was dropped or shortened before the next model call of this task."""
    notes = _shaping.get()
    if notes is None:
        notes = []
        _shaping.set(notes)
    notes.append({"what": what, "detail": detail})


def take_shaping() -> list[dict[str, str]]:
    notes = _shaping.get()
    if not notes:
        return []
    _shaping.set(None)
    return list(notes)
