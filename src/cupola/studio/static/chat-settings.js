// The chat page's settings (model, sampling, knowledge grounding, tools; kept in local storage) and
// the transcription button shown when the server lists a speech model.
import { html, useState, useRef, useCallback } from "./lib.js";
import { api, describe } from "./api.js";
import { Field } from "./ui.js";

const SETTINGS_KEY = "cupola.chat.settings";
const DEFAULTS = {
  model: "", system: "", temperature: "", top_p: "", max_tokens: "",
  ground: false, base: "", mode: "hybrid", k: 4, calculator: false, search: false,
};

export function useSettings() {
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

function ModelSelect({ id, models, value, onChange }) {
  const groups = {};
  for (const m of models) (groups[m.location] ||= []).push(m);
  const label = (loc) => (loc === "local" ? "Local" : loc === "router" ? "Router" : loc.replace(/^upstream:/, "Upstream: "));
  return html`<select id=${id} value=${value} onChange=${(e) => onChange(e.target.value)}>
    ${Object.entries(groups).map(([loc, list]) => html`<optgroup label=${label(loc)}>
      ${list.map((m) => html`<option value=${m.id}>${m.id}</option>`)}</optgroup>`)}
  </select>`;
}

export function SettingsPanel({ settings, update, models, bases, streaming }) {
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

export function Transcribe({ model, onText }) {
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
  const fileRef = useRef(null);
  return html`<span class="transcribe">
    <button type="button" class="small ghost" onClick=${() => fileRef.current.click()}>Transcribe a file</button>
    <label class="sr-only" for="transcribe-file">Audio file to transcribe</label>
    <input id="transcribe-file" ref=${fileRef} class="sr-only" type="file" accept="audio/*" tabindex="-1"
      onChange=${(e) => { if (e.target.files[0]) send(e.target.files[0], e.target.files[0].name); e.target.value = ""; }} />
    <button type="button" class="small ghost" onClick=${record} aria-pressed=${!!recorder}>
      ${recorder ? "Stop recording" : "Record"}</button>
    ${busy && html`<span class="spinner" aria-label="transcribing"></span>`}
    ${error && html`<span class="error-text" role="alert">${describe(error)}</span>`}
  </span>`;
}
