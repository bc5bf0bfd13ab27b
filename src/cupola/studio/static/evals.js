// Evaluations: the runs the server knows (GET /api/evals) and their self-contained HTML reports.
import { html, useState } from "./lib.js";
import { api, apiKey, authHeaders, ApiError } from "./api.js";
import { ErrorBox, Empty, StatusBadge, fmtTime, useLoad } from "./ui.js";

async function openReport(id) {
  // With an API key the report is fetched with the bearer header and opened as a local copy:
  // a key never goes into a URL.
  const resp = await fetch(`/api/evals/${encodeURIComponent(id)}/report`, { headers: authHeaders() });
  if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => ({})));
  const url = URL.createObjectURL(new Blob([await resp.text()], { type: "text/html" }));
  window.open(url, "_blank", "noopener");
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

export function EvalsPage() {
  const runs = useLoad(() => api("/api/evals"), []);
  const [error, setError] = useState(null);
  const list = runs.data ? (Array.isArray(runs.data) ? runs.data : runs.data.data || runs.data.runs || []) : [];
  return html`<section aria-label="Evaluations">
    <h1>Evaluations</h1>
    <${ErrorBox} error=${runs.error || error} />
    ${runs.data && list.length === 0 && html`<${Empty}>No evaluation runs yet.</${Empty}>`}
    ${list.length > 0 && html`<div class="table-wrap"><table>
      <thead><tr><th>Run</th><th>Description</th><th>Created</th><th>Status</th><th class="num">Pass rate</th><th>Report</th></tr></thead>
      <tbody>${list.map((r) => html`<tr key=${r.id}>
        <td><code>${r.id}</code></td><td>${r.description}</td><td class="small">${fmtTime(r.created_at)}</td>
        <td><${StatusBadge} status=${r.status} /></td>
        <td class="num">${r.pass_rate == null ? "—" : `${(100 * r.pass_rate).toFixed(1)}%`}</td>
        <td>${apiKey()
          ? html`<button type="button" class="small" onClick=${() => openReport(r.id).catch(setError)}>Open report</button>`
          : html`<a href=${`/api/evals/${encodeURIComponent(r.id)}/report`} target="_blank" rel="noopener">Open report</a>`}</td>
      </tr>`)}</tbody></table></div>`}
  </section>`;
}
