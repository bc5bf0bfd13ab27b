"""A workflow with every kind of step and one small model call, for the Studio's browser tests:
concurrent branches, a critic loop (two iterations), a route, an approval, a function."""

from cupola.agents import Agent
from cupola.workflows import AgentStep, Approval, Concurrent, FunctionStep, Loop, Route, Workflow

summarizer = Agent("summarizer", "Summarize the change in one short sentence.",
                   settings={"temperature": 0.2, "max_tokens": 24})


def draft(state: dict) -> str:
    return f"Release notes, draft {state['iteration']}: {state['gather']['changes']}"


def critic(state: dict) -> dict:
    return {"approved": state["iteration"] >= 2, "feedback": "" if state["iteration"] >= 2 else "name the fix"}


workflow = Workflow("release_check", [
    Concurrent("gather", [
        FunctionStep("changes", lambda s: f"Fixed: {s['input']}"),
        AgentStep("summary", summarizer, "Change: {input}"),
    ]),
    Loop("polish", FunctionStep("draft", draft), FunctionStep("critic", critic), max_iterations=3),
    Route("dispatch", FunctionStep("router", lambda s: {"route": "docs"}), {
        "docs": FunctionStep("docs_team", lambda s: "Docs team updates the changelog."),
        "code": FunctionStep("code_team", lambda s: "Code team tags the release."),
    }),
    Approval("publish", "Publish these notes?\n\n{polish}"),
    FunctionStep("announce", lambda s: {"published": True, "notes": s["polish"]}),
], description="Gathers changes, polishes the notes under a critic, routes them, publishes after approval")
