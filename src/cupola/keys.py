"""API keys with scopes (``keys.db``): created and revoked with ``cupola keys``, checked by the server.

A key is ``cupola_key_<24 hex>_<48 hex>``: its id (``key_<24 hex>``, from :func:`cupola.naming.new_id`)
then the secret. Only the key's SHA-256 is stored (a key is 192 random bits, so a fast hash is
enough; nothing can be guessed from it), and the key is shown once, when it is created.
Verification looks the id up and compares digests with :func:`hmac.compare_digest`.

Scopes: ``inference`` (chat, completions, embeddings, responses, agents, workflow runs, knowledge
search and ask) and ``admin`` (everything, including pulls, deletes, load/unload, creating and
deleting knowledge bases, ingest, metrics). Which routes need which is the one table in
:mod:`cupola.server.auth`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from cupola.errors import Conflict, InvalidParameter, NotFound
from cupola.naming import new_id
from cupola.storage import Database

Scope = Literal["inference", "admin"]
SCOPES: tuple[str, ...] = ("inference", "admin")
PREFIX = "cupola_"
_TOKEN = re.compile(r"^cupola_(key_[0-9a-f]{24})_([0-9a-f]{48})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$")

MIGRATIONS = [
    ("0001_keys", """
        CREATE TABLE keys (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            scope TEXT NOT NULL CHECK (scope IN ('inference', 'admin')),
            digest TEXT NOT NULL,
            created_at REAL NOT NULL,
            revoked_at REAL
        );
        CREATE UNIQUE INDEX keys_active_name ON keys (name) WHERE revoked_at IS NULL
    """),
]


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    scope: str
    created_at: float
    revoked_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class KeyStore:
    """The keys of one home. Safe to share between threads; sees keys other processes create or
    revoke (its cache is refreshed when SQLite's ``data_version`` says the file changed)."""

    def __init__(self, path: Path) -> None:
        self.db = Database(path, MIGRATIONS)
        self._lock = threading.Lock()
        self._version: int | None = None
        self._active: dict[str, tuple[str, str]] = {}  # id -> (digest, scope)

    # -- management (the CLI) ----------------------------------------------------------------

    def create(self, name: str, scope: str = "inference") -> tuple[ApiKey, str]:
        """A new key and its secret token (shown once: only its digest is kept)."""
        if scope not in SCOPES:
            raise InvalidParameter(f"unknown scope {scope!r}; use one of: {', '.join(SCOPES)}", param="scope")
        if not _NAME.match(name):
            raise InvalidParameter("a key name is 1-64 letters, digits, spaces and . _ @ - (starting with a letter "
                                   "or digit)", param="name")
        key = ApiKey(new_id("key"), name, scope, time.time())
        token = f"{PREFIX}{key.id}_{secrets.token_hex(24)}"
        try:
            with self.db.transaction() as conn:
                conn.execute("INSERT INTO keys VALUES (?, ?, ?, ?, ?, NULL)",
                             (key.id, name, scope, digest(token), key.created_at))
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"an active key named {name!r} exists", param="name",
                           hint=f"pick another name or `cupola keys revoke {name}` first") from exc
        self._version = None
        return key, token

    def list(self, *, revoked: bool = False) -> list[ApiKey]:
        where = "" if revoked else "WHERE revoked_at IS NULL"
        rows = self.db.query(f"SELECT id, name, scope, created_at, revoked_at FROM keys {where} ORDER BY created_at")
        return [ApiKey(**dict(r)) for r in rows]

    def revoke(self, id_or_name: str) -> ApiKey:
        """Revoke the active key with this id or name; it stops working at once (in running servers too)."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT id, name, scope, created_at FROM keys WHERE revoked_at IS NULL AND "
                               "(id = ? OR name = ?)", (id_or_name, id_or_name)).fetchone()
            if row is None:
                raise NotFound(f"no active key {id_or_name!r}", param="key", hint="`cupola keys list` shows them")
            now = time.time()
            conn.execute("UPDATE keys SET revoked_at = ? WHERE id = ?", (now, row["id"]))
        self._version = None
        return ApiKey(**dict(row), revoked_at=now)

    # -- verification (the server) -----------------------------------------------------------

    def _refresh(self) -> None:
        version = self.db.query("PRAGMA data_version")[0][0]
        if version == self._version:
            return
        rows = self.db.query("SELECT id, digest, scope FROM keys WHERE revoked_at IS NULL")
        with self._lock:
            self._active = {r["id"]: (r["digest"], r["scope"]) for r in rows}
            self._version = version

    def any_active(self) -> bool:
        self._refresh()
        return bool(self._active)

    def scope_of(self, token: str) -> str | None:
        """The scope of an active key, or None for anything else."""
        match = _TOKEN.match(token)
        if match is None:
            return None
        self._refresh()
        found = self._active.get(match.group(1))
        if found is None:
            return None
        stored, scope = found
        return scope if hmac.compare_digest(stored, digest(token)) else None

    def close(self) -> None:
        self.db.close()
