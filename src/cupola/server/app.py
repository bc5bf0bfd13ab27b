"""The ASGI app: routes, OpenAI-style errors, API-key check, and the runtime's lifecycle."""

from __future__ import annotations

import asyncio
import hmac
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from cupola import __version__
from cupola.agents.loader import AgentRegistry, ToolContext
from cupola.agents.runner import Runner
from cupola.agents.sessions import SessionStore
from cupola.client import LocalClient
from cupola.config import Settings
from cupola.errors import CupolaError, Overloaded, invalid
from cupola.evals.service import serve_evals
from cupola.knowledge.service import KnowledgeService
from cupola.knowledge.store import KnowledgeStore
from cupola.responses.hosted import HostedAgents
from cupola.responses.service import ResponsesService
from cupola.responses.store import ResponseStore
from cupola.runtime.runtime import Runtime
from cupola.workflows import WorkflowRunner, WorkflowStore
from cupola.workflows.loader import WorkflowRegistry
from cupola.server import eval_routes, kb_routes, native_routes, openai_routes, responses_routes, workflow_routes

log = logging.getLogger("cupola.server")

PUBLIC_PATHS = {"/health", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc"}


def error_response(status: int, message: str, type_: str, param: str | None = None,
                   code: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": type_, "param": param, "code": code}},
                        status_code=status, headers=headers)


class ApiKeyMiddleware:
    """Requires ``Authorization: Bearer <key>`` (or ``api-key``) on every route but the public ones.

    A plain ASGI middleware: unlike ``@app.middleware("http")`` it adds no task or stream hop
    to each chunk of a streamed response.
    """

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self.key = key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization", b"")
        token = auth[7:] if auth[:7].lower() == b"bearer " else headers.get(b"api-key", b"")
        if hmac.compare_digest(token, self.key):
            return await self.app(scope, receive, send)
        response = error_response(401, "missing or wrong API key: send 'Authorization: Bearer <key>'",
                                  "authentication_error", code="invalid_api_key")
        await response(scope, receive, send)


def create_app(settings: Settings, runtime: Runtime | None = None, *, preload: list[str] | None = None) -> FastAPI:
    """Build the app. ``preload`` lists models to load at startup (/health is 503 until done)."""
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
            await runtime.close()
            responses.store.close()
            knowledge.store.close()
            if app.state.hosted is not None:
                app.state.hosted.runner.sessions.close()
            if app.state.workflows is not None:
                app.state.workflows.runner.store.close()
            await app.state.evals.close()

    app = FastAPI(title="Cupola", version=__version__, lifespan=lifespan,
                  description="A local-first AI foundry: OpenAI-compatible inference on your machine.")
    app.state.runtime = runtime
    responses = ResponsesService(runtime, ResponseStore(settings.db_path("responses")))
    app.state.responses = responses
    knowledge = KnowledgeService(KnowledgeStore(settings.db_path("knowledge")), LocalClient(runtime),
                                 models=runtime.store, default_embedding_model=settings.default_embedding_model,
                                 default_chat_model=settings.default_chat_model)
    app.state.knowledge = knowledge
    app.state.hosted = _hosted_agents(settings, runtime, responses, knowledge)
    app.state.workflows = _served_workflows(settings, runtime, knowledge)
    app.state.evals = serve_evals(settings, runtime, knowledge)
    app.state.settings = settings
    app.state.ready = not to_preload

    if settings.api_key:
        app.add_middleware(ApiKeyMiddleware, key=settings.api_key)

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
        problem = invalid(exc.errors())
        return JSONResponse(problem.to_openai(), status_code=problem.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = f"no route {request.method} {request.url.path}" if exc.status_code in (404, 405) else str(exc.detail)
        return error_response(exc.status_code, message, "invalid_request_error", code=str(exc.status_code))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return error_response(500, f"internal error: {exc}", "server_error")

    app.include_router(openai_routes.router)
    app.include_router(responses_routes.router)
    app.include_router(native_routes.router)
    app.include_router(kb_routes.router)
    app.include_router(workflow_routes.router)
    app.include_router(eval_routes.router)
    return app


def _hosted_agents(settings: Settings, runtime: Runtime, responses: ResponsesService,
                   knowledge: KnowledgeService) -> HostedAgents | None:
    """The agents of ``settings.agents_dir``; a bad agent file stops the server from starting."""
    if settings.agents_dir is None:
        return None
    registry = AgentRegistry.load(settings.agents_dir, ToolContext(knowledge=knowledge))
    runner = Runner(LocalClient(runtime), sessions=SessionStore(settings.db_path("agents")),
                    default_model=settings.default_chat_model)
    return HostedAgents(responses, registry, runner)


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
