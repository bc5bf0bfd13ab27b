"""Read what Cupola needs from a GGUF file's metadata (with the ``gguf`` library)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cupola.errors import InvalidModelFile

# general.file_type values (llama_ftype) for the common quantizations
_FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
               10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
               16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 32: "BF16"}

# Architectures that only encode (no text generation), and llama_pooling_type values.
_ENCODERS = ("bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "jina-bert-v3", "t5encoder", "modern-bert",
             "neo-bert", "eurobert")
_POOLING = {1: "mean", 2: "cls", 3: "last", 4: "rank"}


@dataclass(frozen=True)
class GGUFInfo:
    architecture: str
    name: str | None
    context_length: int | None
    chat_template: str | None
    quantization: str | None
    embedding_only: bool
    pooling: str | None = None  # embedding models: mean | cls | last | rank (None: not said)
    layers: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None

    @property
    def kv_bytes_per_token(self) -> int | None:
        """Bytes of llama.cpp's KV cache per token of context (K and V, f16), if the metadata says."""
        if not (self.layers and self.kv_heads and self.head_dim):
            return None
        return 2 * self.layers * self.kv_heads * self.head_dim * 2


def read_gguf(path: Path) -> GGUFInfo:
    """Parse the metadata of ``path``; raise :class:`InvalidModelFile` if it is not a GGUF model."""
    with open(path, "rb") as fh:
        if fh.read(4) != b"GGUF":
            raise InvalidModelFile(f"{path} is not a GGUF file (no GGUF magic bytes)",
                                   hint="convert the model to GGUF first (llama.cpp's convert_hf_to_gguf.py)")
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(path))
    except Exception as exc:  # truncated or corrupt files raise many kinds of errors
        raise InvalidModelFile(f"{path} is a damaged GGUF file: {exc}") from exc

    def value(key: str):
        field = reader.fields.get(key)
        if field is None:
            return None
        try:
            return field.contents()
        except Exception:  # pragma: no cover - exotic field types
            return None

    arch = value("general.architecture")
    if not arch:
        raise InvalidModelFile(f"{path} has no general.architecture in its metadata")
    ftype = value("general.file_type")
    pooling = _POOLING.get(value(f"{arch}.pooling_type"))  # type: ignore[arg-type]
    heads = value(f"{arch}.attention.head_count")
    kv_heads = value(f"{arch}.attention.head_count_kv") or heads
    width = value(f"{arch}.embedding_length")
    head_dim = value(f"{arch}.attention.key_length") or (width // heads if width and heads else None)
    return GGUFInfo(
        architecture=str(arch),
        name=value("general.name"),
        context_length=value(f"{arch}.context_length"),
        chat_template=value("tokenizer.chat_template"),
        quantization=_FILE_TYPES.get(ftype, None if ftype is None else f"type{ftype}"),
        embedding_only=arch in _ENCODERS or pooling is not None,
        pooling=pooling,
        layers=value(f"{arch}.block_count"),
        kv_heads=kv_heads if isinstance(kv_heads, int) else None,
        head_dim=head_dim if isinstance(head_dim, int) else None,
    )
