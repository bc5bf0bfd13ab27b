"""Several benchmarks share one results file (``bench/results/reliability.md``): each writes its own
section between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``, keeping what the others wrote."""

from __future__ import annotations

from pathlib import Path


def write_section(path: Path, name: str, text: str, title: str = "# Reliability\n") -> None:
    """Put ``text`` between ``name``'s markers in ``path`` (appended the first time)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    old = path.read_text() if path.exists() else title
    block = f"{start}\n{text.strip(chr(10))}\n{end}"
    if start in old and end in old:
        new = old[:old.index(start)] + block + old[old.index(end) + len(end):]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(new)
