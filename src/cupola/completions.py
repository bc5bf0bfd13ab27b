"""OpenAI chat-completion shapes: chunks assembled into a response, and chunks built.

Engines stream; a non-streaming request is the same stream assembled (so a client that goes away
stops its generation in both cases). The one assembler serves every engine and the tests.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing
from typing import Any

from cupola.naming import new_id


def assemble(chunks: Iterable[dict[str, Any]], endpoint: str = "chat") -> dict[str, Any]:
    """One chat.completion (or text_completion) from its streamed chunks."""
    rid, model, created = None, None, None
    text: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish, usage, role = None, None, "assistant"
    extra: dict[str, Any] = {}
    logprobs: list[Any] = []
    timings: dict[str, Any] = {}
    for chunk in chunks:
        timings.update(chunk.get("timings") or {})
        rid = rid or chunk.get("id")
        model = model or chunk.get("model")
        created = created or chunk.get("created")
        usage = chunk.get("usage") or usage
        for key in ("knowledge", "system_fingerprint"):
            if key in chunk:
                extra[key] = chunk[key] if key != "knowledge" else {**extra.get(key, {}), **chunk[key]}
        for choice in chunk.get("choices") or []:
            finish = choice.get("finish_reason") or finish
            if endpoint != "chat":
                text.append(choice.get("text") or "")
                continue
            delta = choice.get("delta") or {}
            role = delta.get("role") or role
            if delta.get("content"):
                text.append(delta["content"])
            if (choice.get("logprobs") or {}).get("content"):
                logprobs += choice["logprobs"]["content"]
            for tc in delta.get("tool_calls") or []:
                call = calls.setdefault(tc.get("index", len(calls)),
                                        {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
                call["id"] = tc.get("id") or call["id"]
                fn = tc.get("function") or {}
                call["function"]["name"] += fn.get("name") or ""
                call["function"]["arguments"] += fn.get("arguments") or ""
    content = "".join(text)
    if endpoint != "chat":
        choice: dict[str, Any] = {"index": 0, "text": content, "finish_reason": finish, "logprobs": None}
        obj = "text_completion"
    else:
        message: dict[str, Any] = {"role": role, "content": content if content or not calls else None}
        if calls:
            message["tool_calls"] = [dict(calls[i], id=calls[i]["id"] or new_id("call")) for i in sorted(calls)]
        choice = {"index": 0, "message": message, "finish_reason": finish,
                  "logprobs": {"content": logprobs} if logprobs else None}
        obj = "chat.completion"
    out = {"id": rid or new_id("chatcmpl"), "object": obj, "created": created or int(time.time()),
           "model": model, "choices": [choice], **extra}
    if usage is not None:
        out["usage"] = usage
    if timings:
        out["timings"] = timings
    return out


async def collect(chunks: AsyncIterator[dict[str, Any]], endpoint: str = "chat") -> dict[str, Any]:
    """Drain an async chunk stream and :func:`assemble` it (closing the stream if cancelled)."""
    async with aclosing(chunks):  # type: ignore[type-var]
        got = [chunk async for chunk in chunks]
    return assemble(got, endpoint)


def chunk_like(template: dict[str, Any], delta: dict[str, Any] | None = None, finish: str | None = None,
               *, endpoint: str = "chat") -> dict[str, Any]:
    """A chunk with ``template``'s id/model/created and one choice carrying ``delta``."""
    out = {k: v for k, v in template.items() if k not in ("choices", "usage")}
    if endpoint == "chat":
        out["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    else:
        out["choices"] = [{"index": 0, "text": (delta or {}).get("content", ""), "finish_reason": finish}]
    return out


def text_of(response: dict[str, Any]) -> str:
    """The answer text of a chat.completion or text_completion."""
    choices = response.get("choices") or [{}]
    choice = choices[0]
    if "message" in choice:
        return choice["message"].get("content") or ""
    return choice.get("text") or ""
