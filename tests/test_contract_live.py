"""Execution contracts on the real embedded model: every route records one, a seeded request
replays byte-identically, and the rendered prompt is llama.cpp's own."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from typer.testing import CliRunner

from cupola.cli.main import app as cli
from cupola.digest import sha256
from cupola.models.catalog import SMOLLM2
from cupola.models.gguf import read_gguf

from conftest import LiveServer, new_home

pytestmark = pytest.mark.real

ASK = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Name a colour."}]


@pytest.fixture(scope="module")
def captured(models_home, tmp_path_factory):
    home = new_home(tmp_path_factory.mktemp("contract") / "home", models_home)
    server = LiveServer(home, "--parallel", "2", env={"CUPOLA_CAPTURE_CONTENT": "1"})
    yield server
    server.stop()


def records(server: LiveServer, n: int = 10) -> list[dict]:
    rows = httpx.get(server.url + "/api/requests", params={"limit": n}).json()["requests"]
    return [httpx.get(server.url + f"/api/requests/{r['id']}").json() for r in rows]


def test_every_route_records_a_contract(captured, gguf_path):
    client = openai.OpenAI(base_url=captured.url + "/v1", api_key="x", max_retries=0, timeout=120)
    client.chat.completions.create(model="smollm2-135m", messages=ASK, max_tokens=8, seed=11, temperature=0.5)
    client.completions.create(model="smollm2-135m", prompt="Colours: red, green,", max_tokens=4)
    client.embeddings.create(model="minilm-l6", input=["a colour"])
    client.responses.create(model="smollm2-135m", input="Name a fruit.", max_output_tokens=8)
    responses, embeddings, completion, first = records(captured, 4)  # newest first
    rows = {"chat": first, "completion": completion, "embeddings": embeddings}
    chat = rows["chat"]["contract"]
    template = read_gguf(gguf_path).chat_template
    assert chat["input"]["rendered_from"] == "chat_template" and chat["input"]["template_sha256"] == sha256(template)
    assert chat["input"]["system_sha256"] == sha256("Answer briefly.")
    assert chat["decode"]["seed"] == 11 and chat["decode"]["seed_source"] == "request"
    assert chat["decode"]["temperature"] == 0.5 and chat["decode"]["top_k"] == 40  # request + catalog defaults
    ex = chat["execution"]
    assert ex["model_sha256"] == SMOLLM2.sha256 and ex["engine"].startswith("llama.cpp (xllamacpp")
    assert ex["cached_prompt_tokens"] is not None and ex["tokens_per_s"] > 0 and ex["ttft_ms"] > 0
    assert rows["completion"]["contract"]["input"]["rendered_from"] == "prompt"
    assert rows["embeddings"]["contract"]["execution"]["engine"].startswith("onnxruntime")
    assert responses["content"]["messages"][-1]["content"] == "Name a fruit."


def test_a_seeded_request_replays_identically(captured, monkeypatch):
    client = openai.OpenAI(base_url=captured.url + "/v1", api_key="x", max_retries=0, timeout=120)
    client.chat.completions.create(model="smollm2-135m", messages=ASK, max_tokens=24, seed=5)
    rid = records(captured, 1)[0]["id"]
    monkeypatch.setenv("CUPOLA_HOME", str(captured.home))
    result = CliRunner().invoke(cli, ["requests", "replay", rid, "--n", "2", "--url", captured.url, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["identical"] == 2 and report["runs"][0]["tokens"] > 0
    shown = CliRunner().invoke(cli, ["requests", "show", rid[:12]])
    assert shown.exit_code == 0 and "rendered_sha256" in shown.output and "seed" in shown.output
