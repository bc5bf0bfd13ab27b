"""Stored responses (``responses.db``): the response, its input items, and the conversation
up to it, so ``previous_response_id`` continues a conversation, also after a restart."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from cupola.storage import Database

MIGRATIONS = [
    ("0001_responses", """
        CREATE TABLE responses (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            model TEXT NOT NULL,
            previous_response_id TEXT,
            response TEXT NOT NULL,
            input_items TEXT NOT NULL,
            history TEXT NOT NULL
        )
    """),
]


class ResponseStore:
    def __init__(self, path: Path) -> None:
        self.db = Database(path, MIGRATIONS)

    def save(self, response: dict[str, Any], input_items: list[dict[str, Any]],
             history: list[dict[str, Any]]) -> None:
        """Store one finished response in a single transaction."""
        with self.db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (response["id"], time.time(), response["model"], response.get("previous_response_id"),
                          json.dumps(response), json.dumps(input_items), json.dumps(history)))

    def _row(self, response_id: str):
        rows = self.db.query("SELECT * FROM responses WHERE id = ?", (response_id,))
        return rows[0] if rows else None

    def get(self, response_id: str) -> dict[str, Any] | None:
        row = self._row(response_id)
        return json.loads(row["response"]) if row else None

    def history(self, response_id: str) -> list[dict[str, Any]] | None:
        """The chat messages of the conversation, through this response's output."""
        row = self._row(response_id)
        return json.loads(row["history"]) if row else None

    def input_items(self, response_id: str) -> list[dict[str, Any]] | None:
        row = self._row(response_id)
        return json.loads(row["input_items"]) if row else None

    def delete(self, response_id: str) -> bool:
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM responses WHERE id = ?", (response_id,)).rowcount > 0

    def close(self) -> None:
        self.db.close()
