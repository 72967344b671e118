// The watcher's memory between ticks: the last summary and the denial episode.
import { eq } from "drizzle-orm";
import type { TickSummary } from "../watcher/stall";
import type { Database } from "./client";
import { watcherState } from "./schema";

const ROW = 1;

export async function readWatcherState(db: Database) {
  const row = await db.query.watcherState.findFirst({ where: eq(watcherState.id, ROW) });
  return { last_tick: (row?.last_tick ?? null) as TickSummary | null, denied_since: row?.denied_since ?? null };
}

export async function writeWatcherState(db: Database, state: { last_tick: TickSummary; denied_since: string | null }) {
  const row = { id: ROW, last_tick: state.last_tick, denied_since: state.denied_since };
  await db.insert(watcherState).values(row).onConflictDoUpdate({ target: watcherState.id, set: row });
}
