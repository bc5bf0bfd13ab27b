// The conversation as the chat page draws it: messages (Markdown answers with their stats, copy
// and regenerate), server-run tool calls inline, and the sources panel of grounded answers.
import { html, useState, useRef, useMemo } from "./lib.js";
import { Markdown } from "./markdown.js";
import { ErrorBox, fmtMs, fmtScore } from "./ui.js";

export function textOf(item) {
  return (item.content || []).map((p) => p.text ?? p.refusal ?? "").join("");
}

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

export function Transcript({ items, pending, onRegenerate, onRetry, onFirstPaint }) {
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
