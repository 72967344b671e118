// The live feed's messages, read from the record: the event log and the
// logbook after a position, merged in commit order. The same read serves a
// reconnect's replay and the broadcast after each commit, so what a subscriber
// sees live and what a reconnect replays cannot differ.
import { utf8Length } from "../json";
import type { ActivityEntry } from "../procedure/object/logbook";
import { eventsAfter } from "../procedure/object/storage";
import type { ProcedureView } from "../procedure/view";
import { recordId, stateId, type Position } from "./position";

/** One message of the feed: SSE sends it as id/event/data lines, a WebSocket as this JSON. */
export interface LiveMessage {
  id: string;
  event: string;
  data: unknown;
}

/**
 * An activity message holds at most this many bytes of entries; a larger batch
 * is split, each part with its own id (the seq of its last entry). An entry may
 * hold 64 KiB, so a part always fits at least one.
 */
export const MAX_ACTIVITY_MESSAGE_BYTES = 256 * 1024;
/** What an entry's (or an event's) fixed fields add to its payload in a message. */
const ENTRY_OVERHEAD_BYTES = 256;

type LogbookRow = {
  seq: number;
  at_version: number;
  batch: number;
  event_id: string;
  step_kind: string;
  payload: string;
  sampled_at: string;
  occurred_at: string;
  recorded_at: string;
  principal_id: string;
};

/** The logbook's last seq: with the version, the position the feed has reached. */
export function lastSeq(sql: SqlStorage): number {
  return sql.exec<{ last: number }>("SELECT coalesce(max(seq), 0) AS last FROM logbook").one().last;
}

function entryOf({ seq: _s, at_version: _v, batch: _b, payload, ...rest }: LogbookRow): ActivityEntry {
  return { ...rest, payload: JSON.parse(payload) as Record<string, unknown> };
}

/** A batch's rows cut into parts of at most MAX_ACTIVITY_MESSAGE_BYTES, never an empty part. */
function parts(rows: LogbookRow[]): LogbookRow[][] {
  const out: LogbookRow[][] = [];
  let part: LogbookRow[] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = utf8Length(row.payload) + ENTRY_OVERHEAD_BYTES;
    if (part.length > 0 && bytes + size > MAX_ACTIVITY_MESSAGE_BYTES) {
      out.push(part);
      part = [];
      bytes = 0;
    }
    part.push(row);
    bytes += size;
  }
  if (part.length > 0) out.push(part);
  return out;
}

/** What one replay may hold: this many events, and this many bytes of events and entries together. */
export interface ReplayCap {
  events: number;
  bytes: number;
}

/**
 * Measures what followed `after` against the cap, without loading a payload:
 * the events' and then the entries' sizes in order, one row at a time, and it
 * stops at the first row past the cap, so an old position costs no more than
 * the cap. `rows_read` is what the cursors read.
 */
export function measureReplay(sql: SqlStorage, after: Position, currentVersion: number, cap: ReplayCap): { fits: boolean; rows_read: number } {
  if (currentVersion - after.version > cap.events) return { fits: false, rows_read: 0 };
  let bytes = 0;
  let rows_read = 0;
  const sides = [
    ["SELECT octet_length(payload) AS bytes FROM events WHERE version > ? ORDER BY version", after.version],
    ["SELECT octet_length(payload) AS bytes FROM logbook WHERE seq > ? ORDER BY seq", after.seq],
  ] as const;
  for (const [query, from] of sides) {
    const cursor = sql.exec<{ bytes: number }>(query, from);
    for (const row of cursor) {
      bytes += row.bytes + ENTRY_OVERHEAD_BYTES;
      if (bytes > cap.bytes) return { fits: false, rows_read: rows_read + cursor.rowsRead };
    }
    rows_read += cursor.rowsRead;
  }
  return { fits: true, rows_read };
}

/** True when what followed `after` is more than one replay holds (see `measureReplay`). */
export function replayTooLong(sql: SqlStorage, after: Position, currentVersion: number, cap: ReplayCap): boolean {
  return !measureReplay(sql, after, currentVersion, cap).fits;
}

/**
 * Every event and activity message after `after`, in commit order: a batch
 * comes before the events it caused (it was accepted at the version before
 * them), and each message's id is the position right after it.
 */
export function recordsAfter(sql: SqlStorage, after: Position): { messages: LiveMessage[]; position: Position } {
  const events = eventsAfter(sql, after.version, Number.MAX_SAFE_INTEGER - 1).items;
  const rows = sql
    .exec<LogbookRow>(
      `SELECT seq, at_version, batch, event_id, step_kind, payload, sampled_at, occurred_at, recorded_at, principal_id
       FROM logbook WHERE seq > ? ORDER BY seq`,
      after.seq,
    )
    .toArray();
  const messages: LiveMessage[] = [];
  let { version, seq } = after;
  let e = 0;
  let r = 0;
  while (e < events.length || r < rows.length) {
    const row = rows[r];
    const event = events[e];
    if (row && (!event || row.at_version < event.version)) {
      let end = r;
      while (end < rows.length && rows[end]!.batch === row.batch) end += 1;
      for (const part of parts(rows.slice(r, end))) {
        seq = part[part.length - 1]!.seq;
        messages.push({ id: recordId({ version, seq }), event: "activity", data: { items: part.map(entryOf) } });
      }
      r = end;
    } else {
      version = event!.version;
      messages.push({ id: recordId({ version, seq }), event: event!.type, data: event });
      e += 1;
    }
  }
  return { messages, position: { version, seq } };
}

export function stateMessage(position: Position, view: ProcedureView): LiveMessage {
  return { id: stateId(position), event: "state", data: view };
}

/** The SSE framing of a message: JSON never holds a raw newline, so data is one line. */
export function sseFrame(message: LiveMessage): string {
  return `id: ${message.id}\nevent: ${message.event}\ndata: ${JSON.stringify(message.data)}\n\n`;
}
