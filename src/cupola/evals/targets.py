"""Targets: what a cell runs — a model with a prompt, a YAML agent, a hosted agent, a workflow,
or knowledge-grounded chat — each giving an :class:`Output` for a test's vars.

Targets reach models only through the ``ModelClient`` interface (the per-cell
:class:`~cupola.evals.cache.CellClient`), so model aliases resolve wherever the client resolves
them: the in-process runtime or a server. :func:`prepare` builds every target before anything
runs and reports the ones that do not exist (an unknown model, a knowledge base that is not
there, an agent file that does not load, an unreachable hosted agent) with their lines.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from cupola.agents.runner import MaxTurnsExceeded, OutputValidationError, Runner
from cupola.config import Settings
from cupola.errors import CupolaError, ModelNotFound, RuntimeFailure
from cupola.evals.cache import CellClient, contract_id
from cupola.evals.loader import Eval, EvalFileError, Target
from cupola.evals.output import Output
from cupola.evals.spec import TargetSpec, render, render_text


@dataclass
class EvalEnv:
    """Where targets run: the model client, the home's knowledge bases, the server for hosted agents."""

    client: Any  # a ModelClient
    settings: Settings
    knowledge: Any = None  # a KnowledgeStore (the home's knowledge bases)
    models: Any = None  # a ModelStore (tokenizers for chunking)
    server_url: str | None = None
    api_key: str | None = None
    allow_code: bool = True  # python assertions and workflow targets run code from files
    closers: list[Any] = field(default_factory=list)

    def knowledge_service(self, client: Any) -> Any:
        from cupola.knowledge.service import KnowledgeService

        if self.knowledge is None:
            raise RuntimeFailure("knowledge bases are not available here")
        return KnowledgeService(self.knowledge, client, models=self.models,
                                default_embedding_model=self.settings.default_embedding_model,
                                default_chat_model=self.settings.default_chat_model)


class Runnable(Protocol):
    alias: str | None  # the model alias (router training data); None when there is no single one

    async def run(self, vars: dict[str, Any], client: CellClient, seed: int) -> Output: ...


def _usage(out: Output, client: CellClient) -> Output:
    out.model_calls = client.calls
    if out.prompt_tokens is None:
        out.prompt_tokens = client.prompt_tokens
    if out.completion_tokens is None:
        out.completion_tokens = client.completion_tokens
    if out.finish_reason is None:
        out.finish_reason = client.finish_reason
    return out


def _calls(message: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        try:
            args: Any = json.loads(fn.get("arguments") or "{}")
        except ValueError:
            args = fn.get("arguments")
        out.append({"name": fn.get("name", ""), "arguments": args})
    return out


def _structured(text: str, params: dict[str, Any]) -> Any:
    if (params.get("response_format") or {}).get("type") in ("json_schema", "json_object"):
        try:
            return json.loads(text)
        except ValueError:
            return None
    return None


# -- a model with a prompt -------------------------------------------------------------------------

@dataclass
class ModelRunnable:
    spec: TargetSpec
    alias: str | None = None

    def __post_init__(self) -> None:
        self.alias = self.spec.model

    def messages(self, vars: dict[str, Any]) -> list[dict[str, Any]]:
        out = [{"role": "system", "content": render_text(self.spec.system, vars)}] if self.spec.system else []
        if isinstance(self.spec.prompt, list):
            out += [{"role": m.role, "content": render_text(m.content, vars)} for m in self.spec.prompt]
        else:
            out.append({"role": "user", "content": render_text(str(self.spec.prompt), vars)})
        return out

    async def run(self, vars: dict[str, Any], client: CellClient, seed: int) -> Output:
        messages = self.messages(vars)
        params = {**render(self.spec.settings, vars), "seed": seed}
        answer = await client.chat(str(self.spec.model), messages, **params)
        choice = (answer.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        text = message.get("content") or ""
        usage = answer.get("usage") or {}
        prompt = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        return _usage(Output(text=text, value=_structured(text, params), prompt=prompt, messages=messages,
                             tool_calls=_calls(message), finish_reason=choice.get("finish_reason"),
                             prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"),
                             model=self.spec.model, contract_id=contract_id(str(self.spec.model), messages, params)),
                      client)


# -- knowledge-grounded chat -----------------------------------------------------------------------

@dataclass
class KnowledgeRunnable:
    spec: TargetSpec
    env: EvalEnv
    alias: str | None = None

    def __post_init__(self) -> None:
        self.alias = self.spec.model or self.env.settings.default_chat_model

    async def run(self, vars: dict[str, Any], client: CellClient, seed: int) -> Output:
        from cupola.knowledge.retrieval import SearchOptions
        from cupola.knowledge.service import citations, public_source

        ks = self.spec.knowledge
        assert ks is not None
        service = self.env.knowledge_service(client)
        question = render_text(str(self.spec.prompt or "{question}"), vars)
        asked = [{"role": "system", "content": render_text(self.spec.system, vars)}] if self.spec.system else []
        asked.append({"role": "user", "content": question})
        messages, found = await service.grounded_messages(ks.base, asked, SearchOptions(mode=ks.mode, k=ks.k),
                                                          ks.budget_tokens)
        sources = [public_source(r) for r in found["results"]]
        params = {**render(self.spec.settings, vars), "seed": seed}
        answer = await client.chat(str(self.alias), messages, **params)
        choice = (answer.get("choices") or [{}])[0]
        text = (choice.get("message") or {}).get("content") or ""
        usage = answer.get("usage") or {}
        return _usage(Output(text=text, prompt=question, messages=messages, sources=sources,
                             citations=citations(text, sources), finish_reason=choice.get("finish_reason"),
                             prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"),
                             model=self.alias, contract_id=contract_id(str(self.alias), messages, params)), client)


# -- a YAML agent ----------------------------------------------------------------------------------

@dataclass
class AgentRunnable:
    spec: TargetSpec
    agent: Any  # cupola.agents.Agent
    default_model: str
    alias: str | None = None

    def __post_init__(self) -> None:
        self.alias = self.spec.model or self.agent.model or self.default_model

    async def run(self, vars: dict[str, Any], client: CellClient, seed: int) -> Output:
        settings = {**self.agent.settings, **render(self.spec.settings, vars), "seed": seed}
        agent = dataclasses.replace(self.agent, model=self.alias, settings=settings)
        text_in = render_text(str(self.spec.prompt or "{input}"), vars)
        calls: list[dict[str, Any]] = []
        turns, text, value, finish = 0, "", None, None
        try:
            async for event in Runner(client, default_model=str(self.alias)).stream(agent, text_in):
                kind = event["type"]
                if kind == "turn_started":
                    turns, text = event["turn"], ""
                elif kind == "text_delta":
                    text += event["text"]
                elif kind == "tool_call":
                    calls += _calls({"tool_calls": [{"function": {"name": event["name"],
                                                                  "arguments": event["arguments"]}}]})
                elif kind == "final_output":
                    text = event["text"]
                    value = event["output"] if agent.output_type is not None else None
                elif kind == "approval_required":
                    raise RuntimeFailure(f"agent {agent.name} paused for human approval of "
                                         f"{event['calls'][0]['name']}; evals cannot approve tool calls")
        except (MaxTurnsExceeded, OutputValidationError) as exc:  # the agent's behaviour: graded, not an error
            finish = exc.code
        messages = ([{"role": "system", "content": agent.instructions}] if agent.instructions else []) + \
            [{"role": "user", "content": text_in}]
        contract_params = {**settings, "tools": sorted(t.name for t in agent.function_tools),
                           "output_type": agent.output_type if isinstance(agent.output_type, dict) else
                           getattr(agent.output_type, "__name__", None)}
        return _usage(Output(text=text, value=value, prompt=text_in, messages=messages, tool_calls=calls, turns=turns,
                             finish_reason=finish, model=self.alias,
                             contract_id=contract_id(str(self.alias), messages, contract_params)), client)


# -- a hosted agent (Responses API) ----------------------------------------------------------------

@dataclass
class HostedRunnable:
    spec: TargetSpec
    url: str
    http: httpx.AsyncClient
    alias: str | None = None

    async def run(self, vars: dict[str, Any], client: CellClient, seed: int) -> Output:
        hosted = self.spec.hosted
        assert hosted is not None
        text_in = render_text(str(self.spec.prompt or "{input}"), vars)
        body: dict[str, Any] = {"input": text_in, "agent": {"name": hosted.agent, "type": "agent_reference"},
                                "store": False}
        settings = render(self.spec.settings, vars)
        for key in ("temperature", "top_p", "max_output_tokens"):
            if key in settings:
                body[key] = settings[key]
        try:
            resp = await self.http.post("/v1/responses", json=body)
        except httpx.HTTPError as exc:
            raise RuntimeFailure(f"hosted agent {hosted.agent} at {self.url}: {type(exc).__name__}: {exc}") from exc
        if resp.status_code != 200:
            raise RuntimeFailure(f"hosted agent {hosted.agent} at {self.url} answered {resp.status_code}: "
                                 f"{resp.text[:300]}")
        data = resp.json()
        text = "".join(part.get("text", "") for item in data.get("output") or [] if item.get("type") == "message"
                       for part in item.get("content") or [] if part.get("type") == "output_text")
        usage = data.get("usage") or {}
        messages = [{"role": "user", "content": text_in}]
        return Output(text=text, prompt=text_in, messages=messages, finish_reason=data.get("status"),
                      prompt_tokens=usage.get("input_tokens"), completion_tokens=usage.get("output_tokens"),
                      model=f"agent:{hosted.agent}", model_calls=1,
                      contract_id=contract_id(f"{self.url}#agent:{hosted.agent}", messages, settings))


# -- a workflow file -------------------------------------------------------------------------------

@dataclass
class WorkflowRunnable:
    spec: TargetSpec
    workflow: Any  # cupola.workflows.Workflow
    default_model: str
    alias: str | None = None

    async def run(self, vars: dict[str, Any], client: CellClient, seed: int) -> Output:
        from cupola.workflows import WorkflowRunner, WorkflowStore

        text_in = render_text(str(self.spec.prompt or "{input}"), vars)
        store = WorkflowStore(Path(":memory:"))  # a cell's run is not a user's workflow run
        runner = WorkflowRunner(Runner(client, default_model=self.default_model), store)
        calls: list[dict[str, Any]] = []
        steps = 0
        try:
            events = runner.run(self.workflow, text_in)
            while True:
                last: dict[str, Any] = {}
                async for event in events:
                    last = event
                    if event["type"] == "tool_call":
                        calls += _calls({"tool_calls": [{"function": {"name": event["name"],
                                                                      "arguments": event["arguments"]}}]})
                    elif event["type"] == "step_finished":
                        steps += 1
                if last.get("type") != "approval_required":
                    break
                events = runner.resume(self.workflow, last["run_id"], approve=self.spec.approve)
        finally:
            store.close()
        if last.get("type") == "workflow_failed":
            raise RuntimeFailure(f"workflow {self.workflow.name} failed: {last.get('error')}")
        output = last.get("output")
        text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False, default=str)
        messages = [{"role": "user", "content": text_in}]
        return _usage(Output(text=text, value=None if isinstance(output, str) else output, prompt=text_in,
                             messages=messages, tool_calls=calls, turns=steps,
                             model=f"workflow:{self.workflow.name}", contract_id=contract_id(
                                 f"workflow:{self.workflow.name}", messages, {"seed": seed})), client)


# -- preparing targets -------------------------------------------------------------------------------

async def model_problem(env: EvalEnv, alias: str) -> str | None:
    """Why ``alias`` cannot be used through the env's client, or None (also when it cannot tell)."""
    runtime = getattr(env.client, "runtime", None)
    if runtime is not None:
        try:
            runtime.store.entry(alias)
        except ModelNotFound as exc:
            return exc.message
        return None
    base = getattr(env.client, "base_url", None)
    if not isinstance(base, str):
        return None
    headers = {"Authorization": f"Bearer {env.api_key}"} if env.api_key else {}
    try:
        async with httpx.AsyncClient(timeout=15, headers=headers) as http:
            resp = await http.get(f"{base}/models")
            if resp.status_code == 200:
                known = [m.get("id") for m in resp.json().get("data", [])]
                if alias in known:
                    return None
                native = await http.get(f"{base.removesuffix('/v1')}/api/models/{alias}")
                if native.status_code == 200:  # a Cupola server: in its catalog, pulled on first use
                    return None
                return f"the server at {base} has no model {alias!r} (it has: {', '.join(map(str, known)) or 'none'})"
    except httpx.HTTPError as exc:
        return f"cannot reach the server at {base}: {type(exc).__name__}"
    return None


async def prepare(ev: Eval, env: EvalEnv) -> dict[str, Runnable]:
    """Build every target; raise :class:`EvalFileError` listing those that do not exist."""
    problems: list[str] = []
    built: dict[str, Runnable] = {}
    checked: dict[str, str | None] = {}

    async def need_model(alias: str, where: str, what: str) -> None:
        if alias not in checked:
            checked[alias] = await model_problem(env, alias)
        if checked[alias]:
            problems.append(f"{where}: {what}: {checked[alias]}")

    for target in ev.targets:
        try:
            runnable = await _build(target, ev, env, problems)
        except CupolaError as exc:
            problems.append(f"{target.where}: target {target.id}: {exc.message}")
            continue
        if runnable is None:
            continue
        built[target.id] = runnable
        if target.kind in ("model", "knowledge", "agent") and runnable.alias:
            await need_model(runnable.alias, target.where, f"target {target.id}")
    for case in ev.cases:
        for item in case.assertions:
            spec = item.spec
            judge = spec.judge or ev.judge
            if item.judge_key and judge is not None:
                await need_model(judge.model, item.where if spec.judge else ev.judge_where, "judge")
            if spec.base_type == "similar":
                await need_model(str(spec.options.get("embedding_model") or env.settings.default_embedding_model),
                                 item.where, "the embedding model of similar")
            if spec.base_type == "python" and not env.allow_code:
                problems.append(f"{item.where}: python assertions are not allowed here (they run code from files)")
    if not problems:
        problems += await _warm_up(env, [a for a, p in checked.items() if p is None])
    if problems:
        await close(built)
        raise EvalFileError(list(dict.fromkeys(problems)))
    return built


async def _warm_up(env: EvalEnv, aliases: list[str]) -> list[str]:
    """Load the in-process models now, so no cell's latency includes loading a model (and a model
    that cannot load stops the run before it starts). Skipped when they would not all fit at once."""
    runtime = getattr(env.client, "runtime", None)
    if runtime is None or not aliases or len(aliases) > runtime.settings.max_loaded_models:
        return []
    problems = []
    for alias in aliases:
        try:
            await runtime.load(alias)
        except CupolaError as exc:
            problems.append(f"model {alias} could not be loaded: {exc.message}")
    return problems


async def _build(target: Target, ev: Eval, env: EvalEnv, problems: list[str]) -> Runnable | None:
    spec, base = target.spec, ev.base_dir
    default_model = env.settings.default_chat_model
    if target.kind == "model":
        return ModelRunnable(spec)
    if target.kind == "knowledge":
        ks = spec.knowledge
        assert ks is not None
        if env.knowledge is None:
            raise RuntimeFailure("knowledge bases are not available here")
        if ks.documents:
            await _ingest(env, ks.base, base / ks.documents)
        else:
            env.knowledge.get(ks.base)  # NotFound names the base
        return KnowledgeRunnable(spec, env)
    if target.kind == "agent":
        from cupola.agents.loader import ToolContext, load_agent

        service = env.knowledge_service(env.client) if env.knowledge is not None else None
        agent = load_agent(base / str(spec.agent), ToolContext(knowledge=service))
        return AgentRunnable(spec, agent, default_model)
    if target.kind == "workflow":
        if not env.allow_code:
            problems.append(f"{target.where}: workflow targets are not allowed here (they run code from files)")
            return None
        from cupola.agents.loader import ToolContext
        from cupola.workflows.loader import load_workflow

        service = env.knowledge_service(env.client) if env.knowledge is not None else None
        return WorkflowRunnable(spec, load_workflow(base / str(spec.workflow), ToolContext(knowledge=service)),
                                default_model)
    hosted = spec.hosted
    assert hosted is not None
    url = (hosted.url or env.server_url or "").rstrip("/").removesuffix("/v1")
    if not url:
        raise RuntimeFailure(f"hosted agent {hosted.agent}: no server; set hosted.url, pass --url, or start "
                             "`cupola serve --agents DIR`")
    key = hosted.api_key or env.api_key
    http = httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(600, connect=10),
                             headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        resp = await http.get("/api/agents")
    except httpx.HTTPError as exc:
        await http.aclose()
        raise RuntimeFailure(f"cannot reach {url}: {type(exc).__name__}") from exc
    if resp.status_code == 200:
        names = [a.get("name") for a in resp.json().get("data", [])]
        if hosted.agent not in names:
            await http.aclose()
            raise RuntimeFailure(f"the server at {url} hosts no agent {hosted.agent!r} (it hosts: "
                                 f"{', '.join(map(str, names)) or 'none'})")
    return HostedRunnable(spec, url, http)


async def _ingest(env: EvalEnv, name: str, path: Path) -> None:
    from cupola.errors import NotFound

    service = env.knowledge_service(env.client)
    try:
        env.knowledge.get(name)
    except NotFound:
        service.create(name, description=f"documents of {path}")
    report = await service.ingest_paths(name, [path])
    if report.failed:
        raise RuntimeFailure(f"ingesting {path} into {name}: {report.failed[0]['source']}: {report.failed[0]['error']}")


async def close(built: dict[str, Runnable]) -> None:
    for runnable in built.values():
        http = getattr(runnable, "http", None)
        if http is not None:
            await http.aclose()
