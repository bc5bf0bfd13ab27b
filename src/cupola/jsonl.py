"""JSON Lines files (one object per line), read with the file and line number in every error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cupola.errors import InvalidParameter, UsageError


def rows(path: Path, *, required: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line; ``required`` names a string field every
    row must have."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidParameter(f"{path}:{number}: not JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise InvalidParameter(f"{path}:{number}: each line must be a JSON object")
        if required is not None and not isinstance(row.get(required), str):
            raise InvalidParameter(f"{path}:{number}: each row needs a string `{required}`")
        yield number, row
