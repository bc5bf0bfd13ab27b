// Markdown for model output: parsed by marked with raw HTML turned into visible text (a model
// that writes "<script>" shows "<script>"), then sanitized by DOMPurify into a DOM fragment
// (never assigned as an HTML string) as a second layer: scripts, event handlers, styles, images,
// forms and frames are removed, javascript: links lose their target, links open in a new tab
// without a referrer.
import { html, useEffect, useRef } from "./lib.js";
import { marked } from "./vendor/marked.esm.js";
import DOMPurify from "./vendor/purify.es.mjs";

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

marked.use({
  gfm: true,
  breaks: false,
  renderer: {
    html(token) {
      return escapeHtml(token.raw ?? token.text ?? "");
    },
  },
});

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});

const PURIFY = {
  RETURN_DOM_FRAGMENT: true,
  FORBID_TAGS: ["style", "img", "svg", "math", "form", "input", "button", "textarea", "select", "iframe", "video", "audio"],
  FORBID_ATTR: ["style", "class", "id"],
  ALLOW_DATA_ATTR: false,
};

export function markdownFragment(text) {
  return DOMPurify.sanitize(marked.parse(text || "", { async: false }), PURIFY);
}

const CITE = /\[(\d+(?:\s*,\s*\d+)*)\]/g;

// Turn "[n]" markers into links to the sources with those numbers (text nodes outside code only).
function linkCitations(root, known, onCite) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.parentElement || !n.parentElement.closest("code, pre, a")) nodes.push(n);
  }
  for (const node of nodes) {
    const text = node.nodeValue;
    CITE.lastIndex = 0;
    if (!CITE.test(text)) continue;
    CITE.lastIndex = 0;
    const out = document.createDocumentFragment();
    let last = 0;
    for (const match of text.matchAll(CITE)) {
      const numbers = match[1].split(",").map((s) => parseInt(s, 10));
      if (!numbers.every((n) => known.has(n))) continue;
      out.append(text.slice(last, match.index));
      numbers.forEach((n, i) => {
        const a = document.createElement("a");
        a.className = "cite";
        a.href = `#source-${n}`;
        a.textContent = `[${n}]`;
        a.dataset.n = String(n);
        a.setAttribute("aria-label", `source ${n}`);
        a.addEventListener("click", (e) => {
          e.preventDefault();
          onCite && onCite(n);
        });
        out.append(a);
        if (i < numbers.length - 1) out.append(" ");
      });
      last = match.index + match[0].length;
    }
    out.append(text.slice(last));
    node.replaceWith(out);
  }
}

function addCopyButtons(root) {
  for (const pre of root.querySelectorAll("pre")) {
    const wrap = document.createElement("div");
    wrap.className = "code";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy small";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy code");
    button.addEventListener("click", async () => {
      await navigator.clipboard.writeText(pre.textContent);
      button.textContent = "Copied";
      setTimeout(() => (button.textContent = "Copy"), 1200);
    });
    pre.replaceWith(wrap);
    wrap.append(button, pre);
  }
}

// <Markdown text=... citations=Set|null onCite=fn />
export function Markdown({ text, cite, onCite, onRender }) {
  const ref = useRef(null);
  useEffect(() => {
    const fragment = markdownFragment(text);
    if (cite && cite.size) linkCitations(fragment, cite, onCite);
    addCopyButtons(fragment);
    ref.current.replaceChildren(fragment);
    if (onRender) onRender();
  }, [text, cite]);
  return html`<div class="md" ref=${ref}></div>`;
}
