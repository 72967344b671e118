// The procedure_summary projection: idempotent, monotonic writes and keyset listing.
import { and, asc, eq, sql } from "drizzle-orm";
import type { Database } from "./client";
import { splitPage } from "../paging";
import { beyond } from "./keyset";
import { procedureSummary } from "./schema";

export type SummaryRow = Omit<typeof procedureSummary.$inferInsert, "progress_at" | "watch_window" | "stall_flagged_at">;
export type SummaryRecord = typeof procedureSummary.$inferSelect;

/**
 * Writes a summary unless the row already holds a later version. The activity
 * mirror only ever moves forward, whoever wrote it last.
 */
export async function upsertSummary(db: Database, row: SummaryRow): Promise<void> {
  const t = procedureSummary;
  await db
    .insert(t)
    .values(row)
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
        version: sql`excluded.version`,
        last_activity_at: sql`CASE WHEN ${t.last_activity_at} IS NULL OR excluded.last_activity_at > ${t.last_activity_at} THEN excluded.last_activity_at ELSE ${t.last_activity_at} END`,
        updated_at: sql`excluded.updated_at`,
      },
      setWhere: sql`excluded.version > ${t.version} OR (excluded.version = ${t.version} AND excluded.last_activity_at IS NOT NULL AND (${t.last_activity_at} IS NULL OR excluded.last_activity_at > ${t.last_activity_at}))`,
    });
}

export interface SummaryFilter {
  status?: string | undefined;
  kind?: string | undefined;
  target_asset_id?: string | undefined;
}

export interface SummaryCursor {
  registered_at: string;
  procedure_id: string;
}

/** One keyset page ordered by (registered_at, procedure_id); fetches one extra row to know if more follow. */
export async function listSummaries(
  db: Database,
  filter: SummaryFilter,
  after: SummaryCursor | null,
  limit: number,
): Promise<{ rows: SummaryRecord[]; next: SummaryCursor | null }> {
  const t = procedureSummary;
  const rows = await db
    .select()
    .from(t)
    .where(
      and(
        filter.status ? eq(t.status, filter.status) : undefined,
        filter.kind ? eq(t.kind, filter.kind) : undefined,
        filter.target_asset_id
          ? sql`EXISTS (SELECT 1 FROM json_each(${t.target_asset_ids}) WHERE json_each.value = ${filter.target_asset_id})`
          : undefined,
        after ? beyond("asc", t.registered_at, t.procedure_id, after.registered_at, after.procedure_id) : undefined,
      ),
    )
    .orderBy(asc(t.registered_at), asc(t.procedure_id))
    .limit(limit + 1);
  return splitPage(rows, limit, (row) => ({ registered_at: row.registered_at, procedure_id: row.procedure_id }));
}
