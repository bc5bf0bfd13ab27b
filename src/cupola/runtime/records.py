"""Every request the runtime serves, recorded in SQLite (``requests.db``)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cupola.storage import Database

MIGRATIONS = [
    ("0001_requests", """
        CREATE TABLE requests (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            endpoint TEXT NOT NULL,
            model TEXT NOT NULL,
            stream INTEGER NOT NULL,
            status TEXT NOT NULL,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            ttft_ms REAL,
            duration_ms REAL,
            finish_reason TEXT,
            error TEXT
        );
        CREATE INDEX requests_created ON requests (created_at)
    """),
    ("0002_routes", """
        ALTER TABLE requests ADD COLUMN requested TEXT;
        ALTER TABLE requests ADD COLUMN location TEXT;
        ALTER TABLE requests ADD COLUMN route TEXT
    """),
]


@dataclass
class RequestRecord:
    id: str
    endpoint: str
    model: str  # the model that ran it
    stream: bool
    created_at: float = field(default_factory=time.time)
    status: str = "ok"  # ok | error | cancelled | rejected
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_ms: float | None = None
    duration_ms: float | None = None
    finish_reason: str | None = None
    error: str | None = None
    requested: str | None = None  # the model the client named (a router, or a model that fell back)
    location: str | None = None  # local | upstream:NAME
    route: str | None = None  # why this model ran


class RequestLog:
    def __init__(self, path: Path) -> None:
        self.db = Database(path, MIGRATIONS)

    def add(self, record: RequestRecord) -> None:
        row = asdict(record)
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self.db.transaction() as conn:
            conn.execute(f"INSERT INTO requests ({cols}) VALUES ({marks})", list(row.values()))

    def recent(self, limit: int = 50) -> list[dict]:
        rows = self.db.query("SELECT * FROM requests ORDER BY created_at DESC LIMIT ?", (limit,))
        return [dict(r) for r in rows]

    def close(self) -> None:
        self.db.close()
