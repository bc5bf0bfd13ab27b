"""Agent sessions and runs in SQLite (``agents.db``).

A session is a conversation (its messages, in order) continued by id, also after a restart. A run
is one agent turn-loop; a run waiting for a human's approval stores its whole state (messages so
far and the pending calls) so it can resume later, in another process.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from cupola.errors import NotFound
from cupola.storage import Database

MIGRATIONS = [
    ("0001_agents", """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            agent TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE messages (
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            message TEXT NOT NULL,
            PRIMARY KEY (session_id, seq)
        );
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            session_id TEXT,
            agent TEXT NOT NULL,
            status TEXT NOT NULL,
            state TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )
    """),
]


class SessionStore:
    def __init__(self, path: Path) -> None:
        self.db = Database(path, MIGRATIONS)

    def close(self) -> None:
        self.db.close()

    def messages(self, session_id: str) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT message FROM messages WHERE session_id = ? ORDER BY seq", (session_id,))
        return [json.loads(r[0]) for r in rows]

    def exists(self, session_id: str) -> bool:
        return bool(self.db.query("SELECT 1 FROM sessions WHERE id = ?", (session_id,)))

    def append(self, session_id: str, agent: str, messages: list[dict[str, Any]]) -> None:
        """Add messages to a session (created on first use), all or nothing."""
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO sessions (id, agent, created_at, updated_at) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT(id) DO UPDATE SET updated_at = excluded.updated_at", (session_id, agent, now, now))
            (start,) = conn.execute("SELECT coalesce(max(seq), -1) + 1 FROM messages WHERE session_id = ?",
                                    (session_id,)).fetchone()
            conn.executemany("INSERT INTO messages (session_id, seq, message) VALUES (?, ?, ?)",
                             [(session_id, start + i, json.dumps(m)) for i, m in enumerate(messages)])

    def delete(self, session_id: str) -> bool:
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount > 0

    def save_run(self, run_id: str, session_id: str | None, agent: str, status: str, state: dict[str, Any]) -> None:
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO runs (id, session_id, agent, status, state, created_at, updated_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET status = excluded.status, "
                         "state = excluded.state, updated_at = excluded.updated_at",
                         (run_id, session_id, agent, status, json.dumps(state), now, now))

    def run(self, run_id: str) -> dict[str, Any]:
        rows = self.db.query("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise NotFound(f"no agent run {run_id!r}", param="run_id")
        row = dict(rows[0])
        row["state"] = json.loads(row["state"])
        return row
