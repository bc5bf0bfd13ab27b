"""Run OpenAI's reference implementation (openai-whisper, PyTorch) on the same weights Cupola uses.

Runs inside ``bench/.peer-venv`` (torch CPU + openai-whisper), called by ``bench/transcription.py``.
openai-whisper downloads its checkpoints from OpenAI at load time, which this machine cannot do;
so the CTranslate2 ``model.bin`` Cupola pulled (the Systran conversion of OpenAI's weights, pinned
by sha256) is read back into openai-whisper's PyTorch model: the same weights, fp16 -> fp32.
Audio comes in as 16 kHz float32 ``.npy`` files (openai-whisper would call the ffmpeg program,
which is not installed), so decoding is not in its timings.

    python peer_whisper.py JOB.json   (JOB: {"model_dir", "threads", "files": [...], "repeats"})
prints one JSON object: load seconds, and per file the texts and the wall seconds of each run.
"""

from __future__ import annotations

import json
import re
import struct
import sys
import time
from pathlib import Path

import numpy as np

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ctranslate2(path: Path) -> dict[str, np.ndarray]:
    """The variables of a CTranslate2 model.bin (format of ctranslate2/specs/model_spec.py)."""
    data = path.read_bytes()
    pos = 0

    def take(fmt: str):
        nonlocal pos
        value = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return value[0]

    def string() -> str:
        nonlocal pos
        n = take("H")
        text = data[pos:pos + n - 1].decode()
        pos += n
        return text

    take("I"), string(), take("I")  # binary version, spec name, spec revision
    variables = {}
    for _ in range(take("I")):
        name = string()
        dims = [take("I") for _ in range(take("B"))]
        dtype = _DTYPES[take("B")]
        size = take("I")
        variables[name] = np.frombuffer(data, dtype=dtype, count=size // np.dtype(dtype).itemsize,
                                        offset=pos).reshape(dims)
        pos += size
    for _ in range(take("I")):
        alias, target = string(), string()
        variables[alias] = variables[target]
    return variables


def to_openai_whisper(v: dict[str, np.ndarray]):
    import torch
    from whisper.model import ModelDimensions, Whisper

    def layers(prefix: str) -> int:
        return len({k.split("/")[1] for k in v if re.match(prefix + r"/layer_\d+/", k)})

    n_audio_state = v["encoder/conv1/weight"].shape[0]
    n_text_state = v["decoder/embeddings/weight"].shape[1]
    dims = ModelDimensions(
        n_mels=v["encoder/conv1/weight"].shape[1], n_audio_ctx=v["encoder/position_encodings/encodings"].shape[0],
        n_audio_state=n_audio_state, n_audio_head=int(v["encoder/num_heads"]), n_audio_layer=layers("encoder"),
        n_vocab=v["decoder/embeddings/weight"].shape[0], n_text_ctx=v["decoder/position_encodings/encodings"].shape[0],
        n_text_state=n_text_state, n_text_head=int(v["decoder/num_heads"]), n_text_layer=layers("decoder"))
    sd: dict[str, np.ndarray] = {}

    def ln(dst: str, src: str) -> None:
        sd[dst + ".weight"], sd[dst + ".bias"] = v[src + "/gamma"], v[src + "/beta"]

    def linear(dst: str, src: str, bias: bool = True) -> None:
        sd[dst + ".weight"] = v[src + "/weight"]
        if bias:
            sd[dst + ".bias"] = v[src + "/bias"]

    def split(dst: str, src: str, names: tuple[str, ...]) -> None:
        weights = np.split(v[src + "/weight"], len(names))
        biases = np.split(v[src + "/bias"], len(names))
        for name, w, b in zip(names, weights, biases):
            sd[f"{dst}.{name}.weight"] = w
            if name != "key":  # Whisper's key projections have no bias (CTranslate2 stores zeros)
                sd[f"{dst}.{name}.bias"] = b

    for side, n in (("encoder", dims.n_audio_layer), ("decoder", dims.n_text_layer)):
        for i in range(n):
            src, dst = f"{side}/layer_{i}", f"{side}.blocks.{i}"
            split(dst + ".attn", src + "/self_attention/linear_0", ("query", "key", "value"))
            linear(dst + ".attn.out", src + "/self_attention/linear_1")
            ln(dst + ".attn_ln", src + "/self_attention/layer_norm")
            if side == "decoder":
                linear(dst + ".cross_attn.query", src + "/attention/linear_0")
                split(dst + ".cross_attn", src + "/attention/linear_1", ("key", "value"))
                linear(dst + ".cross_attn.out", src + "/attention/linear_2")
                ln(dst + ".cross_attn_ln", src + "/attention/layer_norm")
            linear(dst + ".mlp.0", src + "/ffn/linear_0")
            linear(dst + ".mlp.2", src + "/ffn/linear_1")
            ln(dst + ".mlp_ln", src + "/ffn/layer_norm")
    for conv in ("conv1", "conv2"):
        linear(f"encoder.{conv}", f"encoder/{conv}")
    sd["encoder.positional_embedding"] = v["encoder/position_encodings/encodings"]
    ln("encoder.ln_post", "encoder/layer_norm")
    sd["decoder.token_embedding.weight"] = v["decoder/embeddings/weight"]
    sd["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
    ln("decoder.ln", "decoder/layer_norm")
    model = Whisper(dims)
    model.load_state_dict({k: torch.from_numpy(np.array(a, dtype=np.float32)) for k, a in sd.items()}, strict=True)
    return model.eval()


def main() -> None:
    import torch

    job = json.loads(Path(sys.argv[1]).read_text())
    torch.set_num_threads(job["threads"])
    started = time.perf_counter()
    model = to_openai_whisper(read_ctranslate2(Path(job["model_dir"]) / "model.bin"))
    load = time.perf_counter() - started
    out = {"load_seconds": load, "files": {}}
    for path in job["files"]:
        audio = np.load(path)
        runs, text = [], ""
        for _ in range(job["repeats"]):
            t = time.perf_counter()
            result = model.transcribe(audio, beam_size=5, best_of=5, fp16=False, language=job.get("language"),
                                      task=job.get("task", "transcribe"))
            runs.append(time.perf_counter() - t)
            text = result["text"].strip()
        out["files"][path] = {"seconds": runs, "text": text}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
