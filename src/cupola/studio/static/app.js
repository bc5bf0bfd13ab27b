// Cupola Studio: the shell (navigation, API key, server status) and the hash router.
import { html, render, useState, useEffect, useRef } from "./lib.js";
import { api, onAuthNeeded, setApiKey, apiKey } from "./api.js";
import { ChatPage } from "./chat.js";

const PAGES = [
  ["chat", "Chat"],
  ["knowledge", "Knowledge"],
  ["agents", "Agents"],
  ["workflows", "Workflows"],
  ["models", "Models"],
  ["activity", "Activity"],
];
// Pages other than chat load when first opened: the chat page paints without them.
const LOADERS = {
  knowledge: () => import("./knowledge.js").then((m) => m.KnowledgePage),
  agents: () => import("./agents.js").then((m) => m.AgentsPage),
  workflows: () => import("./workflows.js").then((m) => m.WorkflowsPage),
  models: () => import("./models.js").then((m) => m.ModelsPage),
  activity: () => import("./activity.js").then((m) => m.ActivityPage),
  evaluations: () => import("./evals.js").then((m) => m.EvalsPage),
};

function parseHash() {
  const parts = (location.hash.replace(/^#\/?/, "") || "chat").split("/").map(decodeURIComponent);
  return { page: parts[0] || "chat", rest: parts.slice(1) };
}

function useRoute() {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const on = () => setRoute(parseHash());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

function KeyDialog({ onDone }) {
  const ref = useRef(null);
  const [key, setKey] = useState("");
  const [remember, setRemember] = useState(false);
  useEffect(() => {
    ref.current.showModal();
  }, []);
  const submit = (e) => {
    e.preventDefault();
    setApiKey(key.trim(), remember);
    ref.current.close();
    onDone();
  };
  return html`<dialog ref=${ref} class="key-dialog" aria-labelledby="key-title" onCancel=${() => onDone()}>
    <form onSubmit=${submit}>
      <h2 id="key-title">API key</h2>
      <p>This Cupola server requires an API key. It is sent as a bearer token with every request.</p>
      <div class="field">
        <label for="api-key">Key</label>
        <input id="api-key" type="password" autocomplete="off" required value=${key} onInput=${(e) => setKey(e.target.value)} />
      </div>
      <p class="check">
        <input id="api-key-remember" type="checkbox" checked=${remember} onChange=${(e) => setRemember(e.target.checked)} />
        <label for="api-key-remember">Remember on this device</label>
      </p>
      <div class="row end">
        <button type="submit" class="primary">Use this key</button>
      </div>
    </form>
  </dialog>`;
}

function Lazy({ name, route }) {
  const [Page, setPage] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let alive = true;
    setPage(null);
    LOADERS[name]()
      .then((p) => alive && setPage(() => p))
      .catch((e) => alive && setError(e));
    return () => (alive = false);
  }, [name]);
  if (error) return html`<div class="error" role="alert">Could not load this page: ${error.message}</div>`;
  if (!Page) return html`<p class="muted">Loading…</p>`;
  return html`<${Page} route=${route} />`;
}

function Health() {
  const [state, setState] = useState("…");
  useEffect(() => {
    let timer;
    const check = async () => {
      try {
        const r = await fetch("/health");
        setState(r.ok ? "ready" : "loading");
      } catch {
        setState("offline");
      }
      timer = setTimeout(check, 5000);
    };
    check();
    return () => clearTimeout(timer);
  }, []);
  return html`<span class=${`health health-${state}`} role="status" aria-label=${`server ${state}`}>
    <span class="dot" aria-hidden="true"></span>${state}</span>`;
}

function App() {
  const route = useRoute();
  const [askKey, setAskKey] = useState(false);
  const [keyVersion, setKeyVersion] = useState(0);
  const [menuOpen, setMenuOpen] = useState(false);
  const [evals, setEvals] = useState(false);
  useEffect(() => onAuthNeeded(() => setAskKey(true)), []);
  useEffect(() => {
    api("/api/evals")
      .then((r) => setEvals((Array.isArray(r) ? r : r.data || r.runs || []).length > 0))
      .catch(() => setEvals(false)); // 404: this server has no evaluations
  }, [keyVersion]);
  useEffect(() => setMenuOpen(false), [route.page, route.rest.join("/")]);
  const pages = evals ? [...PAGES, ["evaluations", "Evaluations"]] : PAGES;
  const known = pages.some(([id]) => id === route.page);
  const page = known ? route.page : "chat";
  return html`
    <a class="skip" href="#main">Skip to content</a>
    <header class="top">
      <a class="brand" href="#/chat"><img src="/studio/icon.svg" alt="" width="24" height="24" /> Cupola Studio</a>
      <button type="button" class="menu" aria-expanded=${menuOpen} aria-controls="nav"
        onClick=${() => setMenuOpen(!menuOpen)}>Menu</button>
      <nav id="nav" class=${menuOpen ? "open" : ""} aria-label="Pages">
        ${pages.map(([id, label]) => html`<a href=${`#/${id}`} aria-current=${page === id ? "page" : undefined}>${label}</a>`)}
      </nav>
      <div class="top-end">
        <${Health} />
        <button type="button" class="small ghost" onClick=${() => setAskKey(true)}
          aria-label=${apiKey() ? "Change the API key" : "Set an API key"}>${apiKey() ? "Key ✓" : "Key"}</button>
      </div>
    </header>
    <main id="main" tabindex="-1" key=${keyVersion}>
      ${page === "chat" ? html`<${ChatPage} route=${route} />` : html`<${Lazy} name=${page} route=${route} />`}
    </main>
    ${askKey && html`<${KeyDialog} onDone=${() => { setAskKey(false); setKeyVersion((v) => v + 1); }} />`}
  `;
}

const root = document.getElementById("app");
root.textContent = ""; // the "Loading…" placeholder
render(html`<${App} />`, root);
