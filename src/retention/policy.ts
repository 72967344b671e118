// Retention, the pure part: when a finished procedure is archived, where its
// file goes, and the configuration that says so. The Cron shell
// (src/retention/sweep.ts) and the procedure's object (src/procedure/object/archive.ts)
// do the I/O around these.
import { z } from "zod";
import { seconds } from "../watcher/stall";
import { isFinished } from "../vocabulary";

/** ARCHIVE_AFTER_SECONDS when unset: 30 days. */
export const DEFAULT_ARCHIVE_AFTER_SECONDS = 2_592_000;

/** The most procedures one Cron tick asks to archive; a larger backlog is worked off over the following ticks, oldest first. */
export const ARCHIVE_BATCH = 100;

const DAY_SECONDS = 86_400;

/** How long each cross-procedure table keeps a row, in seconds, unless its variable says otherwise. */
export const DEFAULT_RETENTION_SECONDS = {
  /** Decisions (Stall, StepOverdue) about a procedure that is archived. */
  decisions: 365 * DAY_SECONDS,
  /** Webhook delivery attempts, dead letters included. */
  deliveries: 30 * DAY_SECONDS,
  /** The access audit trail. */
  audit: 365 * DAY_SECONDS,
  /** Idempotency-Key claims of registrations: a retry comes within minutes, not days. */
  idempotencyKeys: 7 * DAY_SECONDS,
} as const;

export type RetainedTable = keyof typeof DEFAULT_RETENTION_SECONDS;
export const RETAINED_TABLES = Object.keys(DEFAULT_RETENTION_SECONDS) as [RetainedTable, ...RetainedTable[]];

/** The most rows one Cron tick deletes from each table; a larger backlog is worked off over the following ticks. */
export const RETENTION_BATCH = 500;

export type RetentionConfig = {
  /** How long a finished procedure stays live before it is archived. */
  archiveAfterSeconds: number;
  /** How long each table keeps a row. */
  keepSeconds: Record<RetainedTable, number>;
};

const RetentionVars = z.object({
  ARCHIVE_AFTER_SECONDS: seconds("ARCHIVE_AFTER_SECONDS", DEFAULT_ARCHIVE_AFTER_SECONDS),
  DECISION_RETENTION_SECONDS: seconds("DECISION_RETENTION_SECONDS", DEFAULT_RETENTION_SECONDS.decisions),
  DELIVERY_RETENTION_SECONDS: seconds("DELIVERY_RETENTION_SECONDS", DEFAULT_RETENTION_SECONDS.deliveries),
  AUDIT_RETENTION_SECONDS: seconds("AUDIT_RETENTION_SECONDS", DEFAULT_RETENTION_SECONDS.audit),
  IDEMPOTENCY_KEY_RETENTION_SECONDS: seconds("IDEMPOTENCY_KEY_RETENTION_SECONDS", DEFAULT_RETENTION_SECONDS.idempotencyKeys),
});

/** Reads the retention variables; throws a ZodError naming the bad one. */
export function parseRetentionConfig(vars: Partial<Record<keyof z.input<typeof RetentionVars>, string>>): RetentionConfig {
  const parsed = RetentionVars.parse(vars);
  return {
    archiveAfterSeconds: parsed.ARCHIVE_AFTER_SECONDS,
    keepSeconds: {
      decisions: parsed.DECISION_RETENTION_SECONDS,
      deliveries: parsed.DELIVERY_RETENTION_SECONDS,
      audit: parsed.AUDIT_RETENTION_SECONDS,
      idempotencyKeys: parsed.IDEMPOTENCY_KEY_RETENTION_SECONDS,
    },
  };
}

/** The time before which a table's rows are deleted at `nowMs`. */
export function retentionCutoff(table: RetainedTable, nowMs: number, config: RetentionConfig): string {
  return new Date(nowMs - config.keepSeconds[table] * 1000).toISOString();
}

/** True when a procedure with this status, finished at `finishedAt`, is due for its archive at `nowMs`. */
export function archiveDue(status: string, finishedAt: string | null, nowMs: number, config: RetentionConfig): boolean {
  if (!isFinished(status) || finishedAt === null) return false;
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

/** What one archive pass did (in the tick summary). */
export interface ArchivePassSummary {
  candidates: number;
  /** Procedures whose objects took the request this pass. */
  requested: number;
  /** Candidates whose object said they are not due (the projection lagged); looked at again next pass. */
  not_due: number;
  failures: number;
  rows_read: number;
  rows_written: number;
}

/** What one table's batch did (in the tick summary). */
export interface RetentionBatch {
  table: RetainedTable;
  deleted: number;
  rows_read: number;
  rows_written: number;
  /** Set when the batch failed; the next tick tries again. */
  error?: string;
}

