"""Conversations kept on the server, in the shape of OpenAI's Conversations API."""

from cupola.conversations.store import ConversationStore

__all__ = ["ConversationStore"]
