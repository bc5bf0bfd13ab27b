"""Cupola Studio in a real browser: first paint of the chat page, shipped asset size, and how soon a
streamed token is on screen after its chunk arrives — next to the raw API, in one run.

Starts `cupola serve --port 0` on the embedded models (home: bench/.cupola-home, models pulled
there if missing) and Debian's Chromium through Playwright, then measures:

  page load   cold (new browser context, empty cache) and warm (same context, reload) loads of
              /#/chat: first contentful paint, largest contentful paint, and "ready" (the model
              picker filled from /v1/models: the page is usable), the median of --loads runs;
  assets      bytes the page loads (transfer size, gzip as served) and every shipped file gzipped;
  tokens      --turns chats of max_tokens 16 through the page: for each, the time from the chunk
              with the first token reaching the page's stream reader to the token painted
              (a requestAnimationFrame after the DOM update), and from the response's first byte
              (Resource Timing) to that paint; next to it, time to first token of the same request
              sent straight to the API with httpx (no browser; before or after the page's turn,
              alternately), and the page's end-to-end time to first token (Enter -> painted).

Writes bench/results/ui.{json,md}.

    .venv/bin/python bench/ui.py [--loads 5] [--turns 5] [--note "measured while the machine was shared"]
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
STATIC = ROOT / "src" / "cupola" / "studio" / "static"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
QUESTION = "Name one colour of the rainbow."

PAINTS = """() => new Promise(resolve => {
  const out = {fcp: null, lcp: null};
  for (const e of performance.getEntriesByType('paint')) if (e.name === 'first-contentful-paint') out.fcp = e.startTime;
  new PerformanceObserver(list => { for (const e of list.getEntries()) out.lcp = e.startTime; })
    .observe({type: 'largest-contentful-paint', buffered: true});
  const ready = performance.getEntriesByName('studio:models')[0];
  out.ready = ready ? ready.startTime : null;
  out.resources = performance.getEntriesByType('resource').map(r => ({name: r.name, transfer: r.transferSize,
    encoded: r.encodedBodySize, decoded: r.decodedBodySize}));
  const nav = performance.getEntriesByType('navigation')[0];
  out.document = {transfer: nav.transferSize, encoded: nav.encodedBodySize, decoded: nav.decodedBodySize};
  setTimeout(() => resolve(out), 300);
})"""

TOKEN_MARKS = """() => { const m = n => (performance.getEntriesByName(n).slice(-1)[0] || {}).startTime;
  const req = performance.getEntriesByType('resource').filter(r => r.name.endsWith('/v1/chat/completions')).slice(-1)[0];
  return {bytes: m('studio:first-bytes'), token: m('studio:first-token'), shown: m('studio:first-token-shown'),
          response_start: req ? req.responseStart : null, request_start: req ? req.startTime : null}; }"""


def wait_ready(page, timeout: float = 60) -> None:
    """Until the model picker lists the chat model (polled: the page's CSP forbids the eval that
    Playwright's wait_for_function uses)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate("() => [...document.querySelectorAll('.settings select option')]"
                            ".some(o => o.value === 'smollm2-135m')"):
        if time.monotonic() > deadline:
            raise SystemExit("the chat page did not list smollm2-135m")
        time.sleep(0.05)


def start_server(home: Path) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUPOLA_")}
    env["CUPOLA_HOME"] = str(home)
    log = open(home / "serve-ui.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "cupola", "serve", "--port", "0", "--parallel", "2"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {(home / 'serve-ui.log').read_text()[-2000:]}")
        try:
            info = json.loads((home / "server.json").read_text())
            if info["pid"] == proc.pid and httpx.get(info["url"] + "/health", timeout=2).status_code == 200:
                return proc, info["url"]
        except (FileNotFoundError, json.JSONDecodeError, KeyError, httpx.HTTPError):
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not become ready")


def shipped_assets() -> dict:
    files = [p for p in STATIC.rglob("*") if p.is_file()]
    raw = sum(p.stat().st_size for p in files)
    packed = sum(len(gzip.compress(p.read_bytes(), 9)) for p in files)
    return {"files": len(files), "bytes": raw, "gzip_bytes": packed}


def api_ttft(url: str) -> float:
    body = {"model": "smollm2-135m", "messages": [{"role": "user", "content": QUESTION}], "max_tokens": 16,
            "stream": True}
    started = time.perf_counter()
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=120) as resp:
        for line in resp.iter_lines():
            if line.startswith("data: {") and json.loads(line[6:])["choices"][0]["delta"].get("content"):
                return (time.perf_counter() - started) * 1000
    raise RuntimeError("no token")


def median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 1) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=BENCH / ".cupola-home")
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--note", default="")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from cupola.models.store import ModelStore

    args.home.mkdir(parents=True, exist_ok=True)
    store = ModelStore(args.home / "models")
    for alias in ("smollm2-135m", "minilm-l6"):
        store.pull(alias)
    proc, url = start_server(args.home)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            cold, warm = [], []
            for _ in range(args.loads):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                page.goto(url + "/#/chat")
                wait_ready(page)
                cold.append(page.evaluate(PAINTS))
                page.reload()
                wait_ready(page)
                warm.append(page.evaluate(PAINTS))
                context.close()
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(url + "/#/chat")
            wait_ready(page)
            page.get_by_label("Max tokens").fill("16")
            turns = []
            for i in range(args.turns):
                direct = api_ttft(url) if i % 2 == 0 else None  # alternate which goes first
                page.get_by_role("button", name="New chat").click()
                page.fill("#composer-input", QUESTION)
                sent = page.evaluate("performance.now()")
                page.keyboard.press("Enter")
                page.wait_for_selector("article.msg.assistant footer", timeout=120_000)
                marks = page.evaluate(TOKEN_MARKS)
                if direct is None:
                    direct = api_ttft(url)
                turns.append({
                    "chunk_to_paint_ms": marks["shown"] - marks["token"],
                    "first_byte_to_paint_ms": (marks["shown"] - marks["response_start"]
                                               if marks["response_start"] else None),
                    "page_ttft_ms": marks["shown"] - sent,
                    "send_to_request_ms": marks["request_start"] - sent if marks["request_start"] else None,
                    "api_ttft_ms": direct,
                })
            context.close()
            browser.close()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()

    first = cold[0]
    loaded = [r for r in first["resources"] if "/studio/" in r["name"]]
    page_transfer = first["document"]["transfer"] + sum(r["transfer"] for r in loaded)
    page_decoded = first["document"]["decoded"] + sum(r["decoded"] for r in loaded)
    result = {
        "when": datetime.datetime.now().isoformat(timespec="seconds"), "note": args.note,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores", "url_paths_loaded": len(loaded) + 1,
        "cold": {k: median([r[k] for r in cold]) for k in ("fcp", "lcp", "ready")},
        "warm": {k: median([r[k] for r in warm]) for k in ("fcp", "lcp", "ready")},
        "page_bytes": {"transfer": page_transfer, "decoded": page_decoded},
        "shipped": shipped_assets(),
        "turns": turns,
        "tokens": {k: {"median": median([t[k] for t in turns]), "max": round(max(t[k] for t in turns if t[k] is not None), 1)}
                   for k in ("chunk_to_paint_ms", "first_byte_to_paint_ms", "send_to_request_ms", "page_ttft_ms",
                             "api_ttft_ms")},
    }
    t = result["tokens"]
    result["ratio_page_to_api_ttft"] = round(t["page_ttft_ms"]["median"] / t["api_ttft_ms"]["median"], 3)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ui.json").write_text(json.dumps(result, indent=2) + "\n")
    kb = lambda n: f"{n / 1000:.1f} KB"  # noqa: E731
    lines = [
        "# Cupola Studio in Chromium",
        "",
        f"{result['when']}, {result['machine']}. {args.note}".strip(),
        "",
        f"Chat page (`/#/chat`), median of {args.loads} loads; \"ready\" = the model picker filled from /v1/models.",
        "",
        "| load | first contentful paint | largest contentful paint | ready |",
        "|---|---|---|---|",
        *(f"| {name} | {r['fcp']} ms | {r['lcp']} ms | {r['ready']} ms |" for name, r in
          (("cold (empty cache)", result["cold"]), ("warm (revalidated)", result["warm"]))),
        "",
        f"Assets: the page loads {result['url_paths_loaded']} files, {kb(page_transfer)} transferred "
        f"(gzip as served; {kb(page_decoded)} uncompressed). Everything shipped in the package "
        f"({result['shipped']['files']} files, licenses included): {kb(result['shipped']['gzip_bytes'])} gzip, "
        f"{kb(result['shipped']['bytes'])} raw. Target: <= 500 KB gzip.",
        "",
        f"Streaming, {args.turns} chats of max_tokens 16 through the page (median / max):",
        "",
        "| measure | median | max |",
        "|---|---|---|",
        f"| first token's chunk read by the page -> painted | {t['chunk_to_paint_ms']['median']} ms | {t['chunk_to_paint_ms']['max']} ms |",
        f"| response's first byte (Resource Timing) -> first token painted | {t['first_byte_to_paint_ms']['median']} ms | {t['first_byte_to_paint_ms']['max']} ms |",
        f"| page: Enter -> chat request sent | {t['send_to_request_ms']['median']} ms | {t['send_to_request_ms']['max']} ms |",
        f"| page: Enter -> first token painted | {t['page_ttft_ms']['median']} ms | {t['page_ttft_ms']['max']} ms |",
        f"| API alone (httpx): send -> first token | {t['api_ttft_ms']['median']} ms | {t['api_ttft_ms']['max']} ms |",
        "",
        f"Page vs API time to first token: {result['ratio_page_to_api_ttft']}x. Target: a token is on screen "
        "within 100 ms of its chunk. The page's own share is the first three rows; the end-to-end times are "
        "the model's, and on a loaded machine they vary by seconds from one request to the next.",
        "",
        "Reproduce: `.venv/bin/python bench/ui.py` (needs /usr/bin/chromium and the test extra).",
    ]
    (RESULTS / "ui.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
