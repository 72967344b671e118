// The object's timed work: one row per pending job, with its due time and how
// many attempts have failed. The alarm is always derived from this table (the
// earliest due time), so an eviction or a restart changes nothing: a retry's
// delay and attempt count survive. The Scheduler runs the due jobs, each on
// its own: a job that throws is logged, tried again after a capped backoff
// counted in its row, and never keeps another job from running. To add a kind
// of job, name it in JobKind, give the scheduler a handler for it, and ask for
// it with `jobs.request` at its due time.

import { logLine } from "../../observability/log";

export type JobKind = "projection" | "notify" | "stream-check" | "deadline" | "stall-decision" | "archive";

/** The object's sense of time: the tests set it, so nothing waits on the wall clock. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Resolves after `ms`, while the object stays awake; the alarm covers the case where it does not. */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface Job {
  key: string;
  kind: JobKind;
  due_at: number;
  attempts: number;
  /** Bumped by every request for the job, so a run can tell whether it was asked again meanwhile. */
  generation: number;
}

/** One run of a job as the scheduler saw it end: what its log line and metric say. */
export interface JobRun {
  job: Job;
  /** "failed": the handler threw (the run is retried after a backoff). */
  outcome: "done" | "failed";
  duration_ms: number;
}

/** How a run of a job ended: done, or failed and to be tried again at `retry_at`. */
export type JobOutcome = { ok: true } | { ok: false; retry_at: number };

/** An alarm due sooner than this is left to fire rather than deleted (see Scheduler.flushCleanup). */
const ALARM_KEEP_MS = 1_000;

/** How long clean-ups wait for a command's transaction before the object applies them on their own. */
export const CLEANUP_DELAY_MS = 2_000;

/**
 * Writes that may wait for the object's next commit: the removal of work
 * already done after a commit (notifications the queue took, a projection D1
 * took), whose loss to a crash would only repeat that work. Each is keyed, so
 * a later clean-up of the same thing replaces the earlier one. The object
 * applies them at the end of its next transaction, or on its own short timer
 * when no command comes, so a busy procedure pays no commit of its own for
 * them and a quiet one pays one for all of them.
 */
export class Cleanup {
  private readonly writes = new Map<string, () => void>();

  add(key: string, write: () => void): void {
    this.writes.set(key, write);
  }

  drop(key: string): void {
    this.writes.delete(key);
  }

  get pending(): boolean {
    return this.writes.size > 0;
  }

  /** Applies every waiting write; call where a write is allowed (inside a transaction, or as a commit of its own). */
  flush(): void {
    const writes = [...this.writes.values()];
    this.writes.clear();
    for (const write of writes) write();
  }
}

type JobRow = Job & Record<string, SqlStorageValue>;

/**
 * The schedule table, with a copy in memory: reads (a pending job, the due
 * jobs, the next due time) never reach SQLite, and every change is written
 * through, except the removal of a job done after a commit, which may wait
 * for the next one (`settle` with `later`). A job asked for again while
 * pending only counts it in memory: its row is already there to survive a
 * restart, which runs it anew.
 */
export class JobTable {
  private rows: Map<string, JobRow> | null = null;

  constructor(
    private readonly sql: SqlStorage,
    private readonly cleanup: Cleanup,
  ) {}

  private get table(): Map<string, JobRow> {
    return (this.rows ??= new Map(this.sql.exec<JobRow>("SELECT * FROM schedule").toArray().map((row) => [row.key, { ...row }])));
  }

  /** Forgets the copy (after storage was rewritten underneath it, as an archive's release does). */
  reload(): void {
    this.rows = null;
  }

  /**
   * Asks for job `key` to run at `dueAt`. A pending job keeps its due time (a
   * retry keeps its backoff); it only learns it was asked again. True when the
   * job is new, so the caller arms the alarm.
   */
  request(key: string, kind: JobKind, dueAt: number): boolean {
    const pending = this.table.get(key);
    if (pending) {
      pending.generation += 1;
      return false;
    }
    // A removal of the same key still waiting is overtaken by the new row.
    this.cleanup.drop(jobCleanupKey(key));
    this.sql.exec(
      `INSERT INTO schedule (key, kind, due_at, attempts, generation) VALUES (?, ?, ?, 0, 1)
       ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, due_at = excluded.due_at, attempts = 0, generation = 1`,
      key,
      kind,
      dueAt,
    );
    this.table.set(key, { key, kind, due_at: dueAt, attempts: 0, generation: 1 });
    return true;
  }

  /** The job as it is now (a copy: a run compares it with the table when it settles). */
  pending(key: string): Job | null {
    const row = this.table.get(key);
    return row ? { ...row } : null;
  }

  /** The jobs due by `now`, earliest first. */
  due(now: number): Job[] {
    return [...this.table.values()].filter((row) => row.due_at <= now).sort((a, b) => a.due_at - b.due_at).map((row) => ({ ...row }));
  }

  /** When the alarm should next fire, or null when nothing is pending. */
  nextDueAt(): number | null {
    let next: number | null = null;
    for (const row of this.table.values()) if (next === null || row.due_at < next) next = row.due_at;
    return next;
  }

  /**
   * Records a run's outcome. A job done is removed unless it was asked for
   * again while it ran; then it is due again at `againAt` with a clean attempt
   * count. A failed job is due at its retry time with one more attempt. With
   * `later`, the removal of a job done waits for the object's next write.
   */
  settle(job: Job, outcome: JobOutcome, againAt: number, later = false): void {
    const row = this.table.get(job.key);
    if (!row) return;
    if (!outcome.ok) {
      this.retry(job, outcome.retry_at);
      return;
    }
    if (row.generation === job.generation) {
      this.remove(job.key, later);
      return;
    }
    row.due_at = againAt;
    row.attempts = 0;
    this.sql.exec("UPDATE schedule SET due_at = ?, attempts = 0 WHERE key = ?", againAt, job.key);
  }

  /** Puts a job whose run threw off until `retryAt`, with one more failed attempt. */
  retry(job: Job, retryAt: number): void {
    const row = this.table.get(job.key);
    if (!row) return;
    row.due_at = retryAt;
    row.attempts += 1;
    this.sql.exec("UPDATE schedule SET due_at = ?, attempts = ? WHERE key = ?", retryAt, row.attempts, job.key);
  }

  /** Removes a job its handler finished without touching it: not asked again, not re-timed, not retried. */
  finishUntouched(job: Job): void {
    const row = this.table.get(job.key);
    if (row && row.generation === job.generation && row.due_at === job.due_at && row.attempts === job.attempts) this.remove(job.key, false);
  }

  private remove(key: string, later: boolean): void {
    this.table.delete(key);
    const write = () => this.sql.exec("DELETE FROM schedule WHERE key = ?", key);
    if (later) {
      this.cleanup.add(jobCleanupKey(key), write);
      return;
    }
    this.cleanup.drop(jobCleanupKey(key));
    write();
  }
}

function jobCleanupKey(key: string): string {
  return `schedule:${key}`;
}

/**
 * Backoff after consecutive failures of a job (the last repeats), unless its
 * handler caps it lower: one table for every job, including the projection's
 * and the notification send's own retries.
 */
export const JOB_RETRY_MS = [1_000, 5_000, 30_000, 120_000] as const;

/**
 * Runs one kind of job. A handler that keeps its row (a periodic job, a job
 * with its own retry policy) settles it itself; a row it leaves as it found
 * it is done and removed. A throw leaves the row to the scheduler's backoff.
 */
export interface JobHandler {
  run(job: Job): Promise<void>;
  /** The longest a failed run waits before the next try: a job that promises a bound (the stream check) keeps it. */
  maxRetryMs?(): number;
}

/** The wait before the next try of a job whose run threw `attempts + 1` times in a row. */
export function jobRetryDelay(attempts: number, maxMs = Number.POSITIVE_INFINITY): number {
  return Math.min(JOB_RETRY_MS[Math.min(attempts, JOB_RETRY_MS.length - 1)]!, maxMs);
}

/**
 * The object's one scheduler: runs what is due when the alarm fires, each job
 * walled off from the others, and keeps the alarm at the earliest due time.
 */
export class Scheduler {
  /** The alarm this scheduler set (null: none, fired, or unknown since waking); the runtime's alarm is the truth. */
  private alarmAt: number | null = null;
  /** True while the alarm's handler runs the due jobs. */
  private running = false;
  /** The clean-ups waiting for the object's next write. */
  readonly cleanup = new Cleanup();
  /** The schedule table. */
  readonly jobs: JobTable;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly clock: Clock,
    private readonly handlers: Record<JobKind, JobHandler>,
    /** What every log line of a failed job names (the procedure). */
    private readonly context: () => Record<string, unknown>,
    /** Told of every run as it ends (its line and metric); a failed run is also logged as an error here. */
    private readonly observe: (run: JobRun) => void = () => {},
  ) {
    this.jobs = new JobTable(storage.sql, this.cleanup);
  }

  /**
   * After a wake: a job committed just before the object stopped may have no
   * alarm yet; an alarm already set (a retry's backoff) is left as it is.
   */
  async resume(): Promise<void> {
    if (this.jobs.nextDueAt() === null) return;
    this.alarmAt = await this.storage.getAlarm();
    await this.arm();
  }

  /**
   * The alarm handler: every due job runs, side by side, each isolated (a
   * throw or a hang in one never holds back another), then the alarm is
   * re-armed for the earliest job left.
   */
  async runDue(): Promise<void> {
    this.alarmAt = null;
    this.running = true;
    try {
      // The alarm's invocation commits its writes anyway: what waited goes with them.
      this.cleanup.flush();
      await Promise.all(this.jobs.due(this.clock.now()).map((job) => this.run(job)));
    } finally {
      this.running = false;
    }
    await this.arm();
  }

  private async run(job: Job): Promise<void> {
    const handler = this.handlers[job.kind];
    const startedAt = this.clock.now();
    try {
      await handler.run(job);
      this.jobs.finishUntouched(job);
      this.observe({ job, outcome: "done", duration_ms: this.clock.now() - startedAt });
    } catch (error) {
      this.observe({ job, outcome: "failed", duration_ms: this.clock.now() - startedAt });
      const delay = jobRetryDelay(job.attempts, handler.maxRetryMs?.());
      this.jobs.retry(job, this.clock.now() + delay);
      logLine("error", { msg: "job failed", ...this.context(), kind: job.kind, key: job.key, attempts: job.attempts + 1, retry_in_ms: delay, error: String(error) });
    }
  }

  /**
   * Makes sure an alarm fires by `grace` after the earliest due job. An alarm
   * already set earlier is kept: firing early costs one look at the schedule,
   * while setting the alarm on every command would cost a storage write each.
   */
  async arm(grace = 0): Promise<void> {
    const next = this.jobs.nextDueAt();
    if (next === null) return;
    const at = next + grace;
    if (this.alarmAt !== null && this.alarmAt <= at && this.alarmAt > this.clock.now()) return;
    await this.storage.setAlarm(at);
    this.alarmAt = at;
  }

  /**
   * Runs `write` as one storage transaction. The schedule's copy in memory
   * follows the table: should the transaction fail, the copy is read again,
   * so no job is taken for pending (or done) that the rollback undid. A
   * clean-up applied in the failed transaction is not applied again; its loss
   * only repeats work, as a crash's would.
   */
  transaction<T>(write: () => T): T {
    try {
      return this.storage.transactionSync(write);
    } catch (error) {
      this.jobs.reload();
      throw error;
    }
  }

  /**
   * Applies the clean-ups still waiting, as a commit of their own, and removes
   * the alarm when no job is left, so a procedure gone quiet is not woken by
   * a backstop that has nothing to do. An alarm this scheduler did not set,
   * one that is running, or one about to fire is left to fire: the runtime
   * cancels (and logs) a handler whose alarm changed as it was dispatched.
   */
  flushCleanup(): void {
    if (!this.cleanup.pending) return;
    this.cleanup.flush();
    if (this.jobs.nextDueAt() !== null || this.running || this.alarmAt === null || this.alarmAt - this.clock.now() < ALARM_KEEP_MS) return;
    void this.storage.deleteAlarm();
    this.alarmAt = null;
  }
}
