"""Upstreams: the OpenAI-compatible servers declared in ``[upstreams.NAME]``, and their models.

Each upstream becomes a :class:`~cupola.engines.remote.RemoteServer` with its own admission
(``max_concurrency`` running, a bounded queue, 429 past it) and circuit breaker. Its ``models``
table maps Cupola aliases to the upstream's own model names; those aliases are served like local
models. API keys come only from the environment (``api_key_env``) and are never written anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.core import GaugeMetricFamily

from cupola.config import UpstreamConfig
from cupola.engines.base import Capabilities
from cupola.engines.remote import RemoteEngine, RemoteServer, dialect
from cupola.errors import Unavailable
from cupola.runtime.admission import DEFAULT_MAX_QUEUE, DEFAULT_MAX_WAIT, Admission, Breaker


@dataclass(frozen=True)
class RemoteModel:
    alias: str
    upstream: str
    model: str  # the upstream's name for it


def capabilities_of(config: UpstreamConfig) -> Capabilities:
    given = config.capabilities
    return Capabilities(chat=given.get("chat", True), completion=given.get("completion", True),
                        embeddings=given.get("embeddings", True), native_tools=given.get("native_tools", True),
                        grammar=given.get("grammar", False), json_schema=given.get("json_schema", True),
                        context_length=config.context_length, concurrency=config.max_concurrency, resident=False)


class Upstreams:
    def __init__(self, configs: Mapping[str, UpstreamConfig], *, default_max_queue: int = DEFAULT_MAX_QUEUE,
                 default_max_wait: float = DEFAULT_MAX_WAIT,
                 transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.configs = dict(configs)
        self._env = os.environ if environ is None else environ
        self.servers: dict[str, RemoteServer] = {}
        self.models: dict[str, RemoteModel] = {}
        self._engines: dict[str, RemoteEngine] = {}
        for name, cfg in self.configs.items():
            key = self._env.get(cfg.api_key_env) if cfg.api_key_env else None
            queue = cfg.max_queue if cfg.max_queue is not None else default_max_queue
            wait = cfg.max_queue_wait if cfg.max_queue_wait is not None else default_max_wait
            self.servers[name] = RemoteServer(
                name, dialect(cfg.kind, cfg.url, cfg.api_version), api_key=key,
                admission=Admission(f"upstream {name}", cfg.max_concurrency, queue, wait),
                breaker=Breaker(f"upstream {name}", cfg.breaker_failures, cfg.breaker_cooldown),
                timeout=cfg.timeout, retries=cfg.retries, transport=(transports or {}).get(name))
            for alias, model in cfg.models.items():
                self.models[alias] = RemoteModel(alias, name, model)

    def __contains__(self, alias: str) -> bool:
        return alias in self.models

    def engine(self, alias: str) -> RemoteEngine:
        found = self.models[alias]
        cfg = self.configs[found.upstream]
        if cfg.api_key_env and not self._env.get(cfg.api_key_env):
            raise Unavailable(f"upstream {found.upstream} needs its API key in ${cfg.api_key_env}, which is not set",
                              hint=f"export {cfg.api_key_env}=... before starting Cupola")
        engine = self._engines.get(alias)
        if engine is None:
            engine = self._engines[alias] = RemoteEngine(self.servers[found.upstream], found.model,
                                                         capabilities_of(cfg))
        return engine

    def describe(self) -> list[dict[str, Any]]:
        out = []
        for name, server in self.servers.items():
            cfg = self.configs[name]
            out.append({"upstream": name, "kind": cfg.kind, "url": cfg.url,
                        "models": dict(cfg.models), **server.admission.describe(),
                        "breaker": server.breaker.describe()})
        return out

    async def close(self) -> None:
        for server in self.servers.values():
            await server.aclose()

    def collector(self) -> "_Collector":
        """A Prometheus collector reading the upstreams' state at scrape time."""
        return _Collector(self)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        open_ = GaugeMetricFamily("cupola_upstream_breaker_open", "1 while an upstream's circuit breaker is open",
                                  labels=["upstream"])
        running = GaugeMetricFamily("cupola_upstream_requests_running", "Requests running on an upstream",
                                    labels=["upstream"])
        queued = GaugeMetricFamily("cupola_upstream_queue_depth", "Requests waiting for an upstream",
                                   labels=["upstream"])
        failures = GaugeMetricFamily("cupola_upstream_consecutive_failures",
                                     "Consecutive failures of an upstream", labels=["upstream"])
        for name, server in self.servers.items():
            open_.add_metric([name], 0.0 if server.breaker.state == "closed" else 1.0)
            running.add_metric([name], server.admission.running)
            queued.add_metric([name], server.admission.waiting)
            failures.add_metric([name], server.breaker.consecutive)
        yield from (open_, running, queued, failures)


class _Collector:
    def __init__(self, upstreams: Upstreams) -> None:
        self.upstreams = upstreams

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        return self.upstreams.collect()
