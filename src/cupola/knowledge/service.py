"""Knowledge bases as a capability: create, ingest, search and ask.

Talks to models only through the ``ModelClient`` interface (embed, stream), so the same code
runs on the in-process runtime or against a remote OpenAI-compatible server. The local model
store, when there is one, supplies the embedding model's tokenizer and maximum input for
chunking; without it, words stand in for tokens.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from cupola import tracing
from cupola.client import ModelClient
from cupola.errors import CupolaError, InvalidParameter, ModelNotFound, RuntimeFailure
from cupola.knowledge import citing
from cupola.knowledge import documents as docs
from cupola.knowledge.chunking import Spans, chunk_text, tokenizer_spans, word_spans
from cupola.knowledge.retrieval import SearchOptions, fuse, ranks, select, top_k
from cupola.knowledge.store import Base, KnowledgeStore, PreparedDocument
from cupola.models.store import ModelStore

EMBED_BATCH = 256  # chunks per embedding call (the engine sorts them by length and batches them)
TITLE_TOKENS = 48
OPTIMIZE_AFTER = 1000  # merge the BM25 index after writing this many chunks  # at most this much of a title goes into each chunk's vector

ASK_MAX_TOKENS = 256  # a grounded answer's default length (kb ask, /api/kb/{name}/ask, chat with knowledge)

ANSWER_PROMPT = """Answer the question in one to three short sentences, using only the numbered sources below. \
After each fact, cite its source number in square brackets, like [1]. If the sources do not contain the answer, \
say that you do not know.

Sources:
{sources}"""


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0
    embedded: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)  # {"source", "error"}: reading it failed
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"source", "reason"}: not a document
    warnings: list[str] = field(default_factory=list)
    file_warnings: list[dict[str, str]] = field(default_factory=list)  # {"source", "warning"}: ingested anyway
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["chunks_per_second"] = round(self.chunks / self.seconds, 1) if self.seconds else None
        out["seconds"] = round(self.seconds, 3)
        return out


IngestProgress = Callable[[str, int, int | None], None]
"""``(stage, done, total)``; stages: ``documents`` (read and indexed), ``embeddings``."""


def _no_progress(stage: str, done: int, total: int | None) -> None:
    pass


class KnowledgeService:
    def __init__(self, store: KnowledgeStore, client: ModelClient, *, models: ModelStore | None = None,
                 default_embedding_model: str = "minilm-l6", default_chat_model: str = "smollm2-135m",
                 speech_model: str = "whisper-tiny-en") -> None:
        self.store = store
        self.client = client
        self.models = models
        self.default_embedding_model = default_embedding_model
        self.default_chat_model = default_chat_model
        self.speech_model = speech_model  # transcribes audio files on ingest

    # -- bases -------------------------------------------------------------------------------

    def _model_limits(self, alias: str) -> tuple[Spans, int | None]:
        """The embedding model's tokenizer spans and maximum input tokens, when known locally."""
        return _limits(self.models, alias) if self.models is not None else (word_spans, None)

    def create(self, name: str, *, embedding_model: str | None = None, chunk_tokens: int | None = None,
               chunk_overlap: int | None = None, description: str = "") -> Base:
        model = embedding_model or self.default_embedding_model
        _, max_input = self._model_limits(model)
        size = chunk_tokens or ((max_input - 2) if max_input else 256)
        if size < 16:
            raise InvalidParameter("chunk_tokens must be at least 16", param="chunk_tokens")
        overlap = size // 8 if chunk_overlap is None else chunk_overlap
        if not 0 <= overlap <= size // 2:
            raise InvalidParameter(f"chunk_overlap must be between 0 and half the chunk size ({size // 2})",
                                   param="chunk_overlap")
        return self.store.create(name, embedding_model=model, chunk_tokens=size, chunk_overlap=overlap,
                                 description=description)

    def get(self, name: str) -> Base:
        return self.store.get(name)

    # -- ingest ------------------------------------------------------------------------------

    def prepare(self, base: Base, doc: docs.Document) -> PreparedDocument:
        spans, max_input = self._model_limits(base.embedding_model or "")
        size = base.chunk_tokens
        if max_input:  # leave room for the title and the special tokens in every chunk's vector
            size = min(size, max(16, max_input - 2 - min(len(spans(doc.title)), TITLE_TOKENS)))
        chunks = chunk_text(doc.text, spans, size, min(base.chunk_overlap, size // 2)) if doc.text else []
        times = [chunk_times(doc.segments, c.start, c.end) for c in chunks] if doc.segments else None
        return PreparedDocument(doc, chunks, times=times)

    async def transcribe(self, audio: docs.Audio) -> docs.Document | docs.Unread:
        """An audio file as a document: its transcript, each segment's time kept for the chunks."""
        transcribe = getattr(self.client, "transcribe", None)
        if transcribe is None:
            return docs.Unread(audio.source or audio.name, "this model client cannot transcribe audio")
        try:
            result = await transcribe(self.speech_model, audio.data)
        except CupolaError as exc:
            return docs.Unread(audio.source or audio.name, f"could not transcribe it: {exc.message}")
        text, segments = "", []
        for seg in result.get("segments") or []:
            piece = (seg.get("text") or "").strip()
            if not piece:
                continue
            start = len(text) + (1 if text else 0)
            text = f"{text} {piece}" if text else piece
            segments.append((float(seg.get("start", 0.0)), float(seg.get("end", 0.0)), start, len(text)))
        metadata = {"media": "audio", "duration_s": result.get("duration"), "language": result.get("language"),
                    "transcribed_by": self.speech_model, "audio_sha256": audio.sha256}
        return docs.Document(id=audio.id, text=text, title=Path(audio.name).name, metadata=metadata,
                             source=audio.source, segments=segments)

    async def ingest_paths(self, name: str, paths: Iterable[Path], *, prune: bool = False,
                           progress: IngestProgress = _no_progress) -> IngestReport:
        """Ingest files and folders. With ``prune``, documents that came from a given folder and
        are no longer in it are removed."""
        report = IngestReport()
        found: list[tuple[Path, Path]] = []
        folders: list[Path] = []
        for path in paths:
            root, files = docs.find_files(Path(path))
            found += [(root, f) for f in files]
            if Path(path).is_dir():
                folders.append(Path(path).resolve())

        read = (docs.read_file(file, root) for root, file in found)
        await self.ingest(name, read, total=len(found), progress=progress, report=report)
        if prune:
            base = self.store.get(name)
            seen = {str(f.resolve()) for _, f in found}
            stale = [doc_id for folder in folders
                     for doc_id, source in self.store.sources_under(base, str(folder)).items() if source not in seen]
            report.removed = await asyncio.to_thread(self.store.remove, base, stale) if stale else 0
        return report

    async def ingest(self, name: str, documents: Iterable[docs.Document | docs.Unread], *, total: int | None = None,
                     progress: IngestProgress = _no_progress, report: IngestReport | None = None) -> IngestReport:
        """Add or replace documents; unchanged ones (same content hash) are skipped.

        Files that gave no document (:class:`~cupola.knowledge.documents.Unread`) are counted
        and reported as skipped or failed, so progress reaches ``total``.

        Documents are written in batches, each document whole in one transaction with its chunks
        and vectors. If the embedding model is unavailable, chunks are indexed for lexical search
        and get their vectors on a later ingest.
        """
        report = report or IngestReport()
        started = time.perf_counter()
        base = self.store.get(name)
        known = self.store.hashes(base)
        embed_ok = True
        batch: list[PreparedDocument] = []
        pending_chunks = 0
        done = 0

        async def flush() -> None:
            nonlocal embed_ok, batch, pending_chunks
            if not batch:
                return
            if embed_ok:
                texts = [_embed_text(p.document.title, c.text) for p in batch for c in p.chunks]
                try:
                    vectors = await self._embed(base, texts) if texts else np.zeros((0, 0), np.float32)
                except (ModelNotFound, RuntimeFailure) as exc:
                    embed_ok = False
                    report.warnings.append(f"no vectors (lexical search only until the next ingest): {exc.message}")
                else:
                    row = 0
                    for p in batch:
                        p.vectors = vectors[row:row + len(p.chunks)]
                        row += len(p.chunks)
                    report.embedded += len(texts)
            await asyncio.to_thread(self.store.write, base, batch)
            report.chunks += pending_chunks
            batch, pending_chunks = [], 0

        progress("documents", 0, total)
        seen: set[str] = set()
        for doc in documents:
            done += 1
            if isinstance(doc, docs.Audio):  # speech to text first, unless the recording is unchanged
                if known.get(doc.id) == doc.content_hash(self.speech_model):
                    report.unchanged += 1
                    seen.add(doc.id)
                    progress("documents", done, total)
                    continue
                doc = await self.transcribe(doc)
            if isinstance(doc, docs.Unread):
                if doc.skipped:
                    report.skipped.append({"source": doc.source, "reason": doc.reason})
                else:
                    report.failed.append({"source": doc.source, "error": doc.reason})
                progress("documents", done, total)
                continue
            report.file_warnings += [{"source": doc.source or doc.id, "warning": w} for w in doc.warnings]
            if doc.id in seen:
                report.failed.append({"source": doc.source or doc.id, "error": f"duplicate document id {doc.id!r}"})
                continue
            seen.add(doc.id)
            previous = known.get(doc.id)
            if previous == doc.content_hash:
                report.unchanged += 1
            else:
                prepared = await asyncio.to_thread(self.prepare, base, doc)  # tokenizing: off the event loop
                batch.append(prepared)
                pending_chunks += len(prepared.chunks)
                if previous is None:
                    report.added += 1
                else:
                    report.updated += 1
                if pending_chunks >= EMBED_BATCH:
                    await flush()
            progress("documents", done, total)
        await flush()
        if embed_ok:
            await self._complete_vectors(base, report, progress)
        if report.chunks >= OPTIMIZE_AFTER:
            await asyncio.to_thread(self.store.optimize, base)
        report.seconds = time.perf_counter() - started
        return report

    async def _complete_vectors(self, base: Base, report: IngestReport, progress: IngestProgress) -> None:
        """Give vectors to chunks indexed while the embedding model was unavailable."""
        missing = self.store.get(base.name)
        todo = missing.chunks - missing.embedded
        finished = 0
        while todo > 0:
            rows = await asyncio.to_thread(self.store.unembedded, base, EMBED_BATCH)
            if not rows:
                break
            try:
                vectors = await self._embed(base, [_embed_text(t, x) for _, t, x in rows])
            except (ModelNotFound, RuntimeFailure) as exc:
                report.warnings.append(f"{todo - finished} chunks still without vectors: {exc.message}")
                return
            await asyncio.to_thread(self.store.set_vectors, base, [r[0] for r in rows], vectors)
            finished += len(rows)
            report.embedded += len(rows)
            progress("embeddings", finished, todo)

    async def _embed(self, base: Base, texts: list[str]) -> np.ndarray:
        if not base.embedding_model:
            raise ModelNotFound("this knowledge base has no embedding model")
        return await self.client.embed(base.embedding_model, texts)

    def remove_documents(self, name: str, doc_ids: list[str]) -> int:
        return self.store.remove(self.store.get(name), doc_ids)

    # -- search ------------------------------------------------------------------------------

    async def search(self, name: str, query: str, options: SearchOptions | None = None) -> dict[str, Any]:
        """Ranked chunks for ``query`` with per-signal scores and ranks, the fused score and the mode used."""
        options = options or SearchOptions()
        with tracing.span(f"search_knowledge {name}", attributes={
                "cupola.knowledge.base": name, "cupola.knowledge.mode": options.mode, "cupola.knowledge.k": options.k,
                "cupola.knowledge.query": query[:500] if tracing.capture_content() else None}) as span:
            found = await self._search(name, query, options)
            span.set_attribute("cupola.knowledge.results", len(found["results"]))
            span.set_attribute("cupola.knowledge.mode_used", found["mode"])
            return found

    async def _search(self, name: str, query: str, options: SearchOptions) -> dict[str, Any]:
        if not query.strip():
            raise InvalidParameter("the query is empty", param="query")
        started = time.perf_counter()
        base = self.store.base(name)
        qvec, fallback = None, None
        if options.mode != "lexical":
            try:
                qvec = (await self._embed(base, [query]))[0]
            except (ModelNotFound, RuntimeFailure) as exc:
                fallback = f"embeddings unavailable ({exc.message}); used lexical search"
        # BM25 runs after the query embedding, not beside it: on a 2-core machine running both at
        # once made each slower by as much as the overlap saved (measured).
        mode, results, no_vectors = await asyncio.to_thread(self._rank, base, query, qvec, options)
        if no_vectors:
            fallback = "no chunk of this base has a vector yet; used lexical search"
        return {"object": "knowledge.search", "base": name, "query": query, "mode": mode,
                "requested_mode": options.mode, "fallback": fallback,
                "fusion": options.fusion if mode == "hybrid" else None, "results": results,
                "took_ms": round((time.perf_counter() - started) * 1000, 2)}

    def _rank(self, base: Base, query: str, qvec: np.ndarray | None,
              options: SearchOptions) -> tuple[str, list[dict[str, Any]], bool]:
        """(mode used, results, whether semantic search was wanted but the base has no vectors)."""
        depth = options.depth
        vecs = self.store.vectors(base) if qvec is not None or options.dedupe < 1 else None
        no_vectors = qvec is not None and (vecs is None or vecs.ids.size == 0)
        mode = options.mode if qvec is not None and not no_vectors else "lexical"
        signals: dict[str, dict[int, float]] = {}
        if mode in ("lexical", "hybrid"):
            signals["lexical"] = dict(self.store.lexical(base, query, depth, options.filters))
        if mode in ("semantic", "hybrid") and vecs is not None:
            sims = vecs.matrix @ qvec.astype(np.float32)
            if options.filters:
                sims = np.where(np.isin(vecs.ids, self.store.allowed(base, options.filters)), sims, -np.inf)
            idx = top_k(sims, depth)
            idx = idx[np.isfinite(sims[idx])]
            signals["semantic"] = {int(vecs.ids[i]): float(sims[i]) for i in idx}
        fused = fuse(signals, options)
        order = sorted(fused, key=lambda c: -fused[c])
        rows: dict[int, dict[str, Any]] = {}
        chosen: list[int] = []
        fetched, step = 0, max(2 * options.k, 20)
        while fetched < len(order) and len(chosen) < options.k:  # fetch text only as far as needed
            rows.update(self.store.chunks(order[fetched:fetched + step]))
            fetched += step
            chosen = select([c for c in order[:fetched] if c in rows], options.k,
                            vectors=_rows_of(vecs, order[:fetched]) if options.dedupe < 1 else {},
                            texts={c: r["text"] for c, r in rows.items()},
                            documents={c: r["doc_id"] for c, r in rows.items()},
                            dedupe=options.dedupe, per_document=options.per_document)
        signal_ranks = {name: ranks(scores) for name, scores in signals.items()}
        out = []
        for cid in chosen:
            r = rows[cid]
            times = {"start_s": r["start_s"], "end_s": r["end_s"], "timestamp": clock(r["start_s"])} \
                if r.get("start_s") is not None else {}
            out.append({"chunk_id": cid, "doc_id": r["doc_id"], "title": r["title"], "position": r["position"],
                        "start": r["start_char"], "end": r["end_char"], "text": r["text"], "source": r["source"],
                        **times, "metadata": r["metadata"], "score": fused[cid], "mode": mode,
                        "scores": {name: signals[name].get(cid) for name in signals},
                        "ranks": {name: signal_ranks[name].get(cid) for name in signals}})
        return mode, out, no_vectors

    # -- grounded answers --------------------------------------------------------------------

    async def sources_for(self, name: str, question: str, options: SearchOptions,
                          budget_tokens: int = 1200) -> dict[str, Any]:
        """Search, then keep the best results that fit in ``budget_tokens``, numbered from 1."""
        found = await self.search(name, question, options)
        kept, used = [], 0
        for result in found["results"]:
            cost = len(result["text"]) // 4 + 16
            if kept and used + cost > budget_tokens:
                break
            kept.append({**result, "n": len(kept) + 1})
            used += cost
        if len(kept) < len(found["results"]):  # never shortened silently: the next request record says so
            tracing.note_shaping("knowledge sources", f"{len(found['results']) - len(kept)} of "
                                 f"{len(found['results'])} sources from {name} left out to fit the "
                                 f"{budget_tokens}-token budget")
        found["results"] = kept
        return found

    async def grounded_messages(self, name: str, messages: list[dict[str, Any]], options: SearchOptions,
                                budget_tokens: int = 1200) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The conversation with numbered sources for its last user message put in front."""
        question = next((_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        if not question.strip():
            raise InvalidParameter("grounding needs a user message to search for", param="messages")
        found = await self.sources_for(name, question, options, budget_tokens)
        grounding = ANSWER_PROMPT.format(sources=format_sources(found["results"]))
        if messages and messages[0].get("role") in ("system", "developer"):
            # Many chat templates accept only one system message: add the sources to the caller's.
            first = {**messages[0], "content": f"{_text(messages[0].get('content'))}\n\n{grounding}"}
            return [first, *messages[1:]], found
        return [{"role": "system", "content": grounding}, *messages], found

    def embedder(self, name: str) -> citing.Embed | None:
        """Embeds texts with the base's embedding model (for matching answers to sources)."""
        model = self.store.get(name).embedding_model
        if not model:
            return None

        async def embed(texts: list[str]) -> np.ndarray:
            return await self.client.embed(model, texts)
        return embed

    async def cite(self, name: str, answer: str, sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The retrieved sources that support the answer's sentences (see :mod:`cupola.knowledge.citing`)."""
        with tracing.span(f"cite_sources {name}", attributes={"cupola.knowledge.base": name}) as span:
            cited = await citing.cite(self.embedder(name), answer, sources)
            span.set_attribute("cupola.knowledge.citations", len(cited))
            return cited

    async def ask(self, name: str, question: str, *, model: str | None = None,
                  options: SearchOptions | None = None, budget_tokens: int = 1200,
                  **params: Any) -> AsyncIterator[dict[str, Any]]:
        """Stream a grounded answer: a ``sources`` event, ``delta`` events, then ``done`` with the
        answer, its citations, ``finish_reason`` and ``note`` (why it was stopped early, if it was).

        Unless ``params`` say otherwise, the answer gets at most :data:`ASK_MAX_TOKENS` tokens and
        is stopped where it starts repeating itself (``stop_loops``)."""
        options = options or SearchOptions(k=4)
        params = {"max_tokens": ASK_MAX_TOKENS, "stop_loops": True,
                  **{k: v for k, v in params.items() if v is not None}}
        messages, found = await self.grounded_messages(name, [{"role": "user", "content": question}], options,
                                                       budget_tokens)
        sources = [public_source(r) for r in found["results"]]
        yield {"type": "sources", "mode": found["mode"], "fallback": found["fallback"], "sources": sources}
        parts: list[str] = []
        usage = finish = note = None
        async for chunk in self.client.stream(model or self.default_chat_model, messages,
                                              stream_options={"include_usage": True}, **params):
            usage = chunk.get("usage") or usage
            for shaped in chunk.get("shaping") or []:
                note = shaped.get("detail")
            for choice in chunk.get("choices") or []:
                text = (choice.get("delta") or {}).get("content")
                finish = choice.get("finish_reason") or finish
                if text:
                    parts.append(text)
                    yield {"type": "delta", "text": text}
        answer = "".join(parts)
        yield {"type": "done", "answer": answer, "citations": await self.cite(name, answer, sources),
               "finish_reason": finish, "note": note, "usage": usage}


def _rows_of(vecs: Any, ids: list[int]) -> dict[int, np.ndarray]:
    """The stored vectors of ``ids`` (those that have one)."""
    if vecs is None or not vecs.ids.size or not ids:
        return {}
    pos = np.minimum(np.searchsorted(vecs.ids, ids), vecs.ids.size - 1)
    return {cid: vecs.matrix[p] for cid, p in zip(ids, pos) if vecs.ids[p] == cid}


@lru_cache(maxsize=8)
def _cached_spans(path: str) -> Spans:
    return tokenizer_spans(Path(path))


def _limits(models: ModelStore, alias: str) -> tuple[Spans, int | None]:
    try:
        info = models.info(alias)
    except CupolaError:
        return word_spans, None
    tokenizer = info.path / "tokenizer.json" if info.path else None
    spans = _cached_spans(str(tokenizer)) if tokenizer and tokenizer.exists() else word_spans
    return spans, info.entry.max_input_tokens or info.entry.context_length


def _embed_text(title: str, text: str) -> str:
    return f"{title}\n{text}" if title else text


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


def public_source(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in ("n", "doc_id", "title", "position", "text", "source", "metadata", "score",
                                   "start_s", "end_s", "timestamp") if k in result}


def format_sources(results: list[dict[str, Any]]) -> str:
    if not results:
        return "(no sources found)"
    return "\n\n".join(f"[{r['n']}] {r['title']}{' at ' + r['timestamp'] if r.get('timestamp') else ''}\n{r['text']}"
                       for r in results)


def clock(seconds: float | None) -> str | None:
    """``12:40`` (or ``1:02:03``): where in a recording a chunk starts."""
    if seconds is None:
        return None
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def chunk_times(segments: list[tuple[float, float, int, int]], start: int, end: int) -> tuple[float, float]:
    """The time span of the transcript characters ``start:end``: from the segment holding the first
    character to the one holding the last."""
    first = next((s for s in segments if s[3] > start), segments[-1])
    last = next((s for s in reversed(segments) if s[2] < end), segments[0])
    return first[0], max(first[0], last[1])


_CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def citations(answer: str, sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sources an answer cites as ``[n]`` (or ``[n, m]``), in order of first citation."""
    by_n = {s["n"]: s for s in sources}
    cited: list[dict[str, Any]] = []
    for match in _CITATION.finditer(answer):
        for n in (int(x) for x in match.group(1).split(",")):
            if n in by_n and all(c["n"] != n for c in cited):
                s = by_n[n]
                cited.append({"n": n, "doc_id": s["doc_id"], "title": s["title"], "position": s["position"],
                              **({"timestamp": s["timestamp"]} if s.get("timestamp") else {})})
    return cited
