"""Schemathesis checks of Cupola's own contract, loaded by bench/fuzz_api.py (SCHEMATHESIS_HOOKS=fuzz_checks).

Every 4xx and 5xx answer must carry the OpenAI error body {"error": {"message", "type", "param", "code"}}
(message and type strings; param and code strings or null) — /health's 503 is its own status body.
"""

from __future__ import annotations

import json

import schemathesis


@schemathesis.check
def openai_error_body(ctx, response, case):
    if response.status_code < 400 or (response.status_code == 503 and case.path == "/health"):
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"a {response.status_code} answer whose body is not JSON: {response.content[:200]!r}")
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or set(error) != {"message", "type", "param", "code"}:
        raise AssertionError(f"a {response.status_code} answer without the OpenAI error body: {body!r:.300}")
    if not isinstance(error["message"], str) or not isinstance(error["type"], str):
        raise AssertionError(f"error.message and error.type must be strings: {error!r:.300}")
    for key in ("param", "code"):
        if error[key] is not None and not isinstance(error[key], str):
            raise AssertionError(f"error.{key} must be a string or null: {error!r:.300}")
    return None


@schemathesis.hook
def after_call(ctx, case, response):
    """Count every request and its status (bench/fuzz_api.py reads the log named by $CUPOLA_FUZZ_LOG)."""
    import os

    path = os.environ.get("CUPOLA_FUZZ_LOG")
    if path:
        with open(path, "a") as fh:
            fh.write(f"{case.method} {case.path} {response.status_code}\n")
