"""Reading documents: Markdown (with YAML front matter), plain text, HTML and PDF.

Every loader returns a ``Document``: an id, a title, the plain text and its metadata. Ids come
from the front matter's ``id`` when there is one, else from the path relative to the folder
being ingested, so re-ingesting a folder finds the same documents again.

Files that give no document are reported, not guessed at: binary content under a text name
(:class:`~cupola.errors.BinaryContent`, see :mod:`cupola.knowledge.content`), broken PDFs and bad
front matter raise; what the PDF reader repaired on the way (``EOF marker not found``, ...) goes
into ``Document.warnings`` instead of the console.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from cupola.errors import BinaryContent, CupolaError, InvalidParameter, UsageError
from cupola.knowledge.content import decode_text

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_PDF_PAGES = 5000
MAX_TEXT_CHARS = 10_000_000  # extracted text per PDF (one whose streams expand hugely stops here)
MAX_PDF_SECONDS = 60.0  # text extraction time per PDF (pypdf reads ~0.5 MB of page content a second here)
MAX_WARNINGS = 10  # distinct reader warnings kept per file
SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".text": "text", ".rst": "text",
            ".html": "html", ".htm": "html", ".pdf": "pdf",
            # audio: transcribed by a speech model (see knowledge.service), chunks keep their times
            ".wav": "audio", ".mp3": "audio", ".m4a": "audio", ".ogg": "audio", ".oga": "audio", ".opus": "audio",
            ".flac": "audio", ".webm": "audio"}
MAX_AUDIO_BYTES = 100 * 1024 * 1024


@dataclass
class Document:
    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str | None = None  # absolute path for files; None for uploaded text
    warnings: list[str] = field(default_factory=list)  # what the reader noticed or repaired
    # audio: (start s, end s, first char, end char) of each transcript segment in ``text``
    segments: list[tuple[float, float, int, int]] | None = None

    @property
    def content_hash(self) -> str:
        """Changes when anything that ends up in the index changes (for a recording: its bytes and
        the speech model, so an unchanged file is not transcribed again)."""
        if "audio_sha256" in self.metadata:
            return audio_hash(self.metadata["audio_sha256"], self.metadata.get("transcribed_by"))
        payload = json.dumps([self.title, self.text, self.metadata], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()


def kind_of(name: str) -> str | None:
    return SUFFIXES.get(Path(name).suffix.lower())


@dataclass
class Audio:
    """An audio file waiting to be transcribed (by the knowledge service, with a speech model)."""

    id: str
    name: str
    data: bytes
    source: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def content_hash(self, model: str) -> str:
        return audio_hash(self.sha256, model)


def audio_hash(audio_sha256: str, model: str | None) -> str:
    return hashlib.sha256(json.dumps(["audio", audio_sha256, model]).encode()).hexdigest()


def parse(data: bytes, name: str, *, doc_id: str | None = None, source: str | None = None) -> Document | Audio:
    """Parse one file's bytes; ``name`` (a file name) picks the format. Audio comes back as
    :class:`Audio`, to be transcribed."""
    kind = kind_of(name)
    if kind is None:
        raise InvalidParameter(f"{name}: unsupported file type; supported: {', '.join(sorted(SUFFIXES))}",
                               param="file")
    if kind == "audio":
        if len(data) > MAX_AUDIO_BYTES:
            raise InvalidParameter(f"{name} is larger than {MAX_AUDIO_BYTES // 2**20} MiB", param="file")
        if not data:
            raise InvalidParameter(f"{name} is empty", param="file")
        return Audio(doc_id or name, name, data, source)
    if len(data) > MAX_FILE_BYTES:
        raise InvalidParameter(f"{name} is larger than {MAX_FILE_BYTES // 2**20} MiB", param="file")
    title, metadata = "", {}
    if kind == "pdf":
        text, title, warnings = _pdf(data, name)
    else:
        text, warnings = decode_text(data, name)
        if kind == "markdown":
            text, metadata = _front_matter(text, name)
            title = str(metadata.pop("title", "") or "") or _first_heading(text)
        elif kind == "html":
            text, title = _html(text)
    explicit_id = metadata.pop("id", None)
    return Document(id=str(explicit_id or doc_id or name), text=text.strip(),
                    title=title.strip() or Path(name).stem, metadata=_jsonable(metadata), source=source,
                    warnings=warnings)


def load_file(path: Path, root: Path | None = None) -> Document | Audio:
    path = path.resolve()
    rel = path.relative_to(root.resolve()).as_posix() if root else path.name
    limit = MAX_AUDIO_BYTES if kind_of(path.name) == "audio" else MAX_FILE_BYTES
    try:
        if path.stat().st_size > limit:  # before reading it all into memory
            raise InvalidParameter(f"{path.name} is larger than {limit // 2**20} MiB", param="file")
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    return parse(data, path.name, doc_id=rel, source=str(path))


@dataclass
class Unread:
    """A file that gave no document, and why. ``skipped``: it is not a document at all (binary
    content under a text name); otherwise reading it failed (a broken PDF, bad front matter)."""

    source: str
    reason: str
    skipped: bool = False


def read_file(path: Path, root: Path | None = None) -> Document | Audio | Unread:
    """:func:`load_file`, with a file that gives no document returned as an :class:`Unread`."""
    try:
        return load_file(path, root)
    except CupolaError as exc:
        return _unread(str(path.resolve()), path.name, exc)


def upload_name(filename: str | None) -> str:
    """The name an uploaded file is known by: the last component of what the client sent
    (``../../etc/passwd.md`` becomes ``passwd.md``), without control characters."""
    name = "".join(c for c in (filename or "") if c.isprintable()).replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name if name not in ("", ".", "..") else "upload.txt"


def read_upload(data: bytes, filename: str | None) -> Document | Audio | Unread:
    """An uploaded file's document, its id the file's :func:`upload_name` (a label, never a path)."""
    filename = upload_name(filename)
    try:
        return parse(data, filename, doc_id=filename)
    except CupolaError as exc:
        return _unread(filename, filename, exc)


def _unread(source: str, name: str, exc: CupolaError) -> Unread:
    reason = exc.message.removeprefix(f"{name}: ")
    return Unread(source, reason, skipped=isinstance(exc, BinaryContent))


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


_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "head", "svg", "math"})
_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "dialog", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li",
    "main", "nav", "ol", "p", "pre", "section", "summary", "table", "td", "th", "title", "tr", "ul"})


class _HtmlText(HTMLParser):
    """Text and title of an HTML page in one streaming pass (no tree: memory stays a few times the
    input, where a parse tree takes ~70 times), skipping scripts, styles and the head."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.skipping: list[str] = []  # open skipped elements
        self.in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        elif tag in _SKIPPED_TAGS:
            self.skipping.append(tag)
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        elif tag in self.skipping:
            del self.skipping[len(self.skipping) - 1 - self.skipping[::-1].index(tag):]
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.skipping:
            self.parts.append(data)


def _html(text: str) -> tuple[str, str]:
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line), " ".join("".join(parser.title).split())


def _pdf(data: bytes, name: str) -> tuple[str, str, list[str]]:
    """Text, title and the reader's warnings. Bounded: pypdf's own limits (75 MB decompressed per
    stream, 2 million operations per content stream, ...), then at most MAX_PDF_PAGES pages,
    MAX_TEXT_CHARS characters and MAX_PDF_SECONDS of extraction: past those the text read so far
    is kept, with a warning saying so."""
    import io
    import time

    from pypdf import PdfReader

    if b"%PDF-" not in data[:1024]:
        raise InvalidParameter(f"{name}: not a PDF file (no %PDF- header)", param="file")
    pages: list[str] = []
    size = 0
    started = time.monotonic()
    with _captured_pdf_warnings() as warnings:
        try:
            reader = PdfReader(io.BytesIO(data))
            count = len(reader.pages)
            for index, page in enumerate(reader.pages):
                if index >= MAX_PDF_PAGES or size >= MAX_TEXT_CHARS or time.monotonic() - started > MAX_PDF_SECONDS:
                    warnings[f"text taken from the first {index} of {count} pages only (limits: {MAX_PDF_PAGES} "
                             f"pages, {MAX_TEXT_CHARS:,} characters, {MAX_PDF_SECONDS:.0f} s)"] += 1
                    break
                text = (page.extract_text() or "").strip()
                pages.append(text[:MAX_TEXT_CHARS - size])
                size += len(pages[-1])
            title = (reader.metadata.title if reader.metadata else None) or ""
        except RecursionError as exc:
            raise InvalidParameter(f"{name}: not a readable PDF: its structure nests too deeply", param="file") from exc
        except Exception as exc:  # noqa: BLE001 - hostile input can break a parser in any way
            raise InvalidParameter(f"{name}: not a readable PDF: {exc}", param="file") from exc
    notes = [f"{message} (x{n})" if n > 1 else message for message, n in list(warnings.items())[:MAX_WARNINGS]]
    if len(warnings) > MAX_WARNINGS:
        notes.append(f"... and {len(warnings) - MAX_WARNINGS} other PDF reader warnings")
    return "\n\n".join(p for p in pages if p), str(title), notes


class _PdfLog(logging.Handler):
    """Routes pypdf's log records to the parse running on the same thread (and to the usual
    logging when no parse is collecting them), so they end up in the file's report."""

    local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        collector = getattr(self.local, "collector", None)
        if collector is None:
            logging.getLogger().handle(record)
            return
        collector[record.getMessage().strip()] += 1


_PDF_LOGGER = logging.getLogger("pypdf")
_PDF_LOGGER.addHandler(_PdfLog())
_PDF_LOGGER.propagate = False


@contextmanager
def _captured_pdf_warnings() -> Iterator[Counter[str]]:
    collector: Counter[str] = Counter()
    _PdfLog.local.collector = collector
    try:
        yield collector
    finally:
        _PdfLog.local.collector = None


def _jsonable(metadata: dict[str, Any]) -> dict[str, Any]:
    """YAML gives dates and other objects; store what JSON can say."""
    return json.loads(json.dumps(metadata, default=str))
