"""OpenAI's Conversations API (``/v1/conversations``), plus ``GET /v1/conversations`` to list them.

Create, retrieve, update (metadata), delete; list, add, retrieve and delete items. The listing of
conversations is a Cupola extension (OpenAI's API has none), most recently updated first.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from cupola.conversations.store import (MAX_ITEMS_PER_REQUEST, MAX_METADATA_PAIRS, ROLES, TEXT_PARTS,
                                        ConversationStore)

router = APIRouter(prefix="/v1/conversations", tags=["OpenAI Conversations"])

# What ``conversations.store.normalize_item`` accepts, for the document (clients and fuzzers rely on it).
_TEXT_PART = {"anyOf": [
    {"type": "object", "required": ["type", "text"], "properties": {
        "type": {"enum": [t for t in TEXT_PARTS if t != "refusal"]}, "text": {"type": "string"}}},
    {"type": "object", "required": ["type", "refusal"], "properties": {
        "type": {"const": "refusal"}, "refusal": {"type": "string"}}}]}
_STRINGS = {"name": {"type": "string"}, "arguments": {"type": "string"}}
ITEM = {"type": "object", "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 128}}, "anyOf": [
    {"required": ["role", "content"], "properties": {
        "type": {"const": "message"}, "role": {"enum": list(ROLES)},
        "content": {"anyOf": [{"type": "string"}, {"type": "array", "items": _TEXT_PART}]}}},
    {"required": ["type", "name", "arguments", "call_id"], "properties": {
        "type": {"const": "function_call"}, "call_id": {"type": "string"}, **_STRINGS}},
    {"required": ["type", "name", "arguments"], "properties": {
        "type": {"enum": ["mcp_call", "mcp_approval_request"]}, **_STRINGS}},
    {"required": ["type", "call_id"], "properties": {
        "type": {"const": "function_call_output"}, "call_id": {"type": "string"}}},
    {"required": ["type", "approval_request_id", "approve"], "properties": {
        "type": {"const": "mcp_approval_response"}, "approval_request_id": {"type": "string"},
        "approve": {"type": "boolean"}}},
    {"required": ["type"], "properties": {"type": {"const": "mcp_list_tools"}}}]}
"""A conversation item (``type`` defaults to ``message``) as the store accepts it."""
METADATA = {"type": "object", "maxProperties": MAX_METADATA_PAIRS, "propertyNames": {"maxLength": 64},
            "additionalProperties": {"type": "string", "maxLength": 512}}


class CreateConversation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[dict[str, Any]] | None, WithJsonSchema({"anyOf": [
        {"type": "array", "items": ITEM, "maxItems": MAX_ITEMS_PER_REQUEST}, {"type": "null"}]})] = Field(
        None, description="Initial items (at most 20)")
    metadata: Annotated[dict[str, Any] | None, WithJsonSchema({"anyOf": [METADATA, {"type": "null"}]})] = Field(
        None, description="Up to 16 string pairs; the Studio keeps `title` here")


class UpdateConversation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metadata: Annotated[dict[str, Any], WithJsonSchema(METADATA)] = Field(..., description="Replaces the metadata")


class AddItems(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[dict[str, Any]], WithJsonSchema(
        {"type": "array", "items": ITEM, "minItems": 1, "maxItems": MAX_ITEMS_PER_REQUEST})] = Field(
        ..., description="Items to append (1 to 20)")


def store_of(request: Request) -> ConversationStore:
    return request.app.state.conversations


@router.post("", summary="Create a conversation")
async def create(body: CreateConversation, request: Request) -> dict[str, Any]:
    return store_of(request).create(body.metadata, body.items)


@router.get("", summary="List conversations, most recently updated first (Cupola extension)")
async def list_conversations(request: Request, limit: int = Query(20, ge=1, le=100), after: str | None = None) -> dict[str, Any]:
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
async def list_items(conversation_id: str, request: Request, limit: int = Query(20, ge=1, le=100),
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
