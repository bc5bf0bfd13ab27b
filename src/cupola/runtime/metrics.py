"""Prometheus metrics of one runtime (its own registry, so several can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("cupola_requests", "Requests served", ["model", "endpoint", "status"],
                                registry=self.registry)
        self.tokens = Counter("cupola_tokens", "Tokens processed", ["model", "kind"], registry=self.registry)
        self.ttft = Histogram("cupola_time_to_first_token_seconds", "Time to first token (queueing included)",
                              ["model"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.latency = Histogram("cupola_request_duration_seconds", "Request duration", ["model", "endpoint"],
                                 buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.queue_depth = Gauge("cupola_queue_depth", "Requests waiting for a slot", ["model"],
                                 registry=self.registry)
        self.running = Gauge("cupola_requests_running", "Requests being generated", ["model"],
                             registry=self.registry)
        self.loaded = Gauge("cupola_models_loaded", "Models resident in memory", registry=self.registry)
        self.load_seconds = Histogram("cupola_model_load_seconds", "Time to load a model", ["model"],
                                      buckets=_LATENCY_BUCKETS, registry=self.registry)
        # The OpenTelemetry GenAI metrics, under their Prometheus names.
        self.genai_ttft = Histogram("gen_ai_server_time_to_first_token_seconds", "gen_ai.server.time_to_first_token",
                                    ["gen_ai_operation_name", "gen_ai_request_model"], buckets=_LATENCY_BUCKETS,
                                    registry=self.registry)
        self.genai_duration = Histogram("gen_ai_server_request_duration_seconds", "gen_ai.server.request.duration",
                                        ["gen_ai_operation_name", "gen_ai_request_model"],
                                        buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.genai_tokens = Histogram("gen_ai_client_token_usage", "gen_ai.client.token.usage",
                                      ["gen_ai_operation_name", "gen_ai_request_model", "gen_ai_token_type"],
                                      buckets=_TOKEN_BUCKETS, registry=self.registry)
        self.routes = Counter("cupola_router_choices", "Models a router chose first", ["router", "model"],
                              registry=self.registry)
