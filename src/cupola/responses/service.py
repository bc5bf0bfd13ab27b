"""The Responses API on top of the runtime's chat completions.

A request becomes chat messages (the stored conversation of ``previous_response_id``, then
``instructions`` as the system message, then the new input items), runs as one chat completion,
and its answer becomes output items. Streaming translates chat chunks into the typed Responses
events, each with a ``sequence_number``. Finished responses are stored (``store`` defaults to
true) with the conversation so far, so a chain continues after a restart.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from cupola.errors import CupolaError, NotFound
from cupola.naming import new_id
from cupola.responses import convert, grounded
from cupola.responses.store import ResponseStore
from cupola.runtime.runtime import Runtime


class Prepared:
    """A validated request, ready to run: its chat body, input items and prior conversation."""

    def __init__(self, request: dict[str, Any], items: list[dict[str, Any]], history: list[dict[str, Any]],
                 body: dict[str, Any]) -> None:
        self.request = request
        self.items = items
        self.history = history  # conversation before this request (without instructions)
        self.body = body
        self.id = new_id("resp")
        self.created_at = time.time()
        self.grounding: dict[str, Any] | None = None  # the `knowledge` option (see responses.grounded)
        self.knowledge: Any = None


class ResponsesService:
    def __init__(self, runtime: Runtime, store: ResponseStore) -> None:
        self.runtime = runtime
        self.store = store

    # -- reading ----------------------------------------------------------------------------

    def get(self, response_id: str) -> dict[str, Any]:
        found = self.store.get(response_id)
        if found is None:
            raise NotFound(f"no response with id {response_id!r}", param="response_id")
        return found

    def input_items(self, response_id: str) -> list[dict[str, Any]]:
        items = self.store.input_items(response_id)
        if items is None:
            raise NotFound(f"no response with id {response_id!r}", param="response_id")
        return items

    def delete(self, response_id: str) -> dict[str, Any]:
        if not self.store.delete(response_id):
            raise NotFound(f"no response with id {response_id!r}", param="response_id")
        return {"id": response_id, "object": "response", "deleted": True}

    # -- creating ---------------------------------------------------------------------------

    def prepare(self, request: dict[str, Any]) -> Prepared:
        history: list[dict[str, Any]] = []
        previous = request.get("previous_response_id")
        if previous:
            found = self.store.history(previous)
            if found is None:
                raise NotFound(f"previous response {previous!r} not found (deleted, or stored with store=false)",
                               param="previous_response_id")
            history = found
        items = convert.normalize_input(request["input"])
        messages = list(history)
        if request.get("instructions"):
            messages.insert(0, {"role": "system", "content": request["instructions"]})
        messages += convert.items_to_messages(items)
        body: dict[str, Any] = {"messages": messages}
        for key in ("temperature", "top_p", "seed", "top_k", "min_p"):
            if request.get(key) is not None:
                body[key] = request[key]
        if request.get("max_output_tokens") is not None:
            body["max_tokens"] = request["max_output_tokens"]
        tools = convert.chat_tools(request.get("tools"))
        if tools:
            body["tools"] = tools
            if request.get("tool_choice") is not None:
                body["tool_choice"] = convert.chat_tool_choice(request["tool_choice"])
            if request.get("parallel_tool_calls") is not None:
                body["parallel_tool_calls"] = request["parallel_tool_calls"]
        fmt = convert.chat_response_format(request.get("text"))
        if fmt:
            body["response_format"] = fmt
        return Prepared(request, items, history, body)

    def finish(self, prep: Prepared, output: list[dict[str, Any]], usage: dict[str, Any] | None,
               finish_reason: str | None) -> dict[str, Any]:
        """The response object for finished output; stored (with the conversation) unless store=false."""
        incomplete = "max_output_tokens" if finish_reason == "length" else None
        response = convert.response_object(prep.request, prep.id, status="incomplete" if incomplete else "completed",
                                           output=output, usage=convert.usage_of(usage), incomplete=incomplete,
                                           created_at=prep.created_at)
        if prep.grounding is not None:
            response["knowledge"] = {"citations": [], **prep.grounding}
        if prep.request.get("store", True):
            history = prep.history + convert.items_to_messages(prep.items) + convert.output_messages(output)
            self.store.save(response, prep.items, history)
        return response

    async def create(self, prep: Prepared, keep_alive: Any = None) -> dict[str, Any]:
        done = await self.runtime.complete(prep.request["model"], prep.body, keep_alive=keep_alive)
        prep.request["model"] = done.route.model  # the model that answered (a router's pick, a fallback)
        choice = done.response["choices"][0]
        output = convert.output_items(choice["message"])
        if prep.grounding is not None:
            await grounded.annotate(prep, output)
        return self.finish(prep, output, done.response.get("usage"), choice.get("finish_reason"))

    async def stream(self, prep: Prepared, keep_alive: Any = None) -> AsyncIterator[dict[str, Any]]:
        streamed = await self.runtime.open_stream(prep.request["model"],
                                                  {**prep.body, "stream_options": {"include_usage": True}},
                                                  keep_alive=keep_alive)
        prep.request["model"] = streamed.route.model
        async with aclosing(streamed):
            events = EventStream(self, prep, aiter(streamed)).events()
            if prep.grounding is not None:
                events = grounded.annotate_events(prep, events)
            async for event in events:
                yield event


class EventStream:
    """Turns chat chunks into Responses streaming events.

    Subclasses feed other sources (a hosted agent's run events) through the same machinery by
    overriding :meth:`on_chunk`, and add their own output items with :meth:`add_item` /
    :meth:`item_done`; :meth:`end_text` closes the current message item so that text after a
    tool call starts a new one.
    """

    def __init__(self, service: ResponsesService, prep: Prepared, chunks: AsyncIterator[dict[str, Any]]) -> None:
        self.service = service
        self.prep = prep
        self.chunks = chunks
        self.seq = 0
        self.output: list[dict[str, Any]] = []
        self.text_item: dict[str, Any] | None = None
        self.text = ""
        self.calls: dict[int, dict[str, Any]] = {}  # tool-call index -> function_call item
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.error: CupolaError | None = None  # why the response failed, when it did

    def event(self, type_: str, **fields: Any) -> dict[str, Any]:
        data = {"type": type_, "sequence_number": self.seq, **fields}
        self.seq += 1
        return data

    def snapshot(self, status: str, **extra: Any) -> dict[str, Any]:
        return convert.response_object(self.prep.request, self.prep.id, status=status, output=list(self.output),
                                       created_at=self.prep.created_at, **extra)

    async def first(self) -> dict[str, Any] | None:
        """The first chunk, fetched before any event so that errors become HTTP statuses."""
        try:
            return await self.chunks.__anext__()
        except StopAsyncIteration:
            return None

    async def _from(self, first: dict[str, Any] | None) -> AsyncIterator[dict[str, Any]]:
        """The chunks again, the already fetched first one included."""
        if first is not None:
            yield first
        async for chunk in self.chunks:
            yield chunk

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        first = await self.first()
        yield self.event("response.created", response=self.snapshot("in_progress"))
        yield self.event("response.in_progress", response=self.snapshot("in_progress"))
        try:
            async for chunk in self._from(first):
                for ev in self.on_chunk(chunk):
                    yield ev
        except CupolaError as exc:
            self.error = exc
            error = {"code": exc.code or exc.type, "message": exc.message}
            yield self.event("response.failed", response=self.snapshot("failed", error=error))
            return
        for ev in self.close_items():
            yield ev
        response = self.service.finish(self.prep, self.output, self.usage, self.finish_reason)
        kind = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
        yield self.event(kind, response=response)

    def on_chunk(self, chunk: dict[str, Any]):
        """Events for one chat chunk: text deltas and tool-call fragments."""
        self.usage = chunk.get("usage") or self.usage
        for choice in chunk.get("choices") or []:
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
            delta = choice.get("delta") or {}
            if delta.get("content"):
                yield from self.on_text(delta["content"])
            for call in delta.get("tool_calls") or []:
                yield from self.on_tool_call(call)

    def add_item(self, item: dict[str, Any]):
        self.output.append(item)
        yield self.event("response.output_item.added", output_index=len(self.output) - 1, item=dict(item))

    def item_done(self, item: dict[str, Any]):
        item["status"] = item.get("status") if item.get("status") not in (None, "in_progress") else "completed"
        yield self.event("response.output_item.done", output_index=self.output.index(item), item=dict(item))

    def on_text(self, delta: str):
        if self.text_item is None:
            self.text_item = convert.message_item("", status="in_progress")
            self.text_item["content"] = []
            yield from self.add_item(self.text_item)
            yield self.event("response.content_part.added", item_id=self.text_item["id"],
                             output_index=len(self.output) - 1, content_index=0,
                             part={"type": "output_text", "text": "", "annotations": []})
        self.text += delta
        yield self.event("response.output_text.delta", item_id=self.text_item["id"],
                         output_index=self.output.index(self.text_item), content_index=0, delta=delta, logprobs=[])

    def end_text(self):
        """Close the open message item (if any): the next text starts a new one."""
        item = self.text_item
        if item is None:
            return
        index = self.output.index(item)
        part = {"type": "output_text", "text": self.text, "annotations": [], "logprobs": []}
        yield self.event("response.output_text.done", item_id=item["id"], output_index=index,
                         content_index=0, text=self.text, logprobs=[])
        yield self.event("response.content_part.done", item_id=item["id"], output_index=index,
                         content_index=0, part=part)
        item["content"] = [part]
        self.text_item, self.text = None, ""
        yield from self.item_done(item)

    def on_tool_call(self, call: dict[str, Any]):
        index = call.get("index", 0)
        fn = call.get("function") or {}
        item = self.calls.get(index)
        if item is None:
            item = convert.function_call_item(call.get("id") or new_id("call"), fn.get("name") or "", "",
                                              status="in_progress")
            self.calls[index] = item
            yield from self.add_item(item)
        elif fn.get("name"):
            item["name"] += fn["name"]
        if fn.get("arguments"):
            item["arguments"] += fn["arguments"]
            yield self.event("response.function_call_arguments.delta", item_id=item["id"],
                             output_index=self.output.index(item), delta=fn["arguments"])

    def close_items(self):
        yield from self.end_text()
        for item in self.calls.values():
            yield self.event("response.function_call_arguments.done", item_id=item["id"],
                             output_index=self.output.index(item), arguments=item["arguments"], name=item["name"])
            yield from self.item_done(item)
