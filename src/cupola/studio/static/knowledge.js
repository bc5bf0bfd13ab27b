// Knowledge: bases (create, settings, delete), uploads with progress and a result per file,
// the document list, and a search playground (one mode, or all three side by side).
import { html, useState, useEffect, useRef } from "./lib.js";
import { api, upload, describe, listModels } from "./api.js";
import { ErrorBox, Field, Empty, Progress, Highlight, queryTerms, fmtScore, fmtTime, fmtBytes, navigate, useLoad } from "./ui.js";

const MODES = ["lexical", "semantic", "hybrid"];

function CreateBase({ onCreated }) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [model, setModel] = useState("");
  const [chunk, setChunk] = useState("");
  const [overlap, setOverlap] = useState("");
  const [models, setModels] = useState([]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    listModels().then((list) => setModels(list.filter((m) => m.kind === "embedding"))).catch(() => {});
  }, []);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = { name: name.trim(), description };
      if (model) body.embedding_model = model;
      if (chunk) body.chunk_tokens = Number(chunk);
      if (overlap) body.chunk_overlap = Number(overlap);
      const base = await api("/api/kb", { method: "POST", body });
      setName("");
      setDescription("");
      onCreated(base.name);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="card" onSubmit=${submit} aria-label="Create a knowledge base">
    <h2>New knowledge base</h2>
    <${Field} label="Name" hint="letters, digits, '.', '_' and '-'">${(id) => html`<input id=${id} required
      pattern="[A-Za-z0-9][A-Za-z0-9._\\-]*" value=${name} onInput=${(e) => setName(e.target.value)} />`}</${Field}>
    <${Field} label="Description">${(id) => html`<input id=${id} value=${description}
      onInput=${(e) => setDescription(e.target.value)} />`}</${Field}>
    <details>
      <summary>Settings</summary>
      <${Field} label="Embedding model">${(id) => html`<select id=${id} value=${model} onChange=${(e) => setModel(e.target.value)}>
        <option value="">server default</option>${models.map((m) => html`<option value=${m.id}>${m.id}</option>`)}</select>`}</${Field}>
      <div class="grid2">
        <${Field} label="Chunk tokens">${(id) => html`<input id=${id} type="number" min="16" max="8192" placeholder="auto"
          value=${chunk} onInput=${(e) => setChunk(e.target.value)} />`}</${Field}>
        <${Field} label="Overlap tokens">${(id) => html`<input id=${id} type="number" min="0" placeholder="1/8"
          value=${overlap} onInput=${(e) => setOverlap(e.target.value)} />`}</${Field}>
      </div>
    </details>
    <${ErrorBox} error=${error} />
    <button type="submit" class="primary" disabled=${busy}>Create</button>
  </form>`;
}

function resultOf(report) {
  if (report.failed && report.failed.length) return { cls: "result-bad", text: `could not be parsed: ${report.failed[0].error}` };
  if (report.added || report.updated) {
    const verb = report.updated ? "updated" : "ingested";
    return { cls: "result-ok", text: `${verb}: ${report.chunks} chunks, ${report.embedded} embedded` + (report.warnings?.length ? ` (${report.warnings.join("; ")})` : "") };
  }
  if (report.unchanged) return { cls: "result-same", text: "unchanged (already in the base)" };
  return { cls: "result-same", text: "nothing to add" };
}

function Uploads({ base, onDone }) {
  const [queue, setQueue] = useState([]);
  const [over, setOver] = useState(false);
  const inputRef = useRef(null);
  const patch = (i, data) => setQueue((q) => q.map((u, j) => (j === i ? { ...u, ...data } : u)));
  const start = async (files) => {
    const list = [...files];
    if (!list.length) return;
    const offset = queue.length;
    setQueue((q) => [...q, ...list.map((f) => ({ name: f.name, size: f.size, loaded: 0, state: "waiting" }))]);
    for (let i = 0; i < list.length; i++) { // one request per file: one result per file
      const at = offset + i;
      patch(at, { state: "uploading" });
      try {
        const report = await upload(`/api/kb/${encodeURIComponent(base)}/documents`, list[i],
          (loaded, total) => patch(at, { loaded, size: total, state: loaded >= total ? "indexing" : "uploading" }));
        patch(at, { state: "done", loaded: list[i].size, result: resultOf(report) });
      } catch (err) {
        patch(at, { state: "done", result: { cls: "result-bad", text: describe(err) } });
      }
    }
    onDone();
  };
  const drop = (e) => {
    e.preventDefault();
    setOver(false);
    start(e.dataTransfer.files);
  };
  return html`<section aria-label="Upload files">
    <div class=${over ? "dropzone over" : "dropzone"} onDragOver=${(e) => { e.preventDefault(); setOver(true); }}
      onDragLeave=${() => setOver(false)} onDrop=${drop} data-testid="dropzone">
      <p>Drop Markdown, text, HTML or PDF files here, or
        <button type="button" class="small" onClick=${() => inputRef.current.click()}>choose files</button></p>
      <label class="sr-only" for="kb-files">Files to add</label>
      <input id="kb-files" ref=${inputRef} class="sr-only" type="file" multiple tabindex="-1"
        accept=".md,.markdown,.txt,.text,.html,.htm,.pdf" onChange=${(e) => { start(e.target.files); e.target.value = ""; }} />
    </div>
    ${queue.length > 0 && html`<ul class="uploads" aria-label="Uploads">
      ${queue.map((u, i) => html`<li key=${i}>
        <span><strong>${u.name}</strong> <span class="muted">${fmtBytes(u.size)}</span></span>
        ${u.state === "done" ? html`<span class="muted">done</span>`
          : u.state === "indexing" ? html`<span class="muted"><span class="spinner"></span> indexing</span>`
          : html`<${Progress} value=${u.loaded} max=${u.size} label=${`upload of ${u.name}`} />`}
        <span class=${u.result ? u.result.cls : "muted"} data-file=${u.name}>${u.result ? u.result.text : u.state}</span>
      </li>`)}
    </ul>`}
  </section>`;
}

function Documents({ base, version, onChange }) {
  const docs = useLoad(() => api(`/api/kb/${encodeURIComponent(base)}/documents?limit=1000`), [base, version]);
  const [error, setError] = useState(null);
  const remove = async (id) => {
    if (!window.confirm(`Remove ${id} from ${base}?`)) return;
    try {
      await api(`/api/kb/${encodeURIComponent(base)}/documents/${encodeURIComponent(id)}`, { method: "DELETE" });
      onChange();
    } catch (err) {
      setError(err);
    }
  };
  return html`<section aria-label="Documents">
    <h2>Documents</h2>
    <${ErrorBox} error=${docs.error || error} />
    ${docs.data && docs.data.data.length === 0 && html`<${Empty}>No documents yet: drop some files above.</${Empty}>`}
    ${docs.data && docs.data.data.length > 0 && html`<div class="table-wrap"><table>
      <thead><tr><th>Document</th><th>Title</th><th class="num">Chunks</th><th class="num">Characters</th>
        <th>Metadata</th><th>Added</th><th><span class="sr-only">Actions</span></th></tr></thead>
      <tbody>${docs.data.data.map((d) => html`<tr key=${d.doc_id}>
        <td><code>${d.doc_id}</code></td><td>${d.title}</td><td class="num">${d.chunks}</td><td class="num">${d.chars}</td>
        <td><code class="small">${Object.keys(d.metadata || {}).length ? JSON.stringify(d.metadata) : "—"}</code></td>
        <td class="small">${fmtTime(d.ingested_at)}</td>
        <td><button type="button" class="small ghost danger" aria-label=${`Remove ${d.doc_id}`} onClick=${() => remove(d.doc_id)}>Remove</button></td>
      </tr>`)}</tbody></table></div>`}
  </section>`;
}

function ResultsTable({ found, terms }) {
  const signals = found.mode === "hybrid" ? ["lexical", "semantic"] : [found.mode];
  return html`<div class="table-wrap"><table class="results">
    <thead><tr><th class="num">#</th><th>Document</th>
      ${signals.map((s) => html`<th class="num">${s} score (rank)</th>`)}
      <th class="num">${found.mode === "hybrid" ? "fused" : "score"}</th><th>Chunk</th></tr></thead>
    <tbody>${found.results.map((r, i) => html`<tr key=${r.chunk_id}>
      <td class="num">${i + 1}</td>
      <td><strong>${r.title || r.doc_id}</strong><br /><span class="muted small">${r.doc_id} · part ${r.position + 1}</span></td>
      ${signals.map((s) => html`<td class="num">${fmtScore(r.scores[s])} ${r.ranks[s] != null ? `(${r.ranks[s]})` : ""}</td>`)}
      <td class="num">${fmtScore(r.score)}</td>
      <td><div class="chunk"><${Highlight} text=${r.text} terms=${terms} /></div></td>
    </tr>`)}</tbody>
  </table></div>`;
}

function Playground({ base }) {
  const [query, setQuery] = useState("");
  const [mode, setMode] = useState("hybrid");
  const [compare, setCompare] = useState(false);
  const [k, setK] = useState(5);
  const [filters, setFilters] = useState("");
  const [results, setResults] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const search = async (e) => {
    e.preventDefault();
    setError(null);
    let parsed;
    if (filters.trim()) {
      try {
        parsed = JSON.parse(filters);
      } catch {
        setError(new Error('Filters must be a JSON object, e.g. {"tags": "faq"}'));
        return;
      }
    }
    setBusy(true);
    try {
      const modes = compare ? MODES : [mode];
      const found = await Promise.all(modes.map((m) => api(`/api/kb/${encodeURIComponent(base)}/search`, {
        method: "POST", body: { query, mode: m, k: Number(k) || 5, filters: parsed },
      })));
      setResults({ query, list: found });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const terms = queryTerms(results?.query);
  return html`<section aria-label="Search playground">
    <form class="card" onSubmit=${search}>
      <${Field} label="Query">${(id) => html`<input id=${id} type="search" required value=${query}
        onInput=${(e) => setQuery(e.target.value)} />`}</${Field}>
      <div class="row">
        <fieldset class="row" disabled=${compare}>
          <legend class="sr-only">Mode</legend>
          ${MODES.map((m) => html`<span class="check"><input id=${`mode-${m}`} type="radio" name="mode" value=${m}
            checked=${mode === m} onChange=${() => setMode(m)} /><label for=${`mode-${m}`}>${m}</label></span>`)}
        </fieldset>
        <span class="check"><input id="compare" type="checkbox" checked=${compare}
          onChange=${(e) => setCompare(e.target.checked)} /><label for="compare">all three side by side</label></span>
      </div>
      <div class="grid2">
        <${Field} label="k">${(id) => html`<input id=${id} type="number" min="1" max="100" value=${k}
          onInput=${(e) => setK(e.target.value)} />`}</${Field}>
        <${Field} label="Metadata filters (JSON)" hint='e.g. {"tags": "faq"} or {"year": {"$gte": 2020}}'>${(id) => html`<input
          id=${id} value=${filters} placeholder="{}" onInput=${(e) => setFilters(e.target.value)} />`}</${Field}>
      </div>
      <button type="submit" class="primary" disabled=${busy}>${busy ? "Searching…" : "Search"}</button>
    </form>
    <${ErrorBox} error=${error} />
    ${results && results.list.length === 1 && html`<div>
      <p class="muted small">${results.list[0].results.length} results · ${results.list[0].mode}
        ${results.list[0].fallback ? ` (${results.list[0].fallback})` : ""} · ${results.list[0].took_ms} ms</p>
      <${ResultsTable} found=${results.list[0]} terms=${terms} /></div>`}
    ${results && results.list.length === 3 && html`<div class="compare">
      ${results.list.map((found) => html`<section class="card" aria-label=${`${found.requested_mode} results`}>
        <h3>${found.requested_mode} <span class="muted small">${found.took_ms} ms${found.fallback ? " · fell back to lexical" : ""}</span></h3>
        <ol>${found.results.map((r) => html`<li key=${r.chunk_id}><strong>${r.title || r.doc_id}</strong>
          <span class="muted small"> score ${fmtScore(r.score)}</span>
          <div class="chunk"><${Highlight} text=${r.text} terms=${terms} /></div></li>`)}</ol>
        ${found.results.length === 0 && html`<${Empty}>No results.</${Empty}>`}
      </section>`)}
    </div>`}
  </section>`;
}

function BaseView({ name, onDeleted, onChanged }) {
  const [version, bump] = useState(0);
  const setVersion = (f) => {
    bump(f);
    onChanged();
  };
  const [tab, setTab] = useState("documents");
  const info = useLoad(() => api(`/api/kb/${encodeURIComponent(name)}`), [name, version]);
  const [error, setError] = useState(null);
  const remove = async () => {
    if (!window.confirm(`Delete the knowledge base ${name} and all its documents?`)) return;
    try {
      await api(`/api/kb/${encodeURIComponent(name)}`, { method: "DELETE" });
      onDeleted();
    } catch (err) {
      setError(err);
    }
  };
  const b = info.data;
  return html`<section aria-label=${`Knowledge base ${name}`}>
    <div class="row"><h1>${name}</h1><span class="spacer"></span>
      <button type="button" class="ghost danger" onClick=${remove}>Delete base</button></div>
    <${ErrorBox} error=${info.error || error} />
    ${b && html`<dl class="kv">
      <dt>Description</dt><dd>${b.description || "—"}</dd>
      <dt>Embedding model</dt><dd>${b.embedding_model}</dd>
      <dt>Chunks</dt><dd>${b.chunk_tokens} tokens, ${b.chunk_overlap} overlap</dd>
      <dt>Contents</dt><dd>${b.documents} documents, ${b.chunks} chunks (${b.chunks_embedded} embedded)</dd>
    </dl>`}
    <div class="tabs" role="tablist">
      <button type="button" role="tab" aria-selected=${tab === "documents"} onClick=${() => setTab("documents")}>Documents</button>
      <button type="button" role="tab" aria-selected=${tab === "search"} onClick=${() => setTab("search")}>Search playground</button>
    </div>
    ${tab === "documents"
      ? html`<${Uploads} base=${name} onDone=${() => setVersion((v) => v + 1)} />
             <${Documents} base=${name} version=${version} onChange=${() => setVersion((v) => v + 1)} />`
      : html`<${Playground} base=${name} />`}
  </section>`;
}

export function KnowledgePage({ route }) {
  const selected = route.rest[0] || null;
  const [version, setVersion] = useState(0);
  const bases = useLoad(() => api("/api/kb"), [version]);
  return html`<div class="split">
    <aside aria-label="Knowledge bases">
      <h1>Knowledge</h1>
      <${ErrorBox} error=${bases.error} />
      <ul class="list">
        ${(bases.data?.data || []).map((b) => html`<li key=${b.name}><a href=${`#/knowledge/${encodeURIComponent(b.name)}`}
          aria-current=${selected === b.name ? "page" : undefined}>${b.name}
          <span class="muted small"> ${b.documents} docs</span></a></li>`)}
      </ul>
      ${bases.data && bases.data.data.length === 0 && html`<${Empty}>No knowledge bases yet.</${Empty}>`}
      <${CreateBase} onCreated=${(name) => { setVersion((v) => v + 1); navigate("knowledge", name); }} />
    </aside>
    <div>
      ${selected ? html`<${BaseView} key=${selected} name=${selected} onChanged=${() => setVersion((v) => v + 1)}
          onDeleted=${() => { setVersion((v) => v + 1); navigate("knowledge"); }} />`
        : html`<${Empty}>Choose a knowledge base, or create one.</${Empty}>`}
    </div>
  </div>`;
}
