// The procedure_summary projection: idempotent, monotonic writes and keyset listing.
import { and, asc, eq, getTableColumns, sql } from "drizzle-orm";
import type { Database } from "./client";
import { splitPage } from "../paging";
import { watchWindow } from "../watcher/stall";
import type { PrincipalScopes } from "../auth/grants";
import { beyond } from "./keyset";
import { inScopeSql } from "./scope";
import { procedureSummary, procedureTargets } from "./schema";

export type SummaryRow = Omit<
  typeof procedureSummary.$inferInsert,
  "progress_at" | "watch_window" | "stall_due_at" | "stall_flagged_at" | "archive_requested_at" | "archived_at"
>;
export type SummaryRecord = typeof procedureSummary.$inferSelect;

/**
 * Writes a summary unless the row already holds a later version: one
 * statement. The procedure's target rows come with the row's first insert (a
 * trigger, migrations/0006), so a delivery never writes them again and no
 * summary exists without them. The activity mirror only ever moves forward,
 * whoever wrote it last. The watch window is the watcher core's, computed
 * here from the row so that every writer (and a row queued before the window
 * was part of it) stores the same answer.
 */
export async function upsertSummary(db: Database, row: SummaryRow): Promise<void> {
  const t = procedureSummary;
  const stale_after_seconds = row.stale_after_seconds ?? null;
  await db
    .insert(t)
    .values({ ...row, stale_after_seconds, watch_window: watchWindow(row.status, row.hold_causes, stale_after_seconds) })
    .onConflictDoUpdate({
      target: t.procedure_id,
      set: {
        name: sql`excluded.name`,
        kind: sql`excluded.kind`,
        target_asset_ids: sql`excluded.target_asset_ids`,
        status: sql`excluded.status`,
        activity_logbook_id: sql`excluded.activity_logbook_id`,
        registered_at: sql`excluded.registered_at`,
        last_status_changed_at: sql`excluded.last_status_changed_at`,
        last_status_reason: sql`excluded.last_status_reason`,
        interrupted_at: sql`excluded.interrupted_at`,
        hold_causes: sql`excluded.hold_causes`,
        stale_after_seconds: sql`excluded.stale_after_seconds`,
        watch_window: sql`excluded.watch_window`,
        version: sql`excluded.version`,
        last_activity_at: sql`CASE WHEN ${t.last_activity_at} IS NULL OR excluded.last_activity_at > ${t.last_activity_at} THEN excluded.last_activity_at ELSE ${t.last_activity_at} END`,
        updated_at: sql`excluded.updated_at`,
      },
      setWhere: sql`excluded.version > ${t.version} OR (excluded.version = ${t.version} AND excluded.last_activity_at IS NOT NULL AND (${t.last_activity_at} IS NULL OR excluded.last_activity_at > ${t.last_activity_at}))`,
    })
    .run();
}

export interface SummaryFilter {
  /** The caller's scopes: only procedures within them are listed. */
  scopes: PrincipalScopes | null;
  status?: string | undefined;
  kind?: string | undefined;
  target_asset_id?: string | undefined;
}

export interface SummaryCursor {
  registered_at: string;
  procedure_id: string;
}

/**
 * The statement of one keyset page ordered by (registered_at, procedure_id),
 * one row past the page to know if more follow. By target asset the walk runs
 * over procedure_targets, so a page reads about a page of rows however many
 * procedures there are.
 */
export function summaryPageQuery(db: Database, filter: SummaryFilter, after: SummaryCursor | null, limit: number) {
  const t = procedureSummary;
  const byTarget = filter.target_asset_id !== undefined && filter.target_asset_id !== "";
  // A scoped listing walks the target rows of the scope's assets, so its cost
  // follows the procedures in scope, not every procedure in the service.
  const scopes = byTarget ? null : filter.scopes;
  const walked = byTarget || scopes !== null;
  // Sorting on the walked table's own key lets SQLite follow its index.
  const key = walked ? procedureTargets : t;
  const conditions = and(
    filter.status ? eq(t.status, filter.status) : undefined,
    filter.kind ? eq(t.kind, filter.kind) : undefined,
    // The walked asset may be outside the scope while another target of the procedure is in it.
    byTarget ? inScopeSql(t.procedure_id, filter.scopes) : undefined,
    byTarget ? eq(procedureTargets.asset_id, filter.target_asset_id!) : undefined,
    scopes ? sql`${procedureTargets.asset_id} IN (SELECT value FROM json_each(${JSON.stringify(scopes.target_asset_ids)}))` : undefined,
    after ? beyond("asc", key.registered_at, key.procedure_id, after.registered_at, after.procedure_id) : undefined,
  );
  // A procedure with two assets in the scope is walked twice: DISTINCT keeps it once.
  const columns = getTableColumns(t);
  const from = walked
    ? (scopes ? db.selectDistinct(columns) : db.select(columns)).from(procedureTargets).innerJoin(t, eq(t.procedure_id, procedureTargets.procedure_id))
    : db.select().from(t);
  const order = scopes ? t : key;
  return from
    .where(conditions)
    .orderBy(asc(order.registered_at), asc(order.procedure_id))
    .limit(limit + 1);
}

/** One page of summaries and the key to continue from. */
export async function listSummaries(
  db: Database,
  filter: SummaryFilter,
  after: SummaryCursor | null,
  limit: number,
): Promise<{ rows: SummaryRecord[]; next: SummaryCursor | null }> {
  const rows = await summaryPageQuery(db, filter, after, limit);
  return splitPage(rows, limit, (row) => ({ registered_at: row.registered_at, procedure_id: row.procedure_id }));
}

/** Records that the procedure is archived: its row stays in the list, with `archived_at`. */
export async function markSummaryArchived(db: Database, procedureId: string, archivedAt: string): Promise<void> {
  const t = procedureSummary;
  await db.update(t).set({ archived_at: archivedAt }).where(and(eq(t.procedure_id, procedureId), sql`${t.archived_at} IS NULL`)).run();
}
