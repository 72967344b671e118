// A procedure's live feed inside its object: who is watching, what each has
// been sent, and the broadcast after every commit. WebSocket subscribers are
// hibernatable: the runtime keeps the connections while the object sleeps;
// each socket's attachment holds the position it started from and storage
// holds where the last broadcast left every socket, so a broadcast after a
// wake (or after an eviction) sends each exactly what it has not seen.
// SSE subscribers are plain streams: while one is open the object stays in memory
// (an HTTP response is tied to the instance that serves it); they end with it.
import type { ProcedureView } from "../procedure/view";
import type { Refusal } from "../procedure/refusal";
import type { Clock, Job, JobHandler, JobTable } from "../procedure/object/schedule";
import { lastSeq, recordsAfter, replayTooLong, stateMessage, type LiveMessage } from "./feed";
import { beyond, ORIGIN, samePosition, type Position, type StreamId } from "./position";
import { SseSubscriber, sseFrames } from "./sse";
import { BOOTSTRAP_ADMIN_ID } from "../auth/principals";
import type { TicketHolder } from "./tickets";

/** Who holds a stream open: the principal and the token that opened it (its rotation, revocation or expiry ends the stream). */
export type StreamHolder = TicketHolder;

/** The limits a procedure's feed enforces; the README lists them. A test may lower them. */
export interface LiveLimits {
  /** Open SSE subscribers per procedure: each holds the object in memory. */
  sseSubscribers: number;
  /** Open SSE subscribers of one principal per procedure, so one principal cannot take every slot. */
  sseSubscribersPerPrincipal: number;
  /** Open WebSocket subscribers per procedure. */
  socketSubscribers: number;
  /** Open WebSocket subscribers of one principal per procedure. */
  socketSubscribersPerPrincipal: number;
  /** Bytes queued for one SSE subscriber before it is dropped as too slow. */
  sseQueuedBytes: number;
  /** Bytes a WebSocket may have waiting to go out before it is closed as too slow. */
  socketBufferedBytes: number;
  /**
   * What one reconnect replays at most: the missed events, and the bytes of the
   * missed events and entries together. Further back, the client pages
   * /events and /activities.
   */
  replayEvents: number;
  replayBytes: number;
  /** How often, at most, the stream check runs while subscribers are open: keepalives and revoked principals. */
  checkIntervalMs: number;
}

export const DEFAULT_LIMITS: LiveLimits = {
  sseSubscribers: 100,
  sseSubscribersPerPrincipal: 10,
  socketSubscribers: 1000,
  socketSubscribersPerPrincipal: 100,
  sseQueuedBytes: 1024 * 1024,
  socketBufferedBytes: 1024 * 1024,
  replayEvents: 10_000,
  replayBytes: 8 * 1024 * 1024,
  // With the alarm's own delay, a stream of a revoked, rotated or expired token ends within 30 s.
  checkIntervalMs: 20_000,
};

/** Close codes a WebSocket subscriber may see. */
export const CLOSE = {
  /** The procedure reached a terminal status: its final state was the last message. */
  ended: { code: 1000, reason: "procedure ended" },
  /** The token that opened the stream was revoked, rotated or expired. */
  revoked: { code: 1008, reason: "principal no longer active" },
  /** The client did not keep up: reconnect and resume after the last id received. */
  tooSlow: { code: 1013, reason: "too slow: resume after your last id" },
} as const;

export const STREAM_CHECK_JOB = "stream-check";

/** What the object tells its feed about itself. */
export interface LiveHost {
  clock: Clock;
  /** The procedure's view and whether it is terminal; null when unregistered. */
  current(): { view: ProcedureView; version: number; terminal: boolean } | null;
  /** Arms the alarm for the schedule's earliest job. */
  armAlarm(): Promise<void>;
  /** The object's schedule table, where the stream check is kept. */
  jobs(): JobTable;
  /** Whether the holder may still hold a stream open: the principal not revoked, the token not expired and not rotated away. */
  isActive(holder: StreamHolder): Promise<boolean>;
}

/** What a hibernatable socket carries across sleeps; a socket accepted before streams were bound to tokens has no `token_hash`. */
interface SocketAttachment extends Position {
  principal_id: string;
  token_hash?: string;
}

const TERMINAL_CLOSE = CLOSE.ended;
/** Where the last broadcast to the sockets left them (key-value storage beside the record). */
const BROADCAST_KEY = "live:broadcast";

/**
 * Sockets sent to in the first turn of a broadcast; each later turn serves
 * twice as many as the one before, up to the last. The first slice is small
 * so that the command's reply, which the broadcast races inside the same
 * isolate, goes out after a few sends rather than after a whole slice; later
 * slices grow so a large audience needs few turns.
 */
const FIRST_SLICE = 10;
const LARGEST_SLICE = 320;

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** One broadcast as the feed timed it: from the first commit it covers to the turn after its last send. */
export interface BroadcastTiming {
  version: number;
  sockets: number;
  sse: number;
  /** Milliseconds from the commit to the end of the last slice, by the object's clock. */
  ms: number;
}

/** How many broadcast timings the feed keeps (the latest). */
const BROADCAST_TIMINGS = 256;

function later(a: Position, b: Position): Position {
  return a.version > b.version || (a.version === b.version && a.seq >= b.seq) ? a : b;
}

export class LiveFeed {
  readonly limits: LiveLimits = { ...DEFAULT_LIMITS };
  private readonly sse = new Set<SseSubscriber>();
  /** Each socket's attachment, read once per socket object rather than on every broadcast. */
  private readonly attachments = new WeakMap<WebSocket, SocketAttachment>();
  private broadcast: Position | null = null;
  private publishing = false;
  private unpublished = false;
  /** When the first commit not yet broadcast was told (0: none). */
  private committedAt = 0;
  /** The latest broadcasts' own cost, in memory only: what the object controls of a fan-out (`npm run bench -- --sections streams`). */
  readonly timings: BroadcastTiming[] = [];

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly host: LiveHost,
  ) {}

  private get sql(): SqlStorage {
    return this.ctx.storage.sql;
  }

  /** Opens a stream for a registered procedure: SSE, or a WebSocket when the request asks to upgrade. */
  async open(request: Request, holder: StreamHolder, after: StreamId | null): Promise<Response | Refusal> {
    const current = this.host.current();
    if (current === null) throw new Error("open() is for registered procedures");
    const position = { version: current.version, seq: lastSeq(this.sql) };
    if (after && beyond(after, position)) {
      return { error_class: "InvalidCursor", detail: "the id to resume after is not one this procedure's stream gave out" };
    }
    if (after && replayTooLong(this.sql, after, position.version, { events: this.limits.replayEvents, bytes: this.limits.replayBytes })) {
      return {
        error_class: "StreamReplayTooLong",
        detail: "more followed that id than one reconnect replays: read /events and /activities, then open the stream without an id",
      };
    }
    const socket = request.headers.get("upgrade")?.toLowerCase() === "websocket";
    const open = socket ? this.ctx.getWebSockets().length : this.sse.size;
    const limit = socket ? this.limits.socketSubscribers : this.limits.sseSubscribers;
    if (open >= limit) {
      return { error_class: "StreamWatcherLimitReached", detail: `this procedure already has ${open} ${socket ? "WebSocket" : "SSE"} watchers (the limit is ${limit})` };
    }
    const own = socket ? this.ctx.getWebSockets(principalTag(holder.principal_id)).length : [...this.sse].filter((w) => w.principal_id === holder.principal_id).length;
    const ownLimit = socket ? this.limits.socketSubscribersPerPrincipal : this.limits.sseSubscribersPerPrincipal;
    // The bootstrap admin is not capped, as it is not rate limited: it is the operators' way in.
    if (own >= ownLimit && holder.principal_id !== BOOTSTRAP_ADMIN_ID) {
      return {
        error_class: "StreamWatcherLimitReached",
        detail: `principal ${holder.principal_id} already has ${own} ${socket ? "WebSocket" : "SSE"} watchers of this procedure (the limit is ${ownLimit} per principal)`,
      };
    }
    const first = catchUp(this.sql, after, position, current.view);
    // The subscriber joins before any await, so no broadcast can pass between its catch-up and its joining.
    const response = socket ? this.openSocket(holder, position, first, current.terminal) : this.openSse(holder, position, first, current.terminal);
    if (!current.terminal) await this.scheduleCheck();
    return response;
  }

  private openSse(holder: StreamHolder, position: Position, first: LiveMessage[], terminal: boolean): Response {
    const subscriber = new SseSubscriber(holder.principal_id, position, this.limits.sseQueuedBytes, (w) => this.sse.delete(w), holder.token_hash);
    this.sse.add(subscriber);
    subscriber.send(sseFrames(first));
    if (terminal) subscriber.end();
    return new Response(subscriber.body, {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no" },
    });
  }

  private openSocket(holder: StreamHolder, position: Position, first: LiveMessage[], terminal: boolean): Response {
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server, [principalTag(holder.principal_id), tokenTag(holder.token_hash)]);
    const attachment: SocketAttachment = { principal_id: holder.principal_id, token_hash: holder.token_hash, ...position };
    server.serializeAttachment(attachment);
    this.attachments.set(server, attachment);
    for (const message of first) server.send(JSON.stringify(message));
    if (terminal) server.close(TERMINAL_CLOSE.code, TERMINAL_CLOSE.reason);
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * Called right after a commit. The broadcast runs on the next turn, after the
   * command has its reply: a command never waits for its subscribers, and commits
   * in between join the same broadcast (each subscriber is sent everything after
   * its own position, so nothing is skipped or repeated).
   */
  committed(): void {
    // Nobody to serve: a subscriber that joins later catches up from the record, which holds this commit.
    if (!this.publishing && this.sse.size === 0 && this.ctx.getWebSockets().length === 0) return;
    this.committedAt ||= this.host.clock.now();
    this.unpublished = true;
    if (this.publishing) return;
    this.publishing = true;
    void this.drain().finally(() => {
      this.publishing = false;
    });
  }

  /** One broadcast at a time, in commit order; commits during one are covered by the next. */
  private async drain(): Promise<void> {
    while (this.unpublished) {
      this.unpublished = false;
      // After the write is durable (when the command's reply is released), then on a fresh turn.
      await this.ctx.storage.sync();
      await nextTurn();
      const since = this.committedAt;
      this.committedAt = 0;
      const served = await this.publish();
      if (served) void nextTurn().then(() => this.timed({ ...served, ms: this.host.clock.now() - since }));
    }
  }

  private timed(timing: BroadcastTiming): void {
    this.timings.push(timing);
    if (this.timings.length > BROADCAST_TIMINGS) this.timings.shift();
  }

  /**
   * Sends every subscriber what was committed since its position, then the state;
   * ends them all if the procedure is over. Sockets are served in slices with a
   * turn between them, so a large audience never holds the isolate (and a
   * command's reply waiting on it) for the whole broadcast.
   */
  async publish(): Promise<Omit<BroadcastTiming, "ms"> | null> {
    const sockets = this.ctx.getWebSockets();
    if (sockets.length === 0 && this.sse.size === 0) return null;
    const current = this.host.current();
    if (current === null) return null;
    const position = { version: current.version, seq: lastSeq(this.sql) };
    // Subscribers are grouped by position (almost always one group), so the record is read once per group.
    const batches = new Map<string, { messages: LiveMessage[]; frames?: string[]; sseFrames?: Uint8Array[] }>();
    const batchFor = (from: Position) => {
      const key = `${from.version}.${from.seq}`;
      let batch = batches.get(key);
      if (!batch) {
        batch = { messages: samePosition(from, position) ? [] : [...recordsAfter(this.sql, from).messages, stateMessage(position, current.view)] };
        batches.set(key, batch);
      }
      return batch;
    };
    for (const subscriber of this.sse) {
      const batch = batchFor(subscriber.position);
      if (batch.messages.length > 0 && subscriber.send((batch.sseFrames ??= sseFrames(batch.messages)))) subscriber.position = position;
      if (current.terminal) subscriber.end();
    }
    const broadcast = this.lastBroadcast();
    let slice = FIRST_SLICE;
    let sliceEnd = slice;
    for (const [index, socket] of sockets.entries()) {
      if (index === sliceEnd) {
        await nextTurn();
        slice = Math.min(slice * 2, LARGEST_SLICE);
        sliceEnd += slice;
      }
      const from = this.socketPosition(socket, broadcast);
      if (!from) continue;
      const batch = batchFor(from);
      if (batch.messages.length > 0) {
        batch.frames ??= batch.messages.map((m) => JSON.stringify(m));
        try {
          for (const frame of batch.frames) socket.send(frame);
        } catch {
          continue; // the socket closed meanwhile; its close handler tidies up
        }
        if (socket.bufferedAmount > this.limits.socketBufferedBytes) closeSocket(socket, CLOSE.tooSlow);
      }
      if (current.terminal) closeSocket(socket, TERMINAL_CLOSE);
    }
    if (sockets.length > 0 && !samePosition(broadcast, position)) this.recordBroadcast(position);
    return { version: position.version, sockets: sockets.length, sse: this.sse.size };
  }

  /**
   * Where a socket's feed stands: the later of where it started (its
   * attachment) and the last broadcast, which every socket still open received
   * in full (one that fell behind was closed). So a broadcast writes one
   * position, not one attachment per socket, and after a wake the stored
   * position tells each socket's start as well as its attachment would.
   */
  private socketPosition(socket: WebSocket, broadcast: Position): Position | null {
    let attachment = this.attachments.get(socket);
    if (!attachment) {
      attachment = (socket.deserializeAttachment() as SocketAttachment | null) ?? undefined;
      if (!attachment) return null;
      this.attachments.set(socket, attachment);
    }
    return later(attachment, broadcast);
  }

  private lastBroadcast(): Position {
    return (this.broadcast ??= this.ctx.storage.kv.get<Position>(BROADCAST_KEY) ?? ORIGIN);
  }

  private recordBroadcast(position: Position): void {
    this.broadcast = position;
    this.ctx.storage.kv.put(BROADCAST_KEY, position);
  }

  /**
   * The stream check as the object's scheduler runs it. A check that fails (a
   * principal look-up that throws) is tried again after at most
   * `checkIntervalMs`, so the bound on a revoked stream holds but for the
   * outage itself.
   */
  readonly checkJob: JobHandler = {
    run: (job) => this.check(job),
    maxRetryMs: () => this.limits.checkIntervalMs,
  };

  /**
   * The stream-check job: a keepalive comment on every SSE stream, and every
   * stream of a principal no longer active closed. It runs at most every
   * `checkIntervalMs` and only while subscribers are open, so a revoked token's
   * stream stays open at most that long after the revocation. Its row is
   * settled only after the principals were read: a read that throws leaves
   * the job pending for the scheduler to retry, never lost. One principal's
   * failed read does not spare the others: every principal read is acted on
   * before the failure is thrown.
   */
  async check(job: Job): Promise<void> {
    for (const subscriber of this.sse) subscriber.comment("keepalive");
    const sockets = this.ctx.getWebSockets();
    const holders = new Map<string, StreamHolder>([...this.sse].map((w) => [holderKey(w), { principal_id: w.principal_id, token_hash: w.token_hash }]));
    for (const socket of sockets) {
      const attachment = socket.deserializeAttachment() as SocketAttachment | null;
      if (attachment) holders.set(holderKey(attachment), { principal_id: attachment.principal_id, token_hash: attachment.token_hash ?? "" });
    }
    let failure: { error: unknown } | null = null;
    for (const [key, holder] of holders) {
      try {
        if (await this.host.isActive(holder)) continue;
      } catch (error) {
        failure ??= { error };
        continue;
      }
      for (const subscriber of this.sse) if (holderKey(subscriber) === key) subscriber.end("revoked", "the token that opened this stream was revoked, rotated or expired");
      for (const socket of this.ctx.getWebSockets(holder.token_hash ? tokenTag(holder.token_hash) : principalTag(holder.principal_id))) closeSocket(socket, CLOSE.revoked);
    }
    if (failure) throw failure.error;
    this.host.jobs().settle(job, { ok: true }, this.host.clock.now() + this.limits.checkIntervalMs);
    if (this.sse.size > 0 || this.ctx.getWebSockets().length > 0) await this.scheduleCheck();
  }

  /** How many subscribers are open, by kind. */
  counts(): { sse: number; sockets: number } {
    return { sse: this.sse.size, sockets: this.ctx.getWebSockets().length };
  }

  private async scheduleCheck(): Promise<void> {
    if (this.host.jobs().request(STREAM_CHECK_JOB, "stream-check", this.host.clock.now() + this.limits.checkIntervalMs)) await this.host.armAlarm();
  }
}

/**
 * What a subscriber is sent first: with no id to resume after, the state; else
 * every event and activity message after that id, then the state, unless the
 * id is the current state itself (nothing was missed).
 */
function catchUp(sql: SqlStorage, after: StreamId | null, position: Position, view: ProcedureView): LiveMessage[] {
  if (after === null) return [stateMessage(position, view)];
  const { messages } = recordsAfter(sql, after);
  if (messages.length === 0 && after.state && samePosition(after, position)) return [];
  return [...messages, stateMessage(position, view)];
}

function principalTag(principalId: string): string {
  return `principal:${principalId}`;
}

function tokenTag(tokenHash: string): string {
  return `token:${tokenHash}`;
}

/** One key per holder; a socket from before streams were bound to tokens is held by its principal alone. */
function holderKey(holder: { principal_id: string; token_hash?: string }): string {
  return `${holder.principal_id} ${holder.token_hash ?? ""}`;
}

function closeSocket(socket: WebSocket, close: { code: number; reason: string }): void {
  try {
    socket.close(close.code, close.reason);
  } catch {
    // already closing
  }
}
