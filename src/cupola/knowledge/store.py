"""The knowledge store (``knowledge.db``): bases, documents, chunks, a BM25 index and vectors.

Every base has its own FTS5 table (``fts_<id>``, Porter stemming), so BM25 statistics are the
base's own. Vectors are float32 blobs in their own table (chunk rows stay small for fetching);
searches use an in-memory matrix per base, reloaded when the base's ``version`` changes (every
write bumps it). The connection gets a 64 MiB page cache and memory-mapped reads: BM25 over a
few thousand matching chunks reads many index pages, and this makes it about a third faster.

A document is written in one transaction together with all its chunks, index rows and vectors,
so a reader (or a crash) never sees half of one.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cupola.errors import Conflict, InvalidParameter, NotFound
from cupola.knowledge.bm25 import TOKENIZER, Bm25Scorer, QueryTokenizer, query_words
from cupola.knowledge.chunking import Chunk
from cupola.knowledge.documents import Document
from cupola.storage import Database

MIGRATIONS = [
    ("0001_knowledge", """
        CREATE TABLE bases (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: caches elsewhere key on (id, version)
            name TEXT NOT NULL UNIQUE,
            embedding_model TEXT,
            chunk_tokens INTEGER NOT NULL,
            chunk_overlap INTEGER NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL,
            version INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            base_id INTEGER NOT NULL REFERENCES bases(id) ON DELETE CASCADE,
            doc_id TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            source TEXT,
            content_hash TEXT NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}',
            chunks INTEGER NOT NULL,
            chars INTEGER NOT NULL,
            ingested_at REAL NOT NULL,
            UNIQUE (base_id, doc_id)
        );
        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            base_id INTEGER NOT NULL REFERENCES bases(id) ON DELETE CASCADE,
            document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            start_char INTEGER NOT NULL,
            end_char INTEGER NOT NULL,
            tokens INTEGER NOT NULL,
            text TEXT NOT NULL
        );
        CREATE TABLE vectors (
            chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
            base_id INTEGER NOT NULL,
            embedding BLOB NOT NULL
        );
        CREATE INDEX vectors_base ON vectors(base_id, chunk_id);
        CREATE INDEX chunks_document ON chunks(document_id);
        CREATE INDEX chunks_base ON chunks(base_id, id);
        CREATE INDEX documents_source ON documents(base_id, source)
    """),
    ("0002_chunk_times", """
        ALTER TABLE chunks ADD COLUMN start_s REAL;
        ALTER TABLE chunks ADD COLUMN end_s REAL
    """),
]

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_OPS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
# Words too common to help BM25 that would make every query scan most of the index.
STOPWORDS = frozenset("""a an and are as at be but by for from has have how i if in into is it its of on or
such that the their then there these they this to was were what when where which who why will with you
your do does did can could should would may might than so not no""".split())


@dataclass
class Base:
    id: int
    name: str
    embedding_model: str | None
    chunk_tokens: int
    chunk_overlap: int
    description: str
    created_at: float
    version: int
    documents: int = 0
    chunks: int = 0
    embedded: int = 0

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "embedding_model": self.embedding_model, "chunk_tokens": self.chunk_tokens,
                "chunk_overlap": self.chunk_overlap, "description": self.description,
                "created_at": int(self.created_at), "documents": self.documents, "chunks": self.chunks,
                "chunks_embedded": self.embedded}


@dataclass
class PreparedDocument:
    """A parsed document with its chunks and (optionally) one vector per chunk."""

    document: Document
    chunks: list[Chunk]
    vectors: np.ndarray | None = None
    times: list[tuple[float, float]] | None = None  # audio: each chunk's start and end in seconds
    content_hash: str = field(init=False)

    def __post_init__(self) -> None:
        self.content_hash = self.document.content_hash


@dataclass
class _Vectors:
    version: int
    ids: np.ndarray
    matrix: np.ndarray


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise InvalidParameter(f"{name!r} is not a valid knowledge base name: use letters, digits, '.', '_' "
                               "and '-' (up to 64 characters, starting with a letter or digit)", param="name")
    return name


def fts_query(text: str) -> str | None:
    """A user's words as an FTS5 OR-query (each term quoted, stopwords dropped)."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in query_words(text, STOPWORDS)) or None


def compile_filter(filters: dict[str, Any] | None) -> tuple[str, list[Any]]:
    """Metadata filters as SQL over ``d.metadata``.

    ``{"tag": "x"}`` matches a value or a list containing it; ``{"year": {"$gte": 2020}}``,
    ``$gt``, ``$lt``, ``$lte``, ``$ne``, ``$in`` (any of a list) and ``$exists`` (true/false).
    """
    if not filters:
        return "1", []
    if not isinstance(filters, dict):
        raise InvalidParameter("filters must be an object of metadata key -> value", param="filters")
    clauses: list[str] = []
    args: list[Any] = []
    for key, cond in filters.items():
        if not isinstance(key, str) or not key or '"' in key:
            raise InvalidParameter(f"invalid filter key {key!r}", param="filters")
        path = "$." + ".".join(f'"{part}"' for part in key.split("."))
        ops = cond if isinstance(cond, dict) else {"$eq": cond}
        for op, value in ops.items():
            if op in ("$eq", "$ne"):
                sql = "EXISTS (SELECT 1 FROM json_each(d.metadata, ?) WHERE value = ?)"
                clauses.append(sql if op == "$eq" else f"NOT {sql}")
                args += [path, _sql_value(value, key)]
            elif op == "$in":
                if not isinstance(value, list) or not value:
                    raise InvalidParameter(f"filter {key}: $in needs a non-empty list", param="filters")
                marks = ",".join("?" * len(value))
                clauses.append(f"EXISTS (SELECT 1 FROM json_each(d.metadata, ?) WHERE value IN ({marks}))")
                args += [path, *(_sql_value(v, key) for v in value)]
            elif op in _OPS:
                clauses.append(f"json_extract(d.metadata, ?) {_OPS[op]} ?")
                args += [path, _sql_value(value, key)]
            elif op == "$exists":
                if not isinstance(value, bool):
                    raise InvalidParameter(f"filter {key}: $exists takes true or false", param="filters")
                clauses.append(f"json_type(d.metadata, ?) IS {'NOT ' if value else ''}NULL")
                args.append(path)
            else:
                raise InvalidParameter(f"filter {key}: unknown operator {op}; use $eq, $ne, $in, $gt, $gte, "
                                       "$lt, $lte or $exists", param="filters")
    return " AND ".join(clauses) or "1", args  # {"key": {}} compares nothing: every row


def _sql_value(value: Any, key: str) -> Any:
    if isinstance(value, (dict, list)):
        raise InvalidParameter(f"filter {key}: compare with a string, number or boolean", param="filters")
    return int(value) if isinstance(value, bool) else value


class KnowledgeStore:
    def __init__(self, path: Path) -> None:
        self.db = Database(path, MIGRATIONS, pragmas=("cache_size=-65536", "mmap_size=268435456"))
        self._vectors: dict[int, _Vectors] = {}
        self._vector_lock = threading.Lock()
        self._scorers: dict[int, Bm25Scorer] = {}
        self._tokenizer = QueryTokenizer()

    def close(self) -> None:
        self.db.close()

    # -- bases -------------------------------------------------------------------------------

    def create(self, name: str, *, embedding_model: str | None, chunk_tokens: int, chunk_overlap: int,
               description: str = "") -> Base:
        check_name(name)
        try:
            with self.db.transaction() as conn:
                cur = conn.execute(
                    "INSERT INTO bases (name, embedding_model, chunk_tokens, chunk_overlap, description, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)", (name, embedding_model, chunk_tokens, chunk_overlap, description,
                                                   time.time()))
                conn.execute(f"CREATE VIRTUAL TABLE fts_{cur.lastrowid} USING fts5(title, body, "
                             f"tokenize='{TOKENIZER}')")
        except sqlite3.IntegrityError:
            raise Conflict(f"knowledge base {name!r} already exists", param="name",
                             hint=f"add documents with `cupola kb ingest {name} PATH`") from None
        return self.get(name)

    def get(self, name: str) -> Base:
        rows = self.db.query(
            "SELECT b.*, (SELECT count(*) FROM documents WHERE base_id = b.id) AS documents,"
            " (SELECT count(*) FROM chunks WHERE base_id = b.id) AS chunks,"
            " (SELECT count(*) FROM vectors WHERE base_id = b.id) AS embedded"
            " FROM bases b WHERE name = ?", (name,))
        if not rows:
            raise NotFound(f"no knowledge base named {name!r}", param="name",
                           hint=f"create it with `cupola kb create {name}`; `cupola kb list` shows the bases")
        return Base(**dict(rows[0]))

    def base(self, name: str) -> Base:
        """The base's settings without counting its documents (cheap; for searches)."""
        rows = self.db.query("SELECT * FROM bases WHERE name = ?", (name,))
        if not rows:
            self.get(name)  # raises the NotFound with its hint
        return Base(**dict(rows[0]))

    def list(self) -> list[Base]:
        return [self.get(row["name"]) for row in self.db.query("SELECT name FROM bases ORDER BY name")]

    def delete(self, name: str) -> None:
        base = self.get(name)
        with self.db.transaction() as conn:
            conn.execute(f"DROP TABLE IF EXISTS fts_{base.id}")
            conn.execute("DELETE FROM bases WHERE id = ?", (base.id,))
        self._vectors.pop(base.id, None)
        self._scorers.pop(base.id, None)

    # -- documents ---------------------------------------------------------------------------

    def hashes(self, base: Base) -> dict[str, str]:
        return {r[0]: r[1] for r in self.db.query("SELECT doc_id, content_hash FROM documents WHERE base_id = ?",
                                                  (base.id,))}

    def documents(self, base: Base, *, limit: int = 1000, offset: int = 0) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT doc_id, title, source, metadata, chunks, chars, ingested_at FROM documents "
                             "WHERE base_id = ? ORDER BY doc_id LIMIT ? OFFSET ?", (base.id, limit, offset))
        return [{**dict(r), "metadata": json.loads(r["metadata"]), "ingested_at": int(r["ingested_at"])}
                for r in rows]

    def sources_under(self, base: Base, folder: str) -> dict[str, str]:
        """doc_id -> source of the documents ingested from files under ``folder``."""
        prefix = folder.rstrip("/") + "/"
        rows = self.db.query("SELECT doc_id, source FROM documents WHERE base_id = ? AND substr(source, 1, ?) = ?",
                             (base.id, len(prefix), prefix))
        return {r[0]: r[1] for r in rows}

    def write(self, base: Base, items: list[PreparedDocument]) -> None:
        """Insert or replace documents, each with all its chunks, in one transaction."""
        now = time.time()
        with self.db.transaction() as conn:
            for item in items:
                doc = item.document
                self._delete_doc(conn, base, doc.id)
                cur = conn.execute(
                    "INSERT INTO documents (base_id, doc_id, title, source, content_hash, metadata, chunks, chars,"
                    " ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (base.id, doc.id, doc.title, doc.source, item.content_hash, json.dumps(doc.metadata),
                     len(item.chunks), len(doc.text), now))
                document_id = cur.lastrowid
                for i, chunk in enumerate(item.chunks):
                    start_s, end_s = item.times[i] if item.times else (None, None)
                    cur = conn.execute(
                        "INSERT INTO chunks (base_id, document_id, position, start_char, end_char, tokens, text,"
                        " start_s, end_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (base.id, document_id, chunk.position, chunk.start, chunk.end, chunk.tokens, chunk.text,
                         start_s, end_s))
                    conn.execute(f"INSERT INTO fts_{base.id} (rowid, title, body) VALUES (?, ?, ?)",
                                 (cur.lastrowid, doc.title, chunk.text))
                    if item.vectors is not None:
                        conn.execute("INSERT INTO vectors (chunk_id, base_id, embedding) VALUES (?, ?, ?)",
                                     (cur.lastrowid, base.id, item.vectors[i].astype(np.float32).tobytes()))
            conn.execute("UPDATE bases SET version = version + 1 WHERE id = ?", (base.id,))

    def optimize(self, base: Base) -> None:
        """Merge the BM25 index's segments (after a large ingest: faster queries)."""
        with self.db.transaction() as conn:
            conn.execute(f"INSERT INTO fts_{base.id} (fts_{base.id}) VALUES ('optimize')")

    def remove(self, base: Base, doc_ids: list[str]) -> int:
        removed = 0
        with self.db.transaction() as conn:
            for doc_id in doc_ids:
                removed += self._delete_doc(conn, base, doc_id)
            conn.execute("UPDATE bases SET version = version + 1 WHERE id = ?", (base.id,))
        return removed

    def _delete_doc(self, conn: sqlite3.Connection, base: Base, doc_id: str) -> int:
        row = conn.execute("SELECT id FROM documents WHERE base_id = ? AND doc_id = ?", (base.id, doc_id)).fetchone()
        if row is None:
            return 0
        conn.execute(f"DELETE FROM fts_{base.id} WHERE rowid IN (SELECT id FROM chunks WHERE document_id = ?)",
                     (row[0],))
        conn.execute("DELETE FROM documents WHERE id = ?", (row[0],))  # chunks cascade
        return 1

    def unembedded(self, base: Base, limit: int = 256) -> list[tuple[int, str, str]]:
        """(chunk id, title, text) of chunks still without a vector."""
        rows = self.db.query("SELECT c.id, d.title, c.text FROM chunks c JOIN documents d ON d.id = c.document_id "
                             "LEFT JOIN vectors v ON v.chunk_id = c.id WHERE c.base_id = ? AND v.chunk_id IS NULL "
                             "ORDER BY c.id LIMIT ?", (base.id, limit))
        return [(r[0], r[1], r[2]) for r in rows]

    def set_vectors(self, base: Base, ids: list[int], vectors: np.ndarray) -> None:
        with self.db.transaction() as conn:
            # A chunk deleted meanwhile (its document replaced) is skipped, not resurrected.
            conn.executemany("INSERT OR REPLACE INTO vectors (chunk_id, base_id, embedding) "
                             "SELECT id, base_id, ? FROM chunks WHERE id = ?",
                             [(v.astype(np.float32).tobytes(), i) for i, v in zip(ids, vectors)])
            conn.execute("UPDATE bases SET version = version + 1 WHERE id = ?", (base.id,))

    # -- search ------------------------------------------------------------------------------

    def version(self, base: Base) -> int:
        rows = self.db.query("SELECT version FROM bases WHERE id = ?", (base.id,))
        if not rows:
            raise NotFound(f"knowledge base {base.name!r} was deleted", param="name")
        return rows[0][0]

    def lexical(self, base: Base, query: str, limit: int,
                filters: dict[str, Any] | None = None) -> list[tuple[int, float]]:
        """(chunk id, BM25 score) best first; higher is better.

        Scored with numpy over the FTS5 index (``bm25.py``); with filters, or when a query word
        is a phrase to FTS5, by SQLite's ``bm25()`` itself. Both give the same scores."""
        if not filters:
            scorer = self._scorers.get(base.id)
            if scorer is None:
                scorer = self._scorers[base.id] = Bm25Scorer(self.db, f"fts_{base.id}", self._tokenizer)
            found = scorer.search(query_words(query, STOPWORDS), self.version(base), limit)
            if found is not None:
                return found
        return self.lexical_sql(base, query, limit, filters)

    def lexical_sql(self, base: Base, query: str, limit: int,
                    filters: dict[str, Any] | None = None) -> list[tuple[int, float]]:
        """BM25 by SQLite's FTS5 ``bm25()``: the reference the fast path is checked against."""
        match = fts_query(query)
        if match is None:
            return []
        where, args = compile_filter(filters)
        join = " JOIN chunks c ON c.id = f.rowid JOIN documents d ON d.id = c.document_id" if filters else ""
        sql = (f"SELECT f.rowid, -bm25(fts_{base.id}) AS score FROM fts_{base.id} f{join}"
               f" WHERE fts_{base.id} MATCH ? AND {where} ORDER BY score DESC LIMIT ?")
        return [(r[0], r[1]) for r in self.db.query(sql, [match, *args, limit])]

    def vectors(self, base: Base) -> _Vectors:
        version = self.version(base)
        with self._vector_lock:
            cached = self._vectors.get(base.id)
            if cached is not None and cached.version == version:
                return cached
            rows = self.db.query("SELECT chunk_id, embedding FROM vectors WHERE base_id = ? ORDER BY chunk_id",
                                 (base.id,))
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            matrix = (np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
                      if rows else np.zeros((0, 0), dtype=np.float32))
            cached = self._vectors[base.id] = _Vectors(version, ids, matrix)
            return cached

    def allowed(self, base: Base, filters: dict[str, Any]) -> np.ndarray:
        where, args = compile_filter(filters)
        rows = self.db.query(f"SELECT c.id FROM chunks c JOIN documents d ON d.id = c.document_id "
                             f"WHERE c.base_id = ? AND {where}", [base.id, *args])
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def chunks(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.query(
            "SELECT c.id, c.position, c.start_char, c.end_char, c.start_s, c.end_s, c.text, d.doc_id, d.title,"
            " d.source, d.metadata"
            f" FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id IN ({marks})", ids)
        return {r["id"]: {**dict(r), "metadata": json.loads(r["metadata"])} for r in rows}
