"""Embedding-only GGUF models (BERT, nomic-bert, ...) on llama.cpp's embedding mode, in-process.

The same embedded llama.cpp server as chat models (through xllamacpp), started with
``embedding = True``: each input is one sequence, pooled as the model's metadata says (mean when it
says nothing) and L2-normalised. Inputs are tokenized first by the engine's own tokenizer (the
server's ``/tokenize`` on its private Unix socket), so a text longer than the model takes is
refused with its token count, or cut to the limit when asked (``truncate``), before anything runs;
the token ids are then embedded as they are.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np

from cupola.engines.base import input_too_long
from cupola.errors import EngineError, InvalidParameter

MAX_TOKENS = 2048  # the most tokens per input: one batch holds a whole input, and its attention grows as n²


class LlamaCppEmbeddingEngine:
    """An embedding backend (``embed(texts, truncate)``) for a GGUF embedding model."""

    def __init__(self, model_path: Path, alias: str, *, max_tokens: int = 512, parallel: int = 4,
                 threads: int = 0, pooling: str | None = None) -> None:
        import httpx
        import xllamacpp as xlc

        self.alias = alias
        self.max_tokens = max(8, min(max_tokens, MAX_TOKENS))
        self.parallel = parallel
        threads = threads or os.cpu_count() or 2
        params = xlc.CommonParams()
        params.model.path = str(model_path)
        params.embedding = True
        params.n_parallel = parallel
        params.n_ctx = parallel * self.max_tokens
        params.n_batch = self.max_tokens  # a sequence must fit in one batch (non-causal attention)
        params.n_ubatch = self.max_tokens
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.embd_normalize = 2  # euclidean: unit vectors, as the ONNX engine returns
        if pooling:
            params.pooling_type = getattr(xlc.llama_pooling_type, f"LLAMA_POOLING_TYPE_{pooling.upper()}")
        params.verbosity = -1
        self._socket_dir = Path(tempfile.mkdtemp(prefix="cupola-"))
        socket = self._socket_dir / "engine.sock"
        params.hostnames = [str(socket)]
        self._lock = threading.Lock()
        try:
            self._server = xlc.Server(params)
        except Exception as exc:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            raise EngineError(f"llama.cpp could not load the embedding model {alias} from {model_path}: {exc}") from exc
        self._http = httpx.Client(transport=httpx.HTTPTransport(uds=str(socket)), base_url="http://engine",
                                  timeout=60)
        self._specials: tuple[int, int] | None = None

    # -- tokens ------------------------------------------------------------------------------

    def _tokenize(self, text: str, special: bool) -> list[int]:
        try:
            response = self._http.post("/tokenize", json={"content": text, "add_special": special})
            response.raise_for_status()
            return list(response.json()["tokens"])
        except Exception as exc:  # noqa: BLE001 - the engine's own socket: any failure is the engine's
            raise EngineError(f"llama.cpp could not tokenize for {self.alias}: {exc}") from exc

    def _special_counts(self) -> tuple[int, int]:
        """How many special tokens the model puts before and after a text (BERT: [CLS] ... [SEP])."""
        if self._specials is None:
            plain = self._tokenize("a", False)
            full = self._tokenize("a", True)
            head = next((i for i in range(len(full) - len(plain) + 1) if full[i:i + len(plain)] == plain), 0)
            self._specials = (head, len(full) - head - len(plain))
        return self._specials

    def tokens(self, text: str, truncate: bool = False) -> list[int]:
        """The token ids the model embeds for ``text`` (special tokens included), cut to the limit if asked."""
        ids = self._tokenize(text, True)
        if len(ids) <= self.max_tokens or not truncate:
            return ids
        head, tail = self._special_counts()
        keep = self.max_tokens - head - tail
        return ids[:head + keep] + (ids[len(ids) - tail:] if tail else [])

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(self._tokenize(t, True)) for t in texts]

    # -- the backend protocol -----------------------------------------------------------------

    def embed(self, texts: list[str], truncate: bool = False) -> tuple[np.ndarray, int]:
        inputs = []
        for index, text in enumerate(texts):
            ids = self.tokens(text, truncate)
            if len(ids) > self.max_tokens:
                raise input_too_long(self.alias, index, len(ids), self.max_tokens)
            inputs.append(ids)
        try:
            result = self._server.handle_embeddings({"input": inputs})
        except ValueError as exc:
            raise InvalidParameter(str(exc), param="input") from exc
        if not isinstance(result, dict) or "data" not in result:
            error = result.get("error") if isinstance(result, dict) else result
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise EngineError(f"llama.cpp could not embed with {self.alias}: {message}")
        rows = sorted(result["data"], key=lambda d: d["index"])
        vectors = np.asarray([r["embedding"] for r in rows], dtype=np.float32)
        if vectors.ndim != 2:  # a model without pooling gives one vector per token
            raise EngineError(f"{self.alias} gave no pooled vector per input; import it with a pooling type")
        tokens = int((result.get("usage") or {}).get("prompt_tokens") or sum(len(i) for i in inputs))
        return vectors, tokens

    def metrics(self) -> str:
        return self._server.handle_metrics()

    def close(self) -> None:
        with self._lock:
            server, self._server = getattr(self, "_server", None), None
        self._http.close()
        if server is not None:
            del server  # joins llama.cpp's loop thread and frees the model
        shutil.rmtree(self._socket_dir, ignore_errors=True)
