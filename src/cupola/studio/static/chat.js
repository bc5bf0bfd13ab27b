// Chat: conversations kept on the server (/v1/conversations), answers streamed from
// /v1/chat/completions (optionally grounded in a knowledge base) or, with tools, from
// /v1/responses with Cupola's server-run tools.
import { html, useState, useEffect, useRef, useCallback, useMemo } from "./lib.js";
import { api, sse, describe, inBandError, listModels, StreamDropped } from "./api.js";
import { Markdown } from "./markdown.js";
import { ErrorBox, Field, fmtMs, fmtScore, navigate, Empty } from "./ui.js";

const SETTINGS_KEY = "cupola.chat.settings";
const DEFAULTS = {
  model: "", system: "", temperature: "", top_p: "", max_tokens: "",
  ground: false, base: "", mode: "hybrid", k: 4, calculator: false, search: false,
};

function useSettings() {
  const [settings, setSettings] = useState(() => {
    try {
      return { ...DEFAULTS, ...JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}") };
    } catch {
      return { ...DEFAULTS };
    }
  });
  const update = useCallback((patch) => {
    setSettings((s) => {
      const next = { ...s, ...patch };
      localStorage.setItem(SETTINGS_KEY, JSON.stringify(next));
      return next;
    });
  }, []);
  return [settings, update];
}

function textOf(item) {
  return (item.content || []).map((p) => p.text ?? p.refusal ?? "").join("");
}

async function loadItems(conversationId) {
  const out = [];
  let after = null;
  for (;;) {
    const params = new URLSearchParams({ order: "asc", limit: "100" });
    if (after) params.set("after", after);
    const page = await api(`/v1/conversations/${conversationId}/items?${params}`);
    out.push(...page.data);
    if (!page.has_more) return out;
    after = page.last_id;
  }
}

const num = (v) => (v === "" || v == null ? undefined : Number(v));

// ---------------------------------------------------------------------------------------------

function ToolCall({ item }) {
  let args = item.arguments;
  try {
    args = JSON.stringify(JSON.parse(item.arguments || "{}"));
  } catch {
    /* shown as sent */
  }
  const status = item.status || (item.output != null ? "completed" : "in_progress");
  return html`<div class=${`tool-call status-${status}`} role="group" aria-label=${`tool call ${item.name}`}>
    <div class="tool-head"><span class="badge">tool</span> <code>${item.name}</code> <code class="args">${args}</code>
      ${status === "in_progress" && html`<span class="spinner" aria-label="running"></span>`}</div>
    ${item.output != null && html`<div class="tool-out"><span class="muted">→</span> <pre>${item.output}</pre></div>`}
    ${item.error && html`<div class="tool-out error-text"><span class="muted">✗</span> <pre>${item.error}</pre></div>`}
  </div>`;
}

function Sources({ knowledge, focus }) {
  const cited = new Set((knowledge.citations || []).map((c) => c.n));
  const list = knowledge.sources || [];
  return html`<details class="sources" open>
    <summary>Sources from <strong>${knowledge.base}</strong> (${knowledge.mode}${knowledge.fallback ? ", fallback" : ""}):
      ${list.length} retrieved${cited.size ? `, ${cited.size} cited` : ""}</summary>
    ${knowledge.fallback && html`<p class="muted small">${knowledge.fallback}</p>`}
    ${list.length === 0 && html`<p class="muted">No passage matched.</p>`}
    <ol class="source-list">
      ${list.map((s) => html`<li key=${s.n} data-n=${s.n}
          class=${[cited.has(s.n) ? "cited" : "", focus === s.n ? "focus" : ""].join(" ")}
          aria-label=${`source ${s.n}${cited.has(s.n) ? ", cited" : ""}`}>
        <div class="source-head"><span class="n">[${s.n}]</span> <strong>${s.title || s.doc_id}</strong>
          <span class="muted">${s.doc_id} · part ${s.position + 1} · score ${fmtScore(s.score)}</span>
          ${cited.has(s.n) && html`<span class="badge cited-badge">cited</span>`}</div>
        <p class="source-text">${s.text}</p>
      </li>`)}
    </ol>
  </details>`;
}

function Stats({ item }) {
  const usage = item.usage || {};
  const t = item.timing || {};
  const parts = [];
  if (item.model) parts.push(item.model);
  if (usage.input_tokens != null) parts.push(`${usage.input_tokens} in · ${usage.output_tokens} out tokens`);
  if (t.tokens_per_second) parts.push(`${t.tokens_per_second.toFixed(1)} tok/s`);
  if (t.ttft_ms != null) parts.push(`first token ${fmtMs(t.ttft_ms)}`);
  if (t.ms != null) parts.push(`total ${fmtMs(t.ms)}`);
  return html`<div class="stats muted">${parts.join(" · ")}</div>`;
}

function Answer({ item, last, streaming, onRegenerate, onFirstPaint }) {
  const [focus, setFocus] = useState(null);
  const ref = useRef(null);
  const knowledge = item.knowledge;
  const cite = useMemo(() => new Set((knowledge?.sources || []).map((s) => s.n)), [knowledge]);
  const onCite = (n) => {
    setFocus(n);
    const el = ref.current && ref.current.querySelector(`.source-list li[data-n="${n}"]`);
    if (el) el.scrollIntoView({ block: "nearest", behavior: "smooth" });
  };
  const text = textOf(item);
  const copy = () => navigator.clipboard.writeText(text);
  return html`<article class=${`msg assistant ${item.status === "incomplete" ? "incomplete" : ""}`} ref=${ref}
      aria-label="answer" aria-busy=${streaming ? "true" : "false"}>
    ${text ? html`<${Markdown} text=${text} cite=${cite} onCite=${onCite} onRender=${onFirstPaint} />`
           : streaming && html`<p class="muted typing">Thinking…</p>`}
    ${item.note && html`<p class="note muted" role="note">${item.note}</p>`}
    ${knowledge && html`<${Sources} knowledge=${knowledge} focus=${focus} />`}
    ${!streaming && html`<footer class="msg-foot">
      <${Stats} item=${item} />
      <span class="actions">
        <button type="button" class="small ghost" onClick=${copy} aria-label="Copy the answer">Copy</button>
        ${last && onRegenerate && html`<button type="button" class="small ghost" onClick=${onRegenerate}>Regenerate</button>`}
      </span>
    </footer>`}
  </article>`;
}

function Transcript({ items, pending, onRegenerate, onRetry, onFirstPaint }) {
  const lastAssistant = items.map((i) => i.type === "message" && i.role === "assistant").lastIndexOf(true);
  return html`<div class="transcript" aria-live="polite">
    ${items.map((item, i) => {
      if (item.type === "mcp_call") return html`<${ToolCall} key=${item.id} item=${item} />`;
      if (item.type !== "message") return null;
      if (item.role === "user") return html`<article key=${item.id} class="msg user" aria-label="your message"><p>${textOf(item)}</p></article>`;
      if (item.role === "assistant") {
        return html`<${Answer} key=${item.id} item=${item} last=${!pending && i === lastAssistant && i === items.length - 1}
          onRegenerate=${onRegenerate} />`;
      }
      return html`<article key=${item.id} class="msg system"><p class="muted">${item.role}: ${textOf(item)}</p></article>`;
    })}
    ${pending && pending.parts.map((part, i) => part.kind === "call"
      ? html`<${ToolCall} key=${`p${i}`} item=${part.item} />`
      : html`<${Answer} key=${`p${i}`} streaming=${pending.status === "streaming"}
          item=${{ content: [{ text: part.text }], knowledge: i === pending.parts.length - 1 ? pending.knowledge : null }}
          onFirstPaint=${onFirstPaint} />`)}
    ${pending && pending.error && html`<${ErrorBox} error=${pending.error} onRetry=${onRetry} />`}
  </div>`;
}

// ---------------------------------------------------------------------------------------------

function Sidebar({ conversations, current, onNew, reload }) {
  const [editing, setEditing] = useState(null);
  const [title, setTitle] = useState("");
  const [error, setError] = useState(null);
  const rename = async (e, id) => {
    e.preventDefault();
    try {
      const conv = conversations.find((c) => c.id === id);
      await api(`/v1/conversations/${id}`, { method: "POST", body: { metadata: { ...conv.metadata, title: title.trim() || "Untitled" } } });
      setEditing(null);
      reload();
    } catch (err) {
      setError(err);
    }
  };
  const remove = async (id) => {
    if (!window.confirm("Delete this conversation? This cannot be undone.")) return;
    try {
      await api(`/v1/conversations/${id}`, { method: "DELETE" });
      if (id === current) navigate("chat");
      reload();
    } catch (err) {
      setError(err);
    }
  };
  return html`<aside class="sidebar" aria-label="Conversations">
    <button type="button" class="primary wide" onClick=${onNew}>New chat</button>
    <${ErrorBox} error=${error} />
    <ul class="conv-list">
      ${conversations.map((c) => html`<li key=${c.id} class=${c.id === current ? "current" : ""}>
        ${editing === c.id
          ? html`<form class="rename" onSubmit=${(e) => rename(e, c.id)}>
              <label class="sr-only" for=${`rename-${c.id}`}>New title</label>
              <input id=${`rename-${c.id}`} value=${title} onInput=${(e) => setTitle(e.target.value)} maxlength="200" />
              <button type="submit" class="small">Save</button>
              <button type="button" class="small ghost" onClick=${() => setEditing(null)}>Cancel</button>
            </form>`
          : html`<a href=${`#/chat/${c.id}`} aria-current=${c.id === current ? "page" : undefined}>${c.metadata.title || "Untitled"}</a>
            <span class="conv-actions">
              <button type="button" class="small ghost" aria-label=${`Rename ${c.metadata.title || "Untitled"}`}
                onClick=${() => { setEditing(c.id); setTitle(c.metadata.title || ""); }}>Rename</button>
              <button type="button" class="small ghost danger" aria-label=${`Delete ${c.metadata.title || "Untitled"}`}
                onClick=${() => remove(c.id)}>Delete</button>
            </span>`}
      </li>`)}
    </ul>
    ${conversations.length === 0 && html`<${Empty}>No conversations yet.</${Empty}>`}
  </aside>`;
}

function ModelSelect({ id, models, value, onChange }) {
  const groups = {};
  for (const m of models) (groups[m.location] ||= []).push(m);
  const label = (loc) => (loc === "local" ? "Local" : loc === "router" ? "Router" : loc.replace(/^upstream:/, "Upstream: "));
  return html`<select id=${id} value=${value} onChange=${(e) => onChange(e.target.value)}>
    ${Object.entries(groups).map(([loc, list]) => html`<optgroup label=${label(loc)}>
      ${list.map((m) => html`<option value=${m.id}>${m.id}</option>`)}</optgroup>`)}
  </select>`;
}

function SettingsPanel({ settings, update, models, bases, streaming }) {
  const chatModels = models.filter((m) => m.kind === "chat");
  const tools = settings.calculator || settings.search;
  return html`<aside class="settings" aria-label="Chat settings">
    <details open class="settings-box">
      <summary>Model and sampling</summary>
      <${Field} label="Model">${(id) => chatModels.length
        ? html`<${ModelSelect} id=${id} models=${chatModels} value=${settings.model} onChange=${(v) => update({ model: v })} />`
        : html`<select id=${id} disabled><option>no chat model pulled</option></select>`}</${Field}>
      <${Field} label="System prompt">${(id) => html`<textarea id=${id} rows="3" value=${settings.system}
        placeholder="You are a helpful assistant." onInput=${(e) => update({ system: e.target.value })}></textarea>`}</${Field}>
      <div class="grid3">
        <${Field} label="Temperature">${(id) => html`<input id=${id} type="number" min="0" max="2" step="0.1"
          placeholder="auto" value=${settings.temperature} onInput=${(e) => update({ temperature: e.target.value })} />`}</${Field}>
        <${Field} label="Top p">${(id) => html`<input id=${id} type="number" min="0" max="1" step="0.05"
          placeholder="auto" value=${settings.top_p} onInput=${(e) => update({ top_p: e.target.value })} />`}</${Field}>
        <${Field} label="Max tokens">${(id) => html`<input id=${id} type="number" min="1" step="1"
          placeholder="auto" value=${settings.max_tokens} onInput=${(e) => update({ max_tokens: e.target.value })} />`}</${Field}>
      </div>
    </details>
    <details open class="settings-box">
      <summary>Knowledge</summary>
      <${Field} label="Knowledge base">${(id) => html`<select id=${id} value=${settings.base} onChange=${(e) => update({ base: e.target.value })}>
        <option value="">(none)</option>
        ${bases.map((b) => html`<option value=${b.name}>${b.name} (${b.documents} docs)</option>`)}</select>`}</${Field}>
      <${Field} inline label="Ground every answer in this base (with a sources panel)">${(id) => html`<input id=${id}
        type="checkbox" checked=${settings.ground} disabled=${!settings.base || tools}
        onChange=${(e) => update({ ground: e.target.checked })} />`}</${Field}>
      <div class="grid2">
        <${Field} label="Mode">${(id) => html`<select id=${id} value=${settings.mode} onChange=${(e) => update({ mode: e.target.value })}>
          <option value="hybrid">hybrid</option><option value="semantic">semantic</option><option value="lexical">lexical</option></select>`}</${Field}>
        <${Field} label="k (sources)">${(id) => html`<input id=${id} type="number" min="1" max="20" value=${settings.k}
          onInput=${(e) => update({ k: e.target.value })} />`}</${Field}>
      </div>
    </details>
    <details open class="settings-box">
      <summary>Tools (run on the server)</summary>
      <${Field} inline label="Calculator">${(id) => html`<input id=${id} type="checkbox" checked=${settings.calculator}
        onChange=${(e) => update({ calculator: e.target.checked })} />`}</${Field}>
      <${Field} inline label="Knowledge search (the base above)">${(id) => html`<input id=${id} type="checkbox"
        checked=${settings.search} disabled=${!settings.base} onChange=${(e) => update({ search: e.target.checked })} />`}</${Field}>
      ${tools && html`<small class="muted">With tools the answer comes from the Responses API; the model decides when to call them.
        Grounding applies to answers without tools.</small>`}
    </details>
    ${streaming && html`<p class="muted small">Generating… press Esc to stop.</p>`}
  </aside>`;
}

function Transcribe({ model, onText }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [recorder, setRecorder] = useState(null);
  const send = async (blob, name) => {
    setBusy(true);
    setError(null);
    try {
      const form = new FormData();
      form.append("file", blob, name);
      form.append("model", model);
      const result = await api("/v1/audio/transcriptions", { method: "POST", form });
      onText(result.text || "");
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const record = async () => {
    if (recorder) {
      recorder.stop();
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const rec = new MediaRecorder(stream);
      const chunks = [];
      rec.ondataavailable = (e) => chunks.push(e.data);
      rec.onstop = () => {
        stream.getTracks().forEach((t) => t.stop());
        setRecorder(null);
        send(new Blob(chunks, { type: rec.mimeType }), "recording.webm");
      };
      rec.start();
      setRecorder(rec);
    } catch (err) {
      setError(new Error(`The microphone is not available: ${err.message}`));
    }
  };
  return html`<span class="transcribe">
    <label class="button small ghost" for="transcribe-file">Transcribe a file</label>
    <input id="transcribe-file" class="sr-only" type="file" accept="audio/*"
      onChange=${(e) => e.target.files[0] && send(e.target.files[0], e.target.files[0].name)} />
    <button type="button" class="small ghost" onClick=${record} aria-pressed=${!!recorder}>
      ${recorder ? "Stop recording" : "Record"}</button>
    ${busy && html`<span class="spinner" aria-label="transcribing"></span>`}
    ${error && html`<span class="error-text" role="alert">${describe(error)}</span>`}
  </span>`;
}

// ---------------------------------------------------------------------------------------------

export function ChatPage({ route }) {
  const conversationId = route.rest[0] || null;
  const [settings, update] = useSettings();
  const [conversations, setConversations] = useState([]);
  const [items, setItems] = useState([]);
  const [pending, setPending] = useState(null);
  const [models, setModels] = useState([]);
  const [bases, setBases] = useState([]);
  const [draft, setDraft] = useState("");
  const [error, setError] = useState(null);
  // A conversation created by the first message gets its id without a hashchange: kept here.
  const [localId, setLocalId] = useState(null);
  const current = conversationId || localId;
  const abort = useRef(null);
  const inputRef = useRef(null);
  const endRef = useRef(null);
  const firstPaint = useRef(false);
  const streaming = pending?.status === "streaming";

  const reloadConversations = useCallback(async () => {
    try {
      setConversations((await api("/v1/conversations?limit=100")).data);
    } catch (err) {
      setError(err);
    }
  }, []);

  useEffect(() => {
    reloadConversations();
    listModels().then((list) => {
      setModels(list);
      const chat = list.filter((m) => m.kind === "chat");
      if (chat.length && !chat.some((m) => m.id === settings.model)) update({ model: chat[0].id });
      performance.mark("studio:models");
    }).catch(setError);
    api("/api/kb").then((r) => setBases(r.data)).catch(() => setBases([]));
  }, []);

  useEffect(() => {
    if (abort.current) abort.current.abort();
    setLocalId(null);
    setPending(null);
    setError(null);
    setItems([]);
    if (!conversationId) return;
    let alive = true;
    loadItems(conversationId).then((list) => alive && setItems(list)).catch((err) => alive && setError(err));
    return () => (alive = false);
  }, [conversationId]);

  useEffect(() => {
    const onKey = (e) => {
      if (e.key === "Escape" && abort.current) {
        e.preventDefault();
        abort.current.abort();
      }
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, []);

  useEffect(() => {
    if (endRef.current) endRef.current.scrollIntoView({ block: "end" });
  }, [items.length, pending]);

  const onFirstPaint = useCallback(() => {
    if (!firstPaint.current) {
      firstPaint.current = true;
      requestAnimationFrame(() => performance.mark("studio:first-token-shown"));
    }
  }, []);

  async function generate(convId, history) {
    const controller = new AbortController();
    abort.current = controller;
    firstPaint.current = false;
    const useTools = settings.calculator || (settings.search && settings.base);
    const model = settings.model;
    const turn = { parts: [], knowledge: null, status: "streaming", error: null, usage: null, finish: null };
    const started = performance.now();
    let firstToken = null;
    let frame = 0;
    const show = () => {
      frame = 0;
      setPending({ ...turn, parts: turn.parts.map((p) => ({ ...p })) });
    };
    const schedule = () => {
      if (!frame) frame = requestAnimationFrame(show);
    };
    const onText = (text) => {
      if (firstToken == null) {
        firstToken = performance.now();
        performance.mark("studio:first-token");
      }
      const last = turn.parts[turn.parts.length - 1];
      if (last && last.kind === "text") last.text += text;
      else turn.parts.push({ kind: "text", text });
      if (turn.parts.length === 1 && turn.parts[0].text === text) show(); // the first token: at once
      else schedule();
    };
    for (const mark of ["studio:first-bytes", "studio:first-token", "studio:first-token-shown"]) performance.clearMarks(mark);
    show();
    try {
      if (useTools) await streamResponses(history, model, controller.signal, turn, onText, schedule);
      else await streamChat(history, model, controller.signal, turn, onText);
      turn.status = "done";
    } catch (err) {
      turn.status = err.name === "AbortError" ? "stopped" : err instanceof StreamDropped ? "dropped" : "error";
      if (turn.status !== "stopped") turn.error = err;
    } finally {
      if (frame) cancelAnimationFrame(frame);
      abort.current = null;
    }
    const ended = performance.now();
    const texts = turn.parts.filter((p) => p.kind === "text");
    const toSave = [];
    for (const part of turn.parts) {
      if (part.kind === "call") toSave.push(part.item);
      else if (part === texts[texts.length - 1]) {
        const out = turn.usage?.output_tokens;
        const note = turn.status === "stopped" ? "Stopped before the end."
          : turn.status === "dropped" ? "The connection dropped before the answer finished; this is what arrived."
          : turn.finish === "length" ? "Cut off at the max tokens limit." : undefined;
        toSave.push({
          type: "message", role: "assistant", content: [{ type: "output_text", text: part.text }],
          status: turn.status === "done" && turn.finish !== "length" ? "completed" : "incomplete",
          model, usage: turn.usage || undefined, knowledge: turn.knowledge || undefined, note,
          timing: {
            ttft_ms: firstToken != null ? Math.round(firstToken - started) : null,
            ms: Math.round(ended - started),
            tokens_per_second: out && firstToken != null && ended > firstToken ? out / ((ended - firstToken) / 1000) : null,
          },
        });
      } else toSave.push({ type: "message", role: "assistant", content: [{ type: "output_text", text: part.text }] });
    }
    if (toSave.length && !turn.error) {
      try {
        const saved = await api(`/v1/conversations/${convId}/items`, { method: "POST", body: { items: toSave } });
        setItems((prev) => [...prev, ...saved.data]);
        setPending(null);
      } catch (err) {
        setPending({ ...turn, status: "error", error: err });
      }
    } else if (toSave.length && turn.status === "dropped") {
      const saved = await api(`/v1/conversations/${convId}/items`, { method: "POST", body: { items: toSave } }).catch(() => null);
      if (saved) setItems((prev) => [...prev, ...saved.data]);
      setPending({ parts: [], status: "error", error: turn.error });
    } else {
      setPending(turn.error ? { ...turn, status: "error" } : null);
    }
    reloadConversations();
    if (inputRef.current) inputRef.current.focus();
  }

  async function streamChat(history, model, signal, turn, onText) {
    const messages = [];
    if (settings.system.trim()) messages.push({ role: "system", content: settings.system.trim() });
    for (const item of history) {
      if (item.type === "message" && (item.role === "user" || item.role === "assistant")) {
        messages.push({ role: item.role, content: textOf(item) });
      }
    }
    const body = {
      model, messages, stream: true, stream_options: { include_usage: true },
      temperature: num(settings.temperature), top_p: num(settings.top_p), max_tokens: num(settings.max_tokens),
    };
    if (settings.ground && settings.base) body.knowledge = { base: settings.base, mode: settings.mode, k: num(settings.k) || 4 };
    let done = false;
    for await (const { data } of sse("/v1/chat/completions", body, { signal })) {
      if (data === null) {
        done = true;
        break;
      }
      if (data.error) throw inBandError(data);
      if (data.knowledge) turn.knowledge = { ...(turn.knowledge || {}), ...data.knowledge };
      if (data.usage) turn.usage = { input_tokens: data.usage.prompt_tokens, output_tokens: data.usage.completion_tokens };
      for (const choice of data.choices || []) {
        if (choice.delta && choice.delta.content) onText(choice.delta.content);
        if (choice.finish_reason) turn.finish = choice.finish_reason;
      }
    }
    if (!done) throw new StreamDropped();
  }

  async function streamResponses(history, model, signal, turn, onText, schedule) {
    const input = [];
    for (const item of history) {
      if (item.type === "message" && (item.role === "user" || item.role === "assistant")) {
        input.push({ type: "message", role: item.role, content: textOf(item) });
      } else if (item.type === "mcp_call") {
        const { id, server_label, name, arguments: args, output, error } = item;
        input.push({ type: "mcp_call", id, server_label, name, arguments: args, output: output ?? null, error: error ?? null });
      }
    }
    const allowed = [];
    if (settings.calculator) allowed.push("calculator");
    if (settings.search && settings.base) allowed.push("search_knowledge");
    const tool = { type: "mcp", server_label: "cupola", allowed_tools: allowed, require_approval: "never" };
    if (settings.search && settings.base) tool.knowledge = { base: settings.base, mode: settings.mode, k: num(settings.k) || 4 };
    const body = {
      model, input, tools: [tool], stream: true, store: false, instructions: settings.system.trim() || undefined,
      temperature: num(settings.temperature), top_p: num(settings.top_p), max_output_tokens: num(settings.max_tokens),
    };
    let done = false;
    for await (const { event, data } of sse("/v1/responses", body, { signal })) {
      if (event === "error" || data.type === "error") throw inBandError(data.error ? data : { error: data });
      if (data.type === "response.output_text.delta") onText(data.delta);
      else if (data.type === "response.output_item.added" && data.item.type === "mcp_call") {
        turn.parts.push({ kind: "call", item: { ...data.item } });
        schedule();
      } else if (data.type === "response.output_item.done" && data.item.type === "mcp_call") {
        const part = turn.parts.find((p) => p.kind === "call" && p.item.id === data.item.id);
        if (part) part.item = { ...data.item };
        schedule();
      } else if (data.type === "response.completed" || data.type === "response.incomplete") {
        const usage = data.response.usage;
        if (usage && usage.output_tokens) turn.usage = { input_tokens: usage.input_tokens, output_tokens: usage.output_tokens };
        if (data.type === "response.incomplete") turn.finish = "length";
        done = true;
      } else if (data.type === "response.failed") {
        throw inBandError({ error: data.response.error || { message: "the response failed" } });
      }
    }
    if (!done) throw new StreamDropped();
  }

  async function send(e) {
    if (e) e.preventDefault();
    const text = draft.trim();
    if (!text || streaming || !settings.model) return;
    setError(null);
    let convId = current;
    try {
      const user = { type: "message", role: "user", content: [{ type: "input_text", text }] };
      if (!convId) {
        const conv = await api("/v1/conversations", {
          method: "POST", body: { metadata: { title: text.slice(0, 60) }, items: [user] },
        });
        convId = conv.id;
        const list = await loadItems(convId);
        setItems(list);
        setDraft("");
        // the address shows the conversation (without a hashchange, which would reload it)
        window.history.replaceState(null, "", `#/chat/${convId}`);
        setLocalId(convId);
        generate(convId, list);
        return;
      }
      const added = await api(`/v1/conversations/${convId}/items`, { method: "POST", body: { items: [user] } });
      const next = [...items, ...added.data];
      setItems(next);
      setDraft("");
      generate(convId, next);
    } catch (err) {
      setError(err);
    }
  }


  async function regenerate() {
    const lastUser = items.map((i) => i.type === "message" && i.role === "user").lastIndexOf(true);
    if (lastUser < 0 || streaming) return;
    try {
      for (const item of items.slice(lastUser + 1)) {
        await api(`/v1/conversations/${current}/items/${item.id}`, { method: "DELETE" });
      }
      const kept = items.slice(0, lastUser + 1);
      setItems(kept);
      generate(current, kept);
    } catch (err) {
      setError(err);
    }
  }

  const retry = () => !streaming && current && generate(current, items);
  const onKeyDown = (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) send(e);
  };
  const speech = models.find((m) => m.kind === "speech");
  const title = conversations.find((c) => c.id === current)?.metadata.title;

  return html`<div class="chat-page">
    <${Sidebar} conversations=${conversations} current=${current} reload=${reloadConversations}
      onNew=${() => { if (abort.current) abort.current.abort(); navigate("chat"); setLocalId(null); setItems([]); setPending(null); }} />
    <section class="chat-main" aria-label="Conversation">
      <h1 class="chat-title">${title || "New chat"}</h1>
      <${ErrorBox} error=${error} />
      ${items.length === 0 && !pending && html`<div class="welcome muted"><p>Ask anything. Answers stream from
        your local model; the conversation is kept on the server.</p></div>`}
      <${Transcript} items=${items} pending=${pending} onRegenerate=${regenerate} onRetry=${retry} onFirstPaint=${onFirstPaint} />
      <div ref=${endRef}></div>
      <form class="composer" onSubmit=${send}>
        <label for="composer-input" class="sr-only">Message</label>
        <textarea id="composer-input" ref=${inputRef} rows="3" value=${draft} placeholder="Message (Enter sends, Shift+Enter adds a line)"
          onInput=${(e) => setDraft(e.target.value)} onKeyDown=${onKeyDown}></textarea>
        <div class="row">
          ${speech && html`<${Transcribe} model=${speech.id} onText=${(t) => setDraft((d) => (d ? d + " " : "") + t)} />`}
          <span class="spacer"></span>
          ${streaming
            ? html`<button type="button" class="danger" onClick=${() => abort.current && abort.current.abort()}>Stop</button>`
            : html`<button type="submit" class="primary" disabled=${!draft.trim() || !settings.model}>Send</button>`}
        </div>
      </form>
    </section>
    <${SettingsPanel} settings=${settings} update=${update} models=${models} bases=${bases} streaming=${streaming} />
  </div>`;
}

