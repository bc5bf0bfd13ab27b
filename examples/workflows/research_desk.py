"""Research desk: planner -> (retriever + researcher, concurrently) -> writer/critic loop -> editor.

Runs on the embedded model over a knowledge base named ``docs`` (set RESEARCH_DESK_BASE to use
another):

    cupola kb ingest docs ./my-notes --create
    cupola workflow run examples/workflows/research_desk.py "How do honey bees share where flowers are?"
"""

from __future__ import annotations

import os

from cupola.agents import Agent
from cupola.agents.loader import ToolContext
from cupola.knowledge.retrieval import SearchOptions
from cupola.knowledge.tool import format_results, search_knowledge_tool
from cupola.tools.functions import function_tool
from cupola.workflows import AgentStep, Concurrent, FunctionStep, Loop, Workflow

SAMPLING = {"temperature": 0.2, "max_tokens": 160}


def workflow(tools: ToolContext) -> Workflow:
    base = os.environ.get("RESEARCH_DESK_BASE", "docs")
    knowledge = tools.knowledge

    async def retrieve(state: dict) -> str:
        found = await knowledge.search(base, state["input"], SearchOptions(k=3))
        return format_results(found)

    search = search_knowledge_tool(knowledge, base, k=2)
    planner = Agent("planner", "You plan research. List the two or three questions that answer the topic, one per "
                    "line, nothing else.", settings=SAMPLING)
    researcher = Agent("researcher", "Search the knowledge base once with a short query, then list the facts "
                       "the passages give, one per line.", tools=[function_tool(search)],
                       settings={**SAMPLING, "tool_choice": "required"}, max_turns=3)
    writer = Agent("writer", "You write short, factual paragraphs using only the given sources.", settings=SAMPLING)
    critic = Agent("critic", "You review a draft against its sources. Approve it when every claim is supported "
                   "by the sources; otherwise say what to fix.",
                   output_type={"type": "object", "properties": {"approved": {"type": "boolean"},
                                                                 "feedback": {"type": "string", "maxLength": 150}},
                                "required": ["approved", "feedback"]},
                   settings={"temperature": 0.2, "max_tokens": 128})
    editor = Agent("editor", "You polish a draft into a clear answer of at most four sentences.", settings=SAMPLING)
    return Workflow("research_desk", [
        AgentStep("plan", planner, "Topic: {input}"),
        Concurrent("gather", [
            FunctionStep("retriever", retrieve),
            AgentStep("researcher", researcher, "Topic: {input}\nQuestions:\n{plan}"),
        ]),
        Loop("review", AgentStep("draft", writer, "Topic: {input}\n\nSources:\n{gather}\n\nReviewer feedback: "
                                 "{feedback}\n\nWrite one paragraph answering the topic."),
             AgentStep("critic", critic, "Sources:\n{gather}\n\nDraft:\n{draft}"), max_iterations=2),
        AgentStep("final", editor, "Topic: {input}\n\nDraft:\n{review}"),
    ], description="Plans, gathers from a knowledge base and a research agent at once, drafts under a "
                   "critic's review, and edits the answer")
