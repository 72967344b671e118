// The gateway's side of the activity logbook: entries get UUIDv7 event ids,
// travel in batches of up to the API's 500, one batch at a time so the
// service sees them in the order they were made, and are retried on network
// failures, 429 and 5xx. A retry is safe: the service deduplicates entries on
// their event ids, so a batch that arrived before the answer was lost is
// counted as duplicates, never recorded twice.
import type { Clock } from "./clock.ts";
import type { ActivityEntryInput, AppendResult, Manifest } from "./types.ts";
import { uuidv7Generator } from "./uuidv7.ts";

/** The API's limit on entries per request. */
export const MAX_BATCH = 500;

export interface ActivityWriterOptions {
  /** Entries per request, at most 500. */
  maxBatch?: number;
  /** How long an entry may wait for others before a partial batch is sent. Default 100 ms. */
  flushAfterMs?: number;
}

/** Sends one batch; retried by the caller's transport. */
export type SendBatch = (entries: ActivityEntryInput[]) => Promise<AppendResult>;

interface Pending {
  entry: ActivityEntryInput;
  /** Heartbeats travel alone, so a refusal of one never takes step reports down with it. */
  alone: boolean;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Payload fields a gateway adds to a step report (measurements, for instance). */
export type Extra = Record<string, unknown>;

/**
 * Every method answers a promise that settles when the entry is recorded (or
 * refused). Awaiting it is optional: `inFlight` is awaited before an effect,
 * `ok` usually is not. A refused batch (a 4xx other than 429, or retries
 * exhausted) rejects itself and every entry queued behind it, and the writer
 * refuses new entries until `reset()`: a later report must not be recorded
 * without the earlier ones.
 */
export class ActivityWriter {
  readonly #send: SendBatch;
  readonly #clock: Clock;
  readonly #kinds: readonly string[] | null;
  readonly #maxBatch: number;
  readonly #flushAfterMs: number;
  readonly #nextId: () => string;
  #queue: Pending[] = [];
  #sending: Promise<void> | null = null;
  #refusal: unknown = null;
  #cancelTimer: (() => void) | null = null;

  /** `manifest`: the pinned steps, whose kinds step reports carry; null for a free-form logbook. */
  constructor(send: SendBatch, clock: Clock, manifest: Manifest | null, options: ActivityWriterOptions = {}) {
    this.#send = send;
    this.#clock = clock;
    this.#kinds = manifest && [...manifest.resolved_steps, ...manifest.resolved_closing_steps].map((step) => step.kind);
    this.#maxBatch = Math.min(MAX_BATCH, Math.max(1, options.maxBatch ?? MAX_BATCH));
    this.#flushAfterMs = options.flushAfterMs ?? 100;
    this.#nextId = uuidv7Generator(() => clock.now());
  }

  /** Step `index` is about to take effect. Await it before the effect: then an interruption is on record. */
  inFlight(index: number, extra: Extra = {}): Promise<void> {
    return this.#step(index, { ...extra, step_index: index, result: "in_flight" }, true);
  }

  /** Step `index` succeeded. */
  ok(index: number, extra: Extra = {}): Promise<void> {
    return this.#step(index, { ...extra, step_index: index, result: "ok" }, false);
  }

  /** Step `index` failed; the service holds or aborts the procedure as its conduct asked. */
  failed(index: number, errorClass: string, message: string, extra: Extra = {}): Promise<void> {
    return this.#step(index, { ...extra, step_index: index, result: "failed", error_class: errorClass, message }, true);
  }

  /** A long step is still alive: activity for the stall watcher; it never changes step progress. */
  heartbeat(index?: number, progress?: number, message?: string): Promise<void> {
    const payload: Record<string, unknown> = {};
    if (index !== undefined) payload.step_index = index;
    if (progress !== undefined) payload.progress = progress;
    if (message !== undefined) payload.message = message;
    return this.#enqueue({ step_kind: "heartbeat", payload }, { alone: true, now: true });
  }

  /** Any entry, for a procedure started without conduct (a free-form logbook). */
  entry(stepKind: string, payload: Record<string, unknown>, sampledAt?: string): Promise<void> {
    return this.#enqueue({ step_kind: stepKind, payload, ...(sampledAt ? { sampled_at: sampledAt } : {}) }, { alone: false, now: false });
  }

  /** Sends everything queued; rejects with the refusal when a batch was refused. */
  async flush(): Promise<void> {
    while (this.#queue.length > 0 || this.#sending) {
      this.#startSending();
      await this.#sending;
    }
    if (this.#refusal !== null) throw this.#refusal;
  }

  /** Accepts entries again after a refusal (the refused ones are not resent). */
  reset(): void {
    this.#refusal = null;
  }

  /** Entries made but not yet recorded. */
  get pending(): number {
    return this.#queue.length;
  }

  #step(index: number, payload: Record<string, unknown>, now: boolean): Promise<void> {
    const kind = this.#kinds?.[index];
    if (kind === undefined) {
      throw new RangeError(this.#kinds === null ? "step reports need a conducted procedure's manifest" : `no pinned step ${index}`);
    }
    return this.#enqueue({ step_kind: kind, payload }, { alone: false, now });
  }

  #enqueue(entry: Omit<ActivityEntryInput, "event_id" | "sampled_at"> & { sampled_at?: string }, how: { alone: boolean; now: boolean }) {
    if (this.#refusal !== null) return handled(Promise.reject(this.#refusal));
    const full: ActivityEntryInput = {
      event_id: this.#nextId(),
      step_kind: entry.step_kind,
      payload: entry.payload,
      sampled_at: entry.sampled_at ?? new Date(this.#clock.now()).toISOString(),
    };
    const settled = new Promise<void>((resolve, reject) => this.#queue.push({ entry: full, alone: how.alone, resolve, reject }));
    if (how.now || this.#queue.length >= this.#maxBatch) this.#startSending();
    else this.#cancelTimer ??= this.#clock.setTimer(this.#flushAfterMs, () => this.#startSending());
    return handled(settled);
  }

  #startSending(): void {
    this.#cancelTimer?.();
    this.#cancelTimer = null;
    this.#sending ??= this.#drain().finally(() => (this.#sending = null));
  }

  /** One batch at a time, in order; what queues meanwhile goes in the next batch straight away. */
  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#nextBatch();
      try {
        await this.#send(batch.map((p) => p.entry));
        for (const p of batch) p.resolve();
      } catch (error) {
        for (const p of batch) p.reject(error);
        if (batch.length === 1 && batch[0]!.alone) continue;
        this.#refusal = error;
        for (const p of this.#queue.splice(0)) p.reject(error);
      }
    }
  }

  #nextBatch(): Pending[] {
    const first = this.#queue[0]!;
    if (first.alone) return this.#queue.splice(0, 1);
    let end = 1;
    while (end < this.#queue.length && end < this.#maxBatch && !this.#queue[end]!.alone) end++;
    return this.#queue.splice(0, end);
  }
}

/** Marks a promise as handled, so an unawaited report cannot crash the process; awaiting it still sees the rejection. */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}
