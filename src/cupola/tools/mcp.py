"""MCP client side: the tools of external MCP (Model Context Protocol) servers as Cupola function tools.

    async with MCPToolset(command="uvx", args=["mcp-server-time"]) as ts:
        agent = Agent("clock", tools=ts.tools)
        result = await Runner(client).run(agent, "What time is it in Tokyo?")

A server is started as a subprocess speaking stdio (``command`` + ``args``: an explicit argv, no
shell) or reached over streamable HTTP (``url``). Each of its tools becomes an :class:`MCPTool`
whose JSON schema is the tool's ``inputSchema`` and whose arguments are checked against that schema
(with ``jsonschema``) before anything is sent. A result's text content is the tool's output; other
content is summarised (``[image/png, 1234 bytes]``); a result flagged ``isError`` raises
:class:`MCPToolError` with the server's message, which the agent runner hands to the model.

Failing to start, reach or talk to a server raises :class:`MCPError`, naming the server and what to
check. Leaving the ``async with`` block stops the subprocess / ends the HTTP session. Enter and leave
the block in the same task (the SDK's transports run in task groups bound to it).

Written against the MCP Python SDK 2.x (``mcp.client.stdio``, ``mcp.client.streamable_http``,
``mcp.ClientSession``).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import anyio
import httpx2
import jsonschema
from jsonschema.validators import validator_for
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError as SDKError
from mcp_types import REQUEST_TIMEOUT
from mcp.types import Implementation, PaginatedRequestParams
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cupola import __version__
from cupola import tracing
from cupola.naming import tool_name
from cupola.errors import InvalidParameter, RuntimeFailure, UsageError, invalid
from cupola.tools.functions import FunctionTool, ToolArgumentsError

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

_STDERR_LINES = 15  # of a stdio server's stderr, quoted when it fails


class MCPError(RuntimeFailure):
    """An MCP server could not be started, reached or talked to."""

    status = 502
    code = "mcp_error"


class MCPToolError(RuntimeFailure):
    """An MCP tool answered with an error result (``isError``); the message is the server's text."""

    status = 502
    code = "mcp_tool_error"


class MCPServerSpec(BaseModel):
    """How to reach one MCP server, and which of its tools to use.

    Either ``command`` (+ ``args``, ``env``, ``cwd``) for a server on stdio, or ``url`` (+ ``headers``)
    for streamable HTTP. A stdio server sees only a few safe variables of this process's environment
    (PATH, HOME, ...) plus ``env``.
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="A label for messages (default: the command or the URL)")
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] | None = None
    cwd: str | Path | None = None
    url: str | None = None
    headers: dict[str, str] | None = None
    tools: list[str] | None = Field(None, description="Use only these tools (the server's names)")
    needs_approval: bool | list[str] = Field(False, description="All tools, or these (the server's names)")
    prefix: str = Field("", description="Put before each tool's name, to keep two servers' tools apart")
    connect_timeout: float = Field(30.0, gt=0, description="Seconds to start and greet the server")
    timeout: float = Field(300.0, gt=0, description="Seconds one tool call may take")

    @model_validator(mode="after")
    def _one_transport(self) -> MCPServerSpec:
        if (self.command is None) == (self.url is None):
            raise ValueError("give `command` (a server on stdio) or `url` (streamable HTTP): one of them")
        if self.url is not None and (self.args or self.env or self.cwd):
            raise ValueError("`args`, `env` and `cwd` go with `command`, not with `url`")
        if self.command is not None and self.headers:
            raise ValueError("`headers` go with `url`, not with `command`")
        return self

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> MCPServerSpec:
        """Validate a spec from plain data (a YAML mapping), with a readable error."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise invalid(exc.errors(), prefix="MCP server") from None

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command is not None else "http"

    @property
    def argv(self) -> list[str]:
        return [self.command, *self.args] if self.command is not None else []

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.command is not None:
            text = shlex.join([Path(self.command).name, *self.args])
            return text if len(text) <= 80 else text[:77] + "..."
        return str(self.url)


@dataclass
class MCPTool(FunctionTool):
    """A tool of an MCP server: arguments checked against its input schema, then sent to the server."""

    server: str = ""
    remote_name: str = ""
    _validator: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._validator = _schema_validator(self.parameters)

    def parse(self, arguments: str | dict[str, Any] | None) -> dict[str, Any]:
        raw = _decode_arguments(self.name, arguments)
        if self._validator is not None:
            errors = sorted(self._validator.iter_errors(raw), key=lambda e: [str(p) for p in e.absolute_path])
            if errors:
                raise ToolArgumentsError(f"{self.name}: " + "; ".join(_problem(e) for e in errors))
        return raw


class MCPToolset:
    """A connection to one MCP server and its tools, as an async context manager.

        async with MCPToolset(command=sys.executable, args=["server.py"]) as ts:
            ts.tools  # list[MCPTool]

    ``MCPToolset(spec)`` takes an :class:`MCPServerSpec`; ``MCPToolset(**fields)`` builds one.
    """

    def __init__(self, spec: MCPServerSpec | None = None, /, **fields: Any) -> None:
        if spec is not None and fields:
            raise UsageError("give MCPToolset a spec or its fields, not both")
        self.spec = spec if spec is not None else MCPServerSpec.parse(fields)
        self.tools: list[MCPTool] = []
        self.server_info: Implementation | None = None
        self.instructions: str | None = None
        self._stack: AsyncExitStack | None = None
        self._session: ClientSession | None = None
        self._log: _ServerLog | None = None

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def _who(self) -> str:
        return f'MCP server "{self.label}"'

    # -- the connection ------------------------------------------------------------------------

    async def __aenter__(self) -> MCPToolset:
        if self._stack is not None:
            raise UsageError(f"the MCP toolset for {self.label} is already open")
        stack = AsyncExitStack()
        self._log = _ServerLog() if self.spec.transport == "stdio" else None
        try:
            session = await self._open(stack)
            with anyio.fail_after(self.spec.connect_timeout):
                init = await session.initialize()
                listed = await _list_tools(session)
            self.tools = self._build_tools(listed)
        except BaseException as exc:  # noqa: BLE001 - cancellations too: what was opened must close
            cause = await _unwind(stack, exc)
            try:
                if isinstance(cause, UsageError) or not isinstance(cause, Exception):
                    raise cause  # a configuration mistake, or a cancellation / interrupt: as it is
                raise self._connect_error(cause) from cause
            finally:
                self._close_log()
        self.server_info, self.instructions = init.server_info, init.instructions
        self._stack, self._session = stack, session
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> bool:
        stack, self._stack, self._session = self._stack, None, None
        try:
            if stack is not None:
                await stack.__aexit__(exc_type, exc, tb)
        except BaseException as raised:  # noqa: BLE001 - re-raised unless it wraps the block's own error
            if exc is not None and _root(raised) is exc:
                return False  # the block's own error, unwrapped from the transport's task groups
            raise
        finally:
            self._close_log()
        return False

    async def _open(self, stack: AsyncExitStack) -> ClientSession:
        spec = self.spec
        if spec.transport == "stdio":
            assert spec.command is not None and self._log is not None
            params = StdioServerParameters(command=spec.command, args=spec.args, env=spec.env, cwd=spec.cwd)
            read, write = await stack.enter_async_context(stdio_client(params, errlog=self._log.file))
        else:
            assert spec.url is not None
            http = await stack.enter_async_context(httpx2.AsyncClient(
                headers=spec.headers, timeout=httpx2.Timeout(30, read=max(300.0, spec.timeout))))
            read, write = await stack.enter_async_context(streamable_http_client(spec.url, http_client=http))
        client_info = Implementation(name="cupola", version=__version__)
        return await stack.enter_async_context(ClientSession(read, write, client_info=client_info))

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- tools ---------------------------------------------------------------------------------

    def _build_tools(self, listed: list[Any]) -> list[MCPTool]:
        spec = self.spec
        known = [t.name for t in listed]
        wanted = spec.tools if spec.tools is not None else known
        approve = spec.needs_approval if isinstance(spec.needs_approval, list) else []
        missing = [n for n in [*wanted, *approve] if n not in known]
        if missing:
            raise InvalidParameter(f"{self._who} has no tool {', '.join(map(repr, missing))} "
                                   f"(its tools: {', '.join(known) or 'none'})", param="tools")
        by_name = {t.name: t for t in listed}
        tools = [self._tool(by_name[name]) for name in dict.fromkeys(wanted)]
        names = [t.name for t in tools]
        clash = sorted({n for n in names if names.count(n) > 1})
        if clash:
            raise InvalidParameter(f"{self._who}: tools {', '.join(clash)} have the same name once "
                                   "made valid for a model (letters, digits, '_' and '-')", param="tools")
        return tools

    def _tool(self, remote: Any) -> MCPTool:
        name: str = remote.name
        approval = self.spec.needs_approval
        needs = approval if isinstance(approval, bool) else name in approval

        async def call(**arguments: Any) -> str:
            return await self.call_tool(name, arguments)

        return MCPTool(name=tool_name(self.spec.prefix + name),
                       description=remote.description or remote.title or name.replace("_", " "),
                       parameters=_object_schema(remote.input_schema), func=call, arguments=_AnyArguments,
                       needs_approval=needs, metadata={"mcp_server": self.label, "mcp_tool": name},
                       server=self.label, remote_name=name)

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> str:
        """Call the server's tool ``name`` (its own name, no prefix) and render the result as text."""
        session = self._session
        if session is None:
            raise MCPError(f"{self._who} is not connected (tool {name} called outside "
                           "`async with MCPToolset(...)`)")
        meta = tracing.inject() or None  # the trace continues on the server (params._meta.traceparent)
        try:
            result = await session.call_tool(name, arguments, read_timeout_seconds=self.spec.timeout, meta=meta)
        except SDKError as exc:
            if getattr(exc, "code", None) == REQUEST_TIMEOUT:  # the SDK's own read timeout
                raise MCPError(f"{self._who}: tool {name} did not answer within {self.spec.timeout:g} s",
                               hint="raise the server's `timeout`") from exc
            raise MCPError(f"{self._who}: tool {name} failed: {exc.message}",
                           hint=self._server_hint()) from exc
        except TimeoutError as exc:
            raise MCPError(f"{self._who}: tool {name} did not answer within {self.spec.timeout:g} s",
                           hint="raise the server's `timeout`") from exc
        text = render_result(result)
        if result.is_error:
            raise MCPToolError(text or f"tool {name} failed without saying why")
        return text

    # -- errors --------------------------------------------------------------------------------

    def _connect_error(self, exc: BaseException) -> MCPError:
        spec, who = self.spec, self._who
        if isinstance(exc, TimeoutError):
            return MCPError(f"{who} did not answer the MCP handshake within {spec.connect_timeout:g} s"
                            + self._stderr(), hint=self._server_hint())
        if spec.transport == "stdio":
            if isinstance(exc, FileNotFoundError):
                return MCPError(f"cannot start {who}: command {spec.command!r} not found",
                                hint="install it or give its full path; it runs without a shell, with PATH, HOME "
                                     "and the `env` you give")
            if isinstance(exc, OSError):
                return MCPError(f"cannot start {who}: {exc.strerror or exc}",
                                hint=f"check the command and `cwd`: {shlex.join(spec.argv)}")
            return MCPError(f"{who} {_what_happened(exc)}" + self._stderr(), hint=self._server_hint())
        if isinstance(exc, httpx2.TransportError):
            return MCPError(f"cannot reach {who}: {exc or type(exc).__name__}",
                            hint="is the server running? check the host and port of `url`")
        return MCPError(f"{who} {_what_happened(exc)}", hint=self._server_hint())

    def _server_hint(self) -> str:
        if self.spec.transport == "stdio":
            return f"run the server yourself to see what it does: {shlex.join(self.spec.argv)}"
        return "check the URL: streamable HTTP endpoints usually end in /mcp"

    def _stderr(self) -> str:
        tail = self._log.tail() if self._log is not None else ""
        return f"; its stderr ends with:\n{tail}" if tail else ""


# -- helpers -----------------------------------------------------------------------------------

class _AnyArguments(BaseModel):
    """Stands in for a pydantic arguments model: MCP tools check their arguments with jsonschema."""

    model_config = ConfigDict(extra="allow")


class _ServerLog:
    """A stdio server's stderr: a temporary file, read back when the server fails."""

    def __init__(self) -> None:
        fd, self.path = tempfile.mkstemp(prefix="cupola-mcp-", suffix=".log")
        self.file = os.fdopen(fd, "w", encoding="utf-8", errors="replace")

    def tail(self) -> str:
        try:
            text = Path(self.path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-_STDERR_LINES:])

    def close(self) -> None:
        self.file.close()
        with suppress(OSError):
            os.unlink(self.path)


def render_result(result: Any) -> str:
    """A ``CallToolResult`` as text: text content joined, other content summarised; structured
    content as JSON when there is nothing else."""
    parts = [_render_content(item) for item in result.content or []]
    if not parts and result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False)
    return "\n".join(parts)


def _render_content(item: Any) -> str:
    kind = getattr(item, "type", "")
    if kind == "text":
        return item.text
    if kind in ("image", "audio"):
        return f"[{item.mime_type}, {_b64_size(item.data)} bytes]"
    if kind == "resource":
        res = item.resource
        if getattr(res, "text", None) is not None:
            return res.text
        return f"[{res.mime_type or 'resource'} {res.uri}, {_b64_size(getattr(res, 'blob', '') or '')} bytes]"
    if kind == "resource_link":
        return f"[resource {item.name}: {item.uri}]"
    return f"[{kind or type(item).__name__} content]"


def _b64_size(data: str) -> int:
    return len(data.strip().rstrip("=")) * 3 // 4


def _object_schema(schema: dict[str, Any] | None) -> dict[str, Any]:
    """The tool's input schema; an empty one becomes the schema of an object without properties."""
    schema = dict(schema or {})
    schema.setdefault("type", "object")
    if schema["type"] == "object":
        schema.setdefault("properties", {})
    return schema


def _schema_validator(schema: dict[str, Any]) -> Any:
    """A jsonschema validator for ``schema``, or None if the schema itself is invalid (the server
    then checks the arguments alone)."""
    cls = validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError:
        return None
    return cls(schema)


def _decode_arguments(name: str, arguments: str | dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(arguments, str):
        if not arguments.strip():
            return {}
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as exc:
            raise ToolArgumentsError(f"{name}: the arguments are not JSON: {exc}") from exc
    raw = arguments if arguments is not None else {}
    if not isinstance(raw, dict):
        raise ToolArgumentsError(f"{name}: the arguments must be a JSON object")
    return raw


def _problem(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "arguments"
    return f"{where}: {error.message}"


async def _list_tools(session: ClientSession) -> list[Any]:
    """Every tool of the server, following pagination."""
    tools: list[Any] = []
    cursor: str | None = None
    while True:
        page = await session.list_tools(params=PaginatedRequestParams(cursor=cursor) if cursor else None)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            return tools


async def _unwind(stack: AsyncExitStack, exc: BaseException) -> BaseException:
    """Close what was opened before ``exc``; the root cause of the failure (a transport's task
    group may have cancelled us because one of its tasks failed: that failure is the cause)."""
    try:
        await stack.__aexit__(type(exc), exc, exc.__traceback__)
    except BaseException as raised:  # noqa: BLE001 - a task group's exception group, examined by _root
        exc = raised
    return _root(exc)


def _root(exc: BaseException) -> BaseException:
    """The first leaf of an exception group that is not a cancellation (else the first leaf)."""
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    leaves = list(_leaves(exc))
    cancelled = anyio.get_cancelled_exc_class()
    return next((e for e in leaves if not isinstance(e, cancelled)), leaves[0] if leaves else exc)


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def _what_happened(exc: BaseException) -> str:
    if isinstance(exc, SDKError):
        if exc.message == "Connection closed":
            return "closed the connection (it exited, or is not an MCP server)"
        return f"answered with an error: {exc.message}"
    return f"failed: {type(exc).__name__}: {exc}"
