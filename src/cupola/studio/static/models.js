// Models: the catalog (sizes, what is pulled), pull with live progress, load / unload / remove,
// and what is resident now with its keep-alive countdown and running / queued requests.
import { html, useState, useEffect } from "./lib.js";
import { api, ndjson, inBandError, StreamDropped, describe } from "./api.js";
import { ErrorBox, Empty, Progress, StatusBadge, fmtBytes, fmtTime, usePoll, useLoad } from "./ui.js";

function useNow(ms = 1000) {
  const [now, setNow] = useState(Date.now() / 1000);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now() / 1000), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

function countdown(expires, now) {
  if (expires == null) return "stays loaded";
  const left = Math.max(0, Math.round(expires - now));
  const m = Math.floor(left / 60);
  return `unloads in ${m ? `${m} min ` : ""}${left % 60} s`;
}

function Resident({ models, now }) {
  if (!models.length) return html`<${Empty}>No model is loaded; models load on their first request.</${Empty}>`;
  return html`<div class="table-wrap"><table aria-label="Loaded models">
    <thead><tr><th>Model</th><th>Kind</th><th class="num">Running</th><th class="num">Queued</th><th>Keep-alive</th><th>Last used</th></tr></thead>
    <tbody>${models.map((m) => html`<tr key=${m.model}>
      <td><strong>${m.model}</strong></td><td>${m.kind}</td><td class="num">${m.running}</td><td class="num">${m.queued}</td>
      <td class="countdown">${countdown(m.expires_at, now)}</td><td class="small">${fmtTime(m.last_used)}</td></tr>`)}</tbody>
  </table></div>`;
}

function Pull({ alias, onDone }) {
  const [state, setState] = useState(null);
  const start = async () => {
    setState({ status: "starting" });
    let done = false;
    try {
      for await (const ev of ndjson("/api/models/pull", { model: alias })) {
        if (ev.status === "error") throw inBandError(ev);
        setState(ev);
        if (ev.status === "success") done = true;
      }
      if (!done) throw new StreamDropped();
      onDone();
    } catch (err) {
      setState({ status: "error", error: describe(err) });
    }
  };
  if (!state) return html`<button type="button" class="small primary" onClick=${start} aria-label=${`Pull ${alias}`}>Pull</button>`;
  if (state.status === "error") {
    return html`<span class="error-text" role="alert">${state.error}</span>
      <button type="button" class="small" onClick=${start}>Retry</button>`;
  }
  if (state.status === "success") return html`<span class="result-ok">pulled</span>`;
  return html`<div class="pull" aria-live="polite" aria-label=${`pulling ${alias}`}>
    <${Progress} value=${state.completed || 0} max=${state.total || 0} label=${`download of ${alias}`} />
    <span class="muted small">${state.file ? `${state.file}: ${fmtBytes(state.completed)} of ${fmtBytes(state.total)}` : "starting…"}</span>
  </div>`;
}

export function ModelsPage() {
  const [version, setVersion] = useState(0);
  const catalog = useLoad(() => api("/api/models"), [version]);
  const [ps, setPs] = useState([]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(null);
  const now = useNow();
  usePoll(async () => setPs((await api("/api/ps")).models), 2000, [version]);
  const act = async (alias, what) => {
    if (what === "remove" && !window.confirm(`Remove the local files of ${alias}?`)) return;
    setBusy(alias);
    setError(null);
    try {
      if (what === "remove") await api(`/api/models/${encodeURIComponent(alias)}`, { method: "DELETE" });
      else await api(`/api/models/${encodeURIComponent(alias)}/${what}`, { method: "POST", body: {} });
      setVersion((v) => v + 1);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(null);
    }
  };
  const models = catalog.data?.models || [];
  return html`<section aria-label="Models">
    <h1>Models</h1>
    <h2>Loaded now</h2>
    <${Resident} models=${ps} now=${now} />
    <h2>Catalog</h2>
    <${ErrorBox} error=${catalog.error || error} />
    <div class="table-wrap"><table aria-label="Model catalog">
      <thead><tr><th>Model</th><th>Kind</th><th>Format</th><th class="num">Size</th><th>State</th><th>Actions</th></tr></thead>
      <tbody>${models.map((m) => html`<tr key=${m.alias} data-model=${m.alias}>
        <td><strong>${m.alias}</strong><br /><span class="muted small">${m.description}${m.license ? ` · ${m.license}` : ""}</span></td>
        <td>${m.kind}</td><td>${m.format}${m.quantization ? ` ${m.quantization}` : ""}</td>
        <td class="num">${fmtBytes(m.size)}</td>
        <td>${m.loaded ? html`<${StatusBadge} status="loaded" />` : m.pulled ? html`<${StatusBadge} status="ok" />` : html`<span class="muted">not pulled</span>`}
          ${m.pulled && html`<br /><span class="muted small">${m.pulled ? `from ${m.source}` : ""}</span>`}</td>
        <td><div class="row">
          ${!m.pulled && (m.sources.length ? html`<${Pull} alias=${m.alias} onDone=${() => setVersion((v) => v + 1)} />`
            : html`<span class="muted small">no source</span>`)}
          ${m.pulled && !m.loaded && html`<button type="button" class="small" disabled=${busy === m.alias} aria-label=${`Load ${m.alias}`} onClick=${() => act(m.alias, "load")}>Load</button>`}
          ${m.loaded && html`<button type="button" class="small" disabled=${busy === m.alias} aria-label=${`Unload ${m.alias}`} onClick=${() => act(m.alias, "unload")}>Unload</button>`}
          ${m.pulled && html`<button type="button" class="small ghost danger" disabled=${busy === m.alias}
            aria-label=${`Remove ${m.alias}`} onClick=${() => act(m.alias, "remove")}>Remove</button>`}
        </div></td>
      </tr>`)}</tbody>
    </table></div>
  </section>`;
}
