"""Who may call which route: API keys with scopes, checked by one pure ASGI middleware.

Keys are not required until there is one: while ``keys.db`` has no active key and no ``api_key``
is set, a server on loopback is open (as before). Once a key exists (or ``api_key`` is set, or
the server listens off loopback) every route but the public ones needs
``Authorization: Bearer <key>`` (or ``api-key: <key>``):

* ``inference`` keys may call the routes :data:`ROUTES` marks ``inference``;
* ``admin`` keys, the ``api_key`` setting and the server's local token (in its entry under
  ``$CUPOLA_HOME/servers/``, readable by its owner only) may call everything.

A missing or unknown key is a 401, a key without the scope a 403, both with an OpenAI error body,
and each counts in ``cupola_auth_failures_total{reason}`` (``missing``, ``invalid``, ``scope``).
Comparisons are constant-time.
"""

from __future__ import annotations

import hmac
import re
import weakref
from collections.abc import Sequence

from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter
from starlette.types import ASGIApp, Receive, Scope, Send

from cupola.errors import AuthenticationError, CupolaError, PermissionDenied
from cupola.keys import KeyStore

PUBLIC, INFERENCE, ADMIN = "public", "inference", "admin"

# The one table: (methods, path as routes spell it, scope). First match wins; a route not listed
# needs an admin key. HEAD is GET. A test checks every route of the app is listed here.
ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", "/health", PUBLIC),
    ("GET", "/docs", PUBLIC),  # the page and its assets hold no data: the API's description only
    ("GET", "/docs/{asset:path}", PUBLIC),
    ("GET", "/openapi.json", PUBLIC),
    ("GET", "/", PUBLIC),  # Cupola Studio's page and static files: the page asks for the key itself
    ("GET", "/studio/{path:path}", PUBLIC),
    # inference: models answering, agents and workflows running, knowledge read and searched
    ("GET", "/v1/models", INFERENCE),
    ("GET", "/v1/models/{model}", INFERENCE),
    ("POST", "/v1/chat/completions", INFERENCE),
    ("POST", "/v1/completions", INFERENCE),
    ("POST", "/v1/embeddings", INFERENCE),
    ("POST", "/v1/audio/{operation:path}", INFERENCE),
    ("POST", "/v1/responses", INFERENCE),
    ("GET DELETE", "/v1/responses/{response_id}", INFERENCE),
    ("GET", "/v1/responses/{response_id}/input_items", INFERENCE),
    ("GET POST", "/v1/conversations", INFERENCE),
    ("GET POST DELETE", "/v1/conversations/{conversation_id}", INFERENCE),
    ("GET POST", "/v1/conversations/{conversation_id}/items", INFERENCE),
    ("GET DELETE", "/v1/conversations/{conversation_id}/items/{item_id}", INFERENCE),
    ("GET", "/api/agents", INFERENCE),
    ("GET", "/api/kb", INFERENCE),
    ("GET", "/api/kb/{name}", INFERENCE),
    ("GET", "/api/kb/{name}/documents", INFERENCE),
    ("POST", "/api/kb/{name}/search", INFERENCE),
    ("POST", "/api/kb/{name}/ask", INFERENCE),
    ("GET", "/api/workflows", INFERENCE),
    ("POST", "/api/workflows/{name}/runs", INFERENCE),
    ("GET", "/api/workflows/runs", INFERENCE),
    ("GET", "/api/workflows/runs/{run_id}", INFERENCE),
    ("POST", "/api/workflows/runs/{run_id}/resume", INFERENCE),
    ("GET POST", "/api/evals", INFERENCE),  # evals call models like any client; code in files needs evals_allow_code
    ("GET", "/api/evals/{run_id}", INFERENCE),
    ("GET", "/api/evals/{run_id}/report", INFERENCE),
    # admin: the model store and runtime, knowledge bases changed, the request log, metrics
    ("GET", "/metrics", ADMIN),
    ("GET", "/api/ps", ADMIN),
    ("GET", "/api/requests", ADMIN),
    ("GET", "/api/requests/{request_id}", ADMIN),
    ("GET", "/api/traces", ADMIN),
    ("GET", "/api/traces/{trace_id}", ADMIN),
    ("GET", "/api/models", ADMIN),
    ("POST", "/api/models/pull", ADMIN),
    ("GET DELETE", "/api/models/{alias}", ADMIN),
    ("POST", "/api/models/{alias}/load", ADMIN),
    ("POST", "/api/models/{alias}/unload", ADMIN),
    ("POST", "/api/kb", ADMIN),
    ("DELETE", "/api/kb/{name}", ADMIN),
    ("POST", "/api/kb/{name}/documents", ADMIN),
    ("DELETE", "/api/kb/{name}/documents/{doc_id:path}", ADMIN),
    ("DELETE", "/api/evals/{run_id}", ADMIN),
)


def _compile(path: str) -> re.Pattern[str]:
    """A route path as a regex, with Starlette's convertors: ``{x}`` is one segment, ``{x:path}`` the rest."""
    out, pos = "^", 0
    for match in re.finditer(r"{(\w+)(:path)?}", path):
        out += re.escape(path[pos:match.start()]) + (".*" if match.group(2) else "[^/]+")
        pos = match.end()
    return re.compile(out + re.escape(path[pos:]) + "$")


_TABLE = [(frozenset(methods.split()), _compile(path), scope) for methods, path, scope in ROUTES]


def scope_for(method: str, path: str) -> str:
    """The scope a request needs (``public``, ``inference`` or ``admin``)."""
    method = "GET" if method == "HEAD" else method
    for methods, pattern, scope in _TABLE:
        if method in methods and pattern.match(path):
            return scope
    return ADMIN


def listed(method: str, path: str) -> bool:
    """Whether the table names this route explicitly (rather than by the admin default)."""
    return any(method in methods and pattern.match(path) for methods, pattern, _ in _TABLE)


_COUNTERS: weakref.WeakKeyDictionary[CollectorRegistry, Counter] = weakref.WeakKeyDictionary()


def failure_counter(registry: CollectorRegistry) -> Counter:
    """``cupola_auth_failures_total{reason}`` in ``registry`` (created once per registry)."""
    if registry not in _COUNTERS:
        _COUNTERS[registry] = Counter("cupola_auth_failures", "Requests refused for a missing, unknown or "
                                      "insufficient API key", ["reason"], registry=registry)
    return _COUNTERS[registry]


class AuthMiddleware:
    """Checks the key of every non-public request (a plain ASGI middleware: no task or stream hop
    on streamed responses)."""

    def __init__(self, app: ASGIApp, *, keys: KeyStore, admin_tokens: Sequence[str], api_key_set: bool,
                 always_required: bool, failures: Counter) -> None:
        self.app = app
        self.keys = keys
        self.admin_tokens = [t.encode() for t in admin_tokens if t]
        self.api_key_set = api_key_set
        self.always_required = always_required
        self.failures = failures

    def required(self) -> bool:
        return self.always_required or self.api_key_set or self.keys.any_active()

    def granted(self, token: bytes) -> str | None:
        """The scope ``token`` grants, or None."""
        admin = False
        for known in self.admin_tokens:  # every comparison runs: no early exit to time
            admin |= hmac.compare_digest(token, known)
        if admin:
            return ADMIN
        try:
            return self.keys.scope_of(token.decode())
        except UnicodeDecodeError:
            return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        needed = scope_for(scope["method"], scope["path"])
        if needed == PUBLIC or not self.required():
            return await self.app(scope, receive, send)
        token = _token(scope["headers"])
        granted = self.granted(token) if token else None
        problem: CupolaError | None = None
        if granted is None:
            reason = "invalid" if token else "missing"
            problem = AuthenticationError("missing or unknown API key: send 'Authorization: Bearer <key>'"
                                          if reason == "missing" else "unknown or revoked API key",
                                          hint="create a key with `cupola keys create NAME`")
        elif needed == ADMIN and granted != ADMIN:
            reason = "scope"
            problem = PermissionDenied(f"this API key has the {granted} scope; "
                                       f"{scope['method']} {scope['path']} needs an admin key")
        if problem is None:
            return await self.app(scope, receive, send)
        self.failures.labels(reason=reason).inc()
        headers = {"WWW-Authenticate": "Bearer"} if problem.status == 401 else None
        await JSONResponse(problem.to_openai(), status_code=problem.status, headers=headers)(scope, receive, send)


def _token(headers: list[tuple[bytes, bytes]]) -> bytes:
    for name, value in headers:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return value[7:].strip()
    for name, value in headers:
        if name == b"api-key":
            return value.strip()
    return b""
