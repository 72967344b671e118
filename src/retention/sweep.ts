// The archive pass of the Cron Trigger: reads a bounded batch of finished
// procedures not yet asked to archive, oldest finish first, on the partial
// index that holds exactly those, and asks each one's object to archive
// itself. The object keeps the request in its own schedule and does the work
// (src/procedure/archive.ts), so the pass only marks the rows it handed over:
// they leave the index, and the pass's cost follows what it archives, never
// the number of procedures kept.
import { archiveCutoff, ARCHIVE_BATCH, type RetentionConfig } from "./policy";

export interface ArchivePassDeps {
  d1: D1Database;
  config: RetentionConfig;
  /** The tick's one reading of the clock. */
  nowMs: number;
  /** Asks the procedure's object to archive itself; true once it has the request (or is archived). */
  requestArchive: (procedureId: string) => Promise<boolean>;
  batch?: number;
}

/** What one pass did, logged as one structured line. */
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
        console.error(JSON.stringify({ msg: "archive request failed", procedure_id, error: String(error) }));
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
