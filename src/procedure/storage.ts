// The object's SQLite schema. Migrations are append-only; the applied count is
// stored so waking an object runs no DDL once it is current.

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
];

/** Brings the object's schema to the latest version; cheap when already there. */
export function migrate(sql: SqlStorage, storage: DurableObjectStorage): void {
  sql.exec("CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), applied INTEGER NOT NULL)");
  const applied = sql.exec<{ applied: number }>("SELECT applied FROM schema_version WHERE id = 1").toArray()[0]?.applied ?? 0;
  if (applied >= MIGRATIONS.length) return;
  storage.transactionSync(() => {
    for (const ddl of MIGRATIONS.slice(applied)) sql.exec(ddl);
    sql.exec(
      "INSERT INTO schema_version (id, applied) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET applied = excluded.applied",
      MIGRATIONS.length,
    );
  });
}
