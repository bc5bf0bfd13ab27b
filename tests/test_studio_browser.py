"""Cupola Studio in a real browser (Chromium driven by Playwright) against a live `cupola serve`
with the embedded models: chat streaming, stop, reload, errors, knowledge bases, grounded answers,
agents, approvals, workflows, models, activity, XSS, keyboard and phone width.

One server and one browser are shared by the module. Screenshots go to a temporary folder, or to
docs/images/ with CUPOLA_UPDATE_SCREENSHOTS=1. The browser tests are skipped only when
/usr/bin/chromium is missing and CI is not set (`.ci/run` installs it)."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest

from conftest import LiveServer, new_home

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip("Chromium is not installed (apt-get install -y chromium); CI installs it", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.real

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT = 120_000  # ms: model answers on a busy 2-core machine

SCRIBE = """name: scribe
description: Writes a note into its workspace (each write needs your approval)
instructions: Call write_file with path "notes.txt" and content the user's note, word for word. Then say that the note is saved.
tools: [write_file]
workspace: ./scribe-workspace
approve_writes: true
settings: {temperature: 0.2, max_tokens: 160, tool_choice: required}
max_turns: 3
"""

HEAT_PUMP = """---
title: Heat pump manual
tags: [manual, hvac]
---
# Heat pump

The heat pump runs at 42 decibels in quiet mode. Clean the air filter every three months.
The outdoor unit needs 30 centimetres of free space on each side.
"""
WARRANTY = """Warranty terms. The heat pump has a five year warranty on the compressor and two years on other
parts. Register the product within 30 days to get the extended warranty.
"""
XSS_DOC = "# Tricky\n\nHeat pump <script>window.__xss = 'doc-script'</script> and " \
          "<img src=x onerror=\"window.__xss = 'doc-img'\"> both stay text.\n"


def screenshots_dir(tmp_path_factory) -> Path:
    if os.environ.get("CUPOLA_UPDATE_SCREENSHOTS"):
        return ROOT / "docs" / "images"
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def studio(models_home, tmp_path_factory):
    """A live server hosting the calculator agent, a scribe agent that needs approval, and a
    workflow with every kind of step (tests/data/release_check.py)."""
    base = tmp_path_factory.mktemp("studio")
    home = new_home(base / "home", models_home)
    agents = base / "agents"
    agents.mkdir()
    shutil.copy(ROOT / "examples" / "agents" / "calculator.yaml", agents)
    (agents / "scribe.yaml").write_text(SCRIBE)
    workflows = base / "workflows"
    workflows.mkdir()
    shutil.copy(Path(__file__).parent / "data" / "release_check.py", workflows)
    server = LiveServer(home, "--agents", str(agents), "--workflows", str(workflows),
                        "--parallel", "2", "--ctx-per-slot", "1024")
    server.agents = agents
    server.shots = screenshots_dir(tmp_path_factory)
    server.files = base / "files"
    server.files.mkdir()
    for name, text in {"heat-pump.md": HEAT_PUMP, "warranty.txt": WARRANTY, "tricky.md": XSS_DOC}.items():
        (server.files / name).write_text(text)
    (server.files / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


class Page:
    """A fresh browser context and page, with the page's errors and CSP violations collected."""

    def __init__(self, browser, server, width=1280, height=900):
        self.server = server
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.add_init_script("""document.addEventListener('securitypolicyviolation',
            e => (window.__csp = window.__csp || []).push(e.violatedDirective + ' ' + e.blockedURI));""")

    def open(self, hash_: str = "chat"):
        self.page.goto(f"{self.server.url}/#/{hash_}")
        self.page.wait_for_selector("main#main")
        return self.page

    def shot(self, name: str):
        self.page.screenshot(path=str(self.server.shots / f"{name}.png"), full_page=False)

    def close(self):
        self.context.close()
        assert self.errors == [], self.errors


@pytest.fixture
def ui(browser, studio):
    page = Page(browser, studio)
    yield page
    page.close()


def wait_js(page, expression, arg=None, timeout=30_000):
    """Poll a JS expression (a function source) until it is truthy. Playwright's wait_for_function
    evaluates strings with eval, which the Studio's CSP forbids (as it should)."""
    deadline = time.monotonic() + timeout / 1000
    while True:
        value = page.evaluate(expression, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.1)


def fulfill_sse(chunks, done=True):
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + ("data: [DONE]\n\n" if done else "")
    return lambda route: route.fulfill(status=200, headers={"content-type": "text/event-stream"}, body=body)


def chunk(text=None, finish=None, **extra):
    delta = {"content": text} if text is not None else {}
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra}


def send(page, text):
    page.fill("#composer-input", text)
    page.keyboard.press("Enter")


def wait_answer_done(page, nth=-1):
    wait_js(page, """n => { const a = [...document.querySelectorAll('article.msg.assistant')];
        const x = n < 0 ? a[a.length + n] : a[n]; return !!(x && x.getAttribute('aria-busy') === 'false'
        && x.querySelector('footer')); }""", arg=nth, timeout=TIMEOUT)


def unlabeled_controls(page) -> list[str]:
    return page.evaluate("""() => [...document.querySelectorAll('input, select, textarea, button')]
        .filter(el => el.type !== 'hidden')
        .filter(el => !((el.labels && [...el.labels].some(l => l.textContent.trim()))
                        || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
                        || (el.tagName === 'BUTTON' && el.textContent.trim())))
        .map(el => el.outerHTML.slice(0, 160))""")


def records(server, limit=50):
    return httpx.get(server.url + "/api/requests", params={"limit": limit}).json()["requests"]


# -- chat -------------------------------------------------------------------------------------

def test_chat_streams_an_answer_and_keeps_the_conversation(ui, studio):
    page = ui.open("chat")
    wait_js(page, "document.querySelector('#composer-input') && "
                           "[...document.querySelectorAll('.settings select option')].some(o => o.value === 'smollm2-135m')")
    assert unlabeled_controls(page) == []
    # count the answer's text changes while it streams
    page.evaluate("""() => { window.__updates = 0; new MutationObserver(() => window.__updates++)
        .observe(document.querySelector('.transcript'), {subtree: true, childList: true, characterData: true}); }""")
    page.get_by_label("Max tokens").fill("24")
    send(page, "Name three colours of the rainbow.")
    # the answer's article appears (24 tokens on a quiet machine can finish before a busy state is seen)
    page.wait_for_selector("article.msg.assistant", timeout=TIMEOUT)
    wait_answer_done(page)
    answer = page.locator("article.msg.assistant").last
    assert answer.locator(".md").inner_text().strip()
    stats = answer.locator(".stats").inner_text()
    assert "smollm2-135m" in stats and re.search(r"\d+ in · \d+ out tokens", stats) and "tok/s" in stats
    assert page.evaluate("window.__updates") >= 3  # it streamed: several updates, not one
    # first token: when its chunk was parsed vs when it was on screen (bench/ui.py reports these)
    marks = page.evaluate("""() => Object.fromEntries(performance.getEntriesByType('mark')
        .filter(m => m.name.startsWith('studio:')).map(m => [m.name, m.startTime]))""")
    assert marks["studio:first-token-shown"] >= marks["studio:first-token"] >= marks["studio:first-bytes"]
    ui.shot("chat")
    # the conversation is on the server, titled from the first message
    convs = httpx.get(studio.url + "/v1/conversations").json()["data"]
    conv = next(c for c in convs if c["metadata"]["title"] == "Name three colours of the rainbow.")
    items = httpx.get(f"{studio.url}/v1/conversations/{conv['id']}/items", params={"order": "asc"}).json()["data"]
    assert [i["role"] for i in items] == ["user", "assistant"]
    assert items[1]["usage"]["output_tokens"] <= 24 and items[1]["model"] == "smollm2-135m"
    # a second turn in the same conversation, then reload: both turns are there
    send(page, "And one more?")
    wait_js(page, "document.querySelectorAll('article.msg.assistant').length === 2", timeout=TIMEOUT)
    wait_answer_done(page)
    page.reload()
    wait_js(page, "document.querySelectorAll('article.msg.user').length === 2")
    assert page.locator(".conv-list li.current").inner_text().startswith("Name three colours")
    assert page.locator("article.msg.assistant").count() == 2
    # regenerate replaces the last answer (kept on the server too)
    before = httpx.get(f"{studio.url}/v1/conversations/{conv['id']}/items", params={"order": "asc"}).json()["data"]
    page.evaluate("document.querySelectorAll('article.msg.assistant')[1].dataset.old = 'yes'")
    page.get_by_role("button", name="Regenerate").click()
    wait_js(page, """() => { const a = document.querySelectorAll('article.msg.assistant');
        return a.length === 2 && !a[1].dataset.old && a[1].getAttribute('aria-busy') === 'false'
        && !!a[1].querySelector('footer'); }""", timeout=TIMEOUT)
    items = httpx.get(f"{studio.url}/v1/conversations/{conv['id']}/items", params={"order": "asc"}).json()["data"]
    assert [i["role"] for i in items] == ["user", "assistant", "user", "assistant"]
    assert items[3]["id"] != before[3]["id"] and items[:3] == before[:3]


def test_stop_a_stream_with_escape_keeps_the_partial_answer(ui, studio):
    page = ui.open("chat")
    page.get_by_label("Max tokens").fill("600")
    send(page, "Write a very long story about a dragon who learns to bake bread.")
    wait_js(page, """() => { const a = document.querySelector('article.msg.assistant[aria-busy=true] .md');
        return a && a.textContent.length > 20; }""", timeout=TIMEOUT)
    page.keyboard.press("Escape")
    page.wait_for_selector("article.msg.assistant .note", timeout=30_000)
    answer = page.locator("article.msg.assistant").last
    assert "Stopped before the end" in answer.locator(".note").inner_text()
    assert answer.locator(".md").inner_text().strip()
    assert page.get_by_role("button", name="Send").is_visible()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the server saw the client go and freed the slot
        if any(r["status"] == "cancelled" for r in records(studio, 10)):
            break
        time.sleep(0.2)
    assert any(r["status"] == "cancelled" for r in records(studio, 10))
    page.get_by_label("Max tokens").fill("48")


def test_conversations_rename_and_delete(ui, studio):
    httpx.post(studio.url + "/v1/conversations", json={"metadata": {"title": "Say hello."}, "items": [
        {"type": "message", "role": "user", "content": "Say hello."},
        {"type": "message", "role": "assistant", "content": "Hello!"}]}).raise_for_status()
    page = ui.open("chat")
    page.get_by_role("button", name="Rename Say hello.").click()
    page.get_by_label("New title").fill("Greetings")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector(".conv-list a:text('Greetings')")
    page.on("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Delete Greetings").click()
    wait_js(page, "![...document.querySelectorAll('.conv-list a')].some(a => a.textContent === 'Greetings')")
    assert all(c["metadata"].get("title") != "Greetings" for c in httpx.get(studio.url + "/v1/conversations").json()["data"])


def test_api_errors_are_readable_and_a_dropped_stream_says_so(ui, studio):
    page = ui.open("chat")
    page.get_by_label("Max tokens").fill("16")
    # a prompt longer than the context: the real server's 400, as a sentence
    send(page, "word " * 1500)
    page.wait_for_selector("[role=alert]", timeout=TIMEOUT)
    assert "too long for the model's context" in page.locator("[role=alert]").inner_text()
    # overload: 429 with Retry-After
    page.route("**/v1/chat/completions", lambda route: route.fulfill(
        status=429, headers={"Retry-After": "3", "content-type": "application/json"},
        body=json.dumps({"error": {"message": "smollm2-135m is busy", "type": "rate_limit_error", "param": None,
                                   "code": "overloaded"}})))
    page.get_by_role("button", name="New chat").click()
    send(page, "Hello?")
    page.wait_for_selector("[role=alert] >> text=The server is busy")
    assert "Try again in 3 s" in page.locator("[role=alert]").inner_text()
    # a stream that breaks off: said, not hung; what arrived is kept
    page.unroute("**/v1/chat/completions")
    page.route("**/v1/chat/completions", fulfill_sse([chunk("Half an ans"), chunk("wer")], done=False))
    page.get_by_role("button", name="Retry").click()
    page.wait_for_selector("[role=alert] >> text=connection dropped")
    assert "Half an answer" in page.locator("article.msg.assistant .md").last.inner_text()
    page.unroute("**/v1/chat/completions")
    # a model the picker lists but the server does not know: the server's 404, readable
    page.route("**/v1/models", lambda route: route.fulfill(json={"object": "list", "data": [
        {"id": "ghost-model", "object": "model", "owned_by": "cupola", "kind": "chat"},
        {"id": "smollm2-135m", "object": "model", "owned_by": "cupola", "kind": "chat"}]}))
    page.reload()
    page.get_by_label("Model").select_option("ghost-model")
    page.get_by_role("button", name="New chat").click()
    send(page, "Hello?")
    page.wait_for_selector("[role=alert] >> text=Model not found")
    assert "ghost-model" in page.locator("[role=alert]").last.inner_text()
    page.get_by_label("Model").select_option("smollm2-135m")


# -- knowledge ----------------------------------------------------------------------------------

def drop_files(page, selector, paths):
    """Drag files from 'the desktop' onto an element (a real drop event with a DataTransfer)."""
    files = [{"name": p.name, "text": p.read_text(errors="replace")} for p in paths]
    transfer = page.evaluate_handle("""files => { const dt = new DataTransfer();
        for (const f of files) dt.items.add(new File([f.text], f.name)); return dt; }""", files)
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def test_knowledge_base_upload_search_and_grounded_chat(ui, studio):
    page = ui.open("knowledge")
    page.get_by_label("Name", exact=True).fill("home")
    page.get_by_label("Description").fill("Home appliance manuals")
    page.get_by_role("button", name="Create").click()
    page.wait_for_selector("h1:text('home')")
    page.evaluate("""() => { window.__progress = 0; new MutationObserver(() => {
        if (document.querySelector('.uploads progress')) window.__progress++; })
        .observe(document.body, {subtree: true, childList: true}); }""")
    drop_files(page, "[data-testid=dropzone]", [studio.files / "heat-pump.md", studio.files / "warranty.txt"])
    page.wait_for_selector("[data-file='warranty.txt'].result-ok", timeout=TIMEOUT)
    assert "ingested" in page.locator("[data-file='heat-pump.md']").inner_text()
    page.set_input_files("#kb-files", [str(studio.files / "broken.pdf"), str(studio.files / "heat-pump.md")])
    page.wait_for_selector("[data-file='broken.pdf'].result-bad", timeout=TIMEOUT)
    assert "could not be parsed" in page.locator("[data-file='broken.pdf']").inner_text()
    page.wait_for_selector("[data-file='heat-pump.md'] >> text=unchanged", timeout=TIMEOUT)
    assert page.evaluate("window.__progress") > 0  # a progress bar was shown while uploading
    docs = page.locator("section[aria-label=Documents] tbody tr")
    assert docs.count() == 2
    assert "hvac" in docs.first.inner_text()  # front-matter metadata
    ui.shot("knowledge")
    # the search playground: one mode, then all three side by side
    page.get_by_role("tab", name="Search playground").click()
    page.get_by_label("Query").fill("how loud is the heat pump")
    page.get_by_label("lexical").check()
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector("table.results tbody tr")
    first = page.locator("table.results tbody tr").first
    assert "Heat pump manual" in first.inner_text() and first.locator("mark").count() > 0
    page.get_by_label("Metadata filters (JSON)").fill('{"tags": "hvac"}')
    page.get_by_label("all three side by side").check()
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector(".compare section:nth-child(3) li")
    for mode in ("lexical", "semantic", "hybrid"):
        column = page.locator(f".compare section[aria-label='{mode} results']")
        assert column.locator("li").count() == 1  # the filter leaves the manual only
        assert "Heat pump manual" in column.inner_text()
    ui.shot("knowledge-search")
    # a grounded answer in the chat: the sources panel with scores
    page.goto(f"{studio.url}/#/chat")
    page.get_by_role("button", name="New chat").click()
    page.get_by_label("Knowledge base").select_option("home")
    page.get_by_label("Ground every answer in this base (with a sources panel)").check()
    page.get_by_label("Max tokens").fill("32")
    with page.expect_response("**/v1/chat/completions") as answered:
        send(page, "How loud is the heat pump in quiet mode?")
    wait_answer_done(page)
    sources = page.locator("article.msg.assistant").last.locator(".source-list li")
    assert sources.count() == 2 and "score" in sources.first.inner_text()
    assert "Heat pump manual" in page.locator(".source-list").inner_text()
    body = answered.value.text()
    cited = [json.loads(line[6:]).get("knowledge", {}).get("citations") for line in body.splitlines()
             if line.startswith("data: {")]
    cited = [c for c in cited if c is not None][-1]
    # whatever the model cited (a 135M model often cites nothing) is what the page highlights
    assert page.locator(".source-list li.cited").count() == len(cited)
    ui.shot("chat-grounded")
    page.get_by_label("Ground every answer in this base (with a sources panel)").uncheck()


def test_cited_sources_are_highlighted_and_linked(ui, studio):
    page = ui.open("chat")
    sources = [{"n": 1, "doc_id": "heat-pump.md", "title": "Heat pump manual", "position": 0, "score": 0.0331,
                "text": "The heat pump runs at 42 decibels in quiet mode.", "source": "heat-pump.md", "metadata": {}},
               {"n": 2, "doc_id": "warranty.txt", "title": "warranty", "position": 0, "score": 0.0318,
                "text": "Five year warranty on the compressor.", "source": "warranty.txt", "metadata": {}}]
    page.route("**/v1/chat/completions", fulfill_sse([
        chunk("It runs at 42 decibels ", knowledge={"base": "home", "mode": "hybrid", "fallback": None,
                                                    "sources": sources}),
        chunk("in quiet mode [1]."),
        chunk(None, "stop", knowledge={"citations": [{"n": 1, "doc_id": "heat-pump.md", "title": "Heat pump manual",
                                                      "position": 0}]}),
        {"choices": [], "usage": {"prompt_tokens": 90, "completion_tokens": 12, "total_tokens": 102}}]))
    page.get_by_role("button", name="New chat").click()
    send(page, "How loud is it?")
    wait_answer_done(page)
    answer = page.locator("article.msg.assistant").last
    assert answer.locator(".source-list li.cited").count() == 1
    assert "Heat pump manual" in answer.locator(".source-list li.cited").inner_text()
    answer.locator("a.cite").click()
    assert answer.locator(".source-list li.focus").get_attribute("data-n") == "1"
    assert "90 in · 12 out tokens" in answer.locator(".stats").inner_text()


def test_model_output_documents_and_tool_results_render_inert(ui, studio):
    page = ui.open("chat")
    payload = ("Here: <script>window.__xss='script'</script> <img src=x onerror=\"window.__xss='img'\"> "
               "[click](javascript:window.__xss='link') **bold**")
    page.route("**/v1/chat/completions", fulfill_sse([chunk(payload), chunk(None, "stop")]))
    page.get_by_role("button", name="New chat").click()
    send(page, "Show me HTML")
    wait_answer_done(page)
    md = page.locator("article.msg.assistant .md").last
    assert md.locator("strong").inner_text() == "bold"  # Markdown still renders
    assert md.locator("script, img, [onerror]").count() == 0
    assert "<script>" in md.inner_text() and "onerror" in md.inner_text()  # raw HTML is shown as text
    assert not (md.locator("a").get_attribute("href") or "").startswith("javascript")
    md.locator("a").click(no_wait_after=True)
    page.unroute("**/v1/chat/completions")
    page.reload()  # stored, then rendered again from the conversation
    page.wait_for_selector("article.msg.assistant .md strong")
    assert page.locator("article.msg.assistant .md").last.locator("script, img, [onerror]").count() == 0
    # a document's text, in the search playground and in a tool result
    httpx.post(studio.url + "/api/kb", json={"name": "tricky"}).raise_for_status()
    with open(studio.files / "tricky.md", "rb") as fh:
        httpx.post(studio.url + "/api/kb/tricky/documents", files={"files": ("tricky.md", fh)}).raise_for_status()
    page.goto(f"{studio.url}/#/knowledge/tricky")
    page.get_by_role("tab", name="Search playground").click()
    page.get_by_label("Query").fill("heat pump")
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector("table.results tbody tr")
    cell = page.locator("table.results .chunk").first
    assert "<script>" in cell.inner_text() and "onerror" in cell.inner_text()  # shown as text
    assert cell.locator("script, img").count() == 0
    page.route("**/v1/responses", fulfill_sse([
        {"type": "response.created", "sequence_number": 0, "response": {"id": "resp_x", "output": []}},
        {"type": "response.in_progress", "sequence_number": 1, "response": {"id": "resp_x", "output": []}},
        {"type": "response.output_item.added", "sequence_number": 2, "output_index": 0, "item": {
            "type": "mcp_call", "id": "mcp_1", "server_label": "cupola", "name": "calculator", "arguments": "{}",
            "output": None, "error": None, "status": "in_progress"}},
        {"type": "response.output_item.done", "sequence_number": 3, "output_index": 0, "item": {
            "type": "mcp_call", "id": "mcp_1", "server_label": "cupola", "name": "calculator", "arguments": "{}",
            "output": payload, "error": None, "status": "completed"}},
        {"type": "response.completed", "sequence_number": 4, "response": {"id": "resp_x", "output": [], "usage": None}},
    ], done=False))
    page.goto(f"{studio.url}/#/agents/calculator")
    page.get_by_label("Input").fill("1+1")
    page.get_by_role("button", name="Run").click()
    page.wait_for_selector(".timeline .tool-result")
    result = page.locator(".timeline .tool-result")
    assert "<script>" in result.inner_text() and result.locator("script, img").count() == 0
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("window.__csp || []") == []  # nothing even tried to run


# -- agents and workflows -----------------------------------------------------------------------

def test_calculator_agent_timeline(ui, studio):
    page = ui.open("agents/calculator")
    page.get_by_label("Input").fill("What is 12 * 7?")
    page.get_by_role("button", name="Run").click()
    page.wait_for_selector(".timeline li.call .tool-result", timeout=TIMEOUT)
    page.wait_for_selector(".timeline li.final", timeout=TIMEOUT)
    call = page.locator(".timeline li.call").first
    assert "calculator" in call.inner_text() and "expression" in call.inner_text()
    assert float(call.locator(".tool-result").inner_text()) > 0  # the model writes the expression itself
    labels = page.locator(".timeline .turn-label").all_text_contents()
    assert labels[:3] == ["Input", "Turn 1", "Turn 2"]
    assert page.locator(".timeline li.final .md").inner_text().strip()
    ui.shot("agents")


def test_agent_approval_buttons_continue_the_run(ui, studio):
    page = ui.open("agents/scribe")
    page.get_by_label("Input").fill("Remember to buy milk.")
    page.get_by_role("button", name="Run").click()
    page.wait_for_selector(".approval-box >> text=write_file", timeout=TIMEOUT)
    assert '"path"' in page.locator(".approval-box pre").inner_text()
    workspace = studio.agents / "scribe-workspace"
    assert not any(workspace.iterdir())  # nothing written before the approval
    ui.shot("agents-approval")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_selector(".approval-box >> text=Approved.")
    call = page.locator(".timeline li.call")
    call.locator(".tool-result, .error-text").wait_for(timeout=TIMEOUT)
    page.wait_for_selector(".timeline li.final", timeout=TIMEOUT)
    # the approved call ran: it wrote the file, or (when the 135M model's arguments were cut off
    # at max_tokens) failed with an error the model saw; either way the run went on to its answer
    if call.locator(".tool-result").count():
        assert any(workspace.iterdir()) and "wrote" in call.locator(".tool-result").inner_text().lower()
    else:
        assert "arguments" in call.locator(".error-text").inner_text()


def test_workflow_run_drawn_live_and_approved_in_the_page(ui, studio):
    page = ui.open("workflows/release_check")
    page.wait_for_selector(".g-node", timeout=TIMEOUT)  # drawn once the workflow's graph has loaded
    assert page.locator(".g-node").count() == 9  # changes, summary, draft, critic, router, 2 teams, publish, announce
    page.get_by_label("Input").fill("the login page no longer times out")
    page.get_by_role("button", name="Start run").click()
    page.wait_for_selector(".approval-box button:text('Approve')", timeout=TIMEOUT)
    assert page.locator("[data-path='release_check/gather/summary'].st-done .g-out").inner_text().strip()
    assert page.locator("[data-path='release_check/gather/changes'].st-done").count() == 1
    # the loop ran twice (the critic approved the second draft), its children show the last iteration
    assert "iteration 2 of at most 3" in page.locator("[data-path='release_check/polish'] .iteration").inner_text()
    assert "draft 2" in page.locator("[data-path='release_check/polish/2/draft'] .g-out").inner_text()
    # the route taken is marked, the others skipped
    assert page.locator(".route-chosen").count() == 1 and "docs_team" in page.locator(".route-chosen").inner_text()
    assert page.locator(".st-skipped").count() == 1
    assert re.search(r"\d+(\.\d+)? (ms|s)", page.locator("[data-path='release_check/gather/summary'] .g-head").inner_text())
    assert page.locator("[data-path='release_check/announce'].st-waiting").count() == 1
    ui.shot("workflows")
    page.get_by_label("Note (optional)").fill("ship it")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_selector(".run-status .status-completed", timeout=TIMEOUT)
    assert page.locator("[data-path='release_check/announce'].st-done").count() == 1
    assert '"published": true' in page.locator("section[aria-label='Final output']").inner_text()
    run_id = page.locator(".run-status code").inner_text()
    # past runs: listed, and reopening one draws it from its checkpoints
    page.goto(f"{studio.url}/#/workflows")
    page.locator(f"a[href$='{run_id}']").click()
    page.wait_for_selector("[data-path='release_check/announce'].st-done")
    page.wait_for_selector(".route-chosen", timeout=TIMEOUT)  # drawn from the checkpoints as they load
    # drawn, and still drawn a moment later (the view may redraw once as the run list reloads)
    drawn = ("() => document.querySelectorAll('.route-chosen').length === 1 && document.querySelector("
             "\"[data-path='release_check/polish'] .iteration\")?.textContent.includes('iteration 2')")
    for _ in range(2):
        wait_js(page, drawn, timeout=TIMEOUT)
        time.sleep(0.5)
    wait_js(page, drawn, timeout=TIMEOUT)


# -- models, activity, evaluations, access ------------------------------------------------------

class FakeSource:
    """A stand-in for a model source: streams the pull endpoint's NDJSON progress, slowly, so the
    page shows the download advancing (a real 23 MB pull through pip takes minutes on a busy CI)."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the body ends when the connection closes: a stream

            def do_POST(self):
                model = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))["model"]
                self.send_response(200)
                self.send_header("content-type", "application/x-ndjson")
                self.end_headers()
                total = 23_000_000
                events = [{"status": "starting", "model": model}]
                events += [{"status": "pulling", "file": "model.onnx", "completed": total * i // 4, "total": total}
                           for i in range(1, 5)]
                events += [{"status": "success", "model": model, "path": "/models/" + model}]
                for event in events:
                    self.wfile.write((json.dumps(event) + "\n").encode())
                    self.wfile.flush()
                    time.sleep(0.25)

            def log_message(self, *args):
                pass

        import threading

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/pull"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_models_page_pull_progress_load_and_unload(ui, studio):
    page = ui.open("models")
    source = FakeSource()
    try:
        page.route("**/api/models/pull", lambda route: route.continue_(url=source.url))
        row = page.locator("tr[data-model='qwen2.5-0.5b']")
        row.wait_for()
        assert "not pulled" in row.inner_text()
        page.evaluate("""() => { window.__progress = []; new MutationObserver(() => {
            const p = document.querySelector("tr[data-model='qwen2.5-0.5b'] .pull progress");
            if (p && window.__progress[window.__progress.length - 1] !== p.value) window.__progress.push(p.value); })
            .observe(document.body, {subtree: true, childList: true, attributes: true}); }""")
        row.get_by_role("button", name="Pull qwen2.5-0.5b").click()
        row.locator(".result-ok, .error-text").wait_for(timeout=20_000)
        assert row.locator(".result-ok").inner_text() == "pulled"
        seen = page.evaluate("window.__progress")
        assert len(seen) >= 3 and seen == sorted(seen) and seen[-1] == 100  # it advanced, step by step
    finally:
        source.close()
    # load and unload for real; the resident table counts down the keep-alive
    row = page.locator("tr[data-model='minilm-l6']")
    if row.get_by_role("button", name="Unload minilm-l6", exact=True).count():  # the knowledge test loaded it
        row.get_by_role("button", name="Unload minilm-l6", exact=True).click()
    row.get_by_role("button", name="Load minilm-l6", exact=True).click()
    page.wait_for_selector("table[aria-label='Loaded models'] tr:has-text('minilm-l6')", timeout=TIMEOUT)
    assert "unloads in" in page.locator("table[aria-label='Loaded models'] tr:has-text('minilm-l6') .countdown").inner_text()
    ui.shot("models")
    row.get_by_role("button", name="Unload minilm-l6", exact=True).click()
    row.get_by_role("button", name="Load minilm-l6", exact=True).wait_for()
    wait_js(page, "!document.querySelector(\"table[aria-label='Loaded models']\")?.textContent.includes('minilm-l6')")


def test_activity_page_charts_and_request_log(ui, studio):
    page = ui.open("activity")
    wait_js(page, "document.querySelectorAll('.chart polyline').length === 4", timeout=20_000)
    httpx.post(studio.url + "/v1/chat/completions", timeout=120, json={  # some traffic to show
        "model": "smollm2-135m", "max_tokens": 8, "messages": [{"role": "user", "content": "Hi!"}]}).raise_for_status()
    # the request shows up in the charts (their peaks rise above zero) and in the log
    wait_js(page, r"""() => [...document.querySelectorAll('.chart')].some(c => /peak (0\.\d*[1-9]|[1-9])/.test(c.textContent))""",
            timeout=15_000)
    page.wait_for_selector("section[aria-label='Request log'] tbody tr >> text=smollm2-135m", timeout=15_000)
    page.get_by_label("Model").select_option("smollm2-135m")
    page.get_by_label("Status").select_option("ok")
    rows = page.locator("section[aria-label='Request log'] tbody tr")
    assert rows.count() >= 1 and all("smollm2-135m" in t and "ok" in t for t in rows.all_inner_texts())
    rows.first.click()
    details = page.locator("section[aria-label='Request details']").inner_text()
    assert '"status": "ok"' in details and '"model": "smollm2-135m"' in details
    page.get_by_label("Status").select_option("")
    ui.shot("activity")


def test_evaluation_reports_are_linked_when_runs_exist(ui, studio):
    page = ui.page
    page.route("**/api/evals", lambda route: route.fulfill(json={"object": "list", "data": [
        {"id": "ev_1", "description": "smoke", "created_at": 1700000000, "status": "completed", "pass_rate": 0.75}]}))
    ui.open("evaluations")
    page.wait_for_selector("nav a:text('Evaluations')")
    link = page.get_by_role("link", name="Open report")
    assert link.get_attribute("href") == "/api/evals/ev_1/report" and "75.0%" in page.locator("tbody").inner_text()
    page.unroute("**/api/evals")
    page.goto(f"{studio.url}/#/chat")  # the real server has no evaluations: no link
    page.wait_for_selector("#composer-input")
    page.reload()
    page.wait_for_selector("#composer-input")
    assert page.locator("nav a:text('Evaluations')").count() == 0


def test_transcription_button_only_with_a_speech_model(ui, studio):
    # the models the server lists decide (the shared model cache may already hold a speech model)
    chat_only = [{"id": "smollm2-135m", "object": "model", "owned_by": "cupola", "kind": "chat"}]
    page = ui.open("chat")
    page.route("**/v1/models", lambda route: route.fulfill(json={"object": "list", "data": chat_only}))
    page.reload()
    page.wait_for_selector("#composer-input")
    assert page.locator("button:text('Transcribe a file')").count() == 0
    page.unroute("**/v1/models")
    page.route("**/v1/models", lambda route: route.fulfill(json={"object": "list", "data": chat_only + [
        {"id": "whisper-tiny", "object": "model", "owned_by": "cupola", "kind": "speech"}]}))
    page.route("**/v1/audio/transcriptions", lambda route: route.fulfill(json={"text": "hello from the audio"}))
    page.reload()
    page.wait_for_selector("button:text('Transcribe a file')")
    with page.expect_request("**/v1/audio/transcriptions") as sent:
        page.set_input_files("#transcribe-file", files=[{"name": "a.wav", "mimeType": "audio/wav", "buffer": b"RIFF0000"}])
    assert b"whisper-tiny" in sent.value.post_data_buffer
    wait_js(page, "document.querySelector('#composer-input').value.includes('hello from the audio')")


def test_phone_width_keyboard_and_labels(browser, studio):
    ui = Page(browser, studio, width=390, height=844)
    try:
        page = ui.open("chat")
        page.wait_for_selector("#composer-input")
        assert page.locator("nav#nav").is_hidden()
        page.get_by_role("button", name="Menu").click()
        assert page.locator("nav#nav").is_visible()
        ui.shot("phone-menu")
        page.get_by_role("link", name="Knowledge").click()
        page.wait_for_selector("aside[aria-label='Knowledge bases']")
        assert page.locator("nav#nav").is_hidden()
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1
        for hash_ in ("chat", "knowledge/home", "agents/calculator", "workflows/release_check", "models", "activity"):
            page.goto(f"{studio.url}/#/{hash_}")
            page.wait_for_timeout(400)
            assert unlabeled_controls(page) == [], hash_
            assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 1, hash_
        page.goto(f"{studio.url}/#/chat")
        page.reload()  # focus starts at the top of the document
        page.wait_for_selector("#composer-input")
        ui.shot("phone-chat")
        page.keyboard.press("Tab")  # the skip link first, with a visible focus ring
        focused = page.evaluate("""() => { const el = document.activeElement;
            return [el.className, getComputedStyle(el).outlineStyle, getComputedStyle(el).outlineWidth]; }""")
        assert focused[0] == "skip" and focused[1] != "none" and focused[2] != "0px"
        page.fill("#composer-input", "first line")
        page.keyboard.press("Shift+Enter")  # a new line, not a send
        page.keyboard.type("second line")
        assert page.input_value("#composer-input") == "first line\nsecond line"
    finally:
        ui.close()


def test_api_key_is_asked_once_and_sent_as_a_bearer_token(browser, models_home, tmp_path):
    server = LiveServer(new_home(tmp_path / "home", models_home), "--no-preload", "--api-key", "s3cret-key")
    ui = Page(browser, server)
    try:
        page = ui.open("chat")  # the page itself is public
        page.wait_for_selector("dialog[open] >> text=API key")
        page.get_by_label("Key", exact=True).fill("s3cret-key")
        page.get_by_role("button", name="Use this key").click()
        wait_js(page, "[...document.querySelectorAll('.settings select option')].some(o => o.value === 'smollm2-135m')")
        assert page.locator("dialog[open]").count() == 0
        headers = page.evaluate("""async () => (await fetch('/v1/conversations', {headers:
            {Authorization: 'Bearer ' + sessionStorage.getItem('cupola.apiKey')}})).status""")
        assert headers == 200
        assert not any("s3cret" in url for url in ui.requests)  # never in a URL
        assert httpx.get(server.url + "/v1/conversations").status_code == 401
    finally:
        ui.close()
        server.stop()
