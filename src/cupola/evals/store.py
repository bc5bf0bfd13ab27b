"""Eval runs in SQLite (``evals.db``): the run, every sample, and judge calibrations.

A run row is written when the run starts (status ``running``) with its plan (targets, tests,
options); each sample (one target on one test in one repeat: output, every assertion's result
and reason, latency, tokens, cost, contract id) is written in its own transaction as it
finishes; the summary and final status are written together at the end. A run stopped by an
interrupt is marked ``cancelled``, one that failed ``failed``; a process killed outright leaves
``running``, which ``list`` shows as it is.

Runs are named by id, a unique prefix of one, or ``last``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from cupola.errors import InvalidParameter, NotFound
from cupola.storage import Database

MIGRATIONS = [
    ("0001_evals", """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            description TEXT NOT NULL,
            source TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            finished_at REAL,
            pass_rate REAL,
            plan TEXT NOT NULL,
            summary TEXT,
            error TEXT
        );
        CREATE INDEX runs_created ON runs (created_at);
        CREATE TABLE samples (
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            target TEXT NOT NULL,
            test TEXT NOT NULL,
            repeat INTEGER NOT NULL,
            status TEXT NOT NULL,
            score REAL,
            latency_ms REAL,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            cost REAL,
            contract_id TEXT,
            data TEXT NOT NULL,
            PRIMARY KEY (run_id, target, test, repeat)
        );
        CREATE TABLE calibrations (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            description TEXT NOT NULL,
            source TEXT NOT NULL,
            judge_keys TEXT NOT NULL,
            metrics TEXT NOT NULL
        )
    """),
]


class EvalStore:
    def __init__(self, path: Path) -> None:
        self.db = Database(path, MIGRATIONS)

    def close(self) -> None:
        self.db.close()

    # -- runs ----------------------------------------------------------------------------------

    def start(self, run_id: str, description: str, source: str, plan: dict[str, Any]) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO runs (id, description, source, status, created_at, plan) "
                         "VALUES (?, ?, ?, 'running', ?, ?)", (run_id, description, source, time.time(),
                                                               json.dumps(plan, default=str)))

    def add_sample(self, run_id: str, sample: dict[str, Any]) -> None:
        tokens = sample.get("tokens") or {}
        with self.db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (run_id, sample["target"], sample["test"], sample["repeat"], sample["status"],
                          sample["score"], sample.get("latency_ms"), tokens.get("prompt"), tokens.get("completion"),
                          sample.get("cost"), sample.get("contract_id"), json.dumps(sample, default=str)))

    def finish(self, run_id: str, status: str, summary: dict[str, Any] | None, error: str | None = None) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE runs SET status = ?, finished_at = ?, summary = ?, pass_rate = ?, error = ? "
                         "WHERE id = ?", (status, time.time(), json.dumps(summary) if summary else None,
                                          (summary or {}).get("pass_rate"), error, run_id))

    def resolve(self, ref: str) -> str:
        """A run id from an id, a unique prefix, or ``last``."""
        if ref == "last":
            rows = self.db.query("SELECT id FROM runs ORDER BY created_at DESC LIMIT 1")
            if not rows:
                raise NotFound("there are no eval runs yet", param="run", hint="start one with `cupola eval run FILE`")
            return rows[0][0]
        rows = self.db.query("SELECT id FROM runs WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 3", (len(ref), ref))
        exact = [r[0] for r in rows if r[0] == ref]
        if exact:
            return exact[0]
        if not rows:
            raise NotFound(f"no eval run {ref!r}", param="run", hint="list the runs with `cupola eval list`")
        if len(rows) > 1:
            raise InvalidParameter(f"{ref!r} names more than one run ({', '.join(r[0] for r in rows)}, ...); "
                                   "give more of the id", param="run")
        return rows[0][0]

    def run(self, ref: str) -> dict[str, Any]:
        run_id = self.resolve(ref)
        row = dict(self.db.query("SELECT * FROM runs WHERE id = ?", (run_id,))[0])
        row["plan"] = json.loads(row["plan"])
        row["summary"] = json.loads(row["summary"]) if row["summary"] else None
        return row

    def samples(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT data FROM samples WHERE run_id = ? ORDER BY repeat, target, test", (run_id,))
        return [json.loads(r[0]) for r in rows]

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT id, description, source, status, created_at, finished_at, pass_rate, summary "
                             "FROM runs ORDER BY created_at DESC LIMIT ?", (limit,))
        out = []
        for r in rows:
            row = dict(r)
            summary = json.loads(row.pop("summary")) if row["summary"] else {}
            row.update({k: summary.get(k) for k in ("samples", "passed", "failed", "errors", "flaky")})
            row["targets"] = [t["id"] for t in summary.get("targets", [])]
            out.append(row)
        return out

    def delete(self, ref: str) -> str:
        run_id = self.resolve(ref)
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        return run_id

    # -- calibrations --------------------------------------------------------------------------

    def add_calibration(self, cal_id: str, description: str, source: str, judge_keys: list[str],
                        metrics: dict[str, Any]) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO calibrations VALUES (?, ?, ?, ?, ?, ?)",
                         (cal_id, time.time(), description, source, json.dumps(judge_keys), json.dumps(metrics)))

    def calibrations(self, judge_keys: set[str]) -> dict[str, dict[str, Any]]:
        """The latest calibration of each of these graders."""
        found: dict[str, dict[str, Any]] = {}
        if not judge_keys:
            return found
        for row in self.db.query("SELECT * FROM calibrations ORDER BY created_at DESC"):
            keys = json.loads(row["judge_keys"])
            for key in keys:
                if key in judge_keys and key not in found:
                    found[key] = {"id": row["id"], "created_at": row["created_at"], "description": row["description"],
                                  "source": row["source"], **json.loads(row["metrics"])}
        return found
