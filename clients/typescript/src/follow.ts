// Following a procedure live: its Server-Sent Events stream, read with fetch
// (so the bearer token travels in a header, never in a URL), and reopened
// from the last message's id whenever the connection drops. The service
// replays what followed that id from the procedure's own record, so a
// reconnect neither repeats nor misses a message.
import { problemOf } from "./errors.ts";
import type { Transport } from "./http.ts";
import { backoffMs } from "./retry.ts";

/** One message of the stream: `state`, an event type (`ProcedureHeld`, ...) or `activity`. */
export interface StreamMessage {
  id: string;
  event: string;
  data: unknown;
}

export interface Following {
  /** Stops following; `done` then resolves. */
  stop(): void;
  /** Resolves when the stream ended for good (the procedure ended, or stop()); rejects on a refusal. */
  done: Promise<void>;
}

/** Splits SSE text into messages; comments (keepalives) are skipped, a partial frame waits for more text. */
export function parseFrames(buffer: string): { messages: StreamMessage[]; rest: string } {
  const messages: StreamMessage[] = [];
  const frames = buffer.split("\n\n");
  const rest = frames.pop() ?? "";
  for (const frame of frames) {
    let id = "";
    let event = "message";
    const data: string[] = [];
    for (const line of frame.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (data.length > 0) messages.push({ id, event, data: JSON.parse(data.join("\n")) });
  }
  return { messages, rest };
}

/**
 * Follows `procedureId`'s stream, calling `onMessage` for each message in
 * order. A dropped connection is reopened after a growing delay with
 * `Last-Event-ID`; a refusal (401, 403, 404, 409) ends it with the problem.
 */
export function follow(
  http: Transport,
  procedureId: string,
  onMessage: (message: StreamMessage) => void,
  options: { after?: string } = {},
): Following {
  const stopped = new AbortController();
  let lastId = options.after ?? null;

  const run = async () => {
    for (let attempt = 1; !stopped.signal.aborted; attempt++) {
      let response: Response;
      try {
        response = await http.open(`/v1/procedures/${encodeURIComponent(procedureId)}/stream`, {
          accept: "text/event-stream",
          ...(lastId === null ? {} : { "last-event-id": lastId }),
        }, stopped.signal);
      } catch (error) {
        if (stopped.signal.aborted) return;
        await http.clock.sleep(backoffMs(http.policy, attempt));
        continue;
      }
      if (!response.ok || response.body === null) {
        if (response.status === 429 || response.status >= 500) {
          await response.body?.cancel();
          await http.clock.sleep(backoffMs(http.policy, attempt));
          continue;
        }
        throw await problemOf(response);
      }
      const ended = await read(response.body, (message) => {
        lastId = message.id;
        attempt = 0;
        onMessage(message);
      }).catch(() => false);
      if (ended) return;
    }
  };

  // True when the service closed the stream itself (the procedure ended).
  async function read(body: ReadableStream<Uint8Array>, deliver: (message: StreamMessage) => void): Promise<boolean> {
    const decoder = new TextDecoder();
    let buffer = "";
    let terminal = false;
    const reader = body.getReader();
    stopped.signal.addEventListener("abort", () => void reader.cancel().catch(() => {}), { once: true });
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return terminal || stopped.signal.aborted;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      const parsed = parseFrames(buffer);
      buffer = parsed.rest;
      for (const message of parsed.messages) {
        deliver(message);
        if (message.event === "state") terminal = isTerminal(message.data);
      }
    }
  }

  return { stop: () => stopped.abort(), done: run() };
}

/** The statuses a stream ends on; the client is built on its own, so it keeps this copy of the service's list (a unit test holds them equal). */
export const FINISHED_STATUSES = ["Completed", "Aborted", "Truncated"] as const;
const TERMINAL: ReadonlySet<string> = new Set(FINISHED_STATUSES);

function isTerminal(state: unknown): boolean {
  return typeof state === "object" && state !== null && TERMINAL.has((state as { status?: string }).status ?? "");
}
