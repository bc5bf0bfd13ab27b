"""Digests: the canonical JSON of a value and its sha256 (contracts compare requests by these)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 kept: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256(value: Any) -> str | None:
    """The hex sha256 of a string, or of a value's canonical JSON; None for None."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return hashlib.sha256(value).hexdigest()
    text = value if isinstance(value, str) else canonical(value)
    return hashlib.sha256(text.encode()).hexdigest()


PROMPT_FIELDS = ("messages", "prompt", "tools", "tool_choice", "parallel_tool_calls", "response_format")


def prompt_sha256(request: dict[str, Any]) -> str | None:
    """The sha256 of what a request asks the model to read (messages, prompt, tools, format), not of how
    it is sampled: where no engine renders the prompt, this stands for the rendered prompt."""
    return sha256({k: request[k] for k in PROMPT_FIELDS if k in request})
