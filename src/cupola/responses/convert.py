"""Translate between the Responses API's items and chat-completion messages."""

from __future__ import annotations

import json
import time
from typing import Any

from cupola.errors import InvalidParameter
from cupola.naming import new_id


def _text_of(content: Any, param: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") not in ("input_text", "output_text", "text"):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise InvalidParameter(f"content part {kind!r} is not supported; only text parts are", param=param)
            parts.append(str(part.get("text", "")))
        return "".join(parts)
    raise InvalidParameter("content must be a string or a list of text parts", param=param)


def normalize_input(input_: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The request's input as a list of items, each with an id (as ``input_items`` lists them)."""
    if isinstance(input_, str):
        input_ = [{"type": "message", "role": "user", "content": input_}]
    items = []
    for i, raw in enumerate(input_):
        if not isinstance(raw, dict):
            raise InvalidParameter("each input item must be an object", param=f"input.{i}")
        item = dict(raw)
        kind = item.setdefault("type", "message")
        if kind == "message":
            if item.get("role") not in ("user", "assistant", "system", "developer"):
                raise InvalidParameter(f"unknown role {item.get('role')!r}", param=f"input.{i}.role")
            text = _text_of(item.get("content"), f"input.{i}.content")
            part_type = "output_text" if item["role"] == "assistant" else "input_text"
            item["content"] = [{"type": part_type, "text": text}]
            item.setdefault("id", new_id("msg"))
            item.setdefault("status", "completed")
        elif kind == "function_call":
            for key in ("call_id", "name", "arguments"):
                if not isinstance(item.get(key), str):
                    raise InvalidParameter(f"a function_call item needs a string {key}", param=f"input.{i}.{key}")
            item.setdefault("id", new_id("fc"))
            item.setdefault("status", "completed")
        elif kind == "function_call_output":
            if not isinstance(item.get("call_id"), str):
                raise InvalidParameter("a function_call_output item needs a call_id", param=f"input.{i}.call_id")
            output = item.get("output")
            item["output"] = output if isinstance(output, str) else json.dumps(output)
            item.setdefault("id", new_id("fco"))
            item.setdefault("status", "completed")
        elif kind == "mcp_call":  # a server-run tool call from an earlier response, with its result
            for key in ("name", "arguments"):
                if not isinstance(item.get(key), str):
                    raise InvalidParameter(f"an mcp_call item needs a string {key}", param=f"input.{i}.{key}")
            item.setdefault("id", new_id("mcp"))
            item.setdefault("status", "completed")
        elif kind in ("mcp_approval_request", "mcp_list_tools"):
            item.setdefault("id", new_id("mcpr" if kind == "mcp_approval_request" else "mcpl"))
        elif kind == "mcp_approval_response":
            raise InvalidParameter("an mcp_approval_response continues a response paused for approval: send it "
                                   "with that response's previous_response_id", param=f"input.{i}.type")
        elif kind == "item_reference":
            raise InvalidParameter("item_reference items are not supported; use previous_response_id",
                                   param=f"input.{i}.type")
        else:
            raise InvalidParameter(f"unsupported input item type {kind!r}", param=f"input.{i}.type")
        items.append(item)
    return items


def items_to_messages(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages for items: consecutive function calls become one assistant message."""
    messages: list[dict[str, Any]] = []
    for item in items:
        kind = item["type"]
        if kind == "message":
            role = "system" if item["role"] == "developer" else item["role"]
            messages.append({"role": role, "content": _text_of(item["content"], "input")})
        elif kind == "function_call":
            call = {"id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]}}
            last = messages[-1] if messages else None
            if last and last["role"] == "assistant" and last.get("tool_calls") is not None and not last.get("content"):
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": item["output"]})
        elif kind == "mcp_call":  # a server-run call: the call and its result (consecutive ones grouped)
            call = {"id": item["id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"] or "{}"}}
            result = {"role": "tool", "tool_call_id": item["id"],
                      "content": item.get("output") if item.get("output") is not None
                      else f"Error: {item.get('error') or 'no result'}"}
            group = messages[-1].get("_mcp") if messages else None
            if group is not None:
                group["tool_calls"].append(call)
                messages.append(result)
                messages[-1]["_mcp"] = group
            else:
                head = {"role": "assistant", "content": None, "tool_calls": [call]}
                messages += [head, result]
                messages[-1]["_mcp"] = head
        # mcp_approval_request / mcp_list_tools: nothing the model needs to see again
    for message in messages:
        message.pop("_mcp", None)
    return messages


def chat_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if not tools:
        return None
    out = []
    for i, tool in enumerate(tools):
        if tool.get("type") != "function":
            raise InvalidParameter(f"tool type {tool.get('type')!r} is not supported; only function tools are",
                                   param=f"tools.{i}.type")
        if not tool.get("name"):
            raise InvalidParameter("a function tool needs a name", param=f"tools.{i}.name")
        fn = {"name": tool["name"], "parameters": tool.get("parameters") or {"type": "object", "properties": {}}}
        if tool.get("description"):
            fn["description"] = tool["description"]
        if tool.get("strict") is not None:
            fn["strict"] = tool["strict"]
        out.append({"type": "function", "function": fn})
    return out


def chat_tool_choice(choice: Any) -> Any:
    if choice is None or isinstance(choice, str):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise InvalidParameter("tool_choice must be 'auto', 'none', 'required' or {'type': 'function', 'name': ...}",
                           param="tool_choice")


def chat_response_format(text: dict[str, Any] | None) -> dict[str, Any] | None:
    fmt = (text or {}).get("format")
    if not fmt or fmt.get("type") == "text":
        return None
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema":
        if not isinstance(fmt.get("schema"), dict):
            raise InvalidParameter("text.format json_schema needs a schema object", param="text.format.schema")
        spec = {"name": fmt.get("name") or "output", "schema": fmt["schema"]}
        if fmt.get("strict") is not None:
            spec["strict"] = fmt["strict"]
        return {"type": "json_schema", "json_schema": spec}
    raise InvalidParameter(f"unsupported text.format type {fmt.get('type')!r}", param="text.format.type")


def message_item(text: str, status: str = "completed", item_id: str | None = None) -> dict[str, Any]:
    return {"type": "message", "id": item_id or new_id("msg"), "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}


def function_call_item(call_id: str, name: str, arguments: str, status: str = "completed",
                       item_id: str | None = None) -> dict[str, Any]:
    return {"type": "function_call", "id": item_id or new_id("fc"), "call_id": call_id, "name": name,
            "arguments": arguments, "status": status}


def output_items(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A chat completion's assistant message as Responses output items."""
    items = []
    if message.get("content"):
        items.append(message_item(message["content"]))
    for call in message.get("tool_calls") or []:
        items.append(function_call_item(call.get("id") or new_id("call"), call["function"]["name"],
                                        call["function"].get("arguments") or "{}"))
    return items


def output_messages(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Output items back into chat messages (for the stored conversation)."""
    return items_to_messages(items)


def usage_of(usage: dict[str, Any] | None) -> dict[str, Any]:
    usage = usage or {}
    inp, out = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    return {"input_tokens": inp, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": out, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": inp + out}


def response_object(request: dict[str, Any], response_id: str, *, status: str, output: list[dict[str, Any]],
                    usage: dict[str, Any] | None = None, error: dict[str, Any] | None = None,
                    incomplete: str | None = None, created_at: float | None = None) -> dict[str, Any]:
    return {
        "id": response_id, "object": "response", "created_at": int(created_at or time.time()),
        "status": status, "model": request["model"], "output": output,
        "output_text": "".join(p["text"] for it in output if it["type"] == "message" for p in it["content"]),
        "error": error, "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": request.get("instructions"), "metadata": request.get("metadata") or {},
        "previous_response_id": request.get("previous_response_id"),
        "temperature": request.get("temperature"), "top_p": request.get("top_p"),
        "max_output_tokens": request.get("max_output_tokens"),
        "tools": request.get("tools") or [], "tool_choice": request.get("tool_choice") or "auto",
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "text": request.get("text") or {"format": {"type": "text"}},
        "store": request.get("store", True), "usage": usage,
        **({"agent": request["agent"]} if request.get("agent") else {}),
    }
