// Workflows: the served workflows (cupola serve --workflows DIR) drawn from their node trees, runs
// streamed as NDJSON events onto a live graph (status, duration, streamed output per step; loop
// iterations; the route taken), approvals in the page, past runs and resume.
import { html, useState, useRef, useEffect } from "./lib.js";
import { api, ndjson, inBandError, StreamDropped } from "./api.js";
import { ErrorBox, Field, Empty, Json, StatusBadge, useLoad, fmtMs, fmtTime } from "./ui.js";

const TERMINAL = new Set(["workflow_finished", "workflow_failed", "approval_required"]);

function emptyRun(runId = null) {
  return { runId, status: "running", steps: {}, iterations: {}, chosen: {}, pending: null, output: undefined, error: null };
}

function noteIterations(state, path) {
  const parts = path.split("/");
  parts.forEach((part, i) => {
    if (i > 0 && /^\d+$/.test(part)) {
      const loop = parts.slice(0, i).join("/");
      state.iterations[loop] = Math.max(state.iterations[loop] || 0, Number(part));
    }
  });
}

// One event folded into the run's state (a new object each time).
export function applyEvent(prev, ev) {
  const s = { ...prev, steps: { ...prev.steps }, iterations: { ...prev.iterations }, chosen: { ...prev.chosen } };
  const step = ev.step;
  const touch = (patch) => (s.steps[step] = { ...(s.steps[step] || { text: "", tools: [] }), ...patch });
  if (step) noteIterations(s, step);
  switch (ev.type) {
    case "workflow_started":
      s.runId = ev.run_id;
      s.status = "running";
      s.pending = null;
      s.error = null;
      break;
    case "step_started":
      touch({ status: "running", text: "", tools: [], started: ev.t });
      break;
    case "step_restored":
      touch({ status: "done", restored: true });
      break;
    case "delta":
      touch({ text: ((s.steps[step] || {}).text || "") + ev.text });
      break;
    case "tool_call":
      touch({ tools: [...((s.steps[step] || {}).tools || []), { name: ev.name, arguments: ev.arguments, call_id: ev.call_id }] });
      break;
    case "tool_result": {
      const tools = ((s.steps[step] || {}).tools || []).map((t) => (t.call_id === ev.call_id ? { ...t, output: ev.output, is_error: ev.is_error } : t));
      touch({ tools });
      break;
    }
    case "handoff":
      s.chosen[step] = ev.to;
      break;
    case "step_finished":
      touch({ status: "done", ms: ev.ms, output: ev.output });
      break;
    case "approval_required":
      touch({ status: "paused" });
      s.status = "paused";
      s.pending = { step, prompt: ev.prompt };
      break;
    case "workflow_finished":
      s.status = ev.status;
      s.output = ev.output;
      s.ms = ev.ms;
      s.pending = null;
      if (ev.status === "rejected" && step) touch({ status: "rejected", note: ev.note });
      break;
    case "workflow_failed":
      s.status = "failed";
      s.error = ev.error;
      for (const [path, st] of Object.entries(s.steps)) if (st.status === "running") s.steps[path] = { ...st, status: "failed" };
      break;
    default:
  }
  return s;
}

// A stored run (GET /api/workflows/runs/{id}) as graph state.
function stateOfStored(run) {
  const s = emptyRun(run.id);
  s.status = run.status;
  for (const [path, output] of Object.entries(run.steps || {})) {
    s.steps[path] = { status: "done", output, text: "", tools: [] };
    noteIterations(s, path);
  }
  if (run.pending) {
    s.pending = run.pending;
    s.steps[run.pending.step] = { status: "paused", text: "", tools: [] };
  }
  if (run.status === "completed") s.output = run.result;
  if (run.status === "failed") s.error = run.result?.error;
  return s;
}

function concrete(path, state) {
  // A loop's children carry "{i}": the loop's latest iteration (1 before it starts).
  return path.replace(/^(.*?)\/\{i\}/, (_, loop) => `${loop}/${state.iterations[loop] || 1}`);
}

function show(value) {
  if (value == null) return "";
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

function StepBox({ node, state, onDecide, deciding }) {
  const path = concrete(node.path, state);
  const st = state.steps[path] || {};
  const status = st.status || "waiting";
  const [note, setNote] = useState("");
  const paused = node.kind === "approval" && state.pending && state.pending.step === path;
  const body = st.text || show(st.output);
  return html`<div class=${`g-node st-${status}`} data-path=${path} role="group" aria-label=${`step ${node.name}: ${status}`}>
    <div class="g-head"><span class="name">${node.name}</span><span class="badge">${node.kind}</span>
      <${StatusBadge} status=${status} />
      ${st.ms != null && html`<span class="muted small">${fmtMs(st.ms)}</span>`}
      ${status === "running" && html`<span class="spinner" aria-hidden="true"></span>`}</div>
    ${node.agent && html`<div class="muted small">agent ${node.agent}${node.tools && node.tools.length ? ` · tools: ${node.tools.join(", ")}` : ""}</div>`}
    ${(st.tools || []).map((t) => html`<div class="small"><code>${t.name}(${t.arguments})</code>${t.output != null ? html` → <code>${t.output.slice(0, 200)}</code>` : ""}</div>`)}
    ${paused && html`<div class="approval-box">
      <p class="g-out">${state.pending.prompt}</p>
      <${Field} label="Note (optional)">${(id) => html`<input id=${id} value=${note} onInput=${(e) => setNote(e.target.value)} />`}</${Field}>
      <div class="row">
        <button type="button" class="primary" disabled=${deciding} onClick=${() => onDecide(true, note)}>Approve</button>
        <button type="button" class="danger" disabled=${deciding} onClick=${() => onDecide(false, note)}>Reject</button>
      </div></div>`}
    ${!paused && body && node.kind !== "approval" && html`<pre class="g-out">${body}</pre>`}
    ${node.kind === "approval" && st.output && html`<p class="small">${st.output.approved ? "approved" : "rejected"}${st.output.note ? `: ${st.output.note}` : ""}</p>`}
  </div>`;
}

function NodeView({ node, state, root, onDecide, deciding }) {
  const props = { state, onDecide, deciding };
  const path = concrete(node.path, state);
  const st = state.steps[path] || {};
  const label = (extra) => html`<div class="g-label"><strong>${node.name}</strong><span class="badge">${node.kind}</span>
    ${st.status && html`<${StatusBadge} status=${st.status} />`}${st.ms != null && html`<span>${fmtMs(st.ms)}</span>`}${extra}</div>`;
  switch (node.kind) {
    case "sequential": {
      const inner = html`<div class="g-seq">${node.children.map((c) => html`<div class="g-item" key=${c.name}><${NodeView} node=${c} ...${props} /></div>`)}</div>`;
      return root ? inner : html`<div class="g-group" data-path=${path}>${label()}${inner}</div>`;
    }
    case "concurrent":
      return html`<div class="g-group" data-path=${path}>${label(html`<span>branches run at the same time</span>`)}
        <div class="g-par">${node.branches.map((b) => html`<${NodeView} key=${b.name} node=${b} ...${props} />`)}</div></div>`;
    case "loop": {
      const n = state.iterations[path] || 0;
      return html`<div class="g-group" data-path=${path}>${label(html`<span class="iteration">iteration ${n || "–"} of at most ${node.max_iterations}</span>`)}
        <div class="g-seq"><div class="g-item"><${NodeView} node=${node.body} ...${props} /></div>
        <div class="g-item"><${NodeView} node=${node.critic} ...${props} /></div></div></div>`;
    }
    case "route": {
      const outputRoute = st.output && st.output.route;
      const chosen = state.chosen[path] || (outputRoute && node.routes[outputRoute] && node.routes[outputRoute].name);
      return html`<div class="g-group" data-path=${path}>${label(chosen ? html`<span>routed to <strong class="chosen">${chosen}</strong></span>` : null)}
        <div class="g-seq"><div class="g-item"><${NodeView} node=${node.router} ...${props} /></div>
        <div class="g-item"><div class="g-par">${Object.entries(node.routes).map(([key, r]) => html`<div key=${key}
          class=${chosen ? (r.name === chosen ? "route-chosen g-group" : "g-group st-skipped") : "g-group"}>
          <div class="g-label">route <code>${key}</code>${chosen === r.name ? html`<span class="badge status-ok">chosen</span>` : ""}</div>
          <${NodeView} node=${r} ...${props} /></div>`)}</div></div></div></div>`;
    }
    default:
      return html`<${StepBox} node=${node} ...${props} />`;
  }
}

function WorkflowView({ workflow, runId, onRunsChanged }) {
  const [input, setInput] = useState("");
  const [state, setState] = useState(null);
  const [error, setError] = useState(null);
  const [live, setLive] = useState(false);
  const abort = useRef(null);

  useEffect(() => {
    if (abort.current) abort.current.abort();
    setState(null);
    setError(null);
    if (!runId) return;
    api(`/api/workflows/runs/${encodeURIComponent(runId)}`).then((run) => setState(stateOfStored(run))).catch(setError);
  }, [runId, workflow.name]);
  useEffect(() => () => abort.current && abort.current.abort(), []);

  const follow = async (path, body, initial) => {
    const controller = new AbortController();
    abort.current = controller;
    setLive(true);
    setError(null);
    let current = initial;
    setState(current);
    let last = null;
    try {
      for await (const ev of ndjson(path, body, { signal: controller.signal })) {
        if (ev.type === "error") throw inBandError(ev);
        current = applyEvent(current, ev);
        setState(current);
        last = ev.type;
        if (ev.type === "workflow_started") window.history.replaceState(null, "", `#/workflows/${encodeURIComponent(workflow.name)}/${ev.run_id}`);
      }
      if (!TERMINAL.has(last)) throw new StreamDropped();
    } catch (err) {
      if (err.name !== "AbortError") setError(err);
    } finally {
      setLive(false);
      abort.current = null;
      onRunsChanged();
    }
  };

  const start = (e) => {
    e.preventDefault();
    follow(`/api/workflows/${encodeURIComponent(workflow.name)}/runs`, { input: input.trim() }, emptyRun());
  };
  const resume = (approve, note) => {
    const body = approve == null ? {} : { approve, note };
    const next = { ...state, status: "running", pending: null };
    follow(`/api/workflows/runs/${encodeURIComponent(state.runId)}/resume`, body, next);
  };
  const interrupted = state && !live && (state.status === "running" || state.status === "failed") && state.runId;
  return html`<section aria-label=${`Workflow ${workflow.name}`}>
    <h1>${workflow.name}</h1>
    <p>${workflow.description}</p>
    <form class="card" onSubmit=${start}>
      <${Field} label="Input">${(id) => html`<textarea id=${id} rows="2" required value=${input}
        onInput=${(e) => setInput(e.target.value)}></textarea>`}</${Field}>
      <div class="row"><span class="spacer"></span>
        ${live ? html`<button type="button" class="danger" onClick=${() => abort.current.abort()}>Stop watching</button>`
          : html`<button type="submit" class="primary" disabled=${!input.trim()}>Start run</button>`}</div>
    </form>
    <${ErrorBox} error=${error} />
    ${state && html`<div class="row run-status" aria-live="polite">
      <strong>Run</strong> <code>${state.runId || "…"}</code> <${StatusBadge} status=${state.status} />
      ${state.ms != null && html`<span class="muted small">${fmtMs(state.ms)}</span>`}
      ${interrupted && html`<button type="button" class="small" onClick=${() => resume(null)}>Resume</button>`}
    </div>`}
    ${state && state.error && html`<${ErrorBox} error=${String(state.error)} />`}
    <div class="graph card" aria-label="Workflow graph">
      <${NodeView} node=${workflow.graph} root=${true} state=${state || emptyRun()} onDecide=${resume} deciding=${live} />
    </div>
    ${state && state.output !== undefined && state.output !== null && html`<section class="card" aria-label="Final output">
      <h2>Output</h2>${typeof state.output === "string" ? html`<pre>${state.output}</pre>` : html`<${Json} value=${state.output} />`}
    </section>`}
  </section>`;
}

export function WorkflowsPage({ route }) {
  const [version, setVersion] = useState(0);
  const workflows = useLoad(() => api("/api/workflows"), []);
  const runs = useLoad(() => api("/api/workflows/runs?limit=30").catch((err) => (err.status === 404 ? { data: [] } : Promise.reject(err))), [version]);
  const list = workflows.data?.data || [];
  const selected = list.find((w) => w.name === route.rest[0]) || list[0];
  return html`<div class="split">
    <aside aria-label="Workflows">
      <h1>Workflows</h1>
      <${ErrorBox} error=${workflows.error} />
      <ul class="list">${list.map((w) => html`<li key=${w.name}><a href=${`#/workflows/${encodeURIComponent(w.name)}`}
        aria-current=${selected && selected.name === w.name && !route.rest[1] ? "page" : undefined}>${w.name}</a></li>`)}</ul>
      ${workflows.data && list.length === 0 && html`<${Empty}>This server runs no workflows. Start it with
        <code>cupola serve --workflows DIR</code> (a folder of workflow files).</${Empty}>`}
      ${(runs.data?.data || []).length > 0 && html`<h2>Recent runs</h2>
        <ul class="list runs">${runs.data.data.map((r) => html`<li key=${r.id}>
          <a href=${`#/workflows/${encodeURIComponent(r.workflow)}/${r.id}`} aria-current=${route.rest[1] === r.id ? "page" : undefined}>
            <${StatusBadge} status=${r.status} /> ${r.workflow}<br /><span class="muted small">${fmtTime(r.created_at)}</span></a></li>`)}</ul>`}
    </aside>
    <div>${selected && html`<${WorkflowView} key=${selected.name} workflow=${selected} runId=${route.rest[1] || null}
      onRunsChanged=${() => setVersion((v) => v + 1)} />`}</div>
  </div>`;
}

