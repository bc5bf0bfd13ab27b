"""The HTML report: one self-contained file (inline CSS, JS and SVG; nothing fetched).

It shows the run's numbers per target, plots (pass rate with its 95% interval, the distribution
of scores, latency), the matrix of targets x tests, and every test's outputs per repeat with each
assertion's result and reason; model-graded results show their grader's calibration (agreement
with human labels) when there is one.
"""

from __future__ import annotations

import datetime as _dt
import json
from html import escape
from typing import Any

from cupola.evals import stats

MAX_OUTPUT = 4000  # characters of each output shown (the JSON has them whole)
COLORS = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#be185d", "#4d7c0f"]

CSS = """
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#111827;
background:#f9fafb}header{background:#111827;color:#f9fafb;padding:18px 28px}header h1{margin:0 0 4px;font-size:20px}
header .meta{color:#9ca3af;font-size:13px}main{padding:20px 28px;max-width:1400px}section{background:#fff;
border:1px solid #e5e7eb;border-radius:8px;padding:16px 20px;margin-bottom:18px}h2{font-size:16px;margin:0 0 12px}
table{border-collapse:collapse;width:100%}th,td{padding:6px 8px;border-bottom:1px solid #f3f4f6;text-align:left;
vertical-align:top}th{font-weight:600;color:#374151;background:#f9fafb}td.num,th.num{text-align:right;
font-variant-numeric:tabular-nums}.cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:18px}.card{background:#fff;
border:1px solid #e5e7eb;border-radius:8px;padding:10px 16px;min-width:130px}.card b{display:block;font-size:22px}
.card span{color:#6b7280;font-size:12px}.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));
gap:16px}.chart svg{width:100%;height:auto;max-width:560px}.chart h3{font-size:13px;margin:0 0 6px;color:#374151}
svg text{font:11px system-ui,sans-serif;fill:#374151}
.cell{display:inline-block;min-width:58px;padding:2px 8px;border-radius:4px;text-align:center;font-weight:600;
text-decoration:none;color:#111827}.pass{background:#bbf7d0}.fail{background:#fecaca}.part{background:#fde68a}
.err{background:#e5e7eb;color:#6b7280}.flaky{font-size:11px;color:#92400e;margin-left:4px}details{border-top:1px solid
#f3f4f6;padding:6px 0}summary{cursor:pointer;font-weight:600}pre{white-space:pre-wrap;word-break:break-word;
background:#f3f4f6;padding:8px;border-radius:4px;margin:4px 0;max-height:320px;overflow:auto;font-size:12px}
.ok{color:#047857}.bad{color:#b91c1c}.muted{color:#6b7280}.cal{font-size:12px;color:#1e40af;background:#eff6ff;
padding:1px 6px;border-radius:4px}.repeat{margin:8px 0 12px 16px}.controls{margin-bottom:10px;display:flex;gap:16px;
align-items:center}.controls input[type=search]{padding:4px 8px;border:1px solid #d1d5db;border-radius:4px;width:260px}
.hidden{display:none}
"""

JS = """
(function(){
  var box=document.getElementById('only-failing'),search=document.getElementById('search');
  function apply(){
    var q=(search.value||'').toLowerCase(),only=box.checked,shown=0;
    document.querySelectorAll('[data-test]').forEach(function(el){
      var hide=(only&&el.getAttribute('data-failing')!=='1')||(q&&el.getAttribute('data-label').indexOf(q)<0);
      el.classList.toggle('hidden',hide);if(!hide&&el.tagName==='DETAILS'){shown++;}
    });
    document.getElementById('shown').textContent=shown+' shown';
  }
  box.addEventListener('change',apply);search.addEventListener('input',apply);
  document.querySelectorAll('a.cell').forEach(function(a){a.addEventListener('click',function(){
    var d=document.getElementById(a.getAttribute('href').slice(1));if(d){d.open=true;}});});
  apply();
})();
"""


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def _num(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _when(ts: float | None) -> str:
    return "–" if not ts else _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _color(i: int) -> str:
    return COLORS[i % len(COLORS)]


# -- charts ----------------------------------------------------------------------------------------

def pass_rate_chart(targets: list[dict[str, Any]]) -> str:
    row, left, width = 26, 150, 300
    h = row * len(targets) + 30
    parts = [f'<svg role="img" aria-label="pass rate per target" width="{left + width + 60}" height="{h}" '
             f'viewBox="0 0 {left + width + 60} {h}">']
    for tick in (0, 0.25, 0.5, 0.75, 1):
        x = left + tick * width
        parts.append(f'<line x1="{x}" y1="4" x2="{x}" y2="{h - 22}" stroke="#e5e7eb"/>'
                     f'<text x="{x}" y="{h - 8}" text-anchor="middle">{int(tick * 100)}%</text>')
    for i, t in enumerate(targets):
        y = 8 + i * row
        rate = t.get("pass_rate") or 0.0
        parts.append(f'<text x="{left - 8}" y="{y + 13}" text-anchor="end">{escape(t["id"][:24])}</text>'
                     f'<rect x="{left}" y="{y}" width="{rate * width:.1f}" height="16" fill="{_color(i)}" rx="2">'
                     f'<title>{escape(t["id"])}: {_pct(t.get("pass_rate"))}</title></rect>')
        ci = t.get("pass_rate_ci95")
        if ci and ci[0] is not None:
            x0, x1 = left + ci[0] * width, left + ci[1] * width
            parts.append(f'<line x1="{x0:.1f}" y1="{y + 8}" x2="{x1:.1f}" y2="{y + 8}" stroke="#111827"/>'
                         f'<line x1="{x0:.1f}" y1="{y + 3}" x2="{x0:.1f}" y2="{y + 13}" stroke="#111827"/>'
                         f'<line x1="{x1:.1f}" y1="{y + 3}" x2="{x1:.1f}" y2="{y + 13}" stroke="#111827"/>')
        parts.append(f'<text x="{left + width + 8}" y="{y + 13}">{_pct(t.get("pass_rate"))}</text>')
    return "".join(parts) + "</svg>"


def score_histograms(targets: list[dict[str, Any]], bins: int = 10) -> str:
    cw, ch, gap = 150, 80, 24
    per_row = 3
    rows = (len(targets) + per_row - 1) // per_row
    w, h = per_row * (cw + gap), rows * (ch + 44)
    parts = [f'<svg role="img" aria-label="score distribution per target" width="{w}" height="{h}" '
             f'viewBox="0 0 {w} {h}">']
    for i, t in enumerate(targets):
        ox, oy = (i % per_row) * (cw + gap) + 4, (i // per_row) * (ch + 44) + 16
        scores = [s["score"] for c in t["tests"] for s in c["repeats"] if s.get("score") is not None]
        counts = [0] * bins
        for s in scores:
            counts[min(bins - 1, int(s * bins))] += 1
        top = max(counts) or 1
        parts.append(f'<text x="{ox}" y="{oy - 4}">{escape(t["id"][:24])} (n={len(scores)})</text>'
                     f'<line x1="{ox}" y1="{oy + ch}" x2="{ox + cw}" y2="{oy + ch}" stroke="#9ca3af"/>')
        bw = cw / bins
        for b, n in enumerate(counts):
            bh = ch * n / top
            parts.append(f'<rect x="{ox + b * bw + 1:.1f}" y="{oy + ch - bh:.1f}" width="{bw - 2:.1f}" '
                         f'height="{bh:.1f}" '
                         f'fill="{_color(i)}"><title>scores {b / bins:.1f}–{(b + 1) / bins:.1f}: {n}</title></rect>')
        parts.append(f'<text x="{ox}" y="{oy + ch + 14}">0</text>'
                     f'<text x="{ox + cw}" y="{oy + ch + 14}" text-anchor="end">1</text>')
    return "".join(parts) + "</svg>"


def latency_chart(targets: list[dict[str, Any]]) -> str:
    row, left, width = 30, 150, 320
    values = {t["id"]: [s["latency_ms"] for c in t["tests"] for s in c["repeats"]
                        if s.get("latency_ms") is not None and s["status"] != "error"] for t in targets}
    top = max([v for vs in values.values() for v in vs] or [1.0])
    h = row * len(targets) + 30
    parts = [f'<svg role="img" aria-label="latency per target" width="{left + width + 70}" height="{h}" '
             f'viewBox="0 0 {left + width + 70} {h}">']
    for k in range(5):
        x = left + k * width / 4
        parts.append(f'<line x1="{x}" y1="4" x2="{x}" y2="{h - 22}" stroke="#e5e7eb"/>'
                     f'<text x="{x}" y="{h - 8}" text-anchor="middle">{top * k / 4 / 1000:.1f}s</text>')
    for i, t in enumerate(targets):
        vs = values[t["id"]]
        y = 10 + i * row
        parts.append(f'<text x="{left - 8}" y="{y + 12}" text-anchor="end">{escape(t["id"][:24])}</text>')
        if not vs:
            continue
        q = [stats.percentile(vs, p) or 0.0 for p in (0, 25, 50, 75, 100)]
        xs = [left + v / top * width for v in q]
        parts.append(f'<line x1="{xs[0]:.1f}" y1="{y + 8}" x2="{xs[4]:.1f}" y2="{y + 8}" stroke="#6b7280"/>'
                     f'<rect x="{xs[1]:.1f}" y="{y}" width="{max(xs[3] - xs[1], 1):.1f}" height="16" '
                     f'fill="{_color(i)}" '
                     f'fill-opacity="0.35" stroke="{_color(i)}"><title>p25 {q[1]:.0f} ms, median {q[2]:.0f} ms, '
                     f'p75 {q[3]:.0f} ms</title></rect>'
                     f'<line x1="{xs[2]:.1f}" y1="{y}" x2="{xs[2]:.1f}" y2="{y + 16}" stroke="#111827" '
                     'stroke-width="2"/>')
        for j, v in enumerate(vs[:400]):
            jitter = (j * 7 % 13) - 6
            parts.append(f'<circle cx="{left + v / top * width:.1f}" cy="{y + 8 + jitter * 0.9:.1f}" r="1.8" '
                         f'fill="{_color(i)}" fill-opacity="0.7"/>')
        parts.append(f'<text x="{left + width + 8}" y="{y + 12}">p50 {q[2] / 1000:.2f}s</text>')
    return "".join(parts) + "</svg>"


# -- tables ----------------------------------------------------------------------------------------

def _cell_class(cell: dict[str, Any]) -> str:
    if not cell or not cell.get("n"):
        return "err"
    if cell["errors"] == cell["n"]:
        return "err"
    if cell["passed"] == cell["n"]:
        return "pass"
    return "fail" if cell["passed"] == 0 else "part"


def _cell_text(cell: dict[str, Any]) -> str:
    if not cell or not cell.get("n"):
        return "–"
    if cell["errors"] == cell["n"]:
        return "error"
    return f'{cell["passed"]}/{cell["n"]}' if cell["n"] > 1 else ("pass" if cell["passed"] else "fail")


def _targets_table(targets: list[dict[str, Any]], n: int) -> str:
    head = ("<tr><th>target</th><th>kind</th><th>model</th><th class=num>pass rate</th><th class=num>95% CI</th>"
            f"<th class=num>mean score ± std</th><th class=num>pass@{n}</th><th class=num>pass^{n}</th>"
            "<th class=num>flaky</th><th class=num>errors</th><th class=num>latency p50 / p95</th>"
            "<th class=num>tokens (mean)</th><th class=num>cost</th></tr>")
    rows = []
    for t in targets:
        ci = t.get("pass_rate_ci95") or [None, None]
        lat = t.get("latency_ms") or {}
        rows.append(
            f"<tr><td><b>{escape(t['id'])}</b><div class=muted>{escape(t.get('description') or '')}</div></td>"
            f"<td>{escape(t.get('kind') or '')}</td><td>{escape(str(t.get('alias') or '–'))}</td>"
            f"<td class=num>{_pct(t.get('pass_rate'))}</td><td class=num>{_pct(ci[0])}–{_pct(ci[1])}</td>"
            f"<td class=num>{_num(t.get('mean_score'))} ± {_num(t.get('std'))}</td>"
            f"<td class=num>{_pct(t.get('pass_at_n'))}</td><td class=num>{_pct(t.get('pass_hat_n'))}</td>"
            f"<td class=num>{t.get('flaky', 0)}</td><td class=num>{t.get('errors', 0)}</td>"
            f"<td class=num>{_num((lat.get('p50') or 0) / 1000)}s / {_num((lat.get('p95') or 0) / 1000)}s</td>"
            f"<td class=num>{_num((t.get('completion_tokens') or {}).get('mean'), 1)}</td>"
            f"<td class=num>{_num(t.get('cost'), 4)}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _matrix(doc: dict[str, Any]) -> str:
    targets = doc["targets"]
    head = "<tr><th>test</th>" + "".join(f"<th>{escape(t['id'])}</th>" for t in targets) + "</tr>"
    rows = []
    for i, test in enumerate(doc["tests"]):
        cells, failing = [], False
        for t in targets:
            cell = (test.get("results") or {}).get(t["id"]) or {}
            failing = failing or _cell_class(cell) != "pass"
            flaky = '<span class=flaky title="passed in some repeats, failed in others">flaky</span>' \
                if cell.get("flaky") else ""
            cells.append(f'<td><a class="cell {_cell_class(cell)}" href="#test-{i}">{_cell_text(cell)}</a>{flaky}</td>')
        label = test.get("label") or test["id"]
        rows.append(f'<tr data-test="{i}" data-failing="{int(failing)}" data-label="{escape(label.lower())}">'
                    f"<td>{escape(label)}</td>{''.join(cells)}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _assertions(sample: dict[str, Any], calibrations: dict[str, dict[str, Any]]) -> str:
    rows = []
    for a in sample.get("assertions") or []:
        mark = '<span class=muted>error</span>' if a.get("error") else \
            ('<span class=ok>pass</span>' if a.get("pass") else '<span class=bad>fail</span>')
        cal = calibrations.get(a.get("judge_key") or "")
        note = ""
        if cal:
            note = (f' <span class=cal title="{escape(cal.get("description") or "")}">judge vs humans: accuracy '
                    f'{_pct(cal.get("accuracy"))}, κ {_num(cal.get("kappa"))}, n={cal.get("graded")}</span>')
        elif a.get("judge_key"):
            note = ' <span class=muted>(judge not calibrated)</span>'
        rows.append(f"<tr><td>{escape(a.get('label') or a['type'])}{note}</td><td>{mark}</td>"
                    f"<td class=num>{_num(a.get('score'))}</td><td class=num>{a.get('weight', 1):g}</td>"
                    f"<td>{escape(str(a.get('reason') or ''))}</td></tr>")
    if not rows:
        return ""
    return ("<table><tr><th>assertion</th><th>result</th><th class=num>score</th><th class=num>weight</th>"
            f"<th>reason</th></tr>{''.join(rows)}</table>")


def _details(doc: dict[str, Any], calibrations: dict[str, dict[str, Any]]) -> str:
    out = []
    cells = {(t["id"], c["test"]): c for t in doc["targets"] for c in t["tests"]}
    for i, test in enumerate(doc["tests"]):
        label = test.get("label") or test["id"]
        failing = any(_cell_class(c or {}) != "pass" for c in (test.get("results") or {}).values())
        body = [f"<div class=muted>id {escape(test['id'])} · {escape(test.get('where') or '')}</div>",
                f"<pre>{escape(json.dumps(test.get('vars') or {}, ensure_ascii=False, indent=1))}</pre>"]
        if test.get("metadata"):
            body.append(f"<div class=muted>metadata: {escape(json.dumps(test['metadata'], ensure_ascii=False))}</div>")
        for t in doc["targets"]:
            cell = cells.get((t["id"], test["id"])) or {"repeats": []}
            body.append(f"<h3>{escape(t['id'])} <span class='cell {_cell_class(cell)}'>{_cell_text(cell)}</span> "
                        f"<span class=muted>mean {_num(cell.get('mean_score'))} ± {_num(cell.get('std'))}</span></h3>")
            for s in cell["repeats"]:
                status = {"passed": "ok", "failed": "bad"}.get(s["status"], "muted")
                extra = []
                if s.get("latency_ms") is not None:
                    extra.append(f"{s['latency_ms'] / 1000:.2f}s")
                if (s.get("tokens") or {}).get("completion") is not None:
                    extra.append(f"{s['tokens']['completion']} tokens")
                if s.get("cached"):
                    extra.append("cached")
                if s.get("tool_calls"):
                    extra.append("tools: " + ", ".join(c.get("name", "") for c in s["tool_calls"]))
                body.append(f"<div class=repeat><b class={status}>repeat {s['repeat'] + 1}: {s['status']}</b> "
                            f"<span class=muted>seed {s['seed']} · {' · '.join(extra)}</span>")
                if s.get("error"):
                    body.append(f"<pre class=bad>{escape(str(s['error']))}</pre>")
                if s.get("output") is not None:
                    text = str(s["output"])
                    cut = f"\n[... {len(text) - MAX_OUTPUT} more characters]" if len(text) > MAX_OUTPUT else ""
                    body.append(f"<pre>{escape(text[:MAX_OUTPUT] + cut)}</pre>")
                if s.get("sources"):
                    body.append("<div class=muted>sources: " + "; ".join(
                        f"[{x.get('n')}] {escape(str(x.get('doc_id')))}" for x in s["sources"]) + "</div>")
                body.append(_assertions(s, calibrations) + "</div>")
        out.append(f'<details id="test-{i}" data-test="{i}" data-failing="{int(failing)}" '
                   f'data-label="{escape(label.lower())}"><summary>{escape(label)}</summary>{"".join(body)}</details>')
    return "".join(out)


def html_report(doc: dict[str, Any], calibrations: dict[str, dict[str, Any]] | None = None) -> str:
    calibrations = calibrations or {}
    summary, options, targets = doc.get("summary") or {}, doc.get("options") or {}, doc["targets"]
    n = options.get("repeat", 1)
    title = escape(str(doc.get("description") or doc["id"]))
    cards = [("pass rate", _pct(summary.get("pass_rate"))), ("samples", summary.get("samples", 0)),
             ("failed", summary.get("failed", 0)), ("errors", summary.get("errors", 0)),
             ("flaky tests", summary.get("flaky", 0)), ("repeats", n)]
    used = sorted({a["judge_key"] for t in targets for c in t["tests"] for s in c["repeats"]
                   for a in s.get("assertions") or [] if a.get("judge_key")})
    cal_rows = "".join(f"<tr><td>{escape(c.get('description') or k)}</td><td class=num>{_pct(c.get('accuracy'))}</td>"
                       f"<td class=num>{_num(c.get('kappa'))}</td><td class=num>{_num(c.get('spearman'))}</td>"
                       f"<td class=num>{c.get('graded')}</td><td>{_when(c.get('created_at'))}</td></tr>"
                       for k in used if (c := calibrations.get(k)))
    cal_section = (f"<section><h2>Judge calibration</h2><table><tr><th>grader</th><th class=num>accuracy</th>"
                   f"<th class=num>Cohen's κ</th><th class=num>Spearman ρ</th><th class=num>labels</th>"
                   f"<th>when</th></tr>"
                   f"{cal_rows}</table></section>") if cal_rows else \
        ("<section><h2>Judge calibration</h2><p class=muted>The model-graded results of this run come from judges "
         "without a calibration: run <code>cupola eval calibrate JUDGE_FILE --labels LABELS.jsonl</code> to measure "
         "how far to trust them.</p></section>" if used else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>{title} — Cupola eval</title><style>{CSS}</style></head>
<body><header><h1>{title}</h1><div class="meta">run {escape(doc['id'])} · {escape(str(doc.get('status')))} ·
{_when(doc.get('created_at'))} · {escape(str(doc.get('source') or ''))} · seed {options.get('seed')} ·
concurrency {options.get('concurrency')}</div></header><main>
<div class="cards">{''.join(f'<div class="card"><b>{escape(str(v))}</b><span>{k}</span></div>' for k, v in cards)}</div>
<section><h2>Targets</h2>{_targets_table(targets, n)}</section>
<section><h2>Plots</h2><div class="charts">
<div class="chart"><h3>Pass rate (bar) with 95% Wilson interval</h3>{pass_rate_chart(targets)}</div>
<div class="chart"><h3>Latency per sample (box: quartiles, line: median)</h3>{latency_chart(targets)}</div>
<div class="chart"><h3>Score distribution</h3>{score_histograms(targets)}</div></div></section>
{cal_section}
<section><h2>Matrix</h2><div class="controls"><label><input type="checkbox" id="only-failing"> only tests that did not
pass everywhere</label><input type="search" id="search" placeholder="filter tests">
<span id="shown" class="muted"></span>
</div>{_matrix(doc)}</section>
<section><h2>Tests</h2>{_details(doc, calibrations)}</section>
</main><script>{JS}</script></body></html>
"""
