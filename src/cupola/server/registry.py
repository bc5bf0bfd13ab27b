"""Which Cupola servers run on a home: one entry per server, and discovery that checks they are alive.

Each ``cupola serve`` writes ``$CUPOLA_HOME/servers/<pid>.json`` (atomically, readable by its
owner only) once its socket listens, and removes it when it stops (SIGINT or SIGTERM). An entry
holds the URL, host, port, pid, start time and a per-server local token: a client that can read
the entry (the same user, on the same machine) may use the token as an admin key, so the CLI
keeps working when API keys are required.

Discovery trusts an entry only if its process exists and its port accepts a connection; entries
of dead processes, or whose port refuses connections, are stale and removed. ``server.json``
(the last server started) is still written for older clients.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from pathlib import Path
from typing import Any

from cupola.errors import UsageError

CONNECT_TIMEOUT = 0.5


def _dir(home: Path) -> Path:
    return home / "servers"


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically (a temporary file renamed over the target), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(data))
    os.replace(tmp, path)


def connect_host(host: str) -> str:
    """Where a client reaches a server bound to ``host`` on this machine."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def register(home: Path, host: str, port: int) -> dict[str, Any]:
    """Record this process's server; returns the entry (with its local token)."""
    shown = connect_host(host)
    shown = f"[{shown}]" if ":" in shown else shown
    info = {"url": f"http://{shown}:{port}", "host": host, "port": port, "pid": os.getpid(),
            "started_at": time.time(), "token": "cupola-local-" + secrets.token_urlsafe(32)}
    _write_private(_dir(home) / f"{os.getpid()}.json", info)
    _write_private(home / "server.json", {k: v for k, v in info.items() if k != "token"})
    return info


def unregister(home: Path, pid: int | None = None) -> None:
    """Remove a server's entry (this process's by default); ``server.json`` then names another
    live server, or goes away when there is none."""
    pid = os.getpid() if pid is None else pid
    (_dir(home) / f"{pid}.json").unlink(missing_ok=True)
    legacy = home / "server.json"
    try:
        current = json.loads(legacy.read_text()).get("pid")
    except (OSError, ValueError, AttributeError):
        current = None
    if current == pid or current is None:
        others = live(home)
        if others:
            _write_private(legacy, {k: v for k, v in others[-1].items() if k != "token"})
        else:
            legacy.unlink(missing_ok=True)


def _state(info: dict[str, Any]) -> str:
    """``alive``, ``dead`` (stale: remove it) or ``unknown`` (its process lives but the port did not answer)."""
    try:
        os.kill(int(info["pid"]), 0)
    except ProcessLookupError:
        return "dead"
    except PermissionError:
        pass  # another user's process: it exists
    except (KeyError, TypeError, ValueError, OverflowError):
        return "dead"
    try:
        with socket.create_connection((connect_host(str(info["host"])), int(info["port"])), CONNECT_TIMEOUT):
            return "alive"
    except ConnectionRefusedError:
        return "dead"  # nothing listens there: the pid was reused by another program
    except (OSError, KeyError, TypeError, ValueError):
        return "unknown"


def live(home: Path) -> list[dict[str, Any]]:
    """The servers running on this home, oldest first; stale entries are removed on the way."""
    found = []
    for path in sorted(_dir(home).glob("*.json")):
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # being written or unreadable: not ours to judge
        if not isinstance(info, dict):
            continue
        state = _state(info)
        if state == "alive":
            found.append(info)
        elif state == "dead":
            path.unlink(missing_ok=True)
    legacy = home / "server.json"
    try:
        legacy_info = json.loads(legacy.read_text())
    except (OSError, ValueError):
        legacy_info = None
    if isinstance(legacy_info, dict) and _state(legacy_info) == "dead":
        legacy.unlink(missing_ok=True)  # the last server started is gone (killed, say)
    return sorted(found, key=lambda s: s.get("started_at", 0))


def choose(servers: list[dict[str, Any]], default_port: int) -> dict[str, Any] | None:
    """The server a client should use: the one on the default port, else the only one; None if
    there is none. Several, none of them on the default port: a :class:`UsageError` listing them."""
    if not servers:
        return None
    on_default = [s for s in servers if s.get("port") == default_port]
    if len(on_default) == 1:
        return on_default[0]
    if len(servers) == 1:
        return servers[0]
    raise UsageError(f"{len(servers)} Cupola servers run on this home, none on the default port {default_port}: "
                     + ", ".join(s["url"] for s in servers),
                     hint="choose one with --url URL (or set the port of the one to use: CUPOLA_PORT)")


def token_for(home: Path, url: str) -> str | None:
    """The local token of the live server at ``url`` (None if no server of this home is there)."""
    wanted = url.rstrip("/")
    for server in live(home):
        if server["url"] == wanted:
            return server.get("token")
    return None
