"""Incident triage: a coordinator routes an incident to a specialist, a writer synthesises the
report, and a human approves paging the on-call team.

The coordinator routes by meaning: it embeds the incident and each team's remit and hands off to
the closest team (a 135M chat model picks between labels poorly; an embedding model does this
well). Set TRIAGE_ROUTER=agent to let a chat-model agent choose with structured output instead.

    cupola workflow run examples/workflows/incident_triage.py "Checkout requests time out; DB CPU at 100%"
"""

from __future__ import annotations

import os

import numpy as np

from cupola.agents import Agent
from cupola.agents.loader import ToolContext
from cupola.workflows import AgentStep, Approval, FunctionStep, Route, Workflow

SAMPLING = {"temperature": 0.2, "max_tokens": 128}
TEAMS = {
    "network": "network connectivity, DNS resolution, packet loss, latency between hosts, load balancers, TLS",
    "database": "database queries, slow SQL, locks, replication lag, database CPU or disk, connection pools",
    "application": "application errors, exceptions, crashes, bad deploys, memory leaks, 500 responses",
}


def specialist(team: str) -> AgentStep:
    agent = Agent(f"{team}_specialist", f"You are the on-call {team} engineer ({TEAMS[team]}). Give the three "
                  "most likely causes and the first check for each, briefly.", settings=SAMPLING)
    return AgentStep(team, agent, "Incident: {input}")


def notify(state: dict) -> dict:
    return {"paged": True, "report": state["report"]}


def workflow(tools: ToolContext) -> Workflow:
    if os.environ.get("TRIAGE_ROUTER") == "agent":
        coordinator = AgentStep("coordinator", Agent(
            "coordinator", "Route the incident to the team that owns the failing part: " +
            "; ".join(f"{t}: {d}" for t, d in TEAMS.items()),
            output_type={"type": "object", "properties": {"route": {"enum": list(TEAMS)}}, "required": ["route"]},
            settings={"temperature": 0.2, "max_tokens": 32}), "Incident: {input}")
    else:
        async def route(state: dict) -> dict:
            client = tools.knowledge.client
            vectors = await client.embed(tools.knowledge.default_embedding_model,
                                         [state["input"], *TEAMS.values()])
            scores = vectors[1:] @ vectors[0]
            return {"route": list(TEAMS)[int(np.argmax(scores))],
                    "scores": {t: round(float(s), 3) for t, s in zip(TEAMS, scores)}}

        coordinator = FunctionStep("coordinator", route)
    writer = Agent("reporter", "You write incident reports: summary, suspected cause, next steps. Be brief.",
                   settings=SAMPLING)
    return Workflow("incident_triage", [
        Route("dispatch", coordinator, {team: specialist(team) for team in TEAMS}),
        AgentStep("report", writer, lambda s: f"Write a short incident report (summary, suspected cause, next "
                  f"steps) from this analysis by the {s['dispatch']['route']} team:\n{s['dispatch']['output']}"),
        Approval("page_oncall", "Page the on-call team with this report?\n\n{report}"),
        FunctionStep("notify", notify),
    ], description="Routes an incident to a specialist, writes the report, pages on-call after approval")
