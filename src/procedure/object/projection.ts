// Feeding the D1 projection (procedure_summary) from the object. A command
// writes no summary: it asks, in its own transaction, for the projection job,
// which the alarm runs a short while later with the summary of the state as it
// is then. A busy procedure so writes D1 at most once per PROJECTION_DELAY_MS,
// and a D1 outage delays the list without ever failing a command.
import type { SummaryRow } from "../../db/summaries";
import type { StoredProgress } from "./logbook";
import { jobRetryDelay, type JobOutcome } from "./schedule";
import { logLine } from "../../observability/log";

export const PROJECTION_JOB = "projection";
/** How long after a change the projection is written: commands inside the window share one D1 write. */
export const PROJECTION_DELAY_MS = 500;
/**
 * The alarm for a new projection is set this much after it is due: an object
 * that stays awake writes on its own timer at the due time, so the alarm (an
 * invocation of its own) only writes for an object that stopped first.
 */
export const PROJECTION_BACKSTOP_MS = 10_000;
/** How long a write waits on D1 before counting as failed. */
const PROJECTION_TIMEOUT_MS = 2_000;
/** The activity mirror in D1 is refreshed at most this often per procedure. */
export const ACTIVITY_MIRROR_INTERVAL_MS = 60_000;

/**
 * True when the activity mirror should move: the logbook holds a newer
 * recorded_at and the last mirrored one is at least the interval old, or a
 * step was completed since `completedBefore` (so the list's step counts
 * follow the steps, not the interval). The mirror only ever carries a
 * recorded_at the logbook holds, so it may lag the truth but never leads it.
 */
export function mirrorDue(progress: StoredProgress, completedBefore: number = progress.completed_count): boolean {
  return (
    progress.last_activity_at !== null &&
    progress.last_activity_at !== progress.mirrored_activity_at &&
    (progress.mirrored_activity_at === null ||
      progress.completed_count !== completedBefore ||
      Date.parse(progress.last_activity_at) - Date.parse(progress.mirrored_activity_at) >= ACTIVITY_MIRROR_INTERVAL_MS)
  );
}

/** Sends one summary; a failure or a D1 slower than the timeout comes back as the time to try again. */
export async function writeSummary(
  send: (row: SummaryRow) => Promise<void>,
  row: SummaryRow,
  attempts: number,
  now: number,
): Promise<JobOutcome> {
  try {
    await withTimeout(send(row), PROJECTION_TIMEOUT_MS);
    return { ok: true };
  } catch (error) {
    const delay = jobRetryDelay(attempts);
    logLine("warn", { msg: "projection deferred", procedure_id: row.procedure_id, attempts: attempts + 1, retry_in_ms: delay, error: String(error) });
    return { ok: false, retry_at: now + delay };
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    if (timer !== null) clearTimeout(timer);
  });
}
