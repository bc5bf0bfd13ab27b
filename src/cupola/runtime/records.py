"""Every request the runtime serves, recorded in SQLite (``requests.db``), with its execution
contract (``runtime.contract``) and, only when ``capture_content`` is on, its messages and output.
Old records are pruned by age and count."""

from __future__ import annotations

import json
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
    ("0003_contracts", """
        ALTER TABLE requests ADD COLUMN trace_id TEXT;
        ALTER TABLE requests ADD COLUMN span_id TEXT;
        ALTER TABLE requests ADD COLUMN parent_span_id TEXT;
        ALTER TABLE requests ADD COLUMN run_id TEXT;
        ALTER TABLE requests ADD COLUMN step TEXT;
        ALTER TABLE requests ADD COLUMN turn INTEGER;
        ALTER TABLE requests ADD COLUMN contract TEXT;
        ALTER TABLE requests ADD COLUMN content TEXT;
        CREATE INDEX requests_trace ON requests (trace_id);
        CREATE INDEX requests_model ON requests (model, created_at)
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
    trace_id: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    run_id: str | None = None  # the agent or workflow run it belongs to
    step: str | None = None  # the workflow step
    turn: int | None = None  # the agent's turn
    contract: dict | None = None  # the execution contract (runtime.contract)
    content: dict | None = None  # messages and output: only with capture_content


class RequestLog:
    def __init__(self, path: Path) -> None:
        self.db = Database(path, MIGRATIONS)

    def add(self, record: RequestRecord) -> None:
        row = asdict(record)
        for key in ("contract", "content"):
            row[key] = json.dumps(row[key], default=str) if row[key] is not None else None
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self.db.transaction() as conn:
            conn.execute(f"INSERT INTO requests ({cols}) VALUES ({marks})", list(row.values()))

    def recent(self, limit: int = 50, *, model: str | None = None, status: str | None = None,
               since: float | None = None, trace_id: str | None = None, full: bool = False) -> list[dict]:
        """Newest first; filtered by model (the one that ran it, or the one asked for), status, time, trace."""
        where, args = [], []
        if model:
            where.append("(model = ? OR requested = ?)")
            args += [model, model]
        if status:
            where.append("status = ?")
            args.append(status)
        if since is not None:
            where.append("created_at >= ?")
            args.append(since)
        if trace_id:
            where.append("trace_id = ?")
            args.append(trace_id)
        cols = "*" if full else ", ".join(c for c in RECORD_COLUMNS if c not in ("contract", "content"))
        sql = f"SELECT {cols} FROM requests {'WHERE ' + ' AND '.join(where) if where else ''} " \
              "ORDER BY created_at DESC LIMIT ?"
        rows = self.db.query(sql, (*args, limit))
        return [_decoded(dict(r)) for r in rows]

    def get(self, request_id: str) -> dict | None:
        rows = self.db.query("SELECT * FROM requests WHERE id = ?", (request_id,))
        if not rows:  # a unique prefix is enough, as with git
            rows = self.db.query("SELECT * FROM requests WHERE id LIKE ? LIMIT 2", (request_id + "%",))
            if len(rows) != 1:
                return None
        return _decoded(dict(rows[0]))

    def prune(self, *, max_age_s: float | None, max_count: int | None) -> int:
        """Delete records older than ``max_age_s`` and beyond the newest ``max_count``."""
        removed = 0
        with self.db.transaction() as conn:
            if max_age_s is not None:
                removed += conn.execute("DELETE FROM requests WHERE created_at < ?",
                                        (time.time() - max_age_s,)).rowcount
            if max_count is not None:
                removed += conn.execute("""DELETE FROM requests WHERE created_at < (
                    SELECT created_at FROM requests ORDER BY created_at DESC LIMIT 1 OFFSET ?)""",
                                        (max_count - 1,)).rowcount
        return removed

    def close(self) -> None:
        self.db.close()


RECORD_COLUMNS = tuple(RequestRecord.__dataclass_fields__)


def _decoded(row: dict) -> dict:
    for key in ("contract", "content"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row
