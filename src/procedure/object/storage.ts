// The object's SQLite storage: its versioned schema and the reads and writes
// of its events, snapshot and manifest. The schema is created at registration,
// never on a read, so an id nobody registered leaves no trace. Migrations are
// append-only; the applied count is stored so waking an object runs no DDL
// once it is current.
import type { ProcedureEvent, RecordedEvent } from "../events";
import type { Caller, ConductPlan, PinnedManifest } from "../contract";
import { uuidv7 } from "../../ids";
import { splitPage } from "../../paging";
import type { ProcedureState } from "../state";
import type { Tombstone } from "./archive";

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE events (
     version INTEGER PRIMARY KEY,
     event_id TEXT NOT NULL UNIQUE,
     type TEXT NOT NULL,
     payload TEXT NOT NULL,
     occurred_at TEXT NOT NULL,
     principal_id TEXT NOT NULL,
     correlation_id TEXT NOT NULL
   );
   CREATE TABLE snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL);
   CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, summary TEXT NOT NULL);
   CREATE TABLE manifest (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     resolved_steps TEXT NOT NULL,
     resolved_closing_steps TEXT NOT NULL,
     step_count INTEGER NOT NULL,
     recorded_at TEXT NOT NULL
   );
   CREATE TABLE logbook (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     event_id TEXT NOT NULL UNIQUE,
     step_kind TEXT NOT NULL,
     payload TEXT NOT NULL,
     sampled_at TEXT NOT NULL,
     occurred_at TEXT NOT NULL,
     recorded_at TEXT NOT NULL,
     principal_id TEXT NOT NULL
   );
   CREATE INDEX logbook_recorded ON logbook (recorded_at);
   CREATE TABLE step_progress (
     step_index INTEGER PRIMARY KEY,
     result TEXT NOT NULL,
     recorded_at TEXT NOT NULL
   );
   CREATE TABLE progress (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     completed_count INTEGER NOT NULL,
     in_flight_step_index INTEGER,
     last_activity_at TEXT,
     mirrored_activity_at TEXT
   );
   INSERT INTO progress (id, completed_count) VALUES (1, 0);`,
  // Timed work moves to one schedule the alarm reads; the projection is computed
  // from the state when it is written, so a pending projection is one job row.
  `CREATE TABLE schedule (
     key TEXT PRIMARY KEY,
     kind TEXT NOT NULL,
     due_at INTEGER NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     generation INTEGER NOT NULL DEFAULT 1
   );
   CREATE INDEX schedule_due ON schedule (due_at);
   INSERT INTO schedule (key, kind, due_at) SELECT 'projection', 'projection', 0 WHERE EXISTS (SELECT 1 FROM outbox);
   DROP TABLE outbox;`,
  // Webhook notifications committed with their events, until the queue takes them.
  `CREATE TABLE notifications (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     webhook_id TEXT NOT NULL UNIQUE,
     message TEXT NOT NULL
   );`,
  // The live feed orders activity batches among events from the record itself:
  // each logbook row keeps the procedure's version when its batch was accepted
  // (before the events the batch caused) and the batch it came in (the last seq
  // before it). Rows recorded before this migration are placed by time: the
  // events of the same commit share its timestamp. Stream tickets are single use.
  `ALTER TABLE logbook ADD COLUMN at_version INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE logbook ADD COLUMN batch INTEGER NOT NULL DEFAULT 0;
   UPDATE logbook SET
     at_version = (SELECT coalesce(max(e.version), 0) FROM events e WHERE e.occurred_at < logbook.recorded_at),
     batch = (SELECT min(l.seq) - 1 FROM logbook l WHERE l.recorded_at = logbook.recorded_at AND l.principal_id = logbook.principal_id);
   CREATE TABLE stream_tickets (
     ticket_hash TEXT PRIMARY KEY,
     principal_id TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   );`,
  // A ticket is bound to the token that asked for it: a rotation or revocation
  // spends it. Tickets issued before were bound to no token; they are spent.
  `DELETE FROM stream_tickets;
   ALTER TABLE stream_tickets ADD COLUMN token_hash TEXT NOT NULL DEFAULT '';`,
  // An archived procedure keeps only this row (and its schedule, until the
  // archive job is done): where its record went and what its cheap reads answer.
  `CREATE TABLE IF NOT EXISTS tombstone (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     archive_key TEXT NOT NULL,
     archived_at TEXT NOT NULL,
     sha256 TEXT NOT NULL,
     lines INTEGER NOT NULL,
     state TEXT NOT NULL,
     view TEXT NOT NULL,
     resume_point TEXT
   );`,
];

/** How many migrations this object's storage has applied; 0 for an object never registered (read without DDL). */
export function appliedMigrations(sql: SqlStorage): number {
  const table = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").toArray();
  if (table.length === 0) return 0;
  return sql.exec<{ applied: number }>("SELECT applied FROM schema_version WHERE id = 1").toArray()[0]?.applied ?? 0;
}

/** True when the schema is at the latest version. */
export function isCurrent(applied: number): boolean {
  return applied >= MIGRATIONS.length;
}

/** Brings the object's schema from `applied` to the latest version in one transaction. */
export function migrate(storage: DurableObjectStorage, applied: number): void {
  if (isCurrent(applied)) return;
  const sql = storage.sql;
  storage.transactionSync(() => {
    sql.exec("CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), applied INTEGER NOT NULL)");
    for (const ddl of MIGRATIONS.slice(applied)) sql.exec(ddl);
    sql.exec(
      "INSERT INTO schema_version (id, applied) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET applied = excluded.applied",
      MIGRATIONS.length,
    );
  });
}

export function loadSnapshot(sql: SqlStorage): ProcedureState | null {
  const row = sql.exec<{ state: string }>("SELECT state FROM snapshot WHERE id = 1").toArray()[0];
  return row ? (JSON.parse(row.state) as ProcedureState) : null;
}

/** Appends events after the version `state` had before them and replaces the snapshot; the caller holds the transaction. */
export function appendEvents(sql: SqlStorage, events: readonly ProcedureEvent[], state: ProcedureState, actor: Caller): void {
  if (events.length === 0) return;
  const firstVersion = state.version - events.length + 1;
  events.forEach((event, i) => {
    sql.exec(
      "INSERT INTO events (version, event_id, type, payload, occurred_at, principal_id, correlation_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
      firstVersion + i,
      uuidv7(),
      event.type,
      JSON.stringify(event.payload),
      event.payload.occurred_at,
      actor.principal_id,
      actor.correlation_id,
    );
  });
  sql.exec("INSERT INTO snapshot (id, state) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state", JSON.stringify(state));
}

/** A page of the event log in version order, after `after`. */
export function eventsAfter(sql: SqlStorage, after: number, limit: number): { items: RecordedEvent[]; next: string | null } {
  const rows = sql
    .exec<{ version: number; event_id: string; type: string; payload: string; occurred_at: string; principal_id: string; correlation_id: string }>(
      "SELECT * FROM events WHERE version > ? ORDER BY version LIMIT ?",
      after,
      limit + 1,
    )
    .toArray();
  const page = splitPage(rows, limit, (r) => String(r.version));
  return { items: page.rows.map((r) => ({ ...r, payload: JSON.parse(r.payload) }) as RecordedEvent), next: page.next };
}

/** The ProcedureStepOverdue event that records decision `decisionId`, if the log holds it (rare events: a scan of their type is fine). */
export function overdueEvent(sql: SqlStorage, decisionId: string): Extract<ProcedureEvent, { type: "ProcedureStepOverdue" }>["payload"] | null {
  const row = sql
    .exec<{ payload: string }>("SELECT payload FROM events WHERE type = 'ProcedureStepOverdue' AND json_extract(payload, '$.decision_id') = ?", decisionId)
    .toArray()[0];
  return row ? JSON.parse(row.payload) : null;
}

/** Pins the resolved steps; the caller holds the transaction. */
export function pinManifest(sql: SqlStorage, plan: ConductPlan, recordedAt: string): void {
  sql.exec(
    "INSERT INTO manifest (id, resolved_steps, resolved_closing_steps, step_count, recorded_at) VALUES (1, ?, ?, ?, ?)",
    JSON.stringify(plan.resolved_steps),
    JSON.stringify(plan.resolved_closing_steps),
    plan.resolved_steps.length + plan.resolved_closing_steps.length,
    recordedAt,
  );
}

export function loadManifest(sql: SqlStorage): PinnedManifest | null {
  const row = sql
    .exec<{ resolved_steps: string; resolved_closing_steps: string; step_count: number; recorded_at: string }>(
      "SELECT resolved_steps, resolved_closing_steps, step_count, recorded_at FROM manifest WHERE id = 1",
    )
    .toArray()[0];
  if (!row) return null;
  return {
    resolved_steps: JSON.parse(row.resolved_steps),
    resolved_closing_steps: JSON.parse(row.resolved_closing_steps),
    step_count: row.step_count,
    recorded_at: row.recorded_at,
  };
}

/** The tables an archive keeps: the schema's own version, the tombstone and the schedule (its archive job finishes after the release). */
const KEPT_ON_RELEASE = new Set(["schema_version", "tombstone", "schedule"]);

/**
 * Releases the live record and leaves the tombstone, in one transaction: every
 * row of every other table goes (whatever tables later migrations add), and
 * every job but the archive's. The caller has verified the archive.
 */
export function releaseToTombstone(storage: DurableObjectStorage, tombstone: Tombstone, keepJob: string): void {
  const sql = storage.sql;
  storage.transactionSync(() => {
    const tables = sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'sqlite_%'")
      .toArray()
      .map((row) => row.name)
      .filter((name) => !KEPT_ON_RELEASE.has(name));
    for (const name of tables) sql.exec(`DELETE FROM "${name}"`);
    sql.exec("DELETE FROM schedule WHERE key <> ?", keepJob);
    sql.exec(
      "INSERT INTO tombstone (id, archive_key, archived_at, sha256, lines, state, view, resume_point) VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
      tombstone.archive_key,
      tombstone.archived_at,
      tombstone.sha256,
      tombstone.lines,
      JSON.stringify(tombstone.state),
      JSON.stringify(tombstone.view),
      tombstone.resume_point === null ? null : JSON.stringify(tombstone.resume_point),
    );
  });
}

export function loadTombstone(sql: SqlStorage): Tombstone | null {
  const row = sql
    .exec<{ archive_key: string; archived_at: string; sha256: string; lines: number; state: string; view: string; resume_point: string | null }>(
      "SELECT archive_key, archived_at, sha256, lines, state, view, resume_point FROM tombstone WHERE id = 1",
    )
    .toArray()[0];
  if (!row) return null;
  return {
    ...row,
    state: JSON.parse(row.state) as ProcedureState,
    view: JSON.parse(row.view) as Tombstone["view"],
    resume_point: row.resume_point === null ? null : (JSON.parse(row.resume_point) as Tombstone["resume_point"]),
  };
}
