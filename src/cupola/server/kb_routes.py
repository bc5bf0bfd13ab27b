"""Knowledge-base routes (``/api/kb``): bases, documents (JSON or file upload), search, ask."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from cupola.errors import InvalidParameter, NotFound, invalid
from cupola.knowledge import documents as docs
from cupola.knowledge.service import KnowledgeService
from cupola.server.streaming import ndjson, prefetch
from cupola.server.kb_schemas import AskRequest, CreateBase, DocumentsIn, SearchRequest

router = APIRouter(prefix="/api/kb", tags=["Knowledge bases"])


def service_of(request: Request) -> KnowledgeService:
    return request.app.state.knowledge


@router.get("", summary="List knowledge bases")
async def list_bases(request: Request) -> dict[str, Any]:
    return {"object": "list", "data": [b.describe() for b in service_of(request).store.list()]}


@router.post("", status_code=201, summary="Create a knowledge base")
async def create_base(body: CreateBase, request: Request) -> dict[str, Any]:
    service = service_of(request)
    return service.create(body.name, embedding_model=body.embedding_model, chunk_tokens=body.chunk_tokens,
                          chunk_overlap=body.chunk_overlap, description=body.description).describe()


@router.get("/{name}", summary="Describe a knowledge base")
async def show_base(name: str, request: Request) -> dict[str, Any]:
    return service_of(request).get(name).describe()


@router.delete("/{name}", summary="Delete a knowledge base and everything in it")
async def delete_base(name: str, request: Request) -> dict[str, Any]:
    service_of(request).store.delete(name)
    return {"name": name, "deleted": True}


@router.get("/{name}/documents", summary="List the documents of a knowledge base")
async def list_documents(name: str, request: Request, limit: int = Query(100, ge=1, le=1000),
                         offset: int = Query(0, ge=0, le=2**62)) -> dict[str, Any]:
    store = service_of(request).store
    return {"object": "list", "data": store.documents(store.get(name), limit=limit, offset=offset)}


_DOCUMENTS_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": DocumentsIn.model_json_schema(ref_template="#/components/schemas/{model}")},
    "multipart/form-data": {"schema": {"type": "object", "required": ["files"], "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}, "minItems": 1}}}}}}}


@router.post("/{name}/documents", summary="Add or replace documents (JSON body or multipart file upload)",
             openapi_extra=_DOCUMENTS_BODY,
             description="Send `{\"documents\": [{\"id\", \"text\", \"title\", \"metadata\"}]}` as JSON, or "
                         "upload files (Markdown, text, HTML, PDF) as multipart form fields named `files`. "
                         "Unchanged documents are skipped; changed ones replace their chunks atomically.")
async def add_documents(name: str, request: Request) -> dict[str, Any]:
    service = service_of(request)
    service.get(name)  # 404 before reading a large body
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        uploads = [v for v in form.getlist("files") if isinstance(v, UploadFile)]
        if not uploads:
            raise InvalidParameter("upload files as multipart form fields named 'files'", param="files")
        parsed: list[docs.Document | docs.Audio | docs.Unread] = []
        for upload in uploads:
            data = await upload.read(docs.MAX_FILE_BYTES + 1)
            parsed.append(await asyncio.to_thread(docs.read_upload, data, upload.filename))
    else:
        try:
            body = DocumentsIn.model_validate_json(await request.body())
        except ValidationError as exc:
            problem = invalid(exc.errors())
            problem.hint = "send {'documents': [{'id', 'text', 'title', 'metadata'}]} or multipart files"
            raise problem from None
        parsed = [docs.Document(id=d.id, text=d.text, title=d.title, metadata=d.metadata) for d in body.documents]
    report = await service.ingest(name, parsed)
    return report.as_dict()


@router.delete("/{name}/documents/{doc_id:path}", summary="Remove one document")
async def delete_document(name: str, doc_id: str, request: Request) -> dict[str, Any]:
    removed = service_of(request).remove_documents(name, [doc_id])
    if not removed:
        raise NotFound(f"no document {doc_id!r} in knowledge base {name!r}", param="doc_id")
    return {"doc_id": doc_id, "deleted": True}


@router.post("/{name}/search", summary="Search: lexical (BM25), semantic (vectors) or hybrid (fused)")
async def search(name: str, body: SearchRequest, request: Request) -> dict[str, Any]:
    return await service_of(request).search(name, body.query, body.options())


@router.post("/{name}/ask", summary="Answer a question from the knowledge base, with citations",
             description="Streams NDJSON events: `sources`, then `delta` text, then `done` with the answer, "
                         "`citations` (the retrieved sources that support its sentences, each with the sentences "
                         "it supports), `finish_reason` and `note` (why the answer was stopped early, if it was). "
                         "With `stream: false`, returns the `done` event's fields. `max_tokens` defaults to 256.")
async def ask(name: str, body: AskRequest, request: Request):
    service = service_of(request)
    params = {k: v for k, v in {"max_tokens": body.max_tokens, "temperature": body.temperature, "seed": body.seed,
                                "stop_loops": body.stop_loops}.items() if v is not None}
    events = service.ask(name, body.question, model=body.model, options=body.options(), **params)
    events = await prefetch(events)  # search errors become HTTP errors, before any byte is sent
    if not body.stream:
        final: dict[str, Any] = {}
        first: dict[str, Any] = {}
        async for event in events:
            first = first or event
            if event["type"] == "done":
                final = event
        return JSONResponse({"object": "knowledge.answer", "base": name, "answer": final.get("answer", ""),
                             "citations": final.get("citations", []), "sources": first["sources"],
                             "finish_reason": final.get("finish_reason"), "note": final.get("note"),
                             "mode": first["mode"], "fallback": first["fallback"], "usage": final.get("usage")})
    return ndjson(events)
