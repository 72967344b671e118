// The object's timed work: one row per pending job, with its due time and how
// many attempts have failed. The alarm is always derived from this table (the
// earliest due time), so an eviction or a restart changes nothing: a retry's
// delay and attempt count survive. The Scheduler runs the due jobs, each on
// its own: a job that throws is logged, tried again after a capped backoff
// counted in its row, and never keeps another job from running. To add a kind
// of job, name it in JobKind, give the scheduler a handler for it, and ask for
// it with requestJob at its due time.

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

/**
 * Asks for job `key` to run at `dueAt`. A pending job keeps its due time (a
 * retry keeps its backoff); it only learns it was asked again. True when the
 * job is new, so the caller arms the alarm.
 */
export function requestJob(sql: SqlStorage, key: string, kind: JobKind, dueAt: number): boolean {
  const row = sql
    .exec<{ generation: number }>(
      `INSERT INTO schedule (key, kind, due_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET generation = generation + 1 RETURNING generation`,
      key,
      kind,
      dueAt,
    )
    .one();
  return row.generation === 1;
}

export function pendingJob(sql: SqlStorage, key: string): Job | null {
  return sql.exec<Job & Record<string, SqlStorageValue>>("SELECT * FROM schedule WHERE key = ?", key).toArray()[0] ?? null;
}

export function dueJobs(sql: SqlStorage, now: number): Job[] {
  return sql.exec<Job & Record<string, SqlStorageValue>>("SELECT * FROM schedule WHERE due_at <= ? ORDER BY due_at", now).toArray();
}

/**
 * Records a run's outcome. A job done is removed unless it was asked for again
 * while it ran; then it is due again at `againAt` with a clean attempt count.
 * A failed job is due at its retry time with one more attempt.
 */
export function settleJob(sql: SqlStorage, job: Job, outcome: JobOutcome, againAt: number): void {
  if (!outcome.ok) {
    sql.exec("UPDATE schedule SET due_at = ?, attempts = attempts + 1 WHERE key = ?", outcome.retry_at, job.key);
    return;
  }
  const removed = sql.exec("DELETE FROM schedule WHERE key = ? AND generation = ?", job.key, job.generation).rowsWritten;
  if (removed === 0) sql.exec("UPDATE schedule SET due_at = ?, attempts = 0 WHERE key = ?", againAt, job.key);
}

/** When the alarm should next fire, or null when nothing is pending. */
export function nextDueAt(sql: SqlStorage): number | null {
  return sql.exec<{ at: number | null }>("SELECT min(due_at) AS at FROM schedule").one().at;
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

/** Puts a job whose run threw off until `retryAt`, with one more failed attempt. */
export function deferJob(sql: SqlStorage, job: Job, retryAt: number): void {
  sql.exec("UPDATE schedule SET due_at = ?, attempts = attempts + 1 WHERE key = ?", retryAt, job.key);
}

/** Removes a job its handler finished without touching its row: not asked again, not re-timed, not retried. */
function finishUntouched(sql: SqlStorage, job: Job): void {
  sql.exec("DELETE FROM schedule WHERE key = ? AND generation = ? AND due_at = ? AND attempts = ?", job.key, job.generation, job.due_at, job.attempts);
}

/**
 * The object's one scheduler: runs what is due when the alarm fires, each job
 * walled off from the others, and keeps the alarm at the earliest due time.
 */
export class Scheduler {
  /** The alarm this scheduler set (null: none, fired, or unknown since waking); the runtime's alarm is the truth. */
  private alarmAt: number | null = null;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly clock: Clock,
    private readonly handlers: Record<JobKind, JobHandler>,
    /** What every log line of a failed job names (the procedure). */
    private readonly context: () => Record<string, unknown>,
    /** Told of every run as it ends (its line and metric); a failed run is also logged as an error here. */
    private readonly observe: (run: JobRun) => void = () => {},
  ) {}

  private get sql(): SqlStorage {
    return this.storage.sql;
  }

  /**
   * After a wake: a job committed just before the object stopped may have no
   * alarm yet; an alarm already set (a retry's backoff) is left as it is.
   */
  async resume(): Promise<void> {
    if (nextDueAt(this.sql) === null) return;
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
    await Promise.all(dueJobs(this.sql, this.clock.now()).map((job) => this.run(job)));
    await this.arm();
  }

  private async run(job: Job): Promise<void> {
    const handler = this.handlers[job.kind];
    const startedAt = this.clock.now();
    try {
      await handler.run(job);
      finishUntouched(this.sql, job);
      this.observe({ job, outcome: "done", duration_ms: this.clock.now() - startedAt });
    } catch (error) {
      this.observe({ job, outcome: "failed", duration_ms: this.clock.now() - startedAt });
      const delay = jobRetryDelay(job.attempts, handler.maxRetryMs?.());
      deferJob(this.sql, job, this.clock.now() + delay);
      logLine("error", { msg: "job failed", ...this.context(), kind: job.kind, key: job.key, attempts: job.attempts + 1, retry_in_ms: delay, error: String(error) });
    }
  }

  /**
   * Makes sure an alarm fires by `grace` after the earliest due job. An alarm
   * already set earlier is kept: firing early costs one look at the schedule,
   * while setting the alarm on every command would cost a storage write each.
   */
  async arm(grace = 0): Promise<void> {
    const next = nextDueAt(this.sql);
    if (next === null) return;
    const at = next + grace;
    if (this.alarmAt !== null && this.alarmAt <= at && this.alarmAt > this.clock.now()) return;
    await this.storage.setAlarm(at);
    this.alarmAt = at;
  }
}
