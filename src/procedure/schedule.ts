// The object's timed work: one row per pending job, with its due time and how
// many attempts have failed. The alarm is always derived from this table (the
// earliest due time), so an eviction or a restart changes nothing: a retry's
// delay and attempt count survive. To add a kind of job, name it in JobKind
// and give the object a handler for it.

export type JobKind = "projection" | "notify" | "stream-check" | "deadline" | "stall-decision";

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
