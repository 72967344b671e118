// The procedure_summary projection: idempotent, monotonic writes and keyset listing.
import { and, asc, desc, eq, getTableColumns, sql } from "drizzle-orm";
import type { Database } from "./client";
import { splitPage } from "../paging";
import { watchWindow } from "../watcher/stall";
import type { PrincipalScopes } from "../auth/grants";
import { beyond } from "./keyset";
import { inScopeSql } from "./scope";
import { procedureSummary, procedureTargets } from "./schema";

export type SummaryRow = Omit<
  typeof procedureSummary.$inferInsert,
  "progress_at" | "watch_window" | "stall_due_at" | "stall_flagged_at" | "stalled" | "attention" | "archive_requested_at" | "archived_at"
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
        step_count: sql`excluded.step_count`,
        completed_count: sql`excluded.completed_count`,
        watch_window: sql`excluded.watch_window`,
        version: sql`excluded.version`,
        last_activity_at: sql`CASE WHEN ${t.last_activity_at} IS NULL OR excluded.last_activity_at > ${t.last_activity_at} THEN excluded.last_activity_at ELSE ${t.last_activity_at} END`,
        updated_at: sql`excluded.updated_at`,
      },
      setWhere: sql`excluded.version > ${t.version} OR (excluded.version = ${t.version} AND excluded.last_activity_at IS NOT NULL AND (${t.last_activity_at} IS NULL OR excluded.last_activity_at > ${t.last_activity_at}))`,
    })
    .run();
}

/** How a listing is ordered: by registration either way, or what needs attention first. */
export type SummaryOrder = "oldest" | "newest" | "attention";

/** The attention ranks, first to last: Held or stalled, Running, the rest. */
const ATTENTION_RANKS = [0, 1, 2] as const;

export interface SummaryFilter {
  /** The caller's scopes: only procedures within them are listed. */
  scopes: PrincipalScopes | null;
  status?: string | undefined;
  /** Matched case-insensitively (ASCII letters). */
  kind?: string | undefined;
  /** Matched case-insensitively (ASCII letters); the scope check stays exact. */
  target_asset_id?: string | undefined;
  /** Words that must each begin a word of the name or the kind, case-insensitively. */
  q?: string | undefined;
}

export interface SummaryCursor {
  registered_at: string;
  procedure_id: string;
  /** The attention rank of the cursor's row (the attention order only). */
  attention?: number | undefined;
}

/**
 * The FTS5 query for a search box's text: each word a prefix that must match
 * (a word of the name or the kind), so "cal 4k" finds "Calibration at 4 K"'s
 * kind and name as they are typed. Only letters and digits reach the query,
 * so no input can be FTS5 syntax. Null when the text has no word.
 */
export function searchQuery(q: string): string | null {
  const words = q.split(/[^\p{L}\p{N}]+/u).filter((w) => w !== "");
  return words.length === 0 ? null : words.map((w) => `"${w}"*`).join(" ");
}

/**
 * The statement of one keyset page, one row past the page to know if more
 * follow: by (registered_at, procedure_id) ascending (`oldest`), descending
 * (`newest`), or, for the attention order, the newest first within the one
 * attention rank `rank` (the caller walks the ranks: each rank is a seek on
 * its own index range). By target asset the walk runs over procedure_targets,
 * so a page reads about a page of rows however many procedures there are. A
 * search (`q`) reads the procedures whose name or kind matches, through the
 * full-text index, and orders them.
 */
export function summaryPageQuery(
  db: Database,
  filter: SummaryFilter,
  after: SummaryCursor | null,
  limit: number,
  order: SummaryOrder = "oldest",
  rank?: number,
) {
  const t = procedureSummary;
  const direction = order === "oldest" ? "asc" : "desc";
  const byTarget = filter.target_asset_id !== undefined && filter.target_asset_id !== "";
  // A scoped listing walks the target rows of the scope's assets, so its cost
  // follows the procedures in scope, not every procedure in the service.
  const scopes = byTarget ? null : filter.scopes;
  const walked = byTarget || scopes !== null;
  // Sorting on the walked table's own key lets SQLite follow its index.
  const key = walked ? procedureTargets : t;
  const search = filter.q === undefined ? undefined : searchQuery(filter.q);
  // Within a rank the cursor's position applies only to the cursor's own rank.
  const positioned = after !== null && (order !== "attention" || after.attention === rank);
  const conditions = and(
    filter.status ? eq(t.status, filter.status) : undefined,
    filter.kind ? sql`${t.kind} = ${filter.kind} COLLATE NOCASE` : undefined,
    // The walked asset may be outside the scope while another target of the procedure is in it.
    byTarget ? inScopeSql(t.procedure_id, filter.scopes) : undefined,
    byTarget ? sql`${procedureTargets.asset_id} = ${filter.target_asset_id!} COLLATE NOCASE` : undefined,
    scopes ? sql`${procedureTargets.asset_id} IN (SELECT value FROM json_each(${JSON.stringify(scopes.target_asset_ids)}))` : undefined,
    rank !== undefined ? eq(t.attention, rank) : undefined,
    // A text with no word matches nothing.
    filter.q === undefined ? undefined : search === null ? sql`false` : sql`${t}.rowid IN (SELECT rowid FROM procedure_search WHERE procedure_search MATCH ${search})`,
    positioned ? beyond(direction, key.registered_at, key.procedure_id, after!.registered_at, after!.procedure_id) : undefined,
  );
  // A procedure with two assets in the scope (or two targets differing only
  // in case) is walked twice: DISTINCT keeps it once.
  const columns = getTableColumns(t);
  const from = walked
    ? db.selectDistinct(columns).from(procedureTargets).innerJoin(t, eq(t.procedure_id, procedureTargets.procedure_id))
    : db.select(columns).from(t);
  const sort = scopes ? t : key;
  const by = direction === "asc" ? asc : desc;
  return from
    .where(conditions)
    .orderBy(by(sort.registered_at), by(sort.procedure_id))
    .limit(limit + 1);
}

/** One page of summaries and the key to continue from. */
export async function listSummaries(
  db: Database,
  filter: SummaryFilter,
  after: SummaryCursor | null,
  limit: number,
  order: SummaryOrder = "oldest",
): Promise<{ rows: SummaryRecord[]; next: SummaryCursor | null }> {
  if (order !== "attention") {
    const rows = await summaryPageQuery(db, filter, after, limit, order);
    return splitPage(rows, limit, (row) => ({ registered_at: row.registered_at, procedure_id: row.procedure_id }));
  }
  // One seek per rank from the cursor's rank on, until the page (and one row past it) is full.
  const fetched: SummaryRecord[] = [];
  for (const rank of ATTENTION_RANKS) {
    if (after?.attention !== undefined && rank < after.attention) continue;
    if (fetched.length > limit) break;
    fetched.push(...(await summaryPageQuery(db, filter, after, limit - fetched.length, order, rank)));
  }
  return splitPage(fetched, limit, (row) => ({ registered_at: row.registered_at, procedure_id: row.procedure_id, attention: row.attention ?? 2 }));
}

/** Records that the procedure is archived: its row stays in the list, with `archived_at`. */
export async function markSummaryArchived(db: Database, procedureId: string, archivedAt: string): Promise<void> {
  const t = procedureSummary;
  await db.update(t).set({ archived_at: archivedAt }).where(and(eq(t.procedure_id, procedureId), sql`${t.archived_at} IS NULL`)).run();
}
