"""How many requests a chat model decodes at once (its llama.cpp slots), sized as Ollama does.

With ``parallel = 0`` (the default) the slots come from the model and the machine:

1. **by model size** — small models batch cheaply, so they get more slots: up to 16 for a model file
   under 500 MB, 8 under 2 GB, 4 under 8 GB, else 2 (:data:`BY_SIZE`);
2. **bounded by memory** — each slot holds a KV cache for its whole context (``ctx_per_slot``
   tokens × the model's KV bytes per token, read from the GGUF metadata). All slots together may
   use at most half of the memory available now, after the model's own weights; fewer slots if
   they do not fit, never fewer than 1.

``parallel = N`` (``--parallel N``, ``CUPOLA_PARALLEL``) sets the slots and skips the rule.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# (largest model file in bytes, slots), smallest first
BY_SIZE: tuple[tuple[int, int], ...] = ((500 * 10**6, 16), (2 * 10**9, 8), (8 * 10**9, 4))
LARGEST_MODELS_SLOTS = 2
MEMORY_SHARE = 0.5  # of the available memory (after the weights) that KV caches may take
FALLBACK_KV_BYTES_PER_TOKEN = 128 * 1024  # when the metadata does not say: generous, so the bound errs low


@dataclass(frozen=True)
class SlotPlan:
    slots: int
    reason: str


def plan(model_bytes: int, ctx_per_slot: int, kv_bytes_per_token: int | None, available_bytes: int | None,
         *, configured: int = 0) -> SlotPlan:
    """The slots for one chat model. A pure function of its inputs (see the module's docstring)."""
    if configured > 0:
        return SlotPlan(configured, f"parallel={configured} (configured)")
    by_size = next((n for limit, n in BY_SIZE if model_bytes < limit), LARGEST_MODELS_SLOTS)
    if available_bytes is None:
        return SlotPlan(by_size, f"{by_size} for a {_size(model_bytes)} model (free memory unknown)")
    per_token = kv_bytes_per_token or FALLBACK_KV_BYTES_PER_TOKEN
    per_slot = per_token * ctx_per_slot
    budget = max(0.0, (available_bytes - model_bytes) * MEMORY_SHARE)
    by_memory = max(1, int(budget // per_slot))
    if by_memory < by_size:
        return SlotPlan(by_memory, f"{by_memory}: KV caches of {_size(per_slot)} per slot ({ctx_per_slot} tokens) "
                        f"in half of {_size(available_bytes - model_bytes)} free after the weights")
    return SlotPlan(by_size, f"{by_size} for a {_size(model_bytes)} model ({_size(per_slot)} of KV cache per slot)")


def available_memory() -> int | None:
    """Memory available to new allocations now (Linux ``MemAvailable``; elsewhere free pages), or None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit != "GB" else f"{n:.1f} GB"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover
