"""Cupola Studio, the web UI: its static files, served with strict security headers.

The app is plain ES modules inside the package (``cupola/studio/static``): no build step, nothing
fetched from the network at run time. It talks only to the public APIs. ``/`` is its page and
``/studio/...`` its files; both are public (the page asks for the API key itself and sends it as a
bearer token). Every answer carries a Content-Security-Policy that allows scripts, styles and
connections from this origin only — no inline scripts, no ``eval``, no framing — so even markup
that slipped past the Markdown sanitizer could not run. Files are sent gzip-compressed when the
browser accepts it, with an ETag for revalidation.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request, Response

from cupola.errors import NotFound

router = APIRouter(tags=["Studio"], include_in_schema=False)

PUBLIC_PATHS = ("/",)
PUBLIC_PREFIXES = ("/studio/",)

CSP = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "media-src 'self' blob:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=(), payment=(), usb=()",
}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".json": "application/json", ".txt": "text/plain; charset=utf-8", ".svg": "image/svg+xml",
         ".png": "image/png"}


def static_root() -> Path:
    return Path(str(resources.files("cupola.studio") / "static"))


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


def _file(path: str) -> Path:
    root = static_root().resolve()
    file = (root / path).resolve()
    if not file.is_relative_to(root) or not file.is_file() or file.suffix not in TYPES:
        raise NotFound(f"no Studio file {path!r}", param="path")
    return file


@lru_cache(maxsize=256)
def _asset(file: Path, mtime_ns: int) -> Asset:
    """The file's bytes, compressed once (cached by modification time)."""
    body = file.read_bytes()
    packed = gzip.compress(body, 9, mtime=0) if file.suffix != ".png" else None
    return Asset(body, packed if packed and len(packed) < len(body) else None, TYPES[file.suffix],
                 '"' + hashlib.sha256(body).hexdigest()[:20] + '"')


def _send(request: Request, path: str) -> Response:
    file = _file(path)
    asset = _asset(file, file.stat().st_mtime_ns)
    headers = {**SECURITY_HEADERS, "ETag": asset.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        return Response(asset.gzipped, media_type=asset.media_type, headers={**headers, "Content-Encoding": "gzip"})
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("/")
async def index(request: Request) -> Response:
    return _send(request, "index.html")


@router.get("/studio/{path:path}")
async def studio_file(path: str, request: Request) -> Response:
    return _send(request, path)
