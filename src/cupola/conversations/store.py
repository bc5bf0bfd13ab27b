"""Conversations (``conversations.db``): OpenAI's Conversations API shape, kept in SQLite.

A conversation is an id, a ``metadata`` map (the Studio keeps its ``title`` there) and an ordered
list of items — the same items the Responses API takes and returns: ``message`` items (text
content parts), ``function_call`` / ``function_call_output``, and the server-run tool items
``mcp_call``, ``mcp_approval_request`` / ``mcp_approval_response``. Items are validated on the
way in (type, role, text parts, size) and stored as given otherwise, so a client may keep extra
fields on them (the Studio stores an answer's ``model``, ``usage`` and timing, and the sources of
a grounded answer). Every write is one transaction: a batch of items is added whole or not at all.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from cupola.errors import InvalidParameter, NotFound
from cupola.naming import new_id
from cupola.storage import Database

MAX_ITEMS_PER_REQUEST = 20  # as OpenAI's API
MAX_ITEM_BYTES = 512 * 1024
MAX_METADATA_PAIRS = 16

MIGRATIONS = [
    ("0001_conversations", """
        CREATE TABLE conversations (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            metadata TEXT NOT NULL
        );
        CREATE INDEX conversations_updated ON conversations (updated_at);
        CREATE TABLE items (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            id TEXT NOT NULL,
            item TEXT NOT NULL,
            created_at REAL NOT NULL,
            UNIQUE (conversation_id, id)
        );
        CREATE INDEX items_conversation ON items (conversation_id, seq)
    """),
]

# item type -> id prefix
ITEM_TYPES = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "mcp_call": "mcp",
              "mcp_approval_request": "mcpr", "mcp_approval_response": "mcpa", "mcp_list_tools": "mcpl"}
ROLES = ("user", "assistant", "system", "developer")
TEXT_PARTS = ("input_text", "output_text", "text", "refusal")


def check_metadata(metadata: Any, param: str = "metadata") -> dict[str, str]:
    """OpenAI's metadata rule: at most 16 pairs, keys up to 64 and values up to 512 characters."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidParameter("metadata must be an object of strings", param=param)
    if len(metadata) > MAX_METADATA_PAIRS:
        raise InvalidParameter(f"metadata has {len(metadata)} pairs; at most {MAX_METADATA_PAIRS} are allowed",
                               param=param)
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise InvalidParameter(f"metadata values must be strings ({key!r} is not)", param=f"{param}.{key}")
        if len(key) > 64 or len(value) > 512:
            raise InvalidParameter("metadata keys are at most 64 and values at most 512 characters",
                                   param=f"{param}.{key}")
    return dict(metadata)


def normalize_item(raw: Any, param: str) -> dict[str, Any]:
    """One item, validated, with an id and a status; message content as a list of text parts."""
    if not isinstance(raw, dict):
        raise InvalidParameter("each item must be an object", param=param)
    item = dict(raw)
    kind = item.setdefault("type", "message")
    if not isinstance(kind, str) or kind not in ITEM_TYPES:
        raise InvalidParameter(f"unsupported item type {kind!r}; supported: {', '.join(ITEM_TYPES)}",
                               param=f"{param}.type")
    if "id" in item and not (isinstance(item["id"], str) and 0 < len(item["id"]) <= 128):
        raise InvalidParameter("an item id must be a string of 1-128 characters", param=f"{param}.id")
    if kind == "message":
        if item.get("role") not in ROLES:
            raise InvalidParameter(f"unknown role {item.get('role')!r}; use one of {', '.join(ROLES)}",
                                   param=f"{param}.role")
        item["content"] = _content(item.get("content"), item["role"], f"{param}.content")
    elif kind in ("function_call", "mcp_call", "mcp_approval_request"):
        for key in ("name", "arguments"):
            if not isinstance(item.get(key), str):
                raise InvalidParameter(f"a {kind} item needs a string {key}", param=f"{param}.{key}")
        if kind == "function_call" and not isinstance(item.get("call_id"), str):
            raise InvalidParameter("a function_call item needs a string call_id", param=f"{param}.call_id")
    elif kind == "function_call_output":
        if not isinstance(item.get("call_id"), str):
            raise InvalidParameter("a function_call_output item needs a call_id", param=f"{param}.call_id")
        if not isinstance(item.get("output"), str):
            item["output"] = json.dumps(item.get("output"))
    elif kind == "mcp_approval_response":
        if not isinstance(item.get("approval_request_id"), str) or not isinstance(item.get("approve"), bool):
            raise InvalidParameter("an mcp_approval_response item needs approval_request_id and a boolean approve",
                                   param=param)
    item.setdefault("id", new_id(ITEM_TYPES[kind]))
    if kind in ("message", "function_call", "function_call_output", "mcp_call"):
        item.setdefault("status", "completed")
    if len(json.dumps(item)) > MAX_ITEM_BYTES:
        raise InvalidParameter(f"an item may be at most {MAX_ITEM_BYTES // 1024} KiB of JSON", param=param)
    return item


def _content(content: Any, role: str, param: str) -> list[dict[str, Any]]:
    part_type = "output_text" if role == "assistant" else "input_text"
    if isinstance(content, str):
        return [{"type": part_type, "text": content}]
    if not isinstance(content, list):
        raise InvalidParameter("content must be a string or a list of text parts", param=param)
    parts = []
    for i, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in TEXT_PARTS:
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise InvalidParameter(f"content part {kind!r} is not supported; only text parts are",
                                   param=f"{param}.{i}")
        text = part.get("refusal") if part["type"] == "refusal" else part.get("text")
        if not isinstance(text, str):
            raise InvalidParameter("a text part needs a string text", param=f"{param}.{i}.text")
        parts.append(dict(part))
    return parts


def normalize_items(items: Any, param: str = "items") -> list[dict[str, Any]]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise InvalidParameter("items must be a list", param=param)
    if len(items) > MAX_ITEMS_PER_REQUEST:
        raise InvalidParameter(f"at most {MAX_ITEMS_PER_REQUEST} items can be added at once (got {len(items)})",
                               param=param)
    out = [normalize_item(raw, f"{param}.{i}") for i, raw in enumerate(items)]
    ids = [i["id"] for i in out]
    if len(set(ids)) != len(ids):
        raise InvalidParameter("two items share an id", param=param)
    return out


def _page(rows: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    page = rows[:limit]
    return {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None, "has_more": len(rows) > limit}


def _limit(limit: int) -> int:
    if not 1 <= limit <= 100:
        raise InvalidParameter("limit must be between 1 and 100", param="limit")
    return limit


class ConversationStore:
    def __init__(self, path: Path) -> None:
        self.db = Database(path, MIGRATIONS)

    def close(self) -> None:
        self.db.close()

    @staticmethod
    def _object(row: Any) -> dict[str, Any]:
        return {"id": row["id"], "object": "conversation", "created_at": int(row["created_at"]),
                "updated_at": int(row["updated_at"]), "metadata": json.loads(row["metadata"])}

    def _row(self, conn: Any, conversation_id: str) -> Any:
        row = conn.execute("SELECT * FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise NotFound(f"no conversation with id {conversation_id!r}", param="conversation_id")
        return row

    def _insert_items(self, conn: Any, conversation_id: str, items: list[dict[str, Any]], now: float) -> None:
        taken = [i["id"] for i in items if conn.execute(
            "SELECT 1 FROM items WHERE conversation_id = ? AND id = ?", (conversation_id, i["id"])).fetchone()]
        if taken:
            raise InvalidParameter(f"the conversation already has an item with id {taken[0]!r}", param="items")
        conn.executemany("INSERT INTO items (conversation_id, id, item, created_at) VALUES (?, ?, ?, ?)",
                         [(conversation_id, i["id"], json.dumps(i), now) for i in items])

    # -- conversations ---------------------------------------------------------------------------

    def create(self, metadata: Any = None, items: Any = None) -> dict[str, Any]:
        """A new conversation, with its first items (all or nothing)."""
        meta = check_metadata(metadata)
        first = normalize_items(items)
        conversation_id, now = new_id("conv"), time.time()
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO conversations VALUES (?, ?, ?, ?)",
                         (conversation_id, now, now, json.dumps(meta)))
            self._insert_items(conn, conversation_id, first, now)
        return self.get(conversation_id)

    def get(self, conversation_id: str) -> dict[str, Any]:
        rows = self.db.query("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        if not rows:
            raise NotFound(f"no conversation with id {conversation_id!r}", param="conversation_id")
        return self._object(rows[0])

    def update(self, conversation_id: str, metadata: Any) -> dict[str, Any]:
        """Replace the metadata (as OpenAI's update does)."""
        meta = check_metadata(metadata)
        with self.db.transaction() as conn:
            self._row(conn, conversation_id)
            conn.execute("UPDATE conversations SET metadata = ?, updated_at = ? WHERE id = ?",
                         (json.dumps(meta), time.time(), conversation_id))
        return self.get(conversation_id)

    def delete(self, conversation_id: str) -> dict[str, Any]:
        with self.db.transaction() as conn:
            self._row(conn, conversation_id)
            conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        return {"id": conversation_id, "object": "conversation.deleted", "deleted": True}

    def list(self, *, limit: int = 20, after: str | None = None) -> dict[str, Any]:
        """Conversations, most recently updated first (a Cupola extension of the API)."""
        limit = _limit(limit)
        args: list[Any] = []
        where = ""
        if after:
            rows = self.db.query("SELECT updated_at FROM conversations WHERE id = ?", (after,))
            if not rows:
                raise NotFound(f"no conversation with id {after!r}", param="after")
            where = "WHERE (updated_at, id) < (?, ?)"
            args = [rows[0][0], after]
        rows = self.db.query(f"SELECT * FROM conversations {where} ORDER BY updated_at DESC, id DESC LIMIT ?",
                             (*args, limit + 1))
        return _page([self._object(r) for r in rows], limit)

    # -- items -----------------------------------------------------------------------------------

    def add_items(self, conversation_id: str, items: Any) -> dict[str, Any]:
        new = normalize_items(items)
        if not new:
            raise InvalidParameter("give at least one item", param="items")
        now = time.time()
        with self.db.transaction() as conn:
            self._row(conn, conversation_id)
            self._insert_items(conn, conversation_id, new, now)
            conn.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id))
        return _page(new, len(new))

    def items(self, conversation_id: str, *, limit: int = 20, order: str = "desc",
              after: str | None = None) -> dict[str, Any]:
        limit = _limit(limit)
        if order not in ("asc", "desc"):
            raise InvalidParameter("order must be 'asc' or 'desc'", param="order")
        self.get(conversation_id)
        op, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
        where, args = "conversation_id = ?", [conversation_id]
        if after:
            rows = self.db.query("SELECT seq FROM items WHERE conversation_id = ? AND id = ?", (conversation_id, after))
            if not rows:
                raise NotFound(f"no item {after!r} in conversation {conversation_id!r}", param="after")
            where += f" AND seq {op} ?"
            args.append(rows[0][0])
        rows = self.db.query(f"SELECT item FROM items WHERE {where} ORDER BY seq {direction} LIMIT ?",
                             (*args, limit + 1))
        return _page([json.loads(r[0]) for r in rows], limit)

    def item(self, conversation_id: str, item_id: str) -> dict[str, Any]:
        self.get(conversation_id)
        rows = self.db.query("SELECT item FROM items WHERE conversation_id = ? AND id = ?", (conversation_id, item_id))
        if not rows:
            raise NotFound(f"no item {item_id!r} in conversation {conversation_id!r}", param="item_id")
        return json.loads(rows[0][0])

    def delete_item(self, conversation_id: str, item_id: str) -> dict[str, Any]:
        """Remove one item; returns the conversation (as OpenAI's API does)."""
        with self.db.transaction() as conn:
            self._row(conn, conversation_id)
            gone = conn.execute("DELETE FROM items WHERE conversation_id = ? AND id = ?",
                                (conversation_id, item_id)).rowcount
            if not gone:
                raise NotFound(f"no item {item_id!r} in conversation {conversation_id!r}", param="item_id")
            conn.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (time.time(), conversation_id))
        return self.get(conversation_id)
