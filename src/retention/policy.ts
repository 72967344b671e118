// Retention, the pure part: when a finished procedure is archived, where its
// file goes, and the configuration that says so. The Cron shell
// (src/retention/sweep.ts) and the procedure's object (src/procedure/archive.ts)
// do the I/O around these.
import { z } from "zod";
import { seconds } from "../watcher/stall";

/** The statuses a procedure never leaves: only these are ever archived. */
export const FINISHED_STATUSES = ["Completed", "Aborted", "Truncated"] as const;

/** ARCHIVE_AFTER_SECONDS when unset: 30 days. */
export const DEFAULT_ARCHIVE_AFTER_SECONDS = 2_592_000;

/** The most procedures one Cron tick asks to archive; a larger backlog is worked off over the following ticks, oldest first. */
export const ARCHIVE_BATCH = 100;

export type RetentionConfig = {
  /** How long a finished procedure stays live before it is archived. */
  archiveAfterSeconds: number;
};

const RetentionVars = z.object({
  ARCHIVE_AFTER_SECONDS: seconds("ARCHIVE_AFTER_SECONDS", DEFAULT_ARCHIVE_AFTER_SECONDS),
});

/** Reads the retention variables; throws a ZodError naming the bad one. */
export function parseRetentionConfig(vars: { ARCHIVE_AFTER_SECONDS?: string }): RetentionConfig {
  return { archiveAfterSeconds: RetentionVars.parse(vars).ARCHIVE_AFTER_SECONDS };
}

/** True when a procedure with this status, finished at `finishedAt`, is due for its archive at `nowMs`. */
export function archiveDue(status: string, finishedAt: string | null, nowMs: number, config: RetentionConfig): boolean {
  if (!(FINISHED_STATUSES as readonly string[]).includes(status) || finishedAt === null) return false;
  return Date.parse(finishedAt) <= nowMs - config.archiveAfterSeconds * 1000;
}

/** The latest finish time a procedure may have to be archived at `nowMs`, as the projection stores times. */
export function archiveCutoff(nowMs: number, config: RetentionConfig): string {
  return new Date(nowMs - config.archiveAfterSeconds * 1000).toISOString();
}

/** Where a procedure's archive lives: by the month it was registered, so a procedure's key never changes. */
export function archiveKey(procedureId: string, registeredAt: string): string {
  const at = new Date(registeredAt);
  const month = String(at.getUTCMonth() + 1).padStart(2, "0");
  return `procedures/${at.getUTCFullYear()}/${month}/${procedureId}.jsonl.gz`;
}
