"""Reading documents: Markdown (with YAML front matter), plain text, HTML and PDF.

Every loader returns a ``Document``: an id, a title, the plain text and its metadata. Ids come
from the front matter's ``id`` when there is one, else from the path relative to the folder
being ingested, so re-ingesting a folder finds the same documents again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cupola.errors import InvalidParameter, UsageError

MAX_FILE_BYTES = 50 * 1024 * 1024
SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".text": "text", ".rst": "text",
            ".html": "html", ".htm": "html", ".pdf": "pdf"}


@dataclass
class Document:
    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str | None = None  # absolute path for files; None for uploaded text

    @property
    def content_hash(self) -> str:
        """Changes when anything that ends up in the index changes."""
        payload = json.dumps([self.title, self.text, self.metadata], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()


def kind_of(name: str) -> str | None:
    return SUFFIXES.get(Path(name).suffix.lower())


def parse(data: bytes, name: str, *, doc_id: str | None = None, source: str | None = None) -> Document:
    """Parse one file's bytes; ``name`` (a file name) picks the format."""
    kind = kind_of(name)
    if kind is None:
        raise InvalidParameter(f"{name}: unsupported file type; supported: {', '.join(sorted(SUFFIXES))}",
                               param="file")
    if len(data) > MAX_FILE_BYTES:
        raise InvalidParameter(f"{name} is larger than {MAX_FILE_BYTES // 2**20} MiB", param="file")
    title, metadata = "", {}
    if kind == "pdf":
        text, title = _pdf(data, name)
    else:
        text = data.decode("utf-8", errors="replace")
        if kind == "markdown":
            text, metadata = _front_matter(text, name)
            title = str(metadata.pop("title", "") or "") or _first_heading(text)
        elif kind == "html":
            text, title = _html(text)
    explicit_id = metadata.pop("id", None)
    return Document(id=str(explicit_id or doc_id or name), text=text.strip(),
                    title=title.strip() or Path(name).stem, metadata=_jsonable(metadata), source=source)


def load_file(path: Path, root: Path | None = None) -> Document:
    path = path.resolve()
    rel = path.relative_to(root.resolve()).as_posix() if root else path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    return parse(data, path.name, doc_id=rel, source=str(path))


def find_files(path: Path) -> tuple[Path, list[Path]]:
    """The supported files under ``path`` (a file or a folder), and the root their ids are relative to."""
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    if path.is_file():
        if kind_of(path.name) is None:
            raise UsageError(f"{path}: unsupported file type; supported: {', '.join(sorted(SUFFIXES))}")
        return path.parent, [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and kind_of(p.name)
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    return path, files


def iter_documents(path: Path) -> Iterator[Document]:
    root, files = find_files(path)
    for file in files:
        yield load_file(file, root)


def _front_matter(text: str, name: str) -> tuple[str, dict[str, Any]]:
    import frontmatter
    import yaml

    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as exc:
        raise InvalidParameter(f"{name}: the YAML front matter is not valid: {exc}", param="file") from exc
    return post.content, dict(post.metadata)


def _first_heading(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:]
    return ""


def _html(text: str) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(["script", "style", "noscript", "template", "head"]):
        tag.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    return "\n".join(line for line in lines if line), title


def _pdf(data: bytes, name: str) -> tuple[str, str]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or ""
    except (PdfReadError, ValueError, KeyError) as exc:
        raise InvalidParameter(f"{name}: not a readable PDF: {exc}", param="file") from exc
    return "\n\n".join(p.strip() for p in pages if p.strip()), str(title)


def _jsonable(metadata: dict[str, Any]) -> dict[str, Any]:
    """YAML gives dates and other objects; store what JSON can say."""
    return json.loads(json.dumps(metadata, default=str))
