// Talking to Cupola's public APIs: JSON requests, SSE and NDJSON streams, uploads with progress.
// The API key (when the server has one) is kept in the browser's session (or, if the user asks,
// local) storage and sent as a bearer token; never in a URL.

const KEY = "cupola.apiKey";

export function apiKey() {
  return sessionStorage.getItem(KEY) || localStorage.getItem(KEY) || "";
}

export function setApiKey(key, remember) {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
  if (key) (remember ? localStorage : sessionStorage).setItem(KEY, key);
}

const authListeners = new Set();
export function onAuthNeeded(fn) {
  authListeners.add(fn);
  return () => authListeners.delete(fn);
}

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const err = (body && body.error) || {};
    super(err.message || `the server answered ${status}`);
    this.status = status;
    this.code = err.code || null;
    this.param = err.param || null;
    this.type = err.type || null;
    this.retryAfter = retryAfter || null;
  }
}

// A stream that ended (or broke) before its last event.
export class StreamDropped extends Error {
  constructor(detail) {
    super("The connection dropped before the answer finished" + (detail ? ` (${detail})` : "") + ".");
    this.name = "StreamDropped";
  }
}

export function authHeaders(extra = {}) {
  const headers = { ...extra };
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

async function errorOf(resp) {
  let body;
  try {
    body = await resp.json();
  } catch {
    body = { error: { message: `${resp.status} ${resp.statusText}` } };
  }
  const err = new ApiError(resp.status, body, resp.headers.get("Retry-After"));
  if (resp.status === 401) authListeners.forEach((fn) => fn(err));
  return err;
}

export async function api(path, { method = "GET", body, signal, raw = false, form } = {}) {
  let resp;
  const init = { method, signal, headers: authHeaders(body !== undefined ? { "Content-Type": "application/json" } : {}) };
  if (body !== undefined) init.body = JSON.stringify(body);
  if (form !== undefined) init.body = form;
  try {
    resp = await fetch(path, init);
  } catch (exc) {
    if (exc.name === "AbortError") throw exc;
    throw new ApiError(0, { error: { message: "Cannot reach the Cupola server. Is `cupola serve` still running?" } });
  }
  if (!resp.ok) throw await errorOf(resp);
  return raw ? resp : resp.json();
}

// A readable message for any error the pages show.
export function describe(err) {
  if (!err) return "";
  if (err.name === "AbortError") return "Stopped.";
  if (!(err instanceof ApiError)) return err.message || String(err);
  const message = err.message.replace(/\s+$/, "");
  if (err.status === 429) {
    return `The server is busy: ${message}` + (err.retryAfter ? ` Try again in ${err.retryAfter} s.` : "");
  }
  if (err.code === "context_length_exceeded") {
    return `This is too long for the model's context window: ${message}. Start a new conversation, or shorten it.`;
  }
  if (err.status === 404 && err.code === "model_not_found") return `Model not found: ${message}`;
  if (err.status === 401) return "This server needs an API key: enter it to continue.";
  return message;
}

async function* lines(resp, signal) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let first = true;
  try {
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (exc) {
        if (signal && signal.aborted) throw new DOMException("stopped", "AbortError");
        throw new StreamDropped(exc.message);
      }
      if (chunk.done) break;
      if (first) {
        performance.mark("studio:first-bytes");
        first = false;
      }
      buffer += decoder.decode(chunk.value, { stream: true });
      let at;
      while ((at = buffer.indexOf("\n")) >= 0) {
        yield buffer.slice(0, at).replace(/\r$/, "");
        buffer = buffer.slice(at + 1);
      }
    }
    if (buffer) yield buffer;
  } finally {
    reader.releaseLock();
  }
}

// Server-sent events: yields {event, data} (data parsed as JSON; null for "[DONE]").
export async function* sse(path, body, { signal } = {}) {
  const resp = await api(path, { method: "POST", body, signal, raw: true });
  let event = null;
  let data = [];
  for await (const line of lines(resp, signal)) {
    if (line === "") {
      if (data.length) {
        const text = data.join("\n");
        yield { event, data: text === "[DONE]" ? null : JSON.parse(text) };
      }
      event = null;
      data = [];
    } else if (line.startsWith("event:")) {
      event = line.slice(6).trim();
    } else if (line.startsWith("data:")) {
      data.push(line.slice(5).replace(/^ /, ""));
    }
  }
}

// Newline-delimited JSON: yields one object per line.
export async function* ndjson(path, body, { signal } = {}) {
  const resp = await api(path, { method: "POST", body, signal, raw: true });
  for await (const line of lines(resp, signal)) {
    if (line.trim()) yield JSON.parse(line);
  }
}

// In-band errors of streams (the status line was already sent).
export function inBandError(body) {
  return new ApiError(500, body);
}

// Upload one file as multipart (field `files`) with upload progress; resolves to the JSON answer.
export function upload(path, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    const key = apiKey();
    if (key) xhr.setRequestHeader("Authorization", `Bearer ${key}`);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded, e.total);
    xhr.onerror = () => reject(new ApiError(0, { error: { message: "the upload failed: cannot reach the server" } }));
    xhr.onload = () => {
      let body;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = { error: { message: `${xhr.status} ${xhr.statusText}` } };
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else {
        const err = new ApiError(xhr.status, body, xhr.getResponseHeader("Retry-After"));
        if (xhr.status === 401) authListeners.forEach((fn) => fn(err));
        reject(err);
      }
    };
    const form = new FormData();
    form.append("files", file, file.name);
    xhr.send(form);
  });
}

// The models the server lists (/v1/models), with kind and location.
export async function listModels() {
  const data = await api("/v1/models");
  return data.data.map((m) => ({ ...m, kind: m.kind || "chat", location: m.location || "local" }));
}
