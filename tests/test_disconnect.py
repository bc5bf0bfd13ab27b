"""A non-streaming request whose client goes away is cancelled like a stream: the slot is freed at once
and the request is recorded as cancelled (fake engines through a real uvicorn server; then the real model)."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest

from cupola.server.testing import FakeServer


def send(url: str, path: str, body: dict) -> socket.socket:
    """POST ``body`` on a raw socket; the caller closes it without reading the answer (the client leaves)."""
    parts = urlsplit(url)
    data = json.dumps(body).encode()
    sock = socket.create_connection((parts.hostname, parts.port))
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    return sock


def wait_for(check, timeout: float = 30.0):
    """Poll until ``check()`` is truthy (a deadline for a condition, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    return check()


def busy(url: str, model: str = "smollm2-135m") -> tuple[int, int]:
    for m in httpx.get(url + "/api/ps").json()["models"]:
        if m["model"] == model:
            return m["running"], m["queued"]
    return 0, 0


def records(url: str) -> list[dict]:
    return httpx.get(url + "/api/requests", params={"limit": 20}).json()["requests"]


@pytest.fixture
def slow_server(tmp_path):
    # 2,000 words at 50 ms: 100 s if nothing stops it
    server = FakeServer(tmp_path / "h", "--delay", "0.05", "--words", "2000", "--parallel", "1")
    yield server
    server.stop()


CHAT = {"model": "smollm2-135m", "messages": [{"role": "user", "content": "tell me everything"}]}


def test_a_running_non_streaming_request_is_cancelled_when_its_client_leaves(slow_server):
    url = slow_server.url
    client = send(url, "/v1/chat/completions", CHAT)
    assert wait_for(lambda: busy(url) == (1, 0)), "the request never started"
    client.close()  # the client leaves while its answer is being generated
    assert wait_for(lambda: busy(url) == (0, 0)), "the slot stayed busy after the client left"
    rec = wait_for(lambda: [r for r in records(url) if r["endpoint"] == "chat"])
    assert rec[0]["status"] == "cancelled"
    assert rec[0]["duration_ms"] < 100_000  # it did not run its 100 s
    # the server still answers, and the freed slot takes the next request at once
    assert httpx.get(url + "/health").status_code == 200
    with httpx.stream("POST", url + "/v1/chat/completions", json={**CHAT, "stream": True}, timeout=30) as r:
        assert r.status_code == 200
        assert next(r.iter_lines()).startswith("data: ")


def test_a_queued_request_leaves_the_queue_when_its_client_leaves(slow_server):
    url = slow_server.url
    with httpx.stream("POST", url + "/v1/chat/completions", json={**CHAT, "stream": True}, timeout=30) as first:
        assert first.status_code == 200
        client = send(url, "/v1/chat/completions", CHAT)  # waits for the one slot...
        assert wait_for(lambda: busy(url) == (1, 1)), "the second request did not queue"
        client.close()  # ...and goes
        assert wait_for(lambda: busy(url) == (1, 0)), "the abandoned request stayed in the queue"
    assert wait_for(lambda: busy(url) == (0, 0))
    statuses = [r["status"] for r in records(url) if r["endpoint"] == "chat"]
    assert statuses.count("cancelled") == 2  # the abandoned one, and the stream closed above


@pytest.mark.real
def test_real_model_non_streaming_request_cancelled_on_disconnect(live_server):
    url = live_server.url
    headers = {"Authorization": f"Bearer {live_server.token}"}
    body = {"model": "smollm2-135m", "max_tokens": 900, "ignore_eos": True, "temperature": 0.2,
            "messages": [{"role": "user", "content": "Write a very long story about a lighthouse keeper."}]}
    client = send(url, "/v1/chat/completions", body)

    def generating():
        models = httpx.get(url + "/api/ps", headers=headers).json()["models"]
        return any(m["model"] == "smollm2-135m" and m["running"] for m in models)

    assert wait_for(generating, 60)
    time.sleep(0.5)
    client.close()

    def cancelled():
        rows = httpx.get(url + "/api/requests", params={"limit": 50}, headers=headers).json()["requests"]
        return [r for r in rows if r["endpoint"] == "chat" and r["status"] == "cancelled"
                and r["model"] == "smollm2-135m"]

    assert wait_for(cancelled, 60), "the request was not recorded as cancelled"

    def idle():
        models = httpx.get(url + "/api/ps", headers=headers).json()["models"]
        return all(m["running"] == 0 and m["queued"] == 0 for m in models)

    assert wait_for(idle, 30)
    metrics = httpx.get(url + "/metrics", headers=headers).text
    assert 'status="cancelled"' in metrics
