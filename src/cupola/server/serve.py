"""Run the app under uvicorn on a socket we bind ourselves.

Binding first lets a busy port fail with a clear message, lets ``--port 0`` pick a free port,
and lets us record the address really listened on for clients (``$CUPOLA_HOME/servers/<pid>.json``,
see :mod:`cupola.server.registry`). SIGTERM shuts down as cleanly as SIGINT: running requests
finish (up to 5 s), the models unload, the entry is removed.
"""

from __future__ import annotations

import errno
import ipaddress
import signal
import socket
from types import FrameType

from cupola.config import Settings
from cupola.errors import UsageError
from cupola.server import registry


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
    """Off loopback, refuse to start unless clients will need a key (``api_key`` or a key in ``keys.db``)."""
    if is_loopback(settings.host) or settings.api_key:
        return
    from cupola.keys import KeyStore

    keys = KeyStore(settings.db_path("keys"))
    try:
        if keys.any_active():
            return
    finally:
        keys.close()
    raise UsageError(f"refusing to listen on {settings.host} without an API key",
                     hint="create one with `cupola keys create NAME` (clients then send 'Authorization: Bearer "
                          "<key>'), or set CUPOLA_API_KEY (or --api-key)")


def serve(settings: Settings, *, preload: list[str], on_ready=None) -> None:
    import uvicorn

    from cupola.server.app import create_app

    check_exposure(settings)
    sock = bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    info = registry.register(settings.home, settings.host, port)
    # uvicorn handles SIGTERM like SIGINT (a graceful shutdown), then re-raises the signal: with the
    # default SIGTERM action the process would die there, before the cleanup below.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        app = create_app(settings, preload=preload, local_token=info["token"])
        config = uvicorn.Config(app, log_level=settings.log_level, timeout_graceful_shutdown=5,
                                access_log=settings.log_level in ("debug", "info"))
        server = uvicorn.Server(config)
        if on_ready:
            on_ready(info)
        server.run(sockets=[sock])
    finally:
        registry.unregister(settings.home)
        signal.signal(signal.SIGTERM, previous)
        sock.close()


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
