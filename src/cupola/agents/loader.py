"""Declarative agents: one YAML file per agent, and a folder of them for ``cupola serve``.

    name: helpdesk
    description: Answers questions about our product
    instructions: |
      You answer from the knowledge base. Cite sources.
    model: smollm2-135m              # optional: the server's default chat model
    tools:
      - calculator
      - search_knowledge: {base: product-docs, k: 4}
      - read_file                    # also list_files, write_file: need `workspace`; {max_bytes: 262144}
      - run_command: {allow: [ls, grep]}   # in an OS sandbox; see RunCommandOptions for the rest
      - mcp: {command: uvx, args: [mcp-server-time]}   # or {url: http://host/mcp}: an MCP server's tools
    workspace: ./work                # relative to this file; file and command tools stay inside
    output_schema: {type: object, properties: {answer: {type: string}}, required: [answer]}
    settings: {temperature: 0.2, max_tokens: 256}
    max_turns: 6
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cupola.agents.agent import Agent
from cupola.errors import InvalidParameter, NotFound, UsageError, invalid
from cupola.tools.functions import FunctionTool, function_tool

WORKSPACE_TOOLS = ("list_files", "read_file", "write_file")
BUILTIN_TOOLS = ("calculator", "search_knowledge", "run_command", "mcp", *WORKSPACE_TOOLS)


class RunCommandOptions(BaseModel):
    """``- run_command: {...}``: which programs, and the sandbox they run in."""

    model_config = ConfigDict(extra="forbid")

    allow: list[str] | dict[str, Any] = Field(
        ..., description="programs (built-in option allowlists) or program -> {options: [...], runs_code: bool}")
    timeout: float = Field(20, gt=0, le=3600, description="seconds before the command and all it started are killed")
    max_output: int = Field(20_000, ge=100, le=10_000_000, description="bytes of stdout and of stderr kept")
    network: bool = Field(False, description="let commands use the network (off: a private network namespace)")
    sandbox: bool = Field(True, description="false: run WITHOUT the operating-system sandbox (explicit opt-out)")
    read_only: list[str] = Field(default_factory=list, description="more host folders visible read-only")
    cpu_seconds: int = Field(60, ge=1, description="CPU time limit per command")
    memory_mb: int = Field(1024, ge=16, description="address-space limit per process")
    file_mb: int = Field(64, ge=1, description="largest file a command may write")
    processes: int = Field(64, ge=1, description="processes and threads per command")
    tmp_mb: int = Field(64, ge=1, description="size of the private /tmp (holds HOME and TMPDIR)")


class FileToolOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_bytes: int = Field(256 * 1024, ge=1, le=64 << 20, description="largest file read or written")


class AgentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    description: str = ""
    instructions: str = ""
    model: str | None = None
    tools: list[str | dict[str, dict[str, Any] | None]] = Field(default_factory=list)
    workspace: str | None = None
    output_schema: dict[str, Any] | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    max_turns: int = Field(8, ge=1, le=100)
    approve_writes: bool = False


@dataclass
class ToolContext:
    """What built-in tools may need: a knowledge service (for search_knowledge)."""

    knowledge: Any = None


def load_spec(path: Path) -> AgentSpec:
    """Read and validate an agent file (without building its tools)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise InvalidParameter(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidParameter(f"{path}: an agent file is a YAML mapping with at least `name`")
    try:
        spec = AgentSpec.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc.errors(), prefix=str(path)) from None
    return spec


def load_agent(path: Path, context: ToolContext | None = None) -> Agent:
    return build_agent(load_spec(path), Path(path).parent, context or ToolContext(), source=str(path))


def describe_folder(folder: Path) -> list[dict[str, Any]]:
    """Name, model, tools and description of each agent file in ``folder``."""
    out = []
    for path in sorted([*Path(folder).glob("*.yaml"), *Path(folder).glob("*.yml")]):
        spec = load_spec(path)
        out.append({"name": spec.name, "description": spec.description, "model": spec.model,
                    "tools": [t if isinstance(t, str) else next(iter(t)) for t in spec.tools],
                    "structured_output": spec.output_schema is not None, "file": str(path)})
    return out


def build_agent(spec: AgentSpec, base_dir: Path, context: ToolContext, source: str = "agent") -> Agent:
    tools: list[FunctionTool] = []
    servers: list[Any] = []
    for entry in spec.tools:
        name, options = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
        if name == "mcp":
            servers.append(_mcp_spec(options or {}, base_dir, source))
        else:
            tools += _builtin(name, options or {}, spec, base_dir, context, source)
    return Agent(spec.name, spec.instructions, spec.model, tools, spec.output_schema, dict(spec.settings),
                 spec.max_turns, spec.description, servers)


def _mcp_spec(options: dict[str, Any], base_dir: Path, source: str) -> Any:
    """``- mcp: {command: ..., args: [...]}`` or ``- mcp: {url: ...}``: the server's tools join each run."""
    from cupola.tools.mcp import MCPServerSpec

    if options.get("cwd"):
        options = {**options, "cwd": str((base_dir / str(options["cwd"])).resolve())}
    try:
        return MCPServerSpec.parse(options)
    except InvalidParameter as exc:
        raise InvalidParameter(f"{source}: mcp: {exc.message}") from None


def _builtin(name: str, options: dict[str, Any], spec: AgentSpec, base_dir: Path, context: ToolContext,
             source: str) -> list[FunctionTool]:
    from cupola.tools import builtins

    if name == "calculator":
        return [builtins.calculator_tool()]
    if name == "search_knowledge":
        if context.knowledge is None:
            raise UsageError(f"{source}: search_knowledge needs a knowledge service (run it with cupola)")
        if "base" not in options:
            raise InvalidParameter(f"{source}: search_knowledge needs a base: `- search_knowledge: {{base: NAME}}`")
        from cupola.knowledge.tool import search_knowledge_tool

        fn = search_knowledge_tool(context.knowledge, options["base"], k=int(options.get("k", 4)),
                                   mode=options.get("mode", "hybrid"))
        return [function_tool(fn, description=fn.schema["function"]["description"])]  # type: ignore[attr-defined]
    if name in WORKSPACE_TOOLS or name == "run_command":
        if not spec.workspace:
            raise InvalidParameter(f"{source}: tool {name} needs a `workspace:` folder for the agent to work in")
        root = (base_dir / spec.workspace).resolve()
        root.mkdir(parents=True, exist_ok=True)
        if name == "run_command":
            if not options.get("allow"):
                raise InvalidParameter(f"{source}: run_command needs an allowlist: `- run_command: {{allow: [ls]}}`")
            return _run_command(options, builtins.Workspace(root), base_dir, source)
        try:
            limit = FileToolOptions.model_validate(options).max_bytes
        except ValidationError as exc:
            raise invalid(exc.errors(), prefix=f"{source}: {name}") from None
        ws = builtins.Workspace(root, max_read_bytes=limit, max_write_bytes=limit)
        return [t for t in builtins.workspace_tools(ws, approve_writes=spec.approve_writes) if t.name == name]
    raise InvalidParameter(f"{source}: unknown tool {name!r}; built-in tools: {', '.join(BUILTIN_TOOLS)}")


def _run_command(options: dict[str, Any], ws: Any, base_dir: Path, source: str) -> list[FunctionTool]:
    from cupola.tools import builtins
    from cupola.tools.sandbox import Limits

    try:
        opts = RunCommandOptions.model_validate(options)
    except ValidationError as exc:
        raise invalid(exc.errors(), prefix=f"{source}: run_command") from None
    limits = Limits(cpu_seconds=opts.cpu_seconds, memory_bytes=opts.memory_mb << 20, file_bytes=opts.file_mb << 20,
                    processes=opts.processes, tmp_bytes=opts.tmp_mb << 20)
    try:
        return builtins.command_tools(ws, opts.allow, timeout=opts.timeout, max_output=opts.max_output,
                                      network=opts.network, limits=limits,
                                      read_only=[str((base_dir / p).resolve()) for p in opts.read_only],
                                      sandbox=opts.sandbox)
    except UsageError as exc:
        raise type(exc)(f"{source}: run_command: {exc.message}", param=exc.param, hint=exc.hint) from None


class AgentRegistry:
    """The agents defined by the ``*.yaml`` / ``*.yml`` files of a folder, by name."""

    def __init__(self, agents: dict[str, Agent], folder: Path | None = None) -> None:
        self.agents = agents
        self.folder = folder

    @classmethod
    def load(cls, folder: Path, context: ToolContext | None = None) -> "AgentRegistry":
        folder = Path(folder)
        if not folder.is_dir():
            raise UsageError(f"agents folder {folder} does not exist")
        agents: dict[str, Agent] = {}
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            agent = load_agent(path, context)
            if agent.name in agents:
                raise InvalidParameter(f"{path}: another file in {folder} already defines agent {agent.name!r}")
            agents[agent.name] = agent
        return cls(agents, folder)

    def get(self, name: str) -> Agent:
        agent = self.agents.get(name)
        if agent is None:
            known = ", ".join(sorted(self.agents)) or "none"
            raise NotFound(f"no hosted agent named {name!r} (hosted agents: {known})", param="agent",
                           hint="serve a folder of agent YAML files with `cupola serve --agents DIR`")
        return agent

    def describe(self) -> list[dict[str, Any]]:
        return [{"name": a.name, "description": a.description, "model": a.model,
                 "tools": [t.name for t in a.function_tools], "structured_output": a.output_type is not None}
                for a in self.agents.values()]
