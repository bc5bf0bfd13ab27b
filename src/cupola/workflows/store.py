"""Workflow runs and their checkpoints in SQLite (``workflows.db``).

Every finished step's output is written (with the run's state) in one transaction, keyed by
the step's path in the workflow tree (``research/1/critic``). Re-running a run skips the steps
already checkpointed, so a run stopped by a crash, a kill or an approval continues from its last
completed step.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from cupola.errors import NotFound
from cupola.storage import Database

MIGRATIONS = [
    ("0001_workflows", """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            workflow TEXT NOT NULL,
            status TEXT NOT NULL,
            input TEXT NOT NULL,
            pending TEXT,
            result TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE steps (
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            output TEXT NOT NULL,
            ms REAL NOT NULL,
            finished_at REAL NOT NULL,
            PRIMARY KEY (run_id, path)
        )
    """),
]


class WorkflowStore:
    def __init__(self, path: Path) -> None:
        self.db = Database(path, MIGRATIONS)

    def close(self) -> None:
        self.db.close()

    def start(self, run_id: str, workflow: str, input: Any) -> None:
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO runs (id, workflow, status, input, created_at, updated_at) VALUES "
                         "(?, ?, 'running', ?, ?, ?)", (run_id, workflow, json.dumps(input), now, now))

    def run(self, run_id: str) -> dict[str, Any]:
        rows = self.db.query("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise NotFound(f"no workflow run {run_id!r}", param="run_id")
        row = dict(rows[0])
        for key in ("input", "pending", "result"):
            row[key] = json.loads(row[key]) if row[key] is not None else None
        return row

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT id, workflow, status, created_at, updated_at FROM runs "
                             "ORDER BY created_at DESC LIMIT ?", (limit,))
        return [dict(r) for r in rows]

    def checkpoints(self, run_id: str) -> dict[str, Any]:
        rows = self.db.query("SELECT path, output FROM steps WHERE run_id = ?", (run_id,))
        return {r[0]: json.loads(r[1]) for r in rows}

    def checkpoint(self, run_id: str, path: str, output: Any, ms: float) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO steps (run_id, path, output, ms, finished_at) VALUES (?, ?, ?, ?, ?)",
                         (run_id, path, json.dumps(output, default=str), ms, time.time()))
            conn.execute("UPDATE runs SET updated_at = ? WHERE id = ?", (time.time(), run_id))

    def set_status(self, run_id: str, status: str, *, pending: Any = None, result: Any = None) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE runs SET status = ?, pending = ?, result = ?, updated_at = ? WHERE id = ?",
                         (status, json.dumps(pending) if pending is not None else None,
                          json.dumps(result, default=str) if result is not None else None, time.time(), run_id))
