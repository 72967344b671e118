// The archive pass of the Cron Trigger: reads a bounded batch of finished
// procedures not yet asked to archive, oldest finish first, on the partial
// index that holds exactly those, and asks each one's object to archive
// itself. The object keeps the request in its own schedule and does the work
// (src/procedure/object/archive.ts), so the pass only marks the rows it handed over:
// they leave the index, and the pass's cost follows what it archives, never
// the number of procedures kept.
import {
  archiveCutoff,
  ARCHIVE_BATCH,
  RETENTION_BATCH,
  retentionCutoff,
  type ArchivePassSummary,
  type RetainedTable,
  type RetentionBatch,
  type RetentionConfig,
} from "./policy";
import { logLine } from "../observability/log";

export interface ArchivePassDeps {
  d1: D1Database;
  config: RetentionConfig;
  /** The tick's one reading of the clock. */
  nowMs: number;
  /** Asks the procedure's object to archive itself; true once it has the request (or is archived). */
  requestArchive: (procedureId: string) => Promise<boolean>;
  batch?: number;
}

const CANDIDATES_SQL = `SELECT procedure_id FROM procedure_summary INDEXED BY procedure_summary_archive
  WHERE archive_requested_at IS NULL AND status IN ('Completed', 'Aborted', 'Truncated') AND last_status_changed_at <= ?1
  ORDER BY last_status_changed_at, procedure_id LIMIT ?2`;

const MARK_SQL = `UPDATE procedure_summary SET archive_requested_at = ?1
  WHERE procedure_id IN (SELECT value FROM json_each(?2)) AND archive_requested_at IS NULL`;

/** Runs one archive pass and returns its summary. */
export async function runArchivePass(deps: ArchivePassDeps): Promise<ArchivePassSummary> {
  const summary: ArchivePassSummary = { candidates: 0, requested: 0, not_due: 0, failures: 0, rows_read: 0, rows_written: 0 };
  const page = await deps.d1
    .prepare(CANDIDATES_SQL)
    .bind(archiveCutoff(deps.nowMs, deps.config), deps.batch ?? ARCHIVE_BATCH)
    .all<{ procedure_id: string }>();
  summary.rows_read += page.meta.rows_read ?? 0;
  summary.candidates = page.results.length;
  const handed: string[] = [];
  // Each candidate on its own: one object that fails is counted and asked again next pass.
  await Promise.all(
    page.results.map(async ({ procedure_id }) => {
      try {
        if (await deps.requestArchive(procedure_id)) handed.push(procedure_id);
        else summary.not_due += 1;
      } catch (error) {
        summary.failures += 1;
        logLine("error", { msg: "archive request failed", procedure_id, error: String(error) });
      }
    }),
  );
  if (handed.length > 0) {
    const marked = await deps.d1.prepare(MARK_SQL).bind(new Date(deps.nowMs).toISOString(), JSON.stringify(handed)).run();
    summary.rows_read += marked.meta.rows_read ?? 0;
    summary.rows_written += marked.meta.rows_written ?? 0;
  }
  summary.requested = handed.length;
  return summary;
}

// ---- every table bounded ----------------------------------------------------
// One statement per table and tick: delete up to a batch of rows older than
// the table's window, chosen by a subquery that walks the table's time index
// (named, so the planner cannot fall back to a scan) and stops at the batch.
// A tick so reads and writes about a batch per table, whatever the table
// holds; a backlog is worked off over the following ticks.

const PURGES: Record<RetainedTable, string> = {
  // Only decisions about archived procedures, oldest first. Old decisions of
  // procedures still live (a procedure running longer than the window) are
  // stepped over: they are few, and they go once their procedure is archived.
  decisions: `DELETE FROM decisions WHERE id IN (
    SELECT d.id FROM decisions d INDEXED BY decisions_recorded JOIN procedure_summary s ON s.procedure_id = d.subject_id
    WHERE d.recorded_at < ?1 AND s.archived_at IS NOT NULL ORDER BY d.recorded_at, d.id LIMIT ?2)`,
  deliveries: `DELETE FROM deliveries WHERE delivery_id IN (
    SELECT delivery_id FROM deliveries INDEXED BY deliveries_by_outcome
    WHERE outcome IN ('delivered', 'retrying', 'failed') AND attempted_at < ?1 LIMIT ?2)`,
  audit: `DELETE FROM audit_log WHERE audit_id IN (
    SELECT audit_id FROM audit_log INDEXED BY audit_log_occurred WHERE occurred_at < ?1 ORDER BY occurred_at, audit_id LIMIT ?2)`,
  idempotencyKeys: `DELETE FROM idempotency_keys WHERE rowid IN (
    SELECT rowid FROM idempotency_keys INDEXED BY idempotency_keys_created WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)`,
};

/** Deletes one bounded batch of expired rows from each table, each on its own. */
export async function runRetention(d1: D1Database, config: RetentionConfig, nowMs: number, batch = RETENTION_BATCH): Promise<RetentionBatch[]> {
  return Promise.all(
    (Object.keys(PURGES) as RetainedTable[]).map(async (table) => {
      try {
        const result = await d1.prepare(PURGES[table]).bind(retentionCutoff(table, nowMs, config), batch).run();
        return { table, deleted: result.meta.changes ?? 0, rows_read: result.meta.rows_read ?? 0, rows_written: result.meta.rows_written ?? 0 };
      } catch (error) {
        logLine("error", { msg: "retention batch failed", table, error: String(error) });
        return { table, deleted: 0, rows_read: 0, rows_written: 0, error: String(error) };
      }
    }),
  );
}
