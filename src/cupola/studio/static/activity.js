// Activity: live charts from the server's Prometheus metrics (requests, tokens/s, time to first
// token, queue depth) and the request log with filters and each request's details.
import { html, useState, useRef } from "./lib.js";
import { api, authHeaders, ApiError } from "./api.js";
import { ErrorBox, Empty, Json, StatusBadge, fmtMs, fmtTime, usePoll } from "./ui.js";

const POINTS = 60;
const EVERY = 2000;

export function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const kv of (m[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[kv[1]] = kv[2];
    out.push({ name: m[1], labels, value: parseFloat(m[3]) });
  }
  return out;
}

function total(metrics, name, filter = () => true) {
  return metrics.filter((m) => m.name === name && filter(m.labels)).reduce((a, m) => a + m.value, 0);
}

function snapshot(metrics) {
  return {
    t: performance.now(),
    requests: total(metrics, "cupola_requests_total"),
    tokens: total(metrics, "cupola_tokens_total", (l) => l.kind === "completion"),
    ttftSum: total(metrics, "cupola_time_to_first_token_seconds_sum"),
    ttftCount: total(metrics, "cupola_time_to_first_token_seconds_count"),
    queue: total(metrics, "cupola_queue_depth"),
    running: total(metrics, "cupola_requests_running"),
  };
}

function Chart({ label, unit, points, digits = 1 }) {
  const values = points.map((p) => p ?? 0);
  const max = Math.max(1e-9, ...values);
  const xy = values.map((v, i) => `${(100 * i) / (POINTS - 1)},${30 - (28 * v) / max - 1}`);
  const last = points.length ? points[points.length - 1] : null;
  return html`<figure class="card chart" aria-label=${`${label}: ${last == null ? "no data" : last.toFixed(digits) + " " + unit}`}>
    <figcaption class="muted small">${label}</figcaption>
    <div class="value">${last == null ? "—" : last.toFixed(digits)} <span class="muted small">${unit}</span></div>
    <svg viewBox="0 0 100 30" preserveAspectRatio="none" aria-hidden="true">
      ${xy.length > 1 && html`<polygon class="area" points=${`0,30 ${xy.join(" ")} ${(100 * (xy.length - 1)) / (POINTS - 1)},30`} />`}
      ${xy.length > 1 && html`<polyline points=${xy.join(" ")} vector-effect="non-scaling-stroke" />`}
    </svg>
    <div class="muted small">peak ${max > 1e-6 ? max.toFixed(digits) : 0} ${unit} · last ${Math.round((POINTS * EVERY) / 1000)} s</div>
  </figure>`;
}

function LiveCharts() {
  const previous = useRef(null);
  const [series, setSeries] = useState({ rps: [], tps: [], ttft: [], queue: [] });
  const [error, setError] = useState(null);
  usePoll(async () => {
    let text;
    try {
      const resp = await fetch("/metrics", { headers: authHeaders() });
      if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => ({})));
      text = await resp.text();
      setError(null);
    } catch (err) {
      setError(err);
      return;
    }
    const now = snapshot(parseMetrics(text));
    const before = previous.current;
    previous.current = now;
    if (!before) return;
    const dt = (now.t - before.t) / 1000;
    const push = (list, v) => [...list, v].slice(-POINTS);
    const dCount = now.ttftCount - before.ttftCount;
    setSeries((s) => ({
      rps: push(s.rps, (now.requests - before.requests) / dt),
      tps: push(s.tps, (now.tokens - before.tokens) / dt),
      ttft: push(s.ttft, dCount > 0 ? (1000 * (now.ttftSum - before.ttftSum)) / dCount : null),
      queue: push(s.queue, now.queue),
    }));
  }, EVERY, []);
  return html`<section aria-label="Live metrics">
    <${ErrorBox} error=${error} />
    <div class="chart-grid">
      <${Chart} label="Requests" unit="req/s" points=${series.rps} digits=${2} />
      <${Chart} label="Tokens generated" unit="tok/s" points=${series.tps} />
      <${Chart} label="Time to first token (mean)" unit="ms" points=${series.ttft} digits=${0} />
      <${Chart} label="Queue depth" unit="waiting" points=${series.queue} digits=${0} />
    </div>
  </section>`;
}

function Details({ record }) {
  const [contract, setContract] = useState(undefined);
  usePoll(async () => {
    try {
      setContract(await api(`/api/requests/${encodeURIComponent(record.id)}`));
    } catch {
      setContract(null); // no execution contracts on this server
    }
  }, 3600 * 1000, [record.id]);
  return html`<section class="card" aria-label="Request details">
    <h2>Request <code>${record.id}</code></h2>
    <${Json} value=${record} />
    ${contract && html`<h3>Execution contract</h3><${Json} value=${contract} />`}
  </section>`;
}

function RequestLog() {
  const [records, setRecords] = useState([]);
  const [error, setError] = useState(null);
  const [model, setModel] = useState("");
  const [status, setStatus] = useState("");
  const [selected, setSelected] = useState(null);
  usePoll(async () => {
    try {
      setRecords((await api("/api/requests?limit=500")).requests);
      setError(null);
    } catch (err) {
      setError(err);
    }
  }, 5000, []);
  const models = [...new Set(records.map((r) => r.model))].sort();
  const statuses = [...new Set(records.map((r) => r.status))].sort();
  const shown = records.filter((r) => (!model || r.model === model) && (!status || r.status === status));
  return html`<section aria-label="Request log">
    <h2>Requests</h2>
    <${ErrorBox} error=${error} />
    <div class="row">
      <span class="field inline"><select id="filter-model" value=${model} onChange=${(e) => setModel(e.target.value)}>
        <option value="">all models</option>${models.map((m) => html`<option value=${m}>${m}</option>`)}</select>
        <label for="filter-model">Model</label></span>
      <span class="field inline"><select id="filter-status" value=${status} onChange=${(e) => setStatus(e.target.value)}>
        <option value="">all statuses</option>${statuses.map((s) => html`<option value=${s}>${s}</option>`)}</select>
        <label for="filter-status">Status</label></span>
      <span class="muted small">${shown.length} of ${records.length}</span>
    </div>
    ${shown.length === 0 ? html`<${Empty}>No requests yet.</${Empty}>` : html`<div class="table-wrap"><table>
      <thead><tr><th>Time</th><th>Endpoint</th><th>Model</th><th>Status</th><th class="num">Prompt</th>
        <th class="num">Output</th><th class="num">First token</th><th class="num">Duration</th><th>Finish</th></tr></thead>
      <tbody>${shown.slice(0, 200).map((r) => html`<tr key=${r.id} class=${`clickable ${selected && selected.id === r.id ? "selected" : ""}`}
          tabindex="0" onClick=${() => setSelected(r)} onKeyDown=${(e) => e.key === "Enter" && setSelected(r)}
          aria-label=${`request ${r.id}`}>
        <td class="small">${fmtTime(r.created_at)}</td><td>${r.endpoint}${r.stream ? " (stream)" : ""}</td><td>${r.model}</td>
        <td><${StatusBadge} status=${r.status} /></td><td class="num">${r.prompt_tokens ?? "—"}</td>
        <td class="num">${r.completion_tokens ?? "—"}</td><td class="num">${fmtMs(r.ttft_ms)}</td>
        <td class="num">${fmtMs(r.duration_ms)}</td><td>${r.finish_reason || (r.error ? "error" : "—")}</td></tr>`)}</tbody>
    </table></div>`}
    ${selected && html`<${Details} key=${selected.id} record=${selected} />`}
  </section>`;
}

export function ActivityPage() {
  return html`<div>
    <h1>Activity</h1>
    <${LiveCharts} />
    <${RequestLog} />
  </div>`;
}
