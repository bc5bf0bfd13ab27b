"""Tune the citation matcher's thresholds on recorded answers of the DEV half only.

Reads the raw records bench/grounded_answers.py wrote (``--raw FILE``: a variant's JSON, or its
``.partial.jsonl``), rebuilds each answer's numbered sources from examples/docs (one chunk per
document there), and scores a grid of (semantic weight, support, margin, used) by citation
precision and recall on the dev questions, next to the model's own ``[n]`` markers.

    PYTHONPATH=src python bench/grounded/tune_citations.py --raw RAW --models MODELS_DIR
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load(raw: Path) -> list[dict]:
    if raw.suffix == ".jsonl":
        return [json.loads(line) for line in raw.read_text().splitlines() if line.strip()]
    return json.loads(raw.read_text())["records"]


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--raw", type=Path, required=True)
    p.add_argument("--models", type=Path, required=True)
    p.add_argument("--split", default="dev")
    args = p.parse_args()
    from cupola.client import LocalClient
    from cupola.config import Settings
    from cupola.knowledge import citing
    from cupola.knowledge import documents as docs
    from cupola.runtime.runtime import Runtime

    by_id = {}
    for path in sorted((ROOT / "examples" / "docs").glob("*.md")):
        d = docs.read_file(path, path.parent)
        by_id[d.id] = d
    records = [r for r in load(args.raw) if r["split"] == args.split]
    home = Path(tempfile.mkdtemp(prefix="cupola-tune-"))
    (home / "models").symlink_to(args.models.resolve(), target_is_directory=True)
    client = LocalClient(Runtime(Settings(home=home)))
    cache: dict[str, object] = {}

    async def embed(texts: list[str]):
        import numpy as np
        todo = [t for t in texts if t not in cache]
        if todo:
            for t, v in zip(todo, await client.embed("minilm-l6", todo)):
                cache[t] = v
        return np.stack([cache[t] for t in texts])

    cases = []
    for r in records:
        sources = [{"n": i, "doc_id": d, "title": by_id[d].title, "position": 0, "text": by_id[d].text}
                   for i, d in enumerate(r["retrieved"], 1)]
        cases.append((r, sources))

    async def score(method: str) -> tuple[float, float, float]:
        cites, right, hit, none = 0, 0, 0, 0
        for r, sources in cases:
            cited = [c["doc_id"] for c in await citing.cite(embed, r["answer"], sources, method)]
            cites += len(cited)
            right += sum(d == r["doc"] for d in cited)
            hit += r["doc"] in cited
            none += not cited
        n = len(cases) or 1
        return (right / cites if cites else 0.0), hit / n, none / n

    print(f"{len(cases)} {args.split} answers from {args.raw}")
    print("markers       precision %.2f recall %.2f uncited %.2f" % await score("markers"))
    rows = []
    for w, support, margin, used in itertools.product((0.0, 0.3, 0.5, 0.7, 1.0), (0.3, 0.36, 0.42, 0.48, 0.55),
                                                      (0.0, 0.06, 0.12), (0.2, 0.28, 0.34)):
        if used > support:
            continue
        citing.SEMANTIC_WEIGHT, citing.SUPPORT, citing.MARGIN, citing.USED = w, support, margin, used
        prec, rec, none = await score("combined")
        mprec, mrec, _ = await score("matcher")
        rows.append((prec + rec, w, support, margin, used, prec, rec, none, mprec, mrec))
    rows.sort(reverse=True)
    print("weight support margin used | combined precision recall uncited | matcher precision recall")
    for row in rows[:15]:
        print("%.1f %.2f %.2f %.2f | %.2f %.2f %.2f | %.2f %.2f" % row[1:])
    await client.aclose()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
