"""How one model runs: the async engine contract with its capabilities (``base``), the thread
bridge for blocking in-process libraries (``bridge``), llama.cpp, ONNX Runtime, remote
OpenAI-compatible servers (``remote``) and fakes for tests."""

from cupola.engines.base import Capabilities, ChatBackend, EmbeddingBackend, Engine

__all__ = ["Capabilities", "ChatBackend", "EmbeddingBackend", "Engine"]
