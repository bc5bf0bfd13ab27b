"""Effective settings: defaults, then a config file, then ``CUPOLA_*`` environment variables.

``Settings.load()`` returns the validated settings together with where each value came from,
which ``cupola config`` prints. The config file is TOML: ``$CUPOLA_HOME/config.toml`` or the
path in ``CUPOLA_CONFIG``; keys are the field names below (``port = 9000``), and the tables
``[upstreams.NAME]``, ``[fallbacks]`` and ``[routers.NAME]`` declare remote models, fallback
chains and model routers (see :class:`UpstreamConfig` and :class:`RouterConfig`).

The layering is written here rather than with pydantic-settings: ``cupola config`` shows where
every value came from, which pydantic-settings' sources do not report.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cupola.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ENV_PREFIX = "CUPOLA_"
DEFAULT_PORT = 8765


def parse_duration(value: str | int | float | None) -> float | None:
    """Parse a keep-alive duration: ``"5m"``, ``"30s"``, ``"1h"``, seconds as a number.

    ``0`` means "unload right after the request"; a negative value means "never unload"
    (returned as ``None``).
    """
    if value is None:
        return None
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = value.strip().lower()
        units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
        for suffix in ("ms", "s", "m", "h"):
            if text.endswith(suffix) and text[: -len(suffix)].strip().lstrip("-").replace(".", "", 1).isdigit():
                seconds = float(text[: -len(suffix)]) * units[suffix]
                break
        else:
            try:
                seconds = float(text)
            except ValueError:
                raise ValueError(f"{value!r} is not a duration; use e.g. 30s, 5m, 1h, 0 or -1") from None
    if not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a duration; use e.g. 30s, 5m, 1h, 0 or -1")
    return None if seconds < 0 else seconds


class UpstreamConfig(BaseModel):
    """``[upstreams.NAME]``: an OpenAI-compatible server whose models Cupola serves under its own aliases."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(..., description="Base URL, e.g. http://127.0.0.1:8080/v1")
    kind: Literal["openai", "ollama", "azure"] = Field(
        "openai", description="openai (also vLLM, llama.cpp server, LM Studio, Cupola) | ollama | azure")
    api_key_env: str | None = Field(None, description="Environment variable holding the API key (never the key)")
    models: dict[str, str] = Field(default_factory=dict,
                                   description="Cupola alias = the upstream's model (Azure: deployment) name")
    max_concurrency: int = Field(8, ge=1, le=4096, description="Requests sent at once; more wait in a queue")
    max_queue: int | None = Field(None, ge=0, description="Most requests that may wait (default: max_queue)")
    max_queue_wait: float | None = Field(None, gt=0, allow_inf_nan=False, description="Seconds a request may be "
                                         "expected to wait (default: max_queue_wait)")
    timeout: float = Field(120, gt=0, description="Seconds to wait for a connection, the first token, or "
                           "the next chunk")
    retries: int = Field(2, ge=0, le=10, description="Retries of connection errors and 429/502/503/504 "
                         "before the first byte")
    api_version: str | None = Field(None, description="Azure: the api-version query parameter")
    context_length: int | None = Field(None, ge=1, description="Context tokens of its models, if known")
    capabilities: dict[str, bool] = Field(
        default_factory=dict, description="Overrides: native_tools (default true), json_schema (true), "
        "grammar (false), embeddings (true)")
    breaker_failures: int = Field(5, ge=1, description="Consecutive failures that open the circuit breaker")
    breaker_cooldown: float = Field(30, gt=0, description="Seconds an open breaker skips the upstream")

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("capabilities")
    @classmethod
    def _known(cls, v: dict[str, bool]) -> dict[str, bool]:
        known = {"native_tools", "json_schema", "grammar", "embeddings", "chat", "completion"}
        unknown = sorted(set(v) - known)
        if unknown:
            raise ValueError(f"unknown capabilities {unknown}; known: {sorted(known)}")
        return v


class RouterConfig(BaseModel):
    """``[routers.NAME]``: a virtual model that picks one of its candidates per request."""

    model_config = ConfigDict(extra="forbid")

    candidates: list[str] = Field(..., min_length=2, description="Model aliases (local or upstream) to choose from")
    mode: Literal["quality", "balanced", "cost", "latency"] = Field("balanced", description="How to choose")
    costs: dict[str, float] = Field(default_factory=dict, description="Cost per 1M tokens per candidate")
    margin: float | None = Field(None, ge=0, le=1, description="Quality a cheaper pick may give up "
                                 "(default: balanced 0.05, cost 0.2, latency 0.1)")

    @model_validator(mode="after")
    def _costs_of_candidates(self) -> "RouterConfig":
        if len(set(self.candidates)) != len(self.candidates):
            raise ValueError("candidates must be different models")
        extra = sorted(set(self.costs) - set(self.candidates))
        if extra:
            raise ValueError(f"costs names models that are not candidates: {extra}")
        return self


TABLES = ("upstreams", "fallbacks", "routers")


class Settings(BaseModel):
    """Every setting Cupola reads. Environment variable: ``CUPOLA_`` + the upper-case name."""

    model_config = {"extra": "forbid"}

    home: Path = Field(default_factory=lambda: Path("~/.cupola").expanduser(),
                       description="Directory for models, databases, logs and the server address")
    host: str = Field("127.0.0.1", description="Address `cupola serve` binds to")
    port: int = Field(DEFAULT_PORT, ge=0, le=65535, description="Port (0 picks a free one)")
    api_key: str | None = Field(None, description="Bearer key clients must send (required off loopback)")
    parallel: int = Field(0, ge=0, le=64, description="Parallel decoding slots per chat model (0: sized from the "
                          "model and free memory: up to 16 for small models, bounded by their KV caches)")
    ctx_per_slot: int = Field(2048, ge=256, description="Context tokens per slot")
    threads: int = Field(0, ge=0, description="CPU threads for inference (0: all cores)")
    keep_alive: str = Field("5m", description="How long an idle model stays loaded (0: unload at once, -1: forever)")
    max_loaded_models: int = Field(3, ge=1, description="Resident models before the idlest is evicted")
    max_queue: int = Field(512, ge=0, description="Most requests that may wait per model (a hard cap on memory; "
                           "429 past it)")
    max_queue_wait: float = Field(60, gt=0, allow_inf_nan=False, description="Seconds a request may be expected to "
                                  "wait for a slot; past that it is refused at once (429 with Retry-After)")
    default_chat_model: str = Field("smollm2-135m", description="Chat model `cupola serve` prepares")
    default_embedding_model: str = Field("minilm-l6", description="Embedding model `cupola serve` prepares")
    default_speech_model: str = Field("whisper-tiny-en", description="Speech model `cupola transcribe` uses")
    max_audio_mb: float = Field(100, gt=0, description="Largest audio file /v1/audio/transcriptions and "
                                "/v1/audio/translations accept, in MB")
    preload: bool = Field(True, description="Load the default chat model when the server starts")
    offline: bool = Field(False, description="Never use the network (hub sources fail fast)")
    tool_route_threshold: float = Field(
        0.2, ge=-1, le=1, description="tool_choice auto on models without native tool support: call a tool when "
        "the user's message is at least this similar to a tool's description (embedding cosine)")
    tool_select: Literal["similarity", "model"] = Field(
        "similarity", description="Models without native tool support, one call to make among several tools: "
        "'similarity' calls the tool closest to the user's message (embedding cosine), 'model' lets the model "
        "choose")
    log_level: str = Field("warning", description="Server log level")
    agents_dir: Path | None = Field(None, description="Folder of agent YAML files `cupola serve` hosts "
                                    "(called through /v1/responses with `agent`)")
    workflows_dir: Path | None = Field(None, description="Folder of workflow files (Python) `cupola serve` runs "
                                       "at /api/workflows")
    cors_origins: list[str] = Field(default_factory=list, description="Web origins allowed to call the API from a "
                                    "browser (comma-separated; none by default: CORS closed)")
    max_body_bytes: int = Field(16 * 2**20, ge=1024, description="Largest request body accepted (413 above)")
    max_upload_bytes: int = Field(64 * 2**20, ge=1024, description="Largest multipart upload to a knowledge base "
                                  "accepted (413 above)")
    max_messages: int = Field(2048, ge=1, description="Most messages (or input items) in one request")
    max_tools: int = Field(128, ge=0, description="Most tools in one request")
    tracing: Literal["local", "otlp", "off"] = Field(
        "local", description="Spans: recorded locally for `cupola trace show` (local), also exported with the "
        "OTLP exporter configured by the standard OTEL_EXPORTER_OTLP_* variables (otlp), or none (off)")
    capture_content: bool = Field(False, description="Store messages and outputs with request records and "
                                  "spans (off: only hashes, counts and settings are stored)")
    request_retention_days: float = Field(30, gt=0, description="Request records and spans older than this "
                                          "are pruned")
    request_retention_count: int = Field(100_000, ge=100, description="At most this many request records are "
                                         "kept (the oldest are pruned)")
    upstreams: dict[str, UpstreamConfig] = Field(default_factory=dict, description="[upstreams.NAME] tables: "
                                                 "OpenAI-compatible servers and the models served from them")
    fallbacks: dict[str, list[str]] = Field(default_factory=dict, description="[fallbacks] alias = [models to "
                                            "try next when it is unavailable, busy, too slow or too small]")
    routers: dict[str, RouterConfig] = Field(default_factory=dict, description="[routers.NAME] tables: virtual "
                                             "models that pick a candidate per request")
    studio: bool = Field(True, description="Serve Cupola Studio, the web UI, at / (static files; it uses the "
                         "public APIs)")
    evals_allow_code: bool = Field(False, description="Let evals started over HTTP (/api/evals) run code from "
                                   "files: `python` assertions and workflow targets")

    @field_validator("home", mode="before")
    @classmethod
    def _expand(cls, v: Any) -> Any:
        return Path(v).expanduser() if isinstance(v, (str, Path)) else v

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [o.strip().rstrip("/") for o in v.split(",") if o.strip()]
        return v

    @field_validator("keep_alive")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v

    @property
    def keep_alive_seconds(self) -> float | None:
        return parse_duration(self.keep_alive)

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def server_file(self) -> Path:
        return self.home / "server.json"

    def db_path(self, concern: str) -> Path:
        return self.home / f"{concern}.db"

    @classmethod
    def load(cls, overrides: dict[str, Any] | None = None,
             environ: dict[str, str] | None = None) -> "LoadedSettings":
        """Defaults < config file < environment < explicit overrides (CLI flags)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        sources: dict[str, str] = {name: "default" for name in cls.model_fields}

        home = Path(env.get(ENV_PREFIX + "HOME", "~/.cupola")).expanduser()
        config_path = Path(env[ENV_PREFIX + "CONFIG"]).expanduser() if env.get(ENV_PREFIX + "CONFIG") \
            else home / "config.toml"
        if config_path.is_file():
            try:
                data = tomllib.loads(config_path.read_text())
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise UsageError(f"config file {config_path} is not valid TOML: {exc}",
                                 hint="fix or remove the file") from exc
            for key, val in data.items():
                if key not in cls.model_fields:
                    raise UsageError(f"unknown setting {key!r} in {config_path}",
                                     hint="run `cupola config` to list the settings")
                values[key] = val
                sources[key] = f"file {config_path}"
        for name in cls.model_fields:
            var = ENV_PREFIX + name.upper()
            if var in env and name not in TABLES:
                values[name] = env[var]
                sources[name] = f"env {var}"
        for name, val in (overrides or {}).items():
            if val is not None:
                values[name] = val
                sources[name] = "command line"
        try:
            settings = cls(**values)
        except ValidationError as exc:
            err = exc.errors()[0]
            name = str(err["loc"][0]) if err["loc"] else "?"
            where = ".".join(str(p) for p in err["loc"]) or "?"
            raise UsageError(f"invalid setting {where} (from {sources.get(name, '?')}): "
                             f"{str(err['msg']).removeprefix('Value error, ')}", param=where) from exc
        return LoadedSettings(settings, sources, config_path)


class LoadedSettings:
    """Settings plus provenance (what `cupola config` shows)."""

    def __init__(self, settings: Settings, sources: dict[str, str], config_path: Path) -> None:
        self.settings = settings
        self.sources = sources
        self.config_path = config_path

    def rows(self) -> list[tuple[str, str, str]]:
        out = []
        for name in Settings.model_fields:
            value = getattr(self.settings, name)
            if name in TABLES:
                value = ", ".join(value) or "-"  # their names; `cupola upstreams list` shows the rest
            elif name == "api_key" and value:
                value = "***"
            out.append((name, str(value), self.sources[name]))
        return out


def edit_config(path: Path, change: Any) -> None:
    """Apply ``change(document)`` to the TOML config file, keeping its comments and layout (tomlkit),
    validate the result as settings, then replace the file atomically. A change that would make the
    settings invalid raises and leaves the file as it was."""
    import tomlkit

    text = path.read_text() if path.is_file() else ""
    try:
        doc = tomlkit.parse(text)
    except Exception as exc:  # tomlkit's parse errors have no common public base
        raise UsageError(f"config file {path} is not valid TOML: {exc}", hint="fix or remove the file") from exc
    change(doc)
    new_text = tomlkit.dumps(doc)
    data = tomllib.loads(new_text)
    try:
        Settings(**{k: v for k, v in data.items() if k in Settings.model_fields})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise UsageError(f"the change would make {where} invalid: {str(err['msg']).removeprefix('Value error, ')}",
                         param=where) from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new_text)
    tmp.replace(path)
