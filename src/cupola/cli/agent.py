"""`cupola agent`: run a YAML agent here, or call the agents a server hosts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any, Optional

import httpx
import typer
from rich.table import Table

from cupola.cli.common import (knowledge_service, LocalOpt, UrlOpt, console, err_console, fail, handle_errors, load_settings,
                               model_client, require_server, server_headers)

app = typer.Typer(help="Agents: run a YAML agent, or call the agents a `cupola serve --agents DIR` hosts.",
                  no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print events / the response as JSON")]


def _render(event: dict[str, Any], as_json: bool) -> None:
    if as_json:
        console.out(json.dumps({k: v for k, v in event.items() if k != "result"}, default=str), highlight=False)
        return
    kind = event["type"]
    if kind == "text_delta":
        console.out(event["text"], end="", highlight=False)
    elif kind == "tool_call":
        err_console.print(f"[dim]-> {event['name']}({event['arguments'].strip()})[/]", highlight=False)
    elif kind == "tool_result":
        text = " ".join(str(event["output"]).split())
        style = "red" if event["is_error"] else "dim"
        err_console.print(f"[{style}]<- {text[:300]}{'...' if len(text) > 300 else ''}[/]", highlight=False)
    elif kind == "final_output":
        console.out("")  # the answer (JSON for structured output) was streamed already


@app.command()
@handle_errors
def run(file: Annotated[Path, typer.Argument(help="The agent's YAML file")],
        input: Annotated[str, typer.Argument(help="What to ask the agent")],
        session: Annotated[Optional[str], typer.Option(help="Continue (or start) this conversation")] = None,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Approve every tool call that needs approval")] = False,
        url: UrlOpt = None, local: LocalOpt = False, as_json: JsonOpt = False) -> None:
    """Run an agent defined in a YAML file, streaming its answer and tool calls."""
    from cupola.agents.loader import ToolContext, load_agent
    from cupola.agents.runner import Runner
    from cupola.agents.sessions import SessionStore

    settings = load_settings()
    client = model_client(settings, url, local)
    knowledge = knowledge_service(settings, client)
    agent = load_agent(file, ToolContext(knowledge=knowledge))
    sessions = SessionStore(settings.db_path("agents"))
    runner = Runner(client, sessions=sessions, default_model=settings.default_chat_model)

    async def go() -> None:
        events = runner.stream(agent, input, session_id=session)
        while True:
            paused = None
            async for event in events:
                _render(event, as_json)
                if event["type"] == "approval_required":
                    paused = event
            if paused is None:
                return
            decisions = {}
            for call in paused["calls"]:
                question = f"allow {call['name']}({call['arguments']})?"
                decisions[call["call_id"]] = yes or await asyncio.to_thread(typer.confirm, question, default=False)
            events = runner.stream_resume(agent, paused["run_id"], decisions)

    try:
        asyncio.run(go())
    finally:
        knowledge.store.close()
        sessions.close()
        asyncio.run(client.aclose())


@app.command()
@handle_errors
def invoke(name: Annotated[str, typer.Argument(help="The hosted agent's name")],
           input: Annotated[str, typer.Argument(help="What to ask the agent")],
           previous: Annotated[Optional[str], typer.Option("--previous", help="Continue after this response id")] = None,
           stream: Annotated[bool, typer.Option(help="Stream the answer")] = True,
           url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """Call an agent hosted by a Cupola server (this machine's, or --url) through /v1/responses."""
    settings = load_settings()
    base = require_server(settings, url).rstrip("/")
    body: dict[str, Any] = {"agent": {"name": name, "type": "agent_reference"}, "input": input,
                            "stream": stream and not as_json}
    if previous:
        body["previous_response_id"] = previous
    try:
        with httpx.Client(timeout=httpx.Timeout(600, connect=10), headers=server_headers(settings, base)) as http:
            if not body["stream"]:
                resp = http.post(f"{base}/v1/responses", json=body)
                _check(resp.status_code, resp.content)
                data = resp.json()
                if as_json:
                    console.print_json(data=data)
                else:
                    console.out(data["output_text"], highlight=False)
                    err_console.print(f"[dim]response {data['id']} (continue with --previous {data['id']})[/]")
                return
            with http.stream("POST", f"{base}/v1/responses", json=body) as resp:
                _check(resp.status_code, resp.read() if resp.status_code != 200 else b"")
                response_id = None
                for line in resp.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    event = json.loads(line[5:])
                    if event["type"] == "response.output_text.delta":
                        console.out(event["delta"], end="", highlight=False)
                    elif event["type"] == "response.completed":
                        response_id = event["response"]["id"]
                    elif event["type"] == "response.failed":
                        console.out("")
                        fail(event["response"]["error"]["message"])
                console.out("")
                if response_id:
                    err_console.print(f"[dim]response {response_id} (continue with --previous {response_id})[/]")
    except httpx.HTTPError as exc:
        fail(f"cannot reach {base}: {exc}", "is `cupola serve` running? pass --url for another server")


def _check(status: int, content: bytes) -> None:
    if status == 200:
        return
    try:
        err = json.loads(content)["error"]
        fail(f"server answered {status}: {err['message']}")
    except (ValueError, KeyError, TypeError):
        fail(f"server answered {status}: {content[:300].decode(errors='replace')}")


@app.command("list")
@handle_errors
def list_agents(folder: Annotated[Optional[Path], typer.Option("--dir", help="List the agent files of this "
                                                               "folder instead of a server's hosted agents")] = None,
                url: UrlOpt = None, as_json: JsonOpt = False) -> None:
    """List the agents a server hosts (or the agents defined in a folder)."""
    settings = load_settings()
    if folder is not None:
        from cupola.agents.loader import describe_folder

        if not folder.is_dir():
            fail(f"{folder} is not a folder")
        agents = describe_folder(folder)
    else:
        base = require_server(settings, url).rstrip("/")
        try:
            resp = httpx.get(f"{base}/api/agents", headers=server_headers(settings, base), timeout=30)
        except httpx.HTTPError as exc:
            fail(f"cannot reach {base}: {exc}")
        _check(resp.status_code, resp.content)
        agents = resp.json()["data"]
    if as_json:
        console.print_json(data=agents)
        return
    table = Table("NAME", "MODEL", "TOOLS", "DESCRIPTION")
    for a in agents:
        table.add_row(a["name"], a["model"] or "(default)", ", ".join(a["tools"]) or "-", a["description"])
    console.print(table)
