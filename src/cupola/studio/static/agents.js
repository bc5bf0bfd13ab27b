// Agents: the hosted agents (cupola serve --agents DIR), run through /v1/responses; the run is
// drawn as a timeline of turns, server-run tool calls (mcp_call items) with arguments and results,
// the answer (structured output as JSON), and approval requests with approve / reject buttons.
import { html, useState, useRef, useEffect } from "./lib.js";
import { api, sse, inBandError, StreamDropped } from "./api.js";
import { Markdown } from "./markdown.js";
import { ErrorBox, Field, Empty, Json, StatusBadge, useLoad } from "./ui.js";

// Fold Responses stream events into timeline entries.
function reducer(entries, data) {
  const out = [...entries];
  const at = (id) => out.findIndex((e) => e.item && e.item.id === id);
  switch (data.type) {
    case "response.in_progress":
      out.push({ kind: "turn", n: out.filter((e) => e.kind === "turn").length + 1 });
      break;
    case "response.output_item.added":
      if (data.item.type === "message") out.push({ kind: "text", item: { ...data.item }, text: "" });
      else if (data.item.type === "mcp_call") out.push({ kind: "call", item: { ...data.item } });
      else if (data.item.type === "mcp_approval_request") out.push({ kind: "approval", item: { ...data.item } });
      break;
    case "response.output_text.delta": {
      const i = at(data.item_id);
      if (i >= 0) out[i] = { ...out[i], text: out[i].text + data.delta };
      break;
    }
    case "response.mcp_call_arguments.done": {
      const i = at(data.item_id);
      if (i >= 0) out[i] = { ...out[i], item: { ...out[i].item, arguments: data.arguments } };
      break;
    }
    case "response.output_item.done": {
      const i = at(data.item.id);
      if (i >= 0) out[i] = { ...out[i], item: { ...data.item }, text: out[i].kind === "text" ? data.item.content[0]?.text ?? out[i].text : undefined };
      break;
    }
    default:
  }
  return out;
}

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function Entry({ entry, structured, onDecide, deciding }) {
  if (entry.kind === "input") {
    return html`<li class="turn"><span class="turn-label">Input</span><p>${entry.text}</p></li>`;
  }
  if (entry.kind === "turn") return html`<li class="turn"><span class="turn-label">Turn ${entry.n}</span></li>`;
  if (entry.kind === "call") {
    const item = entry.item;
    return html`<li class="call" aria-label=${`tool call ${item.name}`}>
      <div class="row"><span class="badge">tool call</span> <code>${item.name}</code> <${StatusBadge} status=${item.status || "in_progress"} /></div>
      <div class="small muted">arguments</div><pre>${pretty(item.arguments || "")}</pre>
      ${item.output != null && html`<div class="small muted">result</div><pre class="tool-result">${item.output}</pre>`}
      ${item.error && html`<div class="small muted">error</div><pre class="error-text">${item.error}</pre>`}
    </li>`;
  }
  if (entry.kind === "approval") {
    const item = entry.item;
    return html`<li class="approval" aria-label=${`approval request for ${item.name}`}>
      <div class="approval-box">
        <p><strong>Approval needed:</strong> the agent wants to call <code>${item.name}</code></p>
        <pre>${pretty(item.arguments)}</pre>
        ${entry.decided == null
          ? html`<div class="row">
              <button type="button" class="primary" disabled=${deciding} onClick=${() => onDecide(item.id, true)}>Approve</button>
              <button type="button" class="danger" disabled=${deciding} onClick=${() => onDecide(item.id, false)}>Reject</button></div>`
          : html`<p class="muted">${entry.decided ? "Approved" : "Rejected"}.</p>`}
      </div>
    </li>`;
  }
  if (entry.kind === "text") {
    const done = entry.item.status === "completed";
    let value = null;
    if (structured && done) {
      try {
        value = JSON.parse(entry.text);
      } catch {
        value = null;
      }
    }
    return html`<li class=${done ? "final" : ""} aria-label="agent output">
      <span class="badge">${value ? "structured output" : "output"}</span>
      ${value ? html`<${Json} value=${value} />` : html`<${Markdown} text=${entry.text} />`}
    </li>`;
  }
  return null;
}

function Runner({ agent }) {
  const [input, setInput] = useState("");
  const [entries, setEntries] = useState([]);
  const [status, setStatus] = useState(null);
  const [error, setError] = useState(null);
  const [lastId, setLastId] = useState(null);
  const [follow, setFollow] = useState(false);
  const abort = useRef(null);

  useEffect(() => () => abort.current && abort.current.abort(), []);

  const stream = async (body) => {
    const controller = new AbortController();
    abort.current = controller;
    setStatus("running");
    setError(null);
    let done = false;
    try {
      for await (const { event, data } of sse("/v1/responses", { ...body, stream: true }, { signal: controller.signal })) {
        if (event === "error") throw inBandError(data);
        if (data.type === "response.failed") throw inBandError({ error: data.response.error });
        if (data.type === "response.created") setLastId(data.response.id);
        if (data.type === "response.completed" || data.type === "response.incomplete") {
          done = true;
          setLastId(data.response.id);
          const waiting = data.response.output.some((i) => i.type === "mcp_approval_request");
          setStatus(waiting ? "waiting" : "completed");
        }
        setEntries((list) => reducer(list, data));
      }
      if (!done) throw new StreamDropped();
    } catch (err) {
      setStatus(err.name === "AbortError" ? "stopped" : "failed");
      if (err.name !== "AbortError") setError(err);
    } finally {
      abort.current = null;
    }
  };

  const run = (e) => {
    e.preventDefault();
    if (!input.trim()) return;
    const body = { agent: { name: agent.name, type: "agent_reference" }, input: input.trim() };
    if (follow && lastId) body.previous_response_id = lastId;
    setEntries((list) => [...(follow ? list : []), { kind: "input", text: input.trim() }]);
    setInput("");
    stream(body);
  };

  const decide = (id, approve) => {
    setEntries((list) => list.map((e) => (e.kind === "approval" && e.item.id === id ? { ...e, decided: approve } : e)));
    stream({
      agent: { name: agent.name, type: "agent_reference" }, previous_response_id: lastId,
      input: [{ type: "mcp_approval_response", approval_request_id: id, approve }],
    });
  };

  const running = status === "running";
  return html`<section aria-label=${`Run ${agent.name}`}>
    <form class="card" onSubmit=${run}>
      <${Field} label="Input">${(id) => html`<textarea id=${id} rows="3" value=${input} required
        onInput=${(e) => setInput(e.target.value)}
        onKeyDown=${(e) => e.key === "Enter" && !e.shiftKey && !e.isComposing && run(e)}></textarea>`}</${Field}>
      <div class="row">
        <span class="check"><input id="follow" type="checkbox" checked=${follow} disabled=${!lastId}
          onChange=${(e) => setFollow(e.target.checked)} /><label for="follow">continue the last run's conversation</label></span>
        <span class="spacer"></span>
        ${status && html`<${StatusBadge} status=${status} />`}
        ${running ? html`<button type="button" class="danger" onClick=${() => abort.current.abort()}>Stop</button>`
          : html`<button type="submit" class="primary" disabled=${!input.trim()}>Run</button>`}
      </div>
    </form>
    <${ErrorBox} error=${error} />
    ${entries.length > 0 && html`<ol class="timeline" aria-label="Run timeline">
      ${entries.map((entry, i) => html`<${Entry} key=${i} entry=${entry} structured=${agent.structured_output}
        onDecide=${decide} deciding=${running} />`)}
      ${running && html`<li class="turn"><span class="spinner" aria-label="running"></span></li>`}
    </ol>`}
  </section>`;
}

export function AgentsPage({ route }) {
  const agents = useLoad(() => api("/api/agents"), []);
  const list = agents.data?.data || [];
  const selected = list.find((a) => a.name === route.rest[0]) || list[0];
  return html`<div class="split">
    <aside aria-label="Hosted agents">
      <h1>Agents</h1>
      <${ErrorBox} error=${agents.error} />
      <ul class="list">
        ${list.map((a) => html`<li key=${a.name}><a href=${`#/agents/${encodeURIComponent(a.name)}`}
          aria-current=${selected && selected.name === a.name ? "page" : undefined}>${a.name}</a></li>`)}
      </ul>
      ${agents.data && list.length === 0 && html`<${Empty}>This server hosts no agents. Start it with
        <code>cupola serve --agents DIR</code> (a folder of agent YAML files).</${Empty}>`}
    </aside>
    <div>
      ${selected && html`<div key=${selected.name}>
        <h1>${selected.name}</h1>
        <p>${selected.description}</p>
        <dl class="kv">
          <dt>Model</dt><dd>${selected.model || "the server's default"}</dd>
          <dt>Tools</dt><dd>${selected.tools.length ? selected.tools.map((t) => html`<code>${t}</code> `) : "none"}</dd>
          <dt>Output</dt><dd>${selected.structured_output ? "structured (JSON schema)" : "text"}</dd>
        </dl>
        <${Runner} agent=${selected} />
      </div>`}
    </div>
  </div>`;
}

