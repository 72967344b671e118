// Watching a procedure's stream from a test: SSE read incrementally through the
// Worker's fetch handler, and WebSockets through the upgrade it answers.
import { exports } from "cloudflare:workers";
import { ADMIN_TOKEN } from "./helpers";

export interface Message {
  id: string | null;
  event: string;
  data: any;
}

export interface StreamOptions {
  token?: string | null;
  lastEventId?: string;
  query?: string;
  websocket?: boolean;
}

export function streamRequest(id: string, options: StreamOptions = {}): Promise<Response> {
  const headers = new Headers({ accept: options.websocket ? "*/*" : "text/event-stream" });
  const token = options.token === undefined ? ADMIN_TOKEN : options.token;
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  if (options.lastEventId) headers.set("last-event-id", options.lastEventId);
  if (options.websocket) headers.set("upgrade", "websocket");
  return exports.default.fetch(new Request(`http://procedure-edge.test/v1/procedures/${id}/stream${options.query ? `?${options.query}` : ""}`, { headers }));
}

/** An open SSE stream: `next(n)` resolves with the next n messages (comments are collected apart). */
export async function openSse(id: string, options: StreamOptions = {}) {
  const response = await streamRequest(id, options);
  if (response.status !== 200) throw new Error(`stream answered ${response.status}: ${await response.text()}`);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const queue: Message[] = [];
  const comments: string[] = [];
  let done = false;
  async function fill(): Promise<boolean> {
    const chunk = await reader.read();
    if (chunk.done) {
      done = true;
      return false;
    }
    buffer += decoder.decode(chunk.value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const message: Message = { id: null, event: "message", data: undefined };
      let isMessage = false;
      for (const line of frame.split("\n")) {
        if (line.startsWith(":")) comments.push(line.slice(1).trim());
        else if (line.startsWith("id: ")) message.id = line.slice(4);
        else if (line.startsWith("event: ")) message.event = line.slice(7);
        else if (line.startsWith("data: ")) {
          message.data = JSON.parse(line.slice(6));
          isMessage = true;
        }
      }
      if (isMessage) queue.push(message);
    }
    return true;
  }
  return {
    response,
    comments,
    async next(n: number): Promise<Message[]> {
      while (queue.length < n && (await fill()));
      if (queue.length < n) throw new Error(`the stream ended after ${queue.length} of ${n} messages: ${JSON.stringify(queue)}`);
      return queue.splice(0, n);
    },
    /** Every message until the stream ends. */
    async rest(): Promise<Message[]> {
      while (await fill());
      return queue.splice(0);
    },
    get ended() {
      return done;
    },
    close: () => reader.cancel(),
  };
}

/** An open WebSocket stream: messages as they come, and the close. */
export async function openSocket(id: string, options: StreamOptions = {}) {
  const response = await streamRequest(id, { ...options, websocket: true });
  if (response.status !== 101 || !response.webSocket) throw new Error(`stream answered ${response.status}: ${await response.text()}`);
  const ws = response.webSocket;
  const queue: Message[] = [];
  const texts: string[] = [];
  let waiter: (() => void) | null = null;
  let closed: { code: number; reason: string } | null = null;
  const wake = () => {
    waiter?.();
    waiter = null;
  };
  ws.addEventListener("message", (event) => {
    const text = String(event.data);
    if (text.startsWith("{")) queue.push(JSON.parse(text) as Message);
    else texts.push(text);
    wake();
  });
  ws.addEventListener("close", (event) => {
    closed = { code: event.code, reason: event.reason };
    wake();
  });
  ws.accept();
  const until = async (ready: () => boolean) => {
    while (!ready()) {
      if (closed) return;
      await new Promise<void>((resolve) => (waiter = resolve));
    }
  };
  return {
    ws,
    async next(n: number): Promise<Message[]> {
      await until(() => queue.length >= n);
      if (queue.length < n) throw new Error(`the socket closed after ${queue.length} of ${n} messages`);
      return queue.splice(0, n);
    },
    async text(): Promise<string> {
      await until(() => texts.length > 0);
      return texts.shift()!;
    },
    async closed(): Promise<{ code: number; reason: string }> {
      await until(() => closed !== null);
      return closed!;
    },
    pending: () => queue.length,
  };
}
