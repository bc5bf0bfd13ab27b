"""Request bodies of the knowledge-base API (``/api/kb``) and the ``knowledge`` option of chat completions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, WithJsonSchema

from cupola.knowledge.retrieval import SearchOptions
from cupola.server.json_types import StrictJSON


class CreateBase(StrictJSON):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(..., description="Letters, digits, '.', '_' and '-' (up to 64, starting with a letter or digit)",
                      pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    embedding_model: str | None = Field(None, description="Embedding model alias (default: the server's)")
    chunk_tokens: int | None = Field(None, ge=16, le=8192, description="Chunk size in the embedding model's tokens "
                                     "(default: the model's maximum input)")
    chunk_overlap: int | None = Field(None, ge=0, description="Overlap between chunks in tokens (default: 1/8)")
    description: str = ""


class DocumentIn(StrictJSON):
    id: str = Field(..., min_length=1)
    text: str
    title: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)


class DocumentsIn(StrictJSON):
    documents: list[DocumentIn] = Field(..., min_length=1)


Scalar = str | bool | int | float | None  # what a metadata filter compares with


class FilterOps(StrictJSON):
    """Comparisons on one metadata key (any subset; all must hold)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, populate_by_name=True)

    eq: Scalar = Field(None, alias="$eq")
    ne: Scalar = Field(None, alias="$ne")
    gt: Scalar = Field(None, alias="$gt")
    gte: Scalar = Field(None, alias="$gte")
    lt: Scalar = Field(None, alias="$lt")
    lte: Scalar = Field(None, alias="$lte")
    in_: Annotated[list[Scalar] | None, WithJsonSchema({"type": "array", "minItems": 1, "items": {
        "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]}})] = Field(
        None, alias="$in")
    exists: Annotated[bool | None, WithJsonSchema({"type": "boolean"})] = Field(None, alias="$exists")


# Filters are checked where they become SQL (knowledge.store.compile_filter, with clear messages); this is
# the same rule for the OpenAPI document.
_SCALAR = [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]
FILTERS_SCHEMA = {"anyOf": [{"type": "object", "propertyNames": {"minLength": 1, "pattern": '^[^"]+$'},
                             "additionalProperties": {"anyOf": [*_SCALAR, FilterOps.model_json_schema()]}},
                            {"type": "null"}]}


class Weights(StrictJSON):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    lexical: float | None = Field(None, ge=0, description="Weight of BM25 (default 1)")
    semantic: float | None = Field(None, ge=0, description="Weight of vector similarity (default 1)")


class Retrieval(StrictJSON):
    """How to search; the same fields in search, ask, and the chat-completions option."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    mode: Literal["lexical", "semantic", "hybrid"] = "hybrid"
    k: int = Field(5, ge=1, le=1000, description="Results to return")
    fusion: Literal["rrf", "weighted"] = "rrf"
    rrf_k: float = Field(60.0, gt=0, description="Reciprocal rank fusion constant")
    weights: Weights | None = Field(None, description="Per-signal weights: {'lexical': 1, 'semantic': 1}")
    filters: Annotated[dict[str, Any] | None, WithJsonSchema(FILTERS_SCHEMA)] = Field(
        None, description="Metadata filters: {'tags': 'faq'} (a value, or a list containing it), or operators "
        "{'year': {'$gte': 2020}}: $eq, $ne, $gt, $gte, $lt, $lte, $in (a list), $exists (true/false)")
    candidates: int | None = Field(None, ge=1, le=5000, description="Candidates per signal (default max(50, 4k))")
    per_document: bool = False
    dedupe: float = Field(0.95, ge=0, le=1, description="Drop results this similar to a better one (1: keep all)")

    def options(self) -> SearchOptions:
        extra = {"weights": self.weights.model_dump(exclude_none=True)} if self.weights is not None else {}
        return SearchOptions(mode=self.mode, k=self.k, fusion=self.fusion, rrf_k=self.rrf_k, filters=self.filters,
                             candidates=self.candidates, per_document=self.per_document, dedupe=self.dedupe, **extra)


class SearchRequest(Retrieval):
    query: str = Field(..., min_length=1)


class AskRequest(Retrieval):
    question: str = Field(..., min_length=1)
    k: int = Field(4, ge=1, le=50)
    model: str | None = Field(None, description="Chat model (default: the server's)")
    stream: bool = Field(True, description="Stream NDJSON events (sources, delta..., done)")
    max_tokens: int | None = Field(None, ge=1, description="Longest answer in tokens (default 256)")
    temperature: float | None = Field(None, ge=0, le=2)
    seed: int | None = Field(None, ge=0, le=2**31 - 2, description="Sampling seed: the same question, sources and "
                             "seed give the same answer")
    stop_loops: bool | None = Field(None, description="End the answer where it starts repeating itself (default true)")


class KnowledgeOption(Retrieval):
    """``knowledge`` in a chat completion: ground the answer in a knowledge base."""

    base: str = Field(..., description="Knowledge base name")
    k: int = Field(4, ge=1, le=50)
