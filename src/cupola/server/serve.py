"""Run the app under uvicorn on a socket we bind ourselves.

Binding first lets a busy port fail with a clear message, lets ``--port 0`` pick a free port,
and lets us write the address really listened on to ``$CUPOLA_HOME/server.json`` for clients.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from cupola.config import Settings
from cupola.errors import UsageError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} on {host} is already in use",
                             hint="stop the other server, choose another with --port N, "
                                  "or use --port 0 to pick a free port") from exc
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}",
                         hint="check --host (e.g. 127.0.0.1)") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def check_exposure(settings: Settings) -> None:
    if not is_loopback(settings.host) and not settings.api_key:
        raise UsageError(f"refusing to listen on {settings.host} without an API key",
                         hint="set CUPOLA_API_KEY (or --api-key); clients then send 'Authorization: Bearer <key>'")


def write_server_file(path: Path, host: str, port: int) -> dict[str, Any]:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    info = {"url": f"http://{shown}:{port}", "host": host, "port": port, "pid": os.getpid(),
            "started_at": time.time()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(path)
    return info


def read_server_file(path: Path) -> dict[str, Any] | None:
    """The running server's address, or None if there is none (stale files are ignored)."""
    try:
        info = json.loads(path.read_text())
        os.kill(int(info["pid"]), 0)
    except (FileNotFoundError, ValueError, KeyError, ProcessLookupError, PermissionError, json.JSONDecodeError):
        return None
    return info


def serve(settings: Settings, *, preload: list[str], on_ready=None) -> None:
    import uvicorn

    from cupola.server.app import create_app

    check_exposure(settings)
    sock = bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    app = create_app(settings, preload=preload)
    config = uvicorn.Config(app, log_level=settings.log_level, timeout_graceful_shutdown=5,
                            access_log=settings.log_level in ("debug", "info"))
    server = uvicorn.Server(config)
    info = write_server_file(settings.server_file, settings.host, port)
    if on_ready:
        on_ready(info)
    try:
        server.run(sockets=[sock])
    finally:
        current = read_server_file(settings.server_file)
        if current is None or current.get("pid") == os.getpid():
            settings.server_file.unlink(missing_ok=True)
        sock.close()
