"""Names and ids: the one id generator and the one tool-name rule.

* :func:`new_id` makes every id Cupola hands out (``resp_…``, ``call_…``, ``run_…``): a prefix
  saying what it names, then 24 random hex digits.
* A tool (function) name is 1-64 characters of letters, digits, ``_``, ``.`` and ``-``
  (:data:`TOOL_NAME`). OpenAI's own API allows no dots, but public function-calling sets and
  many MCP servers use them (``currency.get_rate``), so Cupola accepts them everywhere.
  :func:`tool_name` turns any label (an agent's name, an MCP tool with a prefix) into a name
  every server accepts: OpenAI's stricter rule, without dots.
"""

from __future__ import annotations

import re
import secrets

TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_NOT_PORTABLE = re.compile(r"[^A-Za-z0-9_-]")


def new_id(prefix: str) -> str:
    """A fresh id: ``prefix_`` and 24 random hex digits (96 bits)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def is_tool_name(name: object) -> bool:
    return isinstance(name, str) and TOOL_NAME.match(name) is not None


def tool_name(label: str) -> str:
    """``label`` made a tool name every server accepts: other characters become ``_``, cut to 64."""
    return (_NOT_PORTABLE.sub("_", label) or "tool")[:64]
