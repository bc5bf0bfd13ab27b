"""What a file's bytes are: text (and in which encoding) or binary data, whatever the file is called.

A file named ``notes.md`` can hold an executable, an image or random bytes; indexed as text it
would become garbage chunks that then match semantic queries. :func:`decode_text` looks at the
bytes themselves:

* a byte-order mark says UTF-8, UTF-16 or UTF-32 text;
* a NUL byte in the first 64 KiB, or more than 2 % control characters other than whitespace
  and escape, means binary data (the rule git and grep use, plus the control-character share,
  which catches random bytes without a NUL); a known signature names what it is (ELF, PDF, ZIP, ...);
* otherwise the text is UTF-8; bytes that are not are read as Windows-1252 (the usual legacy
  encoding) when there are many of them, or replaced when there are a few, with a warning.
"""

from __future__ import annotations

import codecs

from cupola.errors import BinaryContent

SAMPLE_BYTES = 64 * 1024
MAX_CONTROL_SHARE = 0.02
# Control bytes that do not occur in text: all but tab, line feed, vertical tab, form feed,
# carriage return and escape (ANSI colours in logs).
_CONTROL = bytes([*range(0x00, 0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "an ELF executable"),
    (b"%PDF-", "a PDF document: name it .pdf to ingest it"),
    (b"PK\x03\x04", "a ZIP archive (or .docx, .xlsx, .jar)"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"BZh", "bzip2-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"GGUF", "a GGUF model file"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
    (b"MZ", "a Windows executable"),
    (b"\x00asm", "a WebAssembly module"),
    (b"OggS", "an Ogg audio file"),
    (b"RIFF", "a RIFF file (WAV, AVI, WebP)"),
    (b"ID3", "an MP3 audio file"),
)
_BOMS: tuple[tuple[bytes, str], ...] = (  # UTF-32 first: its little-endian mark starts like UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


def signature(data: bytes) -> str | None:
    """What a known file signature at the start of ``data`` says it is."""
    for magic, what in _SIGNATURES:
        if data.startswith(magic):
            return what
    return None


def binary_reason(data: bytes) -> str | None:
    """Why ``data`` is binary rather than text, or None when it looks like text."""
    sample = data[:SAMPLE_BYTES]
    if not sample or any(sample.startswith(bom) for bom, _ in _BOMS):
        return None
    what = signature(sample)
    if b"\x00" in sample:
        return f"binary content ({what or 'it contains NUL bytes'}), not text"
    controls = len(sample) - len(sample.translate(None, _CONTROL))
    if controls > MAX_CONTROL_SHARE * len(sample):
        return f"binary content ({what or f'{controls / len(sample):.0%} control characters'}), not text"
    return None


def decode_text(data: bytes, name: str) -> tuple[str, list[str]]:
    """The text of ``data`` and any warnings about its encoding; :class:`BinaryContent` if it is not text."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace"), []
    reason = binary_reason(data)
    if reason is not None:
        raise BinaryContent(f"{name}: {reason}", param="file")
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - data.count("\ufffd".encode())
    if bad * 1000 > len(data):  # many: a legacy 8-bit encoding, not damaged UTF-8
        return data.decode("cp1252", errors="replace"), ["not UTF-8: read as Windows-1252"]
    return text, [f"{bad} byte(s) that are not UTF-8 were replaced"]
