"""Tool calls on any engine: plan the request, route ``auto``, shape the answer and the stream.

The runtime calls :func:`prepare` before sending a chat body to an engine and :func:`finish` /
:func:`adapt_stream` on what comes back. What happens in between depends only on the engine's
capabilities (``tool_adapter``): native tool templates get the tools as they are; other engines
get the adapter's rendering and whatever constraint they support.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

import jsonschema
import numpy as np
from jsonschema.validators import validator_for

from cupola.completions import assemble, chunk_like
from cupola.engines.base import Capabilities
from cupola.errors import ContextLengthExceeded, CupolaError, EngineError
from cupola.runtime import tool_adapter, tool_grammar
from cupola.runtime.tool_adapter import (ToolPlan, ToolStreamParser, adapt_request, adapt_response, budget_of,
                                         bound_format, plan_tools, user_words)

log = logging.getLogger("cupola.tools")

Embed = Callable[[list[str]], Awaitable[np.ndarray]]


def _uses_tools(body: dict[str, Any]) -> bool:
    return bool(body.get("tools")) or body.get("tool_choice") is not None \
        or any(m.get("tool_calls") or m.get("role") == "tool" for m in body.get("messages", []))


async def prepare(body: dict[str, Any], capabilities: Capabilities, embed: Embed | None,
                  threshold: float, select: str = "similarity") -> tuple[dict[str, Any], ToolPlan | None]:
    """The engine body for a chat request, and the plan its answer is shaped by (None: no tools).

    On the adapter's path, with several tools and one call to make, ``select="similarity"`` picks
    the function closest to the user's message (the embedding model) and constrains the call to
    it; ``"model"`` leaves the choice to the model, with the closest tool listed first."""
    if not _uses_tools(body):
        return bound_format(body, capabilities), None
    plan = plan_tools(body, capabilities)
    if plan is not None and plan.active and not plan.native and plan.choice in ("auto", "required"):
        scores = await similarities(body.get("messages", []), plan, embed)
        if plan.choice == "auto":
            plan.choice = route_auto(body.get("messages", []), scores, threshold)
        if scores is not None and len(plan.tools) > 1:  # the closest tool first: small models favour it
            order = np.argsort(-(scores + NAME_WEIGHT * named(body.get("messages", []), plan)), kind="stable")
            plan.tools = [plan.tools[i] for i in order]
            if plan.choice == "required" and not plan.parallel and select == "similarity":
                plan.choice = plan.tools[0]["name"]
    if plan is not None and plan.active and not plan.native and plan.choice not in ("auto", "none") \
            and select == "similarity":
        plan.enum_hints = await enum_hints(body.get("messages", []), plan, embed)
        plan.assignments = await assignments(body.get("messages", []), plan, embed, budget_of(body))
    return adapt_request(body, plan), plan


HINTS = 2  # enum values kept when the user named none: the closest to the message


async def enum_hints(messages: list[dict[str, Any]], plan: ToolPlan, embed: Embed | None
                     ) -> dict[tuple[str, ...], list[Any]]:
    """For each enum of the tools a forced call may use whose values the user did not name, the
    ``HINTS`` values closest to the user's last message (cosine of the embedding model's vectors of
    the message and of each value): a small model left to choose among many values picks one it
    saw first, while the embedding ranks "sports" above "electronics" for "yoga mats"."""
    query = _query(messages)
    if query is None or embed is None or (messages and messages[-1].get("role") == "tool"):
        return {}
    specs = [s for s in plan.tools if plan.choice == "required" or s["name"] == plan.choice]
    lists = [v for s in specs for v in tool_grammar.enums(s.get("parameters"))
             if not any(tool_grammar.mentions(x, query) for x in v)]
    lists = [v for i, v in enumerate(lists) if v not in lists[:i]]
    if not lists:
        return {}
    texts = [str(x).replace("_", " ") for v in lists for x in v]
    try:
        vectors = await embed([query] + texts)
    except CupolaError as exc:
        log.warning("enum hints without embeddings (%s)", exc.message)
        return {}
    scores = iter(vectors[1:] @ vectors[0])
    out: dict[tuple[str, ...], list[Any]] = {}
    for values in lists:
        ranked = sorted(zip([float(next(scores)) for _ in values], range(len(values))), reverse=True)
        out[tool_grammar.enum_key(values)] = [values[i] for _, i in ranked[:HINTS]]
    return out


ASSIGN_MARGIN = 0.3  # how much closer (summed cosine) an assignment against the message's order must be


async def assignments(messages: list[dict[str, Any]], plan: ToolPlan, embed: Embed | None, budget: int
                      ) -> dict[tool_grammar.Signature, tuple[str | None, ...]]:
    """For sibling properties that take different ones of the user's values (two numbers, two ids,
    two named units), the assignment meant. By default the properties take the values in the order
    the user wrote them (``a`` and ``b`` of "17 plus 25", from and to of "10 km to miles"); the
    embedding model overrides the order when the words around the values match the properties'
    names and descriptions clearly better another way ("a 20 percent tip on a bill of 85 dollars":
    the bill is 85). A small model left to choose assigns such values by chance."""
    source = user_words(messages)  # None after a tool result: the call's values came then
    if source is None or plan.constrain != "grammar":
        return {}  # (a JSON-schema engine gets no grammar to hold the assignment)
    usable, places = [], {}
    for ask in tool_adapter.asks(plan, budget, source):
        found = {v: ask.places.get(v) or tool_grammar.value_place(v, source)
                 for combo in ask.combos for v in combo if v is not None}
        if all(found.values()):  # every value is where the user wrote it (not a number in words)
            places.update(found)
            usable.append(ask)
    sims: list[np.ndarray | None] = [None] * len(usable)
    contexts = {v: c[1] for v in places if (c := tool_grammar.value_context(v, source))}
    judged = [n for n, ask in enumerate(usable) if all(v in contexts for c in ask.combos for v in c if v is not None)]
    if embed is not None and judged:
        fields = [f for n in judged for f in usable[n].fields]
        values = list(contexts)
        try:
            vectors = await embed(fields + [contexts[v] for v in values])
        except CupolaError as exc:
            log.warning("value assignment by the message's order only (%s)", exc.message)
        else:
            column = {v: i for i, v in enumerate(values)}
            row = 0
            for n in judged:
                ask = usable[n]
                block = vectors[row:row + len(ask.fields)] @ vectors[len(fields):].T
                row += len(ask.fields)
                sims[n] = np.array([sum(block[i, column[v]] for i, v in enumerate(c) if v is not None)
                                    for c in ask.combos])
    out: dict[tool_grammar.Signature, tuple[str | None, ...]] = {}
    for ask, sim in zip(usable, sims):
        ordered = [n for n, c in enumerate(ask.combos) if _in_order([places[v] for v in c if v is not None])]
        ranked = [] if sim is None else sorted(range(len(ask.combos)), key=lambda n: -sim[n])
        if len(ordered) == 1:  # as many values as properties: their order, unless the words say otherwise
            default = ordered[0]
            if len(ask.fields) == 2 and None not in ask.combos[default] \
                    and _reversed(source, *(places[v] for v in ask.combos[default] if v is not None)):
                default = next((n for n, c in enumerate(ask.combos) if c == ask.combos[default][::-1]), default)
            best = ranked[0] if ranked else default
            out[ask.signature] = ask.combos[best if sim is not None and sim[best] - sim[default] >= ASSIGN_MARGIN
                                            else default]
        elif ranked and sim[ranked[0]] - sim[ranked[1]] >= ASSIGN_MARGIN:  # more values: only clear words decide
            out[ask.signature] = ask.combos[ranked[0]]
    return out


def _in_order(places: list[tuple[int, int]]) -> bool:
    return all(a[0] < b[0] for a, b in zip(places, places[1:]))


def _reversed(text: str, first: tuple[int, int], second: tuple[int, int]) -> bool:
    """Whether two values are meant the other way round from how they were written: "subtract 45 from
    120" (120 first), "how many pounds is 5 kilograms" (from kilograms to pounds)."""
    return bool(re.search(r"\bfrom\b", text[first[1]:second[0]], re.I)
                or re.search(r"\bhow (?:many|much)\s+$", text[:first[0]], re.I))


def _tool_text(spec: dict[str, Any]) -> str:
    props = (spec.get("parameters") or {}).get("properties") or {}
    params = ", ".join(f"{k} {v.get('description', '')}".strip() for k, v in props.items() if isinstance(v, dict))
    return f"{spec['name'].replace('_', ' ')}: {spec.get('description', '')}. {params}"


def _query(messages: list[dict[str, Any]]) -> str | None:
    query = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), None)
    return query if isinstance(query, str) and query.strip() else None


async def similarities(messages: list[dict[str, Any]], plan: ToolPlan, embed: Embed | None) -> np.ndarray | None:
    """Cosine similarity of the last user message to each tool (name, description, parameters);
    None without an embedding model or a user message."""
    query = _query(messages)
    if query is None or embed is None or (messages and messages[-1].get("role") == "tool"):
        return None
    try:
        vectors = await embed([query] + [_tool_text(s) for s in plan.tools])
    except CupolaError as exc:
        log.warning("tool routing without embeddings (%s)", exc.message)
        return None
    return vectors[1:] @ vectors[0]


NAME_WEIGHT = 0.2  # what naming all of a tool's name words adds to its cosine (chosen on the development set)


def named(messages: list[dict[str, Any]], plan: ToolPlan) -> np.ndarray:
    """For each tool, the share of its name's words the user's last message says ("timer" of set_timer
    in "Set a timer", "balance" of getAccountBalance): the embedding alone ranked set_alarm first for
    "Set a timer for 10 minutes" and bank.transfer_funds for "What's the balance on CHK-001?"."""
    query = _query(messages) or ""
    return np.array([tool_grammar.name_share(spec["name"], query) for spec in plan.tools])


def route_auto(messages: list[dict[str, Any]], scores: np.ndarray | None, threshold: float) -> str:
    """Decide ``auto`` for an engine without native tool support: ``"required"`` or ``"none"``.

    Small models asked to choose freely between text and a call almost never start a call, and
    once told they may call, call for everything. So Cupola decides: after a tool result the model
    answers; otherwise it calls when the last user message is semantically close to one of the
    tools (embedding cosine >= ``threshold``), and answers in text when not. Without an embedding
    model the call is made.
    """
    if messages and messages[-1].get("role") == "tool":
        return "none"
    if scores is None:
        return "required"
    return "required" if float(np.max(scores)) >= threshold else "none"


def finish(result: dict[str, Any], plan: ToolPlan | None) -> dict[str, Any]:
    """A non-streamed answer with tool-call text turned into ``tool_calls``."""
    return adapt_response(result, plan)


def forced(plan: ToolPlan | None) -> bool:
    """Whether the adapter promised a call (``required``, a named function, or ``auto`` routed to a call)."""
    return plan is not None and plan.active and not plan.native and plan.choice not in ("auto", "none")


def missing_call(result: dict[str, Any], plan: ToolPlan | None) -> bool:
    """A forced call that did not come, or came with arguments its function's schema refuses: the
    engine's grammar failed (llama.cpp drops a grammar whose lexer runs out of fuel mid-answer and
    goes on unconstrained). Never returned: neither as text nor as an invalid call."""
    if not forced(plan):
        return False
    message = ((result.get("choices") or [{}])[0]).get("message") or {}
    calls = message.get("tool_calls")
    return not calls or not all(_valid(call, plan) for call in calls)  # type: ignore[arg-type]


def again(request: dict[str, Any], plan: ToolPlan | None) -> dict[str, Any]:
    """The engine body to generate once more after :func:`missing_call`: the next seed and, under the
    adapter's grammar, one that copies nothing from the user's words: llguidance derives far less for
    it, so its lexer does not run out of fuel where the first one did (the call it allows is still
    valid and closes within ``max_tokens``; its free text is bounded, not copied)."""
    out = {**request, "seed": (request.get("seed", 0) + 1) % (2**31 - 1)}
    if plan is not None and plan.constrain == "grammar" and out.get("grammar"):
        out["grammar"] = tool_adapter.grammar(plan, budget_of(request))
    return out


async def answer_again(generate: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]], request: dict[str, Any],
                       plan: ToolPlan | None, note: Callable[[dict[str, str]], None]) -> dict[str, Any]:
    """After :func:`missing_call`: the answer to :func:`again`'s body (``generate`` runs it on the
    engine, ``note`` records why), shaped; the request's error when no valid call came again."""
    note({"what": "tool call", "detail": "no valid call came under a forced tool_choice; generated again "
          "with the next seed and a grammar that copies nothing from the message"})
    result = finish(await generate(again(request, plan)), plan)
    if missing_call(result, plan):
        usage = result.get("usage") or {}
        raise no_call_error(plan, (result.get("choices") or [{}])[0].get("finish_reason"),  # type: ignore[arg-type]
                            usage.get("completion_tokens", 0), usage.get("prompt_tokens"))
    return result


def _valid(call: dict[str, Any], plan: ToolPlan) -> bool:
    """Whether a call names one of the plan's functions with arguments its parameters' schema accepts."""
    function = call.get("function") or {}
    spec = next((t for t in plan.tools if t["name"] == function.get("name")), None)
    if spec is None:
        return False
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except ValueError:
        return False
    schema = spec.get("parameters") or {"type": "object"}
    try:
        return validator_for(schema)(schema).is_valid(arguments)
    except jsonschema.exceptions.SchemaError:  # a schema the validator cannot read: the grammar was the check
        return True


NO_CALL = "the model did not produce a valid tool call under a forced tool_choice (its grammar failed in the engine)"


def no_call_error(plan: ToolPlan, finish_reason: str | None, produced: int, prompt_tokens: int | None = None
                  ) -> CupolaError:
    """Why a forced call did not come. The grammar closes every call within ``max_tokens``, so an
    answer cut short of that budget ran out of context: the conversation is too long for the model
    (a 400 that moves a fallback chain to a model with a larger context), not an engine failure."""
    if finish_reason == "length" and produced < plan.budget:
        prompt = f" ({prompt_tokens} tokens)" if prompt_tokens else ""
        return ContextLengthExceeded(
            f"the conversation{prompt} leaves room for only {produced} tokens of answer in the model's context, "
            f"too few for the tool call (max_tokens {plan.budget}); shorten the conversation or use a model with "
            "a larger context", param="messages")
    return EngineError(NO_CALL)


async def adapt_stream(chunks: AsyncIterator[dict[str, Any]], plan: ToolPlan | None,
                       again: Callable[[], Awaitable[dict[str, Any]]] | None = None) -> AsyncIterator[dict[str, Any]]:
    """A streamed answer with tool-call text turned into ``tool_calls`` deltas (name, then arguments).

    A forced call is held back until it is whole and checked, as the non-streamed answer is
    (:func:`missing_call`): when it did not come or its arguments are refused, ``again()`` (the
    non-streamed :func:`answer_again`) is sent instead, so a grammar the engine dropped never
    reaches the reader as an invalid call, and the streamed call equals the non-streamed one."""
    async with aclosing(chunks):  # type: ignore[type-var]
        if plan is None or not plan.active:
            async for chunk in chunks:
                yield chunk
            return
        shaped = _shaped(chunks, plan)
        if forced(plan) and again is not None:
            shaped = _checked(shaped, plan, again)
        async with aclosing(shaped):  # type: ignore[type-var]
            async for out in shaped:
                yield out


async def _checked(shaped: AsyncIterator[dict[str, Any]], plan: ToolPlan,
                   again: Callable[[], Awaitable[dict[str, Any]]]) -> AsyncIterator[dict[str, Any]]:
    held: list[dict[str, Any]] = []
    failed = False
    try:
        async for chunk in shaped:
            held.append(chunk)
    except EngineError:  # no call came (see no_call_error): generated again below
        failed = True
    if not failed and not missing_call(assemble(held), plan):  # the non-streamed answer's check
        for chunk in held:
            yield chunk
        return
    result = await again()
    template = {"id": result.get("id"), "object": "chat.completion.chunk", "created": result.get("created"),
                "model": result.get("model")}
    yield chunk_like(template, {"role": "assistant", "content": None})
    for index, call in enumerate(result["choices"][0]["message"]["tool_calls"]):
        yield chunk_like(template, _delta(("call", index, call.get("id"), call["function"]["name"])))
        yield chunk_like(template, _delta(("args", index, call["function"]["arguments"])))
    yield chunk_like(template, {}, "tool_calls")
    if result.get("usage"):
        yield {**template, "choices": [], "usage": result["usage"]}


async def _shaped(chunks: AsyncIterator[dict[str, Any]], plan: ToolPlan) -> AsyncIterator[dict[str, Any]]:
    parser = ToolStreamParser(plan.names)
    native_calls = False
    must_call = forced(plan)
    produced = 0  # content chunks: one token each
    role = None  # held back under a forced call until the call begins
    async for chunk in chunks:
        choices = chunk.get("choices") or []
        if not choices:
            yield chunk
            continue
        choice = choices[0]
        delta = choice.get("delta") or {}
        finish_reason = choice.get("finish_reason")
        if delta.get("tool_calls"):
            native_calls = True
            yield chunk
            continue
        produced += bool(delta.get("content"))
        events = parser.feed(delta["content"]) if delta.get("content") else []
        if finish_reason:
            events += parser.close()
        if delta.get("role"):
            role = chunk_like(chunk, {"role": delta["role"], "content": None})
            if not must_call:
                yield role
                role = None
        for event in events:
            if must_call and event[0] == "content":
                continue  # a call was promised: text is never the answer
            if role is not None:  # a promised call's stream starts with the call: a failure before it is a status
                yield role
                role = None
            yield chunk_like(chunk, _delta(event))
        if finish_reason:
            if must_call and not parser.count and not native_calls:
                raise no_call_error(plan, finish_reason, produced)
            if role is not None:
                yield role
                role = None
            if (parser.count or native_calls) and finish_reason == "stop":
                finish_reason = "tool_calls"
            yield chunk_like(chunk, {}, finish_reason)


def _delta(event: tuple) -> dict[str, Any]:
    if event[0] == "content":
        return {"content": event[1]}
    if event[0] == "call":
        _, index, call_id, name = event
        return {"tool_calls": [{"index": index, "id": call_id, "type": "function",
                                "function": {"name": name, "arguments": ""}}]}
    _, index, fragment = event
    return {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}


# -- repeated calls ---------------------------------------------------------------------------
#
# Small models with native tool templates often call the same tool with the same arguments again
# right after its result came back (qwen2.5-coder-0.5b does it every time), so an agent loops until
# its turn limit. When every call of an answer repeats a call that already has a result, the turn
# is generated again without tools, told to answer from the results. Measured on qwen2.5-coder-0.5b
# (6 seeds): with tools it called again 6/6 times; without tools it still wrote the call as text unless
# told otherwise; with this note it answered from the result 6/6 times (also after an agent's own
# system prompt); a vaguer note ("reply from them, without calling a tool again") worked 1/6 times.

ANSWER_NOTE = ("The tool results above answer the user's question: answer the user in plain words from them. "
               "Do not call a tool.")


def _key(name: str, arguments: Any) -> tuple[str, str]:
    try:
        args = json.loads(arguments) if isinstance(arguments, str) else arguments
    except json.JSONDecodeError:
        args = arguments
    return name, json.dumps(args, sort_keys=True)


def answered_calls(body: dict[str, Any]) -> set[tuple[str, str]]:
    """The (name, arguments) of every earlier call that has a tool result in the conversation, when
    the model is free to answer (``tool_choice`` auto): a forced call is never replaced."""
    if body.get("tool_choice") not in (None, "auto"):
        return set()
    messages = body.get("messages") or []
    results = {m.get("tool_call_id") for m in messages if m.get("role") == "tool"}
    out = set()
    for m in messages:
        for call in m.get("tool_calls") or []:
            fn = call.get("function") or {}
            if call.get("id") in results:
                out.add(_key(fn.get("name", ""), fn.get("arguments") or "{}"))
    return out


def repeats(calls: list[dict[str, Any]], answered: set[tuple[str, str]]) -> bool:
    return bool(calls) and all(_key((c.get("function") or {}).get("name", ""),
                                    (c.get("function") or {}).get("arguments") or "{}") in answered for c in calls)


def without_tools(body: dict[str, Any]) -> dict[str, Any]:
    """The body for answering from the tool results: no tools, and a note saying so."""
    out = {k: v for k, v in body.items() if k not in ("tools", "tool_choice", "parallel_tool_calls")}
    messages = list(out.get("messages") or [])
    if messages and messages[0].get("role") == "system":
        messages[0] = {**messages[0], "content": f"{messages[0].get('content') or ''}\n\n{ANSWER_NOTE}".strip()}
    else:
        messages.insert(0, {"role": "system", "content": f"You are a helpful assistant. {ANSWER_NOTE}"})
    out["messages"] = messages
    return out


async def guard_repeats(chunks: AsyncIterator[dict[str, Any]], answered: set[tuple[str, str]],
                        restart: Callable[[], AsyncIterator[dict[str, Any]]]) -> AsyncIterator[dict[str, Any]]:
    """A stream that, if it turns out to be only repeated calls, is replaced by ``restart()``.

    Tool-call deltas are held back until the answer is complete (a call is not shown piecemeal to
    a reader anyway); the first text passes everything held through at once.
    """
    held: list[dict[str, Any]] = []
    passing = False
    async with aclosing(chunks):  # type: ignore[type-var]
        async for chunk in chunks:
            if passing:
                yield chunk
                continue
            held.append(chunk)
            passing = any((choice.get("delta") or {}).get("content") for choice in chunk.get("choices") or [])
            if passing:
                for item in held:
                    yield item
                held = []
        if passing:
            return
    if repeats(assemble(held)["choices"][0]["message"].get("tool_calls") or [], answered):
        async with aclosing(restart()) as again:  # type: ignore[type-var]
            async for chunk in again:
                yield chunk
        return
    for item in held:
        yield item
