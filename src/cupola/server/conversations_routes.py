"""OpenAI's Conversations API (``/v1/conversations``), plus ``GET /v1/conversations`` to list them.

Create, retrieve, update (metadata), delete; list, add, retrieve and delete items. The listing of
conversations is a Cupola extension (OpenAI's API has none), most recently updated first.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from cupola.conversations.store import ConversationStore

router = APIRouter(prefix="/v1/conversations", tags=["OpenAI Conversations"])


class CreateConversation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[dict[str, Any]] | None = Field(None, description="Initial items (at most 20)")
    metadata: dict[str, Any] | None = Field(None, description="Up to 16 string pairs; the Studio keeps `title` here")


class UpdateConversation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metadata: dict[str, Any] = Field(..., description="Replaces the metadata")


class AddItems(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[dict[str, Any]] = Field(..., description="Items to append (at most 20)")


def store_of(request: Request) -> ConversationStore:
    return request.app.state.conversations


@router.post("", summary="Create a conversation")
async def create(body: CreateConversation, request: Request) -> dict[str, Any]:
    return store_of(request).create(body.metadata, body.items)


@router.get("", summary="List conversations, most recently updated first (Cupola extension)")
async def list_conversations(request: Request, limit: int = 20, after: str | None = None) -> dict[str, Any]:
    return store_of(request).list(limit=limit, after=after)


@router.get("/{conversation_id}", summary="Retrieve a conversation")
async def retrieve(conversation_id: str, request: Request) -> dict[str, Any]:
    return store_of(request).get(conversation_id)


@router.post("/{conversation_id}", summary="Update a conversation's metadata")
async def update(conversation_id: str, body: UpdateConversation, request: Request) -> dict[str, Any]:
    return store_of(request).update(conversation_id, body.metadata)


@router.delete("/{conversation_id}", summary="Delete a conversation and its items")
async def delete(conversation_id: str, request: Request) -> dict[str, Any]:
    return store_of(request).delete(conversation_id)


@router.get("/{conversation_id}/items", summary="List a conversation's items")
async def list_items(conversation_id: str, request: Request, limit: int = 20,
                     order: Literal["asc", "desc"] = "desc", after: str | None = None) -> dict[str, Any]:
    return store_of(request).items(conversation_id, limit=limit, order=order, after=after)


@router.post("/{conversation_id}/items", summary="Add items to a conversation (all or none)")
async def add_items(conversation_id: str, body: AddItems, request: Request) -> dict[str, Any]:
    return store_of(request).add_items(conversation_id, body.items)


@router.get("/{conversation_id}/items/{item_id}", summary="Retrieve one item")
async def retrieve_item(conversation_id: str, item_id: str, request: Request) -> dict[str, Any]:
    return store_of(request).item(conversation_id, item_id)


@router.delete("/{conversation_id}/items/{item_id}", summary="Delete one item; returns the conversation")
async def delete_item(conversation_id: str, item_id: str, request: Request) -> dict[str, Any]:
    return store_of(request).delete_item(conversation_id, item_id)
