"""Sentence-embedding models on ONNX Runtime, tokenized with Hugging Face ``tokenizers``.

Texts are tokenized in one batch call, sorted by length so each ONNX batch pads little, run
through the encoder, pooled (mean over the attention mask, or CLS) and L2-normalised when the
model asks for it. ONNX Runtime releases the GIL, so batches can run on worker threads.

A text longer than the model's ``max_tokens`` (special tokens included) is refused with its token
count, never cut silently; ``truncate=True`` embeds its first ``max_tokens`` tokens.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from cupola.engines.base import input_too_long
from cupola.errors import EngineError


class OnnxEmbeddingEngine:
    def __init__(self, model_path: Path, tokenizer_path: Path, *, pooling: str = "mean",
                 normalize: bool = True, max_tokens: int = 256, threads: int = 0,
                 batch_size: int = 32, name: str = "this model") -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        try:
            self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads or os.cpu_count() or 1
            options.inter_op_num_threads = 1
            # Do not busy-wait between runs: the cores are shared with llama.cpp's decoding.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise EngineError(f"could not load the embedding model {model_path}: {exc}") from exc
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self._truncating = Tokenizer.from_str(self.tokenizer.to_str())
        self._truncating.enable_truncation(max_length=max_tokens)
        self.name = name
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.pooling = pooling
        self.normalize = normalize
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self._lock = threading.Lock()  # one session run at a time: it already uses every core
        self.description = f"onnxruntime {ort.__version__}"

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self.tokenizer.encode_batch(texts)]

    def embed(self, texts: list[str], truncate: bool = False) -> tuple[np.ndarray, int]:
        encodings = (self._truncating if truncate else self.tokenizer).encode_batch(texts)
        for index, encoding in enumerate(encodings):
            if len(encoding.ids) > self.max_tokens:
                raise input_too_long(self.name, index, len(encoding.ids), self.max_tokens)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        dims = self.session.get_outputs()[0].shape[-1]
        out = np.zeros((len(texts), dims if isinstance(dims, int) else 0), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            width = max(len(encodings[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            with self._lock:
                hidden = self.session.run(None, feeds)[0]
            pooled = self._pool(hidden, mask)
            if out.shape[1] != pooled.shape[1]:
                out = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
            out[idx] = pooled
        tokens = sum(len(e.ids) for e in encodings)
        return out, tokens

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.pooling == "cls":
            pooled = hidden[:, 0, :]
        else:
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        if self.normalize:
            pooled = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return pooled.astype(np.float32)

    def close(self) -> None:
        self.session = None  # type: ignore[assignment]
