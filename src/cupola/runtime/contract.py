"""The execution contract of a generation: everything that decided what a model answered.

"If you only log the user prompt, you have not logged the request." For every chat, completion
and embedding call the runtime records, next to the request record:

* ``input``: prompt tokens after templating, the sha256 of the exact rendered prompt (for llama.cpp
  the text its chat template produced; for upstreams the canonical JSON request sent), of the chat
  template, of the system message, of the tool schemas, of the messages;
* ``shaping``: what was dropped or shortened on the way and why (``tracing.note_shaping``);
* ``decode``: the sampling configuration actually applied after merging the catalog's defaults, the
  request and any router or agent settings — the seed included, also when the caller gave none
  (Cupola picks one, so a request can be replayed), and the hash of a grammar or JSON schema;
* ``execution``: model and file sha256, engine and version, where it ran and why (route), how many
  requests were running on the engine when it started, queue time, prompt tokens served from the
  prefix cache, time to first token, tokens/s, finish reason;
* ``trace``: trace and span ids, and the agent run, workflow step and turn it belongs to.

Messages and outputs are stored only with ``capture_content = true``; the hashes let two requests be
compared without them (``cupola requests diff``).
"""

from __future__ import annotations

from typing import Any

from cupola.digest import canonical, sha256

DECODE_KEYS = ("temperature", "top_p", "top_k", "min_p", "presence_penalty", "frequency_penalty", "repeat_penalty",
               "seed", "max_tokens", "stop", "logit_bias", "ignore_eos", "tool_choice", "parallel_tool_calls")


def _system(messages: list[dict[str, Any]]) -> str | None:
    for m in messages:
        if m.get("role") in ("system", "developer"):
            content = m.get("content")
            return content if isinstance(content, str) else canonical(content)
    return None


SPEECH = ("transcriptions", "translations")
SPEECH_KEYS = ("task", "language", "temperature", "vad_filter", "word_timestamps")


def decode(request: dict[str, Any], seed_source: str | None, endpoint: str = "chat") -> dict[str, Any]:
    """The decode configuration the engine received (after defaults, adapters, routers)."""
    if endpoint in SPEECH:
        return {k: request[k] for k in SPEECH_KEYS if request.get(k) is not None}
    out = {k: request[k] for k in DECODE_KEYS if request.get(k) is not None}
    if "seed" in out:
        out["seed_source"] = seed_source or "request"
    if request.get("grammar"):
        out["grammar_sha256"] = sha256(request["grammar"])
    fmt = request.get("response_format")
    if fmt:
        out["response_format"] = fmt.get("type")
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema is not None:
            out["json_schema_sha256"] = sha256(schema)
    return out


def inputs(body: dict[str, Any], request: dict[str, Any], endpoint: str) -> dict[str, Any]:
    """What went in, as hashes: the caller's body and the engine's request."""
    if endpoint == "embeddings":
        return {"texts": len(body.get("input") or []), "texts_sha256": sha256(body.get("input"))}
    if endpoint in SPEECH:
        audio = body.get("audio") or b""
        return {"audio_bytes": len(audio), "audio_sha256": sha256(bytes(audio)),
                "prompt_sha256": sha256(body.get("prompt"))}
    if endpoint != "chat":
        return {"prompt_sha256": sha256(body.get("prompt"))}
    messages = body.get("messages") or []
    sent = request.get("messages") or messages
    return {"messages": len(messages), "messages_sha256": sha256(messages),
            "system_sha256": sha256(_system(sent)), "tools": len(body.get("tools") or []),
            "tools_sha256": sha256(body.get("tools")) if body.get("tools") else None,
            "tools_rendered_by": None}


def timing_fields(timings: dict[str, Any], usage: dict[str, Any] | None) -> dict[str, Any]:
    """The engine's own timings (llama.cpp's ``timings``; queue time added by the engine bridge)."""
    out: dict[str, Any] = {}
    if "queue_ms" in timings:
        out["queue_ms"] = round(float(timings["queue_ms"]), 2)
    cached = timings.get("cache_n")
    if cached is None:
        cached = ((usage or {}).get("prompt_tokens_details") or {}).get("cached_tokens")
    if cached is not None:
        out["cached_prompt_tokens"] = int(cached)
    if timings.get("prompt_ms") is not None:
        out["prompt_ms"] = round(float(timings["prompt_ms"]), 2)
    if timings.get("predicted_per_second") is not None:
        out["tokens_per_s"] = round(float(timings["predicted_per_second"]), 2)
    return out


def diff(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[tuple[str, Any, Any]]:
    """The fields where two contracts differ, as (dotted path, a's value, b's value)."""
    out: list[tuple[str, Any, Any]] = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        path = f"{prefix}{key}"
        if isinstance(va, dict) and isinstance(vb, dict):
            out += diff(va, vb, path + ".")
        elif va != vb:
            out.append((path, va, vb))
    return out


# Fields that differ between any two requests and say nothing about why outputs differ (or only
# restate a difference shown elsewhere: the whole request's hash changes with any decode field).
VOLATILE = ("trace.", "input.request_sha256", "execution.queue_ms", "execution.ttft_ms", "execution.duration_ms", "execution.tokens_per_s",
            "execution.prompt_ms", "execution.concurrent", "execution.queued", "execution.cached_prompt_tokens",
            "request_id", "created_at")


def meaningful(changes: list[tuple[str, Any, Any]]) -> list[tuple[str, Any, Any]]:
    return [c for c in changes if not c[0].startswith(VOLATILE)]
