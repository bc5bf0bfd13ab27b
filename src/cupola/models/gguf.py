"""Read what Cupola needs from a GGUF file's metadata (with the ``gguf`` library)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cupola.errors import InvalidModelFile

# general.file_type values (llama_ftype) for the common quantizations
_FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
               10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
               16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 32: "BF16"}


@dataclass(frozen=True)
class GGUFInfo:
    architecture: str
    name: str | None
    context_length: int | None
    chat_template: str | None
    quantization: str | None
    embedding_only: bool


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
    return GGUFInfo(
        architecture=str(arch),
        name=value("general.name"),
        context_length=value(f"{arch}.context_length"),
        chat_template=value("tokenizer.chat_template"),
        quantization=_FILE_TYPES.get(ftype, None if ftype is None else f"type{ftype}"),
        embedding_only=arch in ("bert", "nomic-bert", "jina-bert-v2", "t5encoder"),
    )
