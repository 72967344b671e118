// The activity logbook: entries are not events; they live in the object's own
// table, deduplicated on the gateway's event_id, with per-step progress beside.
import type { StepResult } from "../../conduct/entries";
import { utf8Length } from "../../json";
import { splitPage } from "../../paging";
import type { ActivityEntryInput, RecordedContent } from "../activity";
import type { ConductProgress } from "../view";

// The entry shapes are the core's (the batch rules judge them); the object reaches them here too.
export type { ActivityEntryInput, RecordedContent };

export interface ActivityEntry {
  event_id: string;
  step_kind: string;
  payload: Record<string, unknown>;
  sampled_at: string;
  occurred_at: string;
  recorded_at: string;
  principal_id: string;
}


/** The entries among `eventIds` this logbook already holds, by event id. */
export function knownEntries(sql: SqlStorage, eventIds: readonly string[]): Map<string, RecordedContent> {
  const rows = sql.exec<{ event_id: string; step_kind: string; payload: string; sampled_at: string }>(
    "SELECT event_id, step_kind, payload, sampled_at FROM logbook WHERE event_id IN (SELECT value FROM json_each(?))",
    JSON.stringify(eventIds),
  );
  return new Map(rows.toArray().map(({ event_id, ...content }) => [event_id, content]));
}

/** An entry's payload as `payloadTexts` serialized and measured it; every entry recorded went through it. */
function payloadText(payloads: ReadonlyMap<ActivityEntryInput, string>, entry: ActivityEntryInput): string {
  const text = payloads.get(entry);
  if (text === undefined) throw new Error(`the payload of entry ${entry.event_id} was not measured before it was recorded`);
  return text;
}

/**
 * Appends entries, with their payloads as `payloads` serialized them, and the
 * step results they carry; the caller holds the transaction. `atVersion` is
 * the procedure's version before the batch's own events, so the live feed can
 * place the batch among the events.
 */
export function recordEntries(
  sql: SqlStorage,
  entries: readonly ActivityEntryInput[],
  payloads: ReadonlyMap<ActivityEntryInput, string>,
  steps: ReadonlyArray<{ step_index: number; result: StepResult } | null>,
  recordedAt: string,
  principalId: string,
  atVersion: number,
): void {
  const batch = sql.exec<{ last: number }>("SELECT coalesce(max(seq), 0) AS last FROM logbook").one().last;
  entries.forEach((entry, i) => {
    sql.exec(
      `INSERT INTO logbook (event_id, step_kind, payload, sampled_at, occurred_at, recorded_at, principal_id, at_version, batch)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      entry.event_id,
      entry.step_kind,
      payloadText(payloads, entry),
      entry.sampled_at,
      entry.occurred_at ?? recordedAt,
      recordedAt,
      principalId,
      atVersion,
      batch,
    );
    const step = steps[i];
    if (step) {
      sql.exec(
        `INSERT INTO step_progress (step_index, result, recorded_at) VALUES (?, ?, ?)
         ON CONFLICT (step_index) DO UPDATE SET result = excluded.result, recorded_at = excluded.recorded_at`,
        step.step_index,
        step.result,
        recordedAt,
      );
    }
  });
  // An in_flight with no later outcome for the same index is the interrupted step.
  sql.exec(
    `UPDATE progress SET
       completed_count = (SELECT count(*) FROM step_progress WHERE result = 'ok'),
       in_flight_step_index = (SELECT step_index FROM step_progress WHERE result = 'in_flight'
                               ORDER BY recorded_at DESC, step_index DESC LIMIT 1),
       last_activity_at = CASE WHEN last_activity_at IS NULL OR last_activity_at < ?1 THEN ?1 ELSE last_activity_at END
     WHERE id = 1`,
    recordedAt,
  );
}

export interface StoredProgress extends ConductProgress {
  mirrored_activity_at: string | null;
}

export function readProgress(sql: SqlStorage): StoredProgress {
  return sql.exec<StoredProgress & Record<string, SqlStorageValue>>(
    "SELECT completed_count, in_flight_step_index, last_activity_at, mirrored_activity_at FROM progress WHERE id = 1",
  ).one();
}

export function markMirrored(sql: SqlStorage, at: string | null): void {
  sql.exec("UPDATE progress SET mirrored_activity_at = ? WHERE id = 1", at);
}

/** A step's latest report (in_flight, ok or failed) and when it was recorded; null when it has none. */
export function stepReport(sql: SqlStorage, stepIndex: number): { result: string; recorded_at: string } | null {
  return sql.exec<{ result: string; recorded_at: string }>("SELECT result, recorded_at FROM step_progress WHERE step_index = ?", stepIndex).toArray()[0] ?? null;
}

/** Indexes whose latest result is ok. */
export function okStepIndexes(sql: SqlStorage): Set<number> {
  const rows = sql.exec<{ step_index: number }>("SELECT step_index FROM step_progress WHERE result = 'ok'");
  return new Set(rows.toArray().map((r) => r.step_index));
}

/**
 * A page stops adding entries once they reach this many bytes, so a page of large entries stays
 * far inside an RPC reply's limit whatever `limit` asks for.
 */
export const MAX_PAGE_BYTES = 1024 * 1024;

/** What an entry's fixed fields add to its payload in a page. */
const ROW_OVERHEAD_BYTES = 256;

type LogbookRow = { seq: number; event_id: string; step_kind: string; payload: string; sampled_at: string; occurred_at: string; recorded_at: string; principal_id: string };

/**
 * Newest first, keyset on the insertion sequence. Bounded by rows and by bytes: always at least
 * one entry, and `next` continues right after the last entry returned. Rows are read one at a
 * time, so entries past the page are never loaded.
 */
export function pageEntries(sql: SqlStorage, before: number | null, limit: number): { items: ActivityEntry[]; next: number | null } {
  const cursor = sql.exec<LogbookRow>(
    `SELECT seq, event_id, step_kind, payload, sampled_at, occurred_at, recorded_at, principal_id FROM logbook
     WHERE seq < ? ORDER BY seq DESC LIMIT ?`,
    before ?? Number.MAX_SAFE_INTEGER,
    limit + 1,
  );
  const fetched: LogbookRow[] = [];
  let pageLimit = limit;
  let bytes = 0;
  for (const row of cursor) {
    fetched.push(row);
    bytes += utf8Length(row.payload) + ROW_OVERHEAD_BYTES;
    if (fetched.length > pageLimit) break;
    // The row that takes the page over budget becomes the "one past the page" (never the first row).
    if (bytes > MAX_PAGE_BYTES && fetched.length > 1) {
      pageLimit = fetched.length - 1;
      break;
    }
  }
  const page = splitPage(fetched, pageLimit, (row) => row.seq);
  return {
    items: page.rows.map(({ seq: _seq, payload, ...rest }) => ({ ...rest, payload: JSON.parse(payload) as Record<string, unknown> })),
    next: page.next,
  };
}

/** The latest recorded_at: one read on the logbook_recorded index. */
export function latestRecordedAt(sql: SqlStorage): string | null {
  return sql.exec<{ at: string | null }>("SELECT max(recorded_at) AS at FROM logbook").one().at;
}
