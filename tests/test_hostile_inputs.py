"""Hand-written hostile inputs: each gets a clear 4xx with an OpenAI error body, or a bounded,
documented behaviour (README, "Limits"). Body limits are also checked through a real uvicorn
server, where a client may still be sending when the 413 goes out."""

from __future__ import annotations

import json
import zlib

import httpx
import pytest

from cupola.knowledge import documents as docs

from conftest import LiveServer, fake_store
from test_http_api import CHAT, assert_openai_error, make_client

JSON = {"content-type": "application/json"}


def pdf_bomb(content: bytes, pages: int = 1) -> bytes:
    """A small PDF whose pages share one FlateDecode content stream that expands to ``content``."""
    stream = zlib.compress(content, 9)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{' '.join(f'{4 + i} 0 R' for i in range(pages))}] /Count {pages} >>".encode(),
               b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream"]
    font = b"<< /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >>"
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R /Resources " + font + b" >>"] \
        * pages
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


TEXT_LINE = b"BT /F1 12 Tf 72 720 Td (hello world hello world) Tj ET\n"


@pytest.fixture
def client(settings):
    with make_client(settings) as c:
        assert c.post("/api/kb", json={"name": "notes"}).status_code == 201
        yield c


def test_bodies_that_are_not_json(client):
    body = json.dumps(CHAT).encode()
    for headers, got in (({"content-type": ""}, "no Content-Type"),
                         ({"content-type": "application/x-www-form-urlencoded"}, "x-www-form-urlencoded"),
                         ({"content-type": "text/plain"}, "text/plain")):
        err = assert_openai_error(client.post("/v1/chat/completions", content=body, headers=headers), 400,
                                  contains="must be JSON")
        assert got in err["message"] and err["code"] == "invalid_content_type"
    err = assert_openai_error(client.post("/v1/chat/completions", content=b'{"model": ', headers=JSON), 400)
    assert err["code"] == "invalid_json"
    invalid_utf8 = b'{"model": "smollm2-135m", "messages": [{"role": "user", "content": "\xff\xfe"}]}'
    assert_openai_error(client.post("/v1/chat/completions", content=invalid_utf8, headers=JSON), 400,
                        contains="not UTF-8")
    nested = b'{"model": "smollm2-135m", "messages": [], "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert_openai_error(client.post("/v1/chat/completions", content=nested, headers=JSON), 400,
                        contains="nests too deeply")


def test_negative_nan_and_infinite_numbers(client):
    def post(path, raw):
        return client.post(path, content=raw.encode(), headers=JSON)

    msgs = '"model": "smollm2-135m", "messages": [{"role": "user", "content": "x"}]'
    for field, value in (("temperature", "NaN"), ("top_p", "Infinity"), ("max_tokens", "-5"), ("seed", "NaN"),
                         ("presence_penalty", "-Infinity"), ("keep_alive", "NaN"), ("n", "-1")):
        err = assert_openai_error(post("/v1/chat/completions", f"{{{msgs}, \"{field}\": {value}}}"), 400, field)
        assert err["code"] == "invalid_parameter"
    assert_openai_error(post("/v1/embeddings", '{"model": "minilm-l6", "input": "x", "dimensions": -1}'), 400,
                        "dimensions")
    for body, param in (('{"query": "x", "k": -1}', "k"), ('{"query": "x", "rrf_k": NaN}', "rrf_k"),
                        ('{"query": "x", "weights": {"lexical": NaN}}', "weights.lexical"),
                        ('{"query": "x", "dedupe": -0.5}', "dedupe")):
        assert_openai_error(post("/api/kb/notes/search", body), 400, param)
    assert_openai_error(client.get("/api/kb/notes/documents?limit=-1"), 400, "limit")
    assert_openai_error(post("/v1/responses", '{"model": "smollm2-135m", "input": "x", "temperature": NaN}'), 400,
                        "temperature")


def test_counts_are_limited_before_items_are_validated(settings):
    with make_client(settings, max_messages=50, max_tools=4) as client:
        too_many = {**CHAT, "messages": [{"role": "user", "content": "a"}] * 51}
        err = assert_openai_error(client.post("/v1/chat/completions", json=too_many), 400, "messages")
        assert "at most 50 messages" in err["message"] and "max_messages" in err["message"]
        tools = [{"type": "function", "function": {"name": f"f{i}", "parameters": {"type": "object"}}}
                 for i in range(5)]
        assert_openai_error(client.post("/v1/chat/completions", json={**CHAT, "tools": tools}), 400, "tools")
        assert_openai_error(client.post("/v1/responses", json={"model": "smollm2-135m", "input": "x",
                                                               "tools": tools}), 400, "tools")
        items = [{"role": "user", "content": "a"}] * 51
        assert_openai_error(client.post("/v1/responses", json={"model": "smollm2-135m", "input": items}), 400,
                            "input")
        assert client.post("/v1/chat/completions", json={**CHAT, "messages": too_many["messages"][:50]}).status_code \
            == 200


def test_body_and_upload_limits(settings):
    with make_client(settings, max_body_bytes=64 * 1024, max_upload_bytes=256 * 1024) as client:
        assert client.post("/api/kb", json={"name": "notes"}).status_code == 201
        big = {"documents": [{"id": "a", "text": "word " * 20_000}]}  # 100 KB of JSON
        err = assert_openai_error(client.post("/api/kb/notes/documents", json=big), 413)
        assert err["code"] == "payload_too_large" and "max_body_bytes" in err["message"]

        def chunked():  # no Content-Length: counted as the bytes arrive
            yield b'{"documents": [{"id": "a", "text": "'
            for _ in range(20):
                yield b"x" * 8192
            yield b'"}]}'

        assert_openai_error(client.post("/api/kb/notes/documents", content=chunked(), headers=JSON), 413)
        upload = [("files", ("big.md", b"word " * 30_000, "text/markdown"))]  # 150 KB: an upload may be larger
        assert client.post("/api/kb/notes/documents", files=upload).json()["added"] == 1
        huge = [("files", ("huge.html", b"<p>x</p>" * 40_000, "text/html"))]  # 320 KB
        err = assert_openai_error(client.post("/api/kb/notes/documents", files=huge), 413)
        assert "max_upload_bytes" in err["message"]
        assert client.get("/api/kb/notes").json()["documents"] == 1  # nothing half-written


def test_pdf_bombs_are_refused_or_cut(client, monkeypatch):
    expands = pdf_bomb(TEXT_LINE * (100 * 2**20 // len(TEXT_LINE)))  # ~300 KB that inflate to 100 MB
    assert len(expands) < 400_000
    report = client.post("/api/kb/notes/documents", files=[("files", ("bomb.pdf", expands, "application/pdf"))])
    assert report.status_code == 200
    assert report.json()["failed"][0]["source"] == "bomb.pdf"
    assert "not a readable PDF" in report.json()["failed"][0]["error"]
    # many pages sharing one large stream: extraction stops at the documented limits, with a warning
    monkeypatch.setattr(docs, "MAX_TEXT_CHARS", 200_000)
    pages = pdf_bomb(TEXT_LINE * 2000, pages=500)  # 100 KB of page content, 500 times
    doc = docs.parse(pages, "pages.pdf")
    assert 200_000 <= len(doc.text) < 300_000
    assert any("pages only" in w for w in doc.warnings)


def test_live_server_refuses_huge_bodies_with_413(tmp_path):
    home = tmp_path / "home"
    fake_store(home)
    server = LiveServer(home, "--no-preload")
    try:
        fifty_mb = b'{"model": "smollm2-135m", "messages": [{"role": "user", "content": "' + b"a" * (50 * 2**20) + b'"}]}'
        resp = httpx.post(server.url + "/v1/chat/completions", content=fifty_mb, headers=JSON, timeout=60)
        assert resp.status_code == 413 and resp.json()["error"]["code"] == "payload_too_large"
        million = json.dumps({**CHAT, "messages": [{"role": "user", "content": "a"}] * 1_000_000}).encode()
        resp = httpx.post(server.url + "/v1/chat/completions", content=iter([million]), headers=JSON, timeout=60)
        assert resp.status_code == 413  # 34 MB, sent chunked: counted as it arrives
        assert httpx.post(server.url + "/api/kb", json={"name": "web"}).status_code == 201
        html = b"<html><body>" + b"<p>a hundred megabytes of paragraphs</p>" * (100 * 2**20 // 40) + b"</body></html>"
        resp = httpx.post(server.url + "/api/kb/web/documents", files=[("files", ("big.html", html, "text/html"))],
                          timeout=60)
        assert resp.status_code == 413 and "max_upload_bytes" in resp.json()["error"]["message"]
        assert httpx.get(server.url + "/health").status_code == 200  # still serving
    finally:
        server.stop()
