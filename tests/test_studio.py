"""Cupola Studio's static files and their serving, without a browser: security headers, no inline
scripts, compression and caching, path safety, the API key, the vendored files' manifest, package
data, module imports that resolve, the size budget, and the workflow graphs the page draws."""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import json
import re
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cupola.runtime.runtime import Runtime
from cupola.server.app import create_app
from cupola.server.studio_routes import static_root
from cupola.workflows.loader import WorkflowRegistry, load_workflow

from conftest import FakeFactory, fake_store

ROOT = Path(__file__).resolve().parent.parent
STATIC = static_root()
VENDOR = STATIC / "vendor"


def make(settings, **updates):
    settings = settings.model_copy(update=updates)
    return TestClient(create_app(settings, Runtime(settings, fake_store(settings.home), engine_factory=FakeFactory())))


@pytest.fixture
def client(settings):
    with make(settings) as c:
        yield c


def test_the_page_and_its_files_carry_the_security_headers(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "connect-src 'self'" in csp
    for path in ("/", "/studio/app.js", "/studio/studio.css", "/studio/vendor/preact.mjs"):
        headers = client.get(path).headers
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer" and headers["content-security-policy"] == csp
    assert client.get("/studio/app.js").headers["content-type"].startswith("text/javascript")
    # CORS stays closed: no cross-origin reader is allowed
    assert "access-control-allow-origin" not in client.get("/v1/models", headers={"Origin": "https://evil.test"}).headers


def test_no_inline_scripts_or_handlers_in_the_page():
    page = (STATIC / "index.html").read_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, flags=re.S)
    assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts)
    assert not re.search(r"\son[a-z]+\s*=", page)
    for source in STATIC.glob("*.js"):  # the app never builds HTML strings for the DOM
        text = source.read_text()
        assert "innerHTML" not in text and "dangerouslySetInnerHTML" not in text and "eval(" not in text, source


def test_compression_and_revalidation(client):
    raw = client.get("/studio/vendor/purify.es.mjs", headers={"Accept-Encoding": "identity"})
    packed = client.get("/studio/vendor/purify.es.mjs", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in raw.headers and packed.headers["content-encoding"] == "gzip"
    assert packed.content == raw.content  # httpx decodes; the bytes are the same file
    assert int(packed.headers["content-length"]) < len(raw.content) / 2
    etag = raw.headers["etag"]
    again = client.get("/studio/vendor/purify.es.mjs", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag


@pytest.mark.parametrize("path", ["/studio/../../config.py", "/studio/%2e%2e/%2e%2e/config.py", "/studio/__init__.py",
                                  "/studio/nothing.js", "/studio/vendor", "/studio/"])
def test_only_studio_files_are_served(client, path):
    resp = client.get(path)
    assert resp.status_code == 404 and resp.json()["error"]["code"] in ("not_found", "404")


def test_the_page_is_public_but_the_apis_need_the_key(settings):
    with make(settings, api_key="s3cret") as c:
        assert c.get("/").status_code == 200 and c.get("/studio/app.js").status_code == 200
        assert c.get("/v1/conversations").status_code == 401
        assert c.get("/v1/conversations", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_the_studio_can_be_turned_off(settings):
    with make(settings, studio=False) as c:
        assert c.get("/").status_code == 404 and c.get("/studio/app.js").status_code == 404


def manifest() -> dict:
    return json.loads((VENDOR / "MANIFEST.json").read_text())


def test_every_vendored_file_is_pinned_with_its_version_license_and_checksum():
    entries = manifest()["files"]
    listed = {e["file"] for e in entries}
    shipped = {p.name for p in VENDOR.iterdir() if p.is_file() and p.name != "MANIFEST.json"}
    assert listed == shipped
    for e in entries:
        assert re.fullmatch(r"\d+\.\d+\.\d+", e["version"]) and e["license"] and e["npm_integrity"].startswith("sha512-")
        assert (VENDOR / e["license_file"]).is_file()
        data = (VENDOR / e["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == e["sha256"], e["file"]
        if "modified" in e:  # undo the documented change: the upstream file comes back
            mod = e["modified"]
            data = data.replace(mod["with"].encode(), mod["replace"].encode())
        assert hashlib.sha256(data).hexdigest() == e["upstream_sha256"], e["file"]


def test_package_data_carries_every_studio_file():
    text = (ROOT / "pyproject.toml").read_text()
    patterns = re.search(r'cupola = \[(.*?)\]', text.split("[tool.setuptools.package-data]")[1], re.S).group(1)
    globs = re.findall(r'"([^"]+)"', patterns)
    package = ROOT / "src" / "cupola"
    for file in (p for p in STATIC.rglob("*") if p.is_file()):
        rel = file.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(rel, g) and rel.count("/") == g.count("/") for g in globs), rel


def test_every_module_import_resolves():
    for source in STATIC.rglob("*.js"):
        for target in re.findall(r'(?:from\s*|import\()\s*"(\./[^"]+)"', source.read_text()):
            assert (source.parent / target).is_file(), f"{source.name} imports {target}"
    page = (STATIC / "index.html").read_text()
    for ref in re.findall(r'(?:href|src)="/studio/([^"]+)"', page):
        assert (STATIC / ref).is_file(), ref


def test_shipped_assets_fit_the_budget():
    total = sum(len(gzip.compress(p.read_bytes(), 9)) for p in STATIC.rglob("*") if p.is_file())
    assert total <= 500_000, f"{total} bytes gzip"


def test_workflow_graph_has_every_kind_of_node():
    workflow = load_workflow(Path(__file__).parent / "data" / "release_check.py")
    graph = WorkflowRegistry({workflow.name: workflow}).describe()[0]["graph"]
    assert graph["kind"] == "sequential" and graph["path"] == "release_check"
    gather, polish, dispatch, publish, announce = graph["children"]
    assert gather["kind"] == "concurrent" and [b["path"] for b in gather["branches"]] == [
        "release_check/gather/changes", "release_check/gather/summary"]
    assert gather["branches"][1]["agent"] == "summarizer" and gather["branches"][1]["kind"] == "agent"
    assert polish["kind"] == "loop" and polish["max_iterations"] == 3
    assert polish["body"]["path"] == "release_check/polish/{i}/draft"
    assert polish["critic"]["path"] == "release_check/polish/{i}/critic"
    assert dispatch["kind"] == "route" and dispatch["router"]["path"] == "release_check/dispatch/router"
    assert {k: r["path"] for k, r in dispatch["routes"].items()} == {
        "docs": "release_check/dispatch/docs_team", "code": "release_check/dispatch/code_team"}
    assert publish["kind"] == "approval" and publish["prompt"].startswith("Publish")
    assert announce["kind"] == "function"


def test_the_shipped_workflow_examples_describe_themselves():
    sys.modules.pop("cupola_workflow_incident_triage", None)
    from cupola.agents.loader import ToolContext

    wf = load_workflow(ROOT / "examples" / "workflows" / "incident_triage.py", ToolContext(knowledge=object()))
    graph = WorkflowRegistry({wf.name: wf}).describe()[0]["graph"]
    route = graph["children"][0]
    assert route["kind"] == "route" and set(route["routes"]) == {"network", "database", "application"}
