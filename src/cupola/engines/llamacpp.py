"""GGUF models on llama.cpp's server, embedded in-process through xllamacpp.

llama.cpp's server gives continuous batching over ``parallel`` slots, prompt caching, Jinja chat
templates and JSON-schema constrained decoding. xllamacpp runs its request handlers directly
(no HTTP hop) and releases the GIL while generating, so each request runs on a worker thread and
several decode together. The server's own HTTP listener is bound to a private Unix socket, never
to a TCP port.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cupola.digest import sha256
from cupola.engines.base import OnChunk
from cupola.errors import ContextLengthExceeded, EngineError, InvalidParameter
from cupola.models.gguf import read_gguf


@dataclass(frozen=True)
class LlamaCppOptions:
    parallel: int = 4
    ctx_per_slot: int = 2048
    threads: int = 0  # 0: every core


class LlamaCppEngine:
    def __init__(self, model_path: Path, alias: str, options: LlamaCppOptions) -> None:
        import xllamacpp as xlc

        self.alias = alias
        self.options = options
        template = read_gguf(model_path).chat_template or ""
        self.native_tools = "tools" in template  # the template renders tool schemas and calls itself
        self.template_sha256 = sha256(template) if template else None
        self.description = f"llama.cpp (xllamacpp {_version()})"
        self._http: Any = None
        threads = options.threads or os.cpu_count() or 2
        params = xlc.CommonParams()
        params.model.path = str(model_path)
        params.n_parallel = options.parallel
        params.n_ctx = options.parallel * options.ctx_per_slot
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.cont_batching = True
        params.verbosity = -1  # quiet: errors come back as values, not logs
        # A private directory (mode 0700) with a short path: Unix socket paths are limited to ~100 bytes.
        self._socket_dir = Path(tempfile.mkdtemp(prefix="cupola-"))
        self._socket = self._socket_dir / "engine.sock"
        params.hostnames = [str(self._socket)]
        self._lock = threading.Lock()
        try:
            self._server = xlc.Server(params)
        except Exception as exc:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            raise EngineError(f"llama.cpp could not load {alias} from {model_path}: {exc}") from exc

    @property
    def address(self) -> str:
        """The engine's own llama.cpp HTTP server (a Unix socket), for benchmarks and debugging."""
        return self._server.listening_address

    def generate(self, endpoint: str, body: dict[str, Any], on_chunk: OnChunk | None = None) -> dict[str, Any] | None:
        handler = self._server.handle_chat_completions if endpoint == "chat" else self._server.handle_completions
        if on_chunk is None:
            try:
                result = handler(dict(body, stream=False))
            except ValueError as exc:
                raise InvalidParameter(str(exc)) from exc
            _raise_for_error(result, self.alias, body)
            return result

        error: list[dict[str, Any]] = []

        def callback(chunk: dict[str, Any]) -> bool:
            if "error" in chunk or ("code" in chunk and "message" in chunk and "choices" not in chunk):
                error.append(chunk)
                return True
            return bool(on_chunk(chunk))

        try:
            handler(dict(body, stream=True), callback)
        except ValueError as exc:
            raise InvalidParameter(str(exc)) from exc
        if error:
            _raise_for_error(error[0], self.alias, body)
        return None

    def render(self, body: dict[str, Any], endpoint: str = "chat") -> str:
        """The exact prompt text the model sees: llama.cpp's chat template applied to the messages
        (its /apply-template, on the engine's private socket)."""
        if endpoint != "chat":
            return str(body.get("prompt", ""))
        import httpx

        if self._http is None:
            path = self.address.removeprefix("unix://")
            self._http = httpx.Client(transport=httpx.HTTPTransport(uds=path), base_url="http://engine", timeout=30)
        fields = {k: body[k] for k in ("messages", "tools", "tool_choice", "parallel_tool_calls") if k in body}
        resp = self._http.post("/apply-template", json=fields)
        resp.raise_for_status()
        return resp.json()["prompt"]

    def metrics(self) -> str:
        return self._server.handle_metrics()

    def close(self) -> None:
        with self._lock:
            server, self._server = getattr(self, "_server", None), None
        if self._http is not None:
            self._http.close()
        if server is not None:
            del server  # joins llama.cpp's loop thread and frees the model
        shutil.rmtree(self._socket_dir, ignore_errors=True)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("xllamacpp")
    except PackageNotFoundError:
        return "unknown"


def _raise_for_error(result: Any, alias: str, body: dict[str, Any] | None = None) -> None:
    if not isinstance(result, dict):
        raise EngineError(f"llama.cpp returned an unexpected value: {result!r:.200}")
    err = result.get("error")
    if err is None and "code" in result and "message" in result and "choices" not in result:
        err = result  # xllamacpp's own failures
    if err is None:
        return
    if isinstance(err, str):
        err = {"message": err}
    message = str(err.get("message", "engine error"))
    kind = err.get("type")
    code = int(err.get("code", 500) or 500)
    if kind == "exceed_context_size_error":
        raise ContextLengthExceeded(
            f"the prompt is {err.get('n_prompt_tokens')} tokens but {alias} has a context of "
            f"{err.get('n_ctx')} tokens per request; shorten the prompt or start the server with "
            f"a larger --ctx-per-slot", param="messages")
    if "empty grammar stack" in message:  # the constraint allows nothing the model can say next
        param = "response_format" if (body or {}).get("response_format") else "tools"
        raise InvalidParameter(f"the {param.replace('_', ' ')} constraint allows no output here: its JSON schema "
                               f"(or the grammar built from it) cannot be satisfied ({message})", param=param,
                               hint="check the schema's ranges and enums (e.g. minimum above maximum)")
    if 400 <= code < 500:
        raise InvalidParameter(message)
    raise EngineError(f"llama.cpp failed: {message}")
