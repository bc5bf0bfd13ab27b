"""Replaying a recorded request with its execution contract: the same model, messages, tools and
decode settings (the seed included), and a comparison with the recorded output, token by token."""

from __future__ import annotations

from typing import Any

from cupola.config import Settings
from cupola.errors import UsageError

_REPLAYED = ("temperature", "top_p", "top_k", "min_p", "presence_penalty", "frequency_penalty", "repeat_penalty",
             "seed", "max_tokens", "stop", "logit_bias", "ignore_eos", "response_format", "tool_choice",
             "parallel_tool_calls", "tools")


def body_of(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The model and the request body that reproduce a recorded request."""
    content = row.get("content")
    if not content:
        raise UsageError(f"request {row['id']} was recorded without its content, so it cannot be replayed",
                         hint="set capture_content = true (config.toml or CUPOLA_CAPTURE_CONTENT=1) and run it again")
    if row["endpoint"] == "embeddings":
        raise UsageError("embeddings are deterministic; replay chat and completion requests")
    params = content.get("params") or {}
    body: dict[str, Any] = {k: params[k] for k in _REPLAYED if params.get(k) is not None}
    for key in ("messages", "prompt", "tools"):
        if content.get(key) is not None:
            body[key] = content[key]
    return row["model"], body


def divergence(original: str, tokens: list[str]) -> dict[str, Any] | None:
    """Where a replay's tokens first leave the original text (None when identical)."""
    replay = "".join(tokens)
    if replay == original:
        return None
    pos = 0
    for index, token in enumerate(tokens):
        if original[pos:pos + len(token)] != token:
            return {"token": index, "char": pos, "original": original[pos:pos + max(len(token), 12)],
                    "replay": token}
        pos += len(token)
    return {"token": len(tokens), "char": pos, "original": original[pos:pos + 12], "replay": "(end)"}


async def replay(settings: Settings, row: dict[str, Any], n: int, url: str | None = None) -> dict[str, Any]:
    """Replay in this process (the default: the same engine settings) or on the server at ``url``."""
    model, body = body_of(row)
    original = (row.get("content") or {}).get("output", "")
    runs = []
    if url is None:
        from cupola.runtime.runtime import Runtime

        runtime = Runtime(settings.model_copy(update={"parallel": 1}))

        async def chunks() -> Any:
            streamed = await runtime.open_stream(model, body, endpoint=row["endpoint"])
            async for chunk in streamed:
                yield chunk

        close = runtime.close
    else:
        if row["endpoint"] != "chat":
            raise UsageError("replaying a text completion on a server is not supported; replay it locally")
        from cupola.client import RemoteClient

        client = RemoteClient(url, settings.api_key)

        def chunks() -> Any:
            return client.stream(model, body["messages"], **{k: v for k, v in body.items() if k != "messages"})

        close = client.aclose
    try:
        for _ in range(n):
            tokens: list[str] = []
            async for chunk in chunks():
                for choice in chunk.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content") or choice.get("text")
                    if piece:
                        tokens.append(piece)
            where = divergence(original, tokens)
            runs.append({"identical": where is None, "chars": len("".join(tokens)), "tokens": len(tokens),
                         "divergence": where, "output": "".join(tokens)})
    finally:
        await close()
    return {"request_id": row["id"], "model": model, "n": n, "identical": sum(r["identical"] for r in runs),
            "runs": runs}
