// REST helpers and the one SSE connection of the tab (EventSource: the browser reconnects by
// itself and sends Last-Event-ID, which the server resumes from exactly).

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function getJSON(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined) q.set(k, String(v));
  const url = q.toString() ? `${path}?${q}` : path;
  const resp = await fetch(url, { headers: { Accept: "application/json" } });
  let body = null;
  try {
    body = await resp.json();
  } catch {
    body = null;
  }
  if (!resp.ok) throw new ApiError(resp.status, (body && body.error) || resp.statusText);
  return body;
}

/** POST a JSON body; the answer's JSON, or ApiError with the server's message. */
export async function postJSON(path, body) {
  const resp = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  let doc = null;
  try {
    doc = await resp.json();
  } catch {
    doc = null;
  }
  if (!resp.ok) throw new ApiError(resp.status, (doc && doc.error) || resp.statusText);
  return doc;
}

/** Book-naming query parameters of a selection. */
export function bookParams(sel) {
  return { instrument_id: sel.iid, publisher_id: sel.pid, source: sel.source };
}

const EVENTS = ["snapshot", "book", "trade", "status", "end", "shutdown"];

/**
 * One playback stream. `handlers[event](doc, id)` for every SSE event; `onState(state)` with
 * "connecting" | "open" | "reconnecting" | "closed". When the browser gives up (an HTTP error:
 * EventSource closes for good), it retries itself with `from=` the last id after a backoff.
 */
export class Stream {
  constructor(handlers, onState) {
    this.handlers = handlers;
    this.onState = onState;
    this.es = null;
    this.gen = 0;
    this.lastId = null;
    this.params = null;
    this.retryTimer = null;
    this.backoff = 1000;
    this.reconnects = 0;
  }

  open(params) {
    this.close();
    this.params = { ...params };
    this.lastId = null;
    this._connect(this.params);
  }

  _connect(params) {
    const gen = ++this.gen;
    const q = new URLSearchParams();
    // live: the shared live broadcast of the book (no source, position or speed to give)
    const skip = params.live ? ["live", "source", "from", "speed"] : ["live"];
    for (const [k, v] of Object.entries(params)) {
      if (v !== null && v !== undefined && !skip.includes(k)) q.set(k, String(v));
    }
    const es = new EventSource(`${params.live ? "/api/v1/live" : "/api/v1/stream"}?${q}`);
    this.es = es;
    this.onState("connecting");
    es.onopen = () => {
      if (gen !== this.gen) return;
      this.backoff = 1000;
      this.onState("open");
    };
    es.onerror = () => {
      if (gen !== this.gen) return;
      if (es.readyState === EventSource.CONNECTING) {
        this.reconnects += 1;
        this.onState("reconnecting");
      } else {
        this.onState("closed");
        this._retry();
      }
    };
    for (const name of EVENTS) {
      es.addEventListener(name, (ev) => {
        if (gen !== this.gen) return;
        if (ev.lastEventId !== "") this.lastId = Number(ev.lastEventId);
        let doc = null;
        try {
          doc = JSON.parse(ev.data);
        } catch {
          return;
        }
        const fn = this.handlers[name];
        if (fn) fn(doc, this.lastId);
      });
    }
  }

  _retry() {
    clearTimeout(this.retryTimer);
    if (this.es) this.es.close();
    const delay = this.backoff;
    this.backoff = Math.min(10000, this.backoff * 2);
    this.retryTimer = setTimeout(() => {
      if (!this.params) return;
      this.reconnects += 1;
      const from = this.lastId !== null ? Math.max(0, this.lastId) : this.params.from;
      this._connect({ ...this.params, from });
    }, delay);
    this.onState("reconnecting");
  }

  /** Stop for good (pause, seek, instrument change): no reconnect. */
  close() {
    clearTimeout(this.retryTimer);
    this.gen += 1;
    this.params = null;
    if (this.es) {
      this.es.close();
      this.es = null;
    }
  }

  get active() {
    return this.es !== null && this.es.readyState !== EventSource.CLOSED;
  }
}
