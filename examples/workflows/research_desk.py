"""Research desk: planner -> (retriever + researcher, concurrently) -> writer/critic loop -> editor -> cite.

Runs on the embedded model over a knowledge base named ``docs`` (set RESEARCH_DESK_BASE to use
another):

    cupola kb ingest docs ./my-notes --create
    cupola workflow run examples/workflows/research_desk.py "How do honey bees share where flowers are?"

It cites only retrieved documents: the retriever labels each passage with its document id, the
writer cites those ids in square brackets, and the critic first checks every cited id against the
retrieved set (a draft citing anything else goes back with that feedback, without asking the model);
only a draft that passes goes to the model critic. The last step attaches the sources that support
the edited answer's sentences (matched by meaning and words) and drops any label that was not
retrieved. Sampling is seeded, so a run repeats.
"""

from __future__ import annotations

import os
from typing import Any

from cupola.agents import Agent
from cupola.agents.loader import ToolContext
from cupola.knowledge import citing
from cupola.knowledge.retrieval import SearchOptions
from cupola.knowledge.service import public_source
from cupola.knowledge.tool import search_knowledge_tool
from cupola.tools.functions import function_tool
from cupola.workflows import AgentStep, Concurrent, FunctionStep, Loop, Route, Workflow

SEED = int(os.environ.get("RESEARCH_DESK_SEED", "7"))
SAMPLING = {"temperature": 0.2, "max_tokens": 160, "seed": SEED}


def retrieved_ids(state: dict[str, Any]) -> list[str]:
    return [s["doc_id"] for s in state["retriever"]["sources"]]


def sources_text(state: dict[str, Any]) -> str:
    return "\n\n".join(f"[{s['doc_id']}] {s['title']}\n{s['text']}" for s in state["retriever"]["sources"]) \
        or "(no sources found)"


def check_citations(state: dict[str, Any]) -> str:
    """``reject`` when the draft cites a document that was not retrieved, else ``review``."""
    return "reject" if citing.absent(state["draft"] or "", retrieved_ids(state)) else "review"


def reject(state: dict[str, Any]) -> dict[str, Any]:
    ids = retrieved_ids(state)
    missing = citing.absent(state["draft"] or "", ids)
    return {"approved": False, "feedback": f"The draft cites {', '.join(missing)}, which is not among the sources. "
            f"Cite only these ids in square brackets: {', '.join(ids) or 'none'}."}


def workflow(tools: ToolContext) -> Workflow:
    base = os.environ.get("RESEARCH_DESK_BASE", "docs")
    knowledge = tools.knowledge

    async def retrieve(state: dict) -> dict[str, Any]:
        found = await knowledge.search(base, state["input"], SearchOptions(k=3))
        return {"sources": [public_source({**r, "n": i}) for i, r in enumerate(found["results"], 1)]}

    async def cite(state: dict) -> dict[str, Any]:
        """The edited answer with the retrieved sources that support it; labels not retrieved removed."""
        answer = state["final"] or ""
        for label in citing.absent(answer, retrieved_ids(state)):
            answer = answer.replace(f"[{label}]", "")
        sources = state["retriever"]["sources"]
        cited = await citing.cite(knowledge.embedder(base), answer, sources)
        return {"answer": answer.strip(), "citations": [{"doc_id": c["doc_id"], "title": c["title"]} for c in cited],
                "retrieved": retrieved_ids(state)}

    search = search_knowledge_tool(knowledge, base, k=2)
    planner = Agent("planner", "You plan research. List the two or three questions that answer the topic, one per "
                    "line, nothing else.", settings=SAMPLING)
    researcher = Agent("researcher", "Search the knowledge base once with a short query, then list the facts "
                       "the passages give, one per line.", tools=[function_tool(search)],
                       settings={**SAMPLING, "tool_choice": "required"}, max_turns=3)
    writer = Agent("writer", "You write short, factual paragraphs using only the given sources. After each fact, "
                   "cite its source's id in square brackets, like [id].", settings=SAMPLING)
    critic = Agent("critic", "You review a draft against its sources. Approve it when every claim is supported "
                   "by the sources; otherwise say what to fix.",
                   output_type={"type": "object", "properties": {"approved": {"type": "boolean"},
                                                                 "feedback": {"type": "string", "maxLength": 150}},
                                "required": ["approved", "feedback"]},
                   settings={"temperature": 0.2, "max_tokens": 128, "seed": SEED})
    editor = Agent("editor", "You polish a draft into a clear answer of at most four sentences. Keep its "
                   "[id] citations.", settings=SAMPLING)
    return Workflow("research_desk", [
        AgentStep("plan", planner, "Topic: {input}"),
        Concurrent("gather", [
            FunctionStep("retriever", retrieve),
            AgentStep("researcher", researcher, "Topic: {input}\nQuestions:\n{plan}"),
        ]),
        Loop("review",
             AgentStep("draft", writer, lambda s: f"Topic: {s['input']}\n\nSources:\n{sources_text(s)}\n\n"
                       f"Notes from a researcher (not sources):\n{s['researcher']}\n\n"
                       f"Reviewer feedback: {s['feedback']}\n\nWrite one paragraph answering the topic."),
             Route("critic", FunctionStep("citations", check_citations), {
                 "reject": FunctionStep("absent", reject),
                 "review": AgentStep("judge", critic, lambda s: f"Sources:\n{sources_text(s)}\n\nDraft:\n{s['draft']}"),
             }), max_iterations=2),
        AgentStep("final", editor, "Topic: {input}\n\nDraft:\n{review}"),
        FunctionStep("cite", cite),
    ], description="Plans, gathers from a knowledge base and a research agent at once, drafts under a "
                   "critic's review (cited ids checked against the retrieved set first), edits the answer, "
                   "and cites the retrieved sources that support it")
