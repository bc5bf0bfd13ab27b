// Small shared pieces: formatting, error boxes, progress, highlighted text, JSON, data loading.
import { html, useState, useEffect, useCallback, useRef } from "./lib.js";
import { describe } from "./api.js";

export function fmtBytes(n) {
  if (n == null) return "—";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(n >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
}

export function fmtMs(ms) {
  if (ms == null) return "—";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

export function fmtTime(seconds) {
  if (!seconds) return "—";
  return new Date(seconds * 1000).toLocaleString();
}

export function fmtScore(x) {
  if (x == null) return "—";
  const v = Number(x);
  return v !== 0 && Math.abs(v) < 0.01 ? v.toPrecision(2) : v.toFixed(3);
}

export function ErrorBox({ error, onRetry }) {
  if (!error) return null;
  return html`<div class="error" role="alert">
    <span>${typeof error === "string" ? error : describe(error)}</span>
    ${onRetry && html`<button type="button" class="small" onClick=${onRetry}>Retry</button>`}
  </div>`;
}

export function Progress({ value, max, label }) {
  const pct = max ? Math.min(100, Math.round((100 * value) / max)) : null;
  return html`<div class="progress">
    <progress value=${pct ?? undefined} max="100" aria-label=${label}></progress>
    <span class="muted">${pct != null ? `${pct}%` : "…"}</span>
  </div>`;
}

const STOPWORDS = new Set(("a an and are as at be by for from has have how i in is it its of on or that the this to was " +
  "what when where which who why will with do does did can you your we our").split(" "));

// The text with the words that start with the query's words marked (as text nodes: never HTML).
export function Highlight({ text, terms }) {
  const words = [...new Set((terms || []).map((t) => t.toLowerCase()).filter((t) => t.length > 1 && !STOPWORDS.has(t)))];
  if (!words.length || !text) return text || "";
  const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const re = new RegExp(`(?<![\\p{L}\\p{N}])((?:${escaped.join("|")})[\\p{L}\\p{N}]*)`, "giu");
  return text.split(re).map((part, i) => (i % 2 ? html`<mark>${part}</mark>` : part));
}

export function queryTerms(query) {
  return (query || "").match(/[\p{L}\p{N}]+/gu) || [];
}

export function Json({ value }) {
  return html`<pre class="json">${JSON.stringify(value, null, 2)}</pre>`;
}

// Load data on mount (and when deps change): {data, error, loading, reload}.
export function useLoad(fn, deps = []) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const alive = useRef(true);
  const reload = useCallback(async () => {
    setState((s) => ({ ...s, loading: true }));
    try {
      const data = await fn();
      if (alive.current) setState({ data, error: null, loading: false });
    } catch (error) {
      if (alive.current) setState({ data: null, error, loading: false });
    }
  }, deps);
  useEffect(() => {
    alive.current = true;
    reload();
    return () => (alive.current = false);
  }, [reload]);
  return { ...state, reload };
}

export function usePoll(fn, ms, deps = []) {
  useEffect(() => {
    let stopped = false;
    let timer;
    const tick = async () => {
      try {
        await fn();
      } catch {
        /* the page shows its own errors */
      }
      if (!stopped) timer = setTimeout(tick, ms);
    };
    tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, deps);
}

let counter = 0;
export function uid(prefix = "f") {
  counter += 1;
  return `${prefix}-${counter}`;
}

// A labelled control: <Field label="Temperature">${(id) => html`<input id=${id} ...>`}</Field>
export function Field({ label, hint, children, inline }) {
  const [id] = useState(() => uid());
  return html`<div class=${inline ? "field inline" : "field"}>
    <label for=${id}>${label}</label>
    ${children(id)}
    ${hint && html`<small class="muted">${hint}</small>`}
  </div>`;
}

export function Empty({ children }) {
  return html`<p class="empty muted">${children}</p>`;
}

export function StatusBadge({ status }) {
  return html`<span class=${`badge status-${status}`}>${status}</span>`;
}

export function confirmAction(message) {
  return window.confirm(message);
}

export function navigate(...parts) {
  location.hash = "#/" + parts.map(encodeURIComponent).join("/");
}
