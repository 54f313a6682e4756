// Server-sent events over `fetch` (EventSource cannot send the bearer header): an incremental
// parser that accepts any chunking, and a reader that reconnects with `Last-Event-ID`.
import { ApiError, authHeaders, buildUrl, type Query } from "./client";

export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

/** The text/event-stream grammar (WHATWG HTML §9.2.6), fed chunk by chunk. */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  private id: string | null = null;
  /** The id of the last event dispatched (what `Last-Event-ID` sends on reconnect). */
  lastEventId: string | null = null;
  retryMs: number | null = null;
  private skipLeadingNewline = false;

  feed(chunk: string): SseEvent[] {
    let text = this.buffer + chunk;
    if (this.skipLeadingNewline && text.startsWith("\n")) text = text.slice(1);
    this.skipLeadingNewline = false;
    const out: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c !== "\n" && c !== "\r") continue;
      if (c === "\r" && i === text.length - 1) {
        // a CR at the end of a chunk: the LF of a CRLF may come in the next one
        this.skipLeadingNewline = true;
      }
      this.line(text.slice(start, i), out);
      if (c === "\r" && text[i + 1] === "\n") i++;
      start = i + 1;
    }
    this.buffer = text.slice(start);
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === "") {
      this.dispatch(out);
      return;
    }
    if (line.startsWith(":")) return; // a comment (keepalive)
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    else if (field === "id" && !value.includes("\0")) this.id = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
  }

  private dispatch(out: SseEvent[]): void {
    if (this.id !== null) this.lastEventId = this.id;
    if (this.data.length > 0) {
      out.push({ id: this.lastEventId, event: this.event || "message", data: this.data.join("\n") });
    }
    this.data = [];
    this.event = "";
    this.id = null;
  }
}

export interface StreamOptions {
  query?: Query;
  lastEventId?: string | null;
  signal: AbortSignal;
  onEvent: (event: SseEvent) => void;
  onStatus?: (status: "connecting" | "open" | "retrying", error?: unknown) => void;
  /** Delay before reconnecting after the stream ends or fails. */
  retryMs?: number;
}

/** Reads the stream until `signal` aborts, reconnecting (with the last id seen) when it drops. */
export async function readEventStream(path: "/v1/stream/decisions", options: StreamOptions): Promise<void> {
  let lastEventId = options.lastEventId ?? null;
  let retry = options.retryMs ?? 2000;
  while (!options.signal.aborted) {
    const parser = new SseParser();
    options.onStatus?.("connecting");
    try {
      const headers: Record<string, string> = { Accept: "text/event-stream", ...authHeaders() };
      if (lastEventId) headers["Last-Event-ID"] = lastEventId;
      const response = await fetch(buildUrl(path, {}, options.query), { headers, signal: options.signal });
      if (!response.ok || !response.body) throw new ApiError(response.status, `stream: HTTP ${response.status}`);
      options.onStatus?.("open");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const event of parser.feed(value)) {
          lastEventId = event.id ?? lastEventId;
          options.onEvent(event);
        }
      }
      if (parser.retryMs !== null) retry = parser.retryMs;
    } catch (error) {
      if (options.signal.aborted) return;
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) throw error;
      options.onStatus?.("retrying", error);
    }
    if (options.signal.aborted) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, retry);
      options.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
  }
}
