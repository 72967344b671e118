// What the Health page reads from D1: the watcher's recent ticks and the
// refusals per minute. Both tables are small by construction: the tick adds
// one row and prunes what is older than the retention, in one batch.
import { desc, gte } from "drizzle-orm";
import type { Database } from "./client";
import { refusalCounts, watcherTicks } from "./schema";

/** How long a tick's row is kept: a day of minutely ticks. */
export const TICK_RETENTION_MS = 24 * 60 * 60 * 1000;
/** How long a minute's refusal counts are kept. */
export const REFUSAL_RETENTION_MS = 24 * 60 * 60 * 1000;
/** The most ticks GET /v1/watcher lists: the last hour of minutely ticks. */
export const RECENT_TICKS = 60;

export type TickRow = typeof watcherTicks.$inferSelect;

/** The deletes that keep both tables within their retention: each reads the rows it removes, on the primary key. */
function pruneStatements(d1: D1Database, nowMs: number): D1PreparedStatement[] {
  return [
    d1.prepare("DELETE FROM watcher_ticks WHERE started_at < ?").bind(new Date(nowMs - TICK_RETENTION_MS).toISOString()),
    d1.prepare("DELETE FROM refusal_counts WHERE minute < ?").bind(new Date(nowMs - REFUSAL_RETENTION_MS).toISOString()),
  ];
}

/** Records an enabled watcher's tick and prunes both tables, in one batch. */
export async function recordTick(d1: D1Database, tick: TickRow, nowMs: number): Promise<void> {
  await d1.batch([
    d1
      .prepare(
        `INSERT OR REPLACE INTO watcher_ticks (started_at, outcome, duration_ms, rows_read, candidates, flagged, acted, archived, failures)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(tick.started_at, tick.outcome, tick.duration_ms, tick.rows_read, tick.candidates, tick.flagged, tick.acted, tick.archived, tick.failures),
    ...pruneStatements(d1, nowMs),
  ]);
}

/** Prunes both tables without recording a tick: a disabled watcher's tick still keeps the refusal counts bounded. */
export async function pruneOperations(d1: D1Database, nowMs: number): Promise<void> {
  await d1.batch(pruneStatements(d1, nowMs));
}

/** The latest ticks, newest first. */
export async function recentTicks(db: Database, limit = RECENT_TICKS): Promise<TickRow[]> {
  return db.select().from(watcherTicks).orderBy(desc(watcherTicks.started_at)).limit(limit);
}

/** The minute `ms` falls in, as the refusal counts key it. */
export function minuteOf(ms: number): string {
  return new Date(ms - (ms % 60_000)).toISOString();
}

export interface RefusalCount {
  minute: string;
  error_class: string;
  count: number;
}

/** Adds counts to their minutes, in one batch. */
export async function addRefusals(d1: D1Database, counts: readonly RefusalCount[]): Promise<void> {
  if (counts.length === 0) return;
  await d1.batch(
    counts.map((c) =>
      d1
        .prepare("INSERT INTO refusal_counts (minute, error_class, count) VALUES (?, ?, ?) ON CONFLICT (minute, error_class) DO UPDATE SET count = count + excluded.count")
        .bind(c.minute, c.error_class, c.count),
    ),
  );
}

/** Every minute's counts since `sinceMinute` (at most one row per minute and class). */
export async function refusalsSince(db: Database, sinceMinute: string): Promise<RefusalCount[]> {
  return db.select().from(refusalCounts).where(gte(refusalCounts.minute, sinceMinute)).orderBy(refusalCounts.minute);
}
