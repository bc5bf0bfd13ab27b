"""The ASGI app: routes, OpenAI-style errors, access (API keys, CORS), request limits, offline docs,
and the runtime's lifecycle."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from opentelemetry import context as otel_context

from cupola import __version__, tracing
from cupola.agents.loader import AgentRegistry, ToolContext
from cupola.agents.runner import Runner
from cupola.agents.sessions import SessionStore
from cupola.client import LocalClient
from cupola.config import Settings
from cupola.errors import CupolaError, Overloaded, invalid
from cupola.keys import KeyStore
from cupola.evals.service import serve_evals
from cupola.knowledge.service import KnowledgeService
from cupola.knowledge.store import KnowledgeStore
from cupola.responses.hosted import HostedAgents
from cupola.responses.service import ResponsesService
from cupola.responses.store import ResponseStore
from cupola.runtime.runtime import Runtime
from cupola.workflows import WorkflowRunner, WorkflowStore
from cupola.workflows.loader import WorkflowRegistry
from cupola.conversations.store import ConversationStore
from cupola.server import (audio_routes, contract, conversations_routes, docs, eval_routes, kb_routes, native_routes,
                           openai_routes, responses_routes, studio_routes, workflow_routes)
from cupola.server.auth import AuthMiddleware, failure_counter
from cupola.server.disconnect import CancelOnDisconnect
from cupola.server.limits import Limits, LimitsMiddleware, too_large
from cupola.server.serve import is_loopback
from cupola.speech.transcriber import Transcriber

log = logging.getLogger("cupola.server")


def error_response(status: int, message: str, type_: str, param: str | None = None,
                   code: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": type_, "param": param, "code": code}},
                        status_code=status, headers=headers)


class TraceContextMiddleware:
    """A W3C ``traceparent`` on the request continues the caller's trace in Cupola's spans."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]
                   if k in (b"traceparent", b"tracestate")}
        if "traceparent" not in headers:
            return await self.app(scope, receive, send)
        token = otel_context.attach(tracing.extract(headers))
        try:
            await self.app(scope, receive, send)
        finally:
            tracing.detach(token)


def create_app(settings: Settings, runtime: Runtime | None = None, *, preload: list[str] | None = None,
               local_token: str | None = None) -> FastAPI:
    """Build the app. ``preload`` lists models to load at startup (/health is 503 until done);
    ``local_token`` is the admin token of this server's entry (see :mod:`cupola.server.registry`)."""
    runtime = runtime or Runtime(settings)
    to_preload = list(preload or [])

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await runtime.start()
        app.state.ready = not to_preload
        task = asyncio.create_task(_preload(app, runtime, to_preload)) if to_preload else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            await app.state.evals.close()  # cancels running evals before the models they use close
            await app.state.transcriber.close()
            await runtime.close()
            responses.store.close()
            knowledge.store.close()
            app.state.conversations.close()
            app.state.hosted.runner.sessions.close()
            if app.state.workflows is not None:
                app.state.workflows.runner.store.close()
            keys.close()

    app = FastAPI(title="Cupola", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="A local-first AI foundry: OpenAI-compatible inference on your machine.")
    app.state.runtime = runtime
    responses = ResponsesService(runtime, ResponseStore(settings.db_path("responses")))
    app.state.responses = responses
    knowledge = KnowledgeService(KnowledgeStore(settings.db_path("knowledge")), LocalClient(runtime),
                                 models=runtime.store, default_embedding_model=settings.default_embedding_model,
                                 default_chat_model=settings.default_chat_model,
                                 speech_model=settings.default_speech_model)
    app.state.knowledge = knowledge
    app.state.hosted = _hosted_agents(settings, runtime, responses, knowledge)
    app.state.conversations = ConversationStore(settings.db_path("conversations"))
    app.state.workflows = _served_workflows(settings, runtime, knowledge)
    app.state.evals = serve_evals(settings, runtime, knowledge)
    app.state.settings = settings
    app.state.ready = not to_preload
    app.state.transcriber = Transcriber(runtime)  # speech to text, on the runtime's models

    keys = KeyStore(settings.db_path("keys"))
    app.state.keys = keys
    # Outermost last: CORS answers preflights, then the key is checked, then the body is limited; innermost,
    # a request whose client goes away before its answer starts is cancelled.
    app.add_middleware(CancelOnDisconnect)
    app.add_middleware(LimitsMiddleware, limits=Limits.of(settings))
    app.add_middleware(AuthMiddleware, keys=keys, admin_tokens=[settings.api_key or "", local_token or ""],
                       api_key_set=bool(settings.api_key), always_required=not is_loopback(settings.host),
                       failures=failure_counter(runtime.metrics.registry))
    app.add_middleware(TraceContextMiddleware)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                           allow_headers=["*"], expose_headers=["Retry-After"], max_age=600)

    @app.exception_handler(CupolaError)
    async def cupola_error(request: Request, exc: CupolaError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Overloaded) else None
        return JSONResponse(exc.to_openai(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0]
        if err.get("type") == "json_invalid":
            return error_response(400, f"the request body is not valid JSON: {err.get('ctx', {}).get('error', '')}",
                                  "invalid_request_error", code="invalid_json")
        content_type = request.headers.get("content-type", "")
        if tuple(err.get("loc", ())) == ("body",) and not _is_json(content_type):
            got = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
            return error_response(400, f"the request body must be JSON, sent with 'Content-Type: application/json' "
                                  f"(this request has {got})", "invalid_request_error", code="invalid_content_type")
        where = ("body", "query", "path", "header", "cookie")  # the parameter's name, not where it was sent
        problem = invalid([{**e, "loc": tuple(e.get("loc", ()))[1:]} if tuple(e.get("loc", ()))[:1] in
                           [(w,) for w in where] else e for e in exc.errors()])
        return JSONResponse(problem.to_openai(), status_code=problem.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 413:
            limit = int(request.scope.get(MAX_BODY_SIZE_SCOPE_KEY) or settings.max_body_bytes)
            problem = too_large(limit, "max_body_bytes" if limit == settings.max_body_bytes else "max_upload_bytes")
            return JSONResponse(problem.to_openai(), status_code=413, headers={"Connection": "close"})
        if exc.status_code == 400 and exc.__cause__ is not None and exc.detail == "There was an error parsing the body":
            return error_response(400, f"the request body is not valid JSON: {_why_unparsable(exc.__cause__)}",
                                  "invalid_request_error", code="invalid_json")
        message = f"no route {request.method} {request.url.path}" if exc.status_code in (404, 405) else str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only the first route's
            headers["Allow"] = ", ".join(contract.allowed_methods(request.app, request.url.path))
        return error_response(exc.status_code, message, "invalid_request_error", code=str(exc.status_code),
                              headers=headers or None)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return error_response(500, f"internal error: {exc}", "server_error")

    app.include_router(openai_routes.router)
    app.include_router(responses_routes.router)
    app.include_router(native_routes.router)
    app.include_router(kb_routes.router)
    app.include_router(workflow_routes.router)
    docs.install(app)
    app.include_router(audio_routes.router)
    app.include_router(conversations_routes.router)
    if settings.studio:
        app.include_router(studio_routes.router)
    app.include_router(eval_routes.router)
    contract.install(app)
    return app


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _why_unparsable(cause: BaseException) -> str:
    if isinstance(cause, RecursionError):
        return "it nests too deeply"
    if isinstance(cause, UnicodeError):
        return "it is not UTF-8 text"
    return str(cause) or type(cause).__name__


def _hosted_agents(settings: Settings, runtime: Runtime, responses: ResponsesService,
                   knowledge: KnowledgeService) -> HostedAgents:
    """The agents of ``settings.agents_dir`` (a bad agent file stops the server from starting), and
    the runner of the built-in tools a request may name."""
    tools = ToolContext(knowledge=knowledge)
    registry = AgentRegistry.load(settings.agents_dir, tools) if settings.agents_dir else AgentRegistry({})
    runner = Runner(LocalClient(runtime), sessions=SessionStore(settings.db_path("agents")),
                    default_model=settings.default_chat_model)
    return HostedAgents(responses, registry, runner, tools)


@dataclass
class ServedWorkflows:
    registry: WorkflowRegistry
    runner: WorkflowRunner


def _served_workflows(settings: Settings, runtime: Runtime, knowledge: KnowledgeService) -> ServedWorkflows | None:
    if settings.workflows_dir is None:
        return None
    registry = WorkflowRegistry.load(settings.workflows_dir, ToolContext(knowledge=knowledge))
    runner = WorkflowRunner(Runner(LocalClient(runtime), default_model=settings.default_chat_model),
                            WorkflowStore(settings.db_path("workflows")))
    return ServedWorkflows(registry, runner)


async def _preload(app: FastAPI, runtime: Runtime, aliases: list[str]) -> None:
    for alias in aliases:
        runtime.loading.add(alias)  # /health says "loading" from the first moment
    try:
        for alias in aliases:
            try:
                await runtime.load(alias)
            except CupolaError as exc:
                log.error("could not preload %s: %s", alias, exc.message)
            finally:
                runtime.loading.discard(alias)
    finally:
        app.state.ready = True
