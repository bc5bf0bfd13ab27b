"""The HTML report opened in a real headless Chromium: no console errors, nothing fetched, plots and
details present, the filters work. JUnit XML parses and counts right."""

from __future__ import annotations

import asyncio
import json
import os
import random
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cupola.client import FunctionClient
from cupola.config import Settings
from cupola.evals import results
from cupola.evals.junit import junit_xml
from cupola.evals.loader import load_eval
from cupola.evals.report import html_report
from cupola.evals.runner import EvalRunner, run_to_end
from cupola.evals.store import EvalStore
from cupola.evals.targets import EvalEnv

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def rich_document(tmp_path) -> dict:
    """A run with passes, flaky cells, failures, an erroring target, a judge, tools and <script> in outputs."""
    (tmp_path / "eval.yaml").write_text(textwrap.dedent("""\
        description: "report <check> & co"
        judge: judge-model
        targets:
          - {id: steady, model: m, system: steady, prompt: "{q}"}
          - {id: coin, model: m, system: coin, prompt: "{q}"}
          - {id: broken, model: m, system: broken, prompt: "{q}"}
        tests:
          - vars: {q: "<script>alert(1)</script>"}
            assert:
              - {type: contains, value: "yes"}
              - {type: rubric, value: "Says yes", weight: 0.5}
          - vars: {q: second}
            metadata: {tags: [b]}
            assert: [{type: contains, value: "yes"}]
    """))

    def fn(messages, params):
        if messages[0]["content"].startswith("You are a strict grader"):
            return json.dumps({"score": 7, "pass": True, "reason": "it <b>does</b>"})
        kind = messages[0]["content"]
        if kind == "broken":
            raise RuntimeError("upstream down")
        if kind == "coin":
            return "yes" if random.Random(params["seed"]).random() < 0.5 else "no </pre><img src=x onerror=alert(1)>"
        return "yes"

    env = EvalEnv(FunctionClient(fn), Settings(home=tmp_path / "home"))
    store = EvalStore(tmp_path / "evals.db")
    last = asyncio.run(run_to_end(EvalRunner(env, store).run(load_eval(tmp_path / "eval.yaml"), repeat=4)))
    doc = results.document(store.run(last["run_id"]), store.samples(last["run_id"]))
    store.close()
    return doc


def test_junit_xml(tmp_path):
    doc = rich_document(tmp_path)
    root = ET.fromstring(junit_xml(doc))
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"steady", "coin", "broken"}
    assert suites["steady"].get("failures") == "0" and suites["broken"].get("errors") == "2"
    assert root.get("tests") == "6"
    error = suites["broken"].find("testcase/error").get("message")
    assert "0/4 repeats passed" in error and "upstream down" in error


@pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"), reason="needs Debian's chromium")
def test_report_opens_in_headless_chromium_without_errors(tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    doc = rich_document(tmp_path)
    calibrations = {a["judge_key"]: {"description": "judge check", "accuracy": 0.8, "kappa": 0.6, "graded": 20}
                    for t in doc["targets"] for c in t["tests"] for s in c["repeats"] for a in s["assertions"]
                    if a.get("judge_key")}
    page_path = tmp_path / "report.html"
    page_path.write_text(html_report(doc, calibrations))
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        problems, requests = [], []
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("dialog", lambda d: (problems.append(f"dialog {d.message}"), d.dismiss()))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        assert problems == [] and requests == [page_path.as_uri()]  # self-contained: nothing else fetched
        assert page.title() == "report <check> & co — Cupola eval"
        assert page.locator("svg").count() >= 3
        assert page.locator("svg[aria-label='pass rate per target'] rect").count() == 3
        assert page.locator("svg[aria-label='latency per target'] circle").count() == 16  # 2 targets x 2 x 4
        assert page.locator("text=judge vs humans: accuracy 80%").count() > 0
        assert page.locator("#shown").inner_text() == "2 shown"
        page.fill("#search", "second")
        assert page.locator("#shown").inner_text() == "1 shown"
        page.fill("#search", "")
        page.check("#only-failing")
        assert page.locator("#shown").inner_text() == "2 shown"  # both tests fail somewhere (broken target)
        page.locator("a.cell").first.click()
        assert page.locator("details#test-0").get_attribute("open") is not None
        assert "<script>alert(1)</script>" in page.locator("details#test-0 summary").inner_text()
        assert problems == []
        browser.close()
