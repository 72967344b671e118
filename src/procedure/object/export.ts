// The procedure's whole record as JSON Lines, read from the object's storage
// page by page: one `state` line, then every event in version order, the
// pinned manifest (when there is one), then every logbook entry in the order
// it was recorded. The same lines are what GET …/export streams and what the
// archive keeps. The first page fixes where the record ends (the state's
// version, the last logbook row), so a procedure that moves on during a long
// export still yields one consistent record; every later page is a keyset
// read bounded by rows and bytes, so memory stays flat however long the
// logbook is.
import { utf8Length } from "../../json";
import type { PinnedManifest } from "../contract";
import type { ProcedureView } from "../view";

/** Where an export continues: the record's bounds, fixed by the first page, and the section and key it reached. */
export interface ExportCursor {
  until_version: number;
  until_seq: number;
  manifest: boolean;
  section: "events" | "manifest" | "logbook";
  /** The last version (events) or logbook seq written. */
  after: number;
}

export interface ExportPage {
  lines: string[];
  next: ExportCursor | null;
  /** An archived procedure answers its state line only: the rest of the record is this file, after its own first line. */
  archive_key?: string;
}

/** The `record` of each line, in the order they come. */
export const EXPORT_RECORDS = ["state", "event", "manifest", "activity"] as const;

/** The most rows one page reads. */
export const EXPORT_PAGE_ROWS = 1_000;
/** A page stops adding lines once they reach this many bytes (always at least one line). */
export const EXPORT_PAGE_BYTES = 1024 * 1024;

/** The object's side of an export page: its storage and its state as readers see it. */
export interface ExportSource {
  sql: SqlStorage;
  view: ProcedureView;
  manifest: () => PinnedManifest | null;
}

type EventRow = { version: number; event_id: string; type: string; payload: string; occurred_at: string; principal_id: string; correlation_id: string };
type EntryRow = { seq: number; event_id: string; step_kind: string; payload: string; sampled_at: string; occurred_at: string; recorded_at: string; principal_id: string };

/** One page of the export: the first (cursor null) starts with the state line. */
export function exportPage(source: ExportSource, cursor: ExportCursor | null, rowLimit = EXPORT_PAGE_ROWS, byteLimit = EXPORT_PAGE_BYTES): ExportPage {
  const { sql } = source;
  const lines: string[] = [];
  let bytes = 0;
  const full = () => lines.length >= rowLimit || bytes >= byteLimit;
  const push = (line: string) => {
    lines.push(line);
    bytes += utf8Length(line) + 1;
  };

  let at: ExportCursor;
  if (cursor === null) {
    const last = sql.exec<{ last: number }>("SELECT coalesce(max(seq), 0) AS last FROM logbook").one().last;
    at = { until_version: source.view.version, until_seq: last, manifest: source.manifest() !== null, section: "events", after: 0 };
    push(JSON.stringify({ record: "state", ...source.view }));
  } else {
    at = { ...cursor };
  }

  if (at.section === "events") {
    // Rows are read one at a time, so rows past the page are never loaded.
    const rows = sql.exec<EventRow>(
      "SELECT * FROM events WHERE version > ? AND version <= ? ORDER BY version LIMIT ?",
      at.after,
      at.until_version,
      rowLimit,
    );
    for (const row of rows) {
      if (full()) return { lines, next: at };
      push(JSON.stringify({ record: "event", ...row, payload: JSON.parse(row.payload) }));
      at.after = row.version;
    }
    if (at.after < at.until_version) return { lines, next: at };
    at = { ...at, section: "manifest", after: 0 };
  }

  if (at.section === "manifest") {
    if (full()) return { lines, next: at };
    const manifest = at.manifest ? source.manifest() : null;
    if (manifest) push(JSON.stringify({ record: "manifest", ...manifest }));
    at = { ...at, section: "logbook", after: 0 };
  }

  const rows = sql.exec<EntryRow>(
    `SELECT seq, event_id, step_kind, payload, sampled_at, occurred_at, recorded_at, principal_id FROM logbook
     WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`,
    at.after,
    at.until_seq,
    rowLimit,
  );
  for (const { seq, payload, ...rest } of rows) {
    if (full()) return { lines, next: at };
    push(JSON.stringify({ record: "activity", ...rest, payload: JSON.parse(payload) }));
    at.after = seq;
  }
  return { lines, next: at.after < at.until_seq ? at : null };
}

/** Every page of an export in turn, from a function that reads one. */
export async function* exportLines(read: (cursor: ExportCursor | null) => Promise<ExportPage> | ExportPage): AsyncGenerator<string[]> {
  let cursor: ExportCursor | null = null;
  do {
    const page: ExportPage = await read(cursor);
    yield page.lines;
    cursor = page.next;
  } while (cursor !== null);
}
