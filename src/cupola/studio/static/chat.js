// Chat: conversations kept on the server (/v1/conversations), answers streamed from
// /v1/chat/completions (optionally grounded in a knowledge base) or, with tools, from
// /v1/responses with Cupola's server-run tools.
import { html, useState, useEffect, useRef, useCallback } from "./lib.js";
import { api, sse, inBandError, listModels, StreamDropped } from "./api.js";
import { ErrorBox, navigate, Empty } from "./ui.js";
import { Transcript, textOf } from "./transcript.js";
import { SettingsPanel, Transcribe, useSettings } from "./chat-settings.js";

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
  const viewing = useRef(current); // the conversation on screen, for answers that finish after a switch
  viewing.current = current;
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

  // `conversation` is the conversation's id, or a promise of it (while it is being created): the
  // answer starts streaming at once and is saved when both are there.
  async function generate(conversation, history) {
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
    let convId;
    try {
      convId = await conversation;
    } catch (err) {
      setPending({ ...turn, status: "error", error: err }); // the question could not be saved: say so
      return;
    }
    const here = () => viewing.current === convId; // still looking at this conversation?
    if (toSave.length && !turn.error) {
      try {
        const saved = await api(`/v1/conversations/${convId}/items`, { method: "POST", body: { items: toSave } });
        if (here()) {
          setItems((prev) => [...prev, ...saved.data]);
          setPending(null);
        }
      } catch (err) {
        if (here()) setPending({ ...turn, status: "error", error: err });
      }
    } else if (toSave.length && turn.status === "dropped") {
      const saved = await api(`/v1/conversations/${convId}/items`, { method: "POST", body: { items: toSave } }).catch(() => null);
      if (here()) {
        if (saved) setItems((prev) => [...prev, ...saved.data]);
        setPending({ parts: [], status: "error", error: turn.error });
      }
    } else if (here()) {
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
    const convId = current;
    const user = { type: "message", role: "user", content: [{ type: "input_text", text }] };
    // The question is shown and answered at once, and saved meanwhile (the answer is saved after it).
    const shown = { ...user, id: `local_${Date.now()}` };
    setItems((prev) => [...prev, shown]);
    setDraft("");
    const saving = convId
      ? api(`/v1/conversations/${convId}/items`, { method: "POST", body: { items: [user] } })
          .then((added) => ({ id: convId, saved: added.data[0] }))
      : api("/v1/conversations", { method: "POST", body: { metadata: { title: text.slice(0, 60) }, items: [user] } })
          .then(async (conv) => ({ id: conv.id, saved: (await loadItems(conv.id))[0] }));
    const saved = saving.then(({ id, saved: item }) => {
      if (!convId) {
        if (viewing.current !== null) return id; // the user moved on: the conversation is still saved
        // the address shows the new conversation (without a hashchange, which would reload it)
        window.history.replaceState(null, "", `#/chat/${id}`);
        setLocalId(id);
        viewing.current = id;
        reloadConversations();
      }
      if (viewing.current === id) setItems((prev) => prev.map((i) => (i.id === shown.id ? item : i)));
      return id;
    });
    saved.catch((err) => setError(err));
    generate(saved, [...items, shown]);
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
