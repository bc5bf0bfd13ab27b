"""Effective settings: defaults, then a config file, then ``CUPOLA_*`` environment variables.

``Settings.load()`` returns the validated settings together with where each value came from,
which ``cupola config`` prints. The config file is TOML: ``$CUPOLA_HOME/config.toml`` or the
path in ``CUPOLA_CONFIG``; keys are the field names below (``port = 9000``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

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
    return None if seconds < 0 else seconds


class Settings(BaseModel):
    """Every setting Cupola reads. Environment variable: ``CUPOLA_`` + the upper-case name."""

    model_config = {"extra": "forbid"}

    home: Path = Field(default_factory=lambda: Path("~/.cupola").expanduser(),
                       description="Directory for models, databases, logs and the server address")
    host: str = Field("127.0.0.1", description="Address `cupola serve` binds to")
    port: int = Field(DEFAULT_PORT, ge=0, le=65535, description="Port (0 picks a free one)")
    api_key: str | None = Field(None, description="Bearer key clients must send (required off loopback)")
    parallel: int = Field(4, ge=1, le=64, description="Parallel decoding slots per chat model")
    ctx_per_slot: int = Field(2048, ge=256, description="Context tokens per slot")
    threads: int = Field(0, ge=0, description="CPU threads for inference (0: all cores)")
    keep_alive: str = Field("5m", description="How long an idle model stays loaded (0: unload at once, -1: forever)")
    max_loaded_models: int = Field(3, ge=1, description="Resident models before the idlest is evicted")
    max_queue: int = Field(16, ge=0, description="Requests that may wait per model before 429")
    default_chat_model: str = Field("smollm2-135m", description="Chat model `cupola serve` prepares")
    default_embedding_model: str = Field("minilm-l6", description="Embedding model `cupola serve` prepares")
    preload: bool = Field(True, description="Load the default chat model when the server starts")
    offline: bool = Field(False, description="Never use the network (hub sources fail fast)")
    tool_route_threshold: float = Field(
        0.2, ge=-1, le=1, description="tool_choice auto on models without native tool support: call a tool when "
        "the user's message is at least this similar to a tool's description (embedding cosine)")
    log_level: str = Field("warning", description="Server log level")
    agents_dir: Path | None = Field(None, description="Folder of agent YAML files `cupola serve` hosts "
                                    "(called through /v1/responses with `agent`)")
    workflows_dir: Path | None = Field(None, description="Folder of workflow files (Python) `cupola serve` runs "
                                       "at /api/workflows")
    evals_allow_code: bool = Field(False, description="Let evals started over HTTP (/api/evals) run code from "
                                   "files: `python` assertions and workflow targets")

    @field_validator("home", mode="before")
    @classmethod
    def _expand(cls, v: Any) -> Any:
        return Path(v).expanduser() if isinstance(v, (str, Path)) else v

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
            if var in env:
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
            raise UsageError(f"invalid setting {name} (from {sources.get(name, '?')}): {err['msg']}",
                             param=name) from exc
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
            if name == "api_key" and value:
                value = "***"
            out.append((name, str(value), self.sources[name]))
        return out
