// Bench-only entry point (bench/wrangler.bench.toml): the service's handlers unchanged,
// plus what the bench needs beside it. Never deployed.
// - BaselineObject: a bare SQLite-backed object, the floor every service
//   command is compared with (one INSERT per request, or one batch of rows in
//   one transaction for activity ingest).
// - ProcedureObject: the service's object, subclassed only to count its D1
//   projection writes in memory (bench/ingest.mjs).
// - /__bench/* routes: the baseline, the floor operations, the projection-write counts, seeding
//   procedure_summary plus running one watcher tick (bench/sweep.mjs), and
//   the token authentication tally (bench/auth.mjs).
// The /__bench routes take no token: the bench serves on loopback only.
import { DurableObject } from "cloudflare:workers";
import { procedureObject } from "../src/api/procedure-stub";
import { BOOTSTRAP_ADMIN_ID, tokenLookupStats } from "../src/auth/principals";
import { database } from "../src/db/client";
import { summaryPageQuery, upsertSummary, type SummaryFilter, type SummaryOrder, type SummaryRow } from "../src/db/summaries";
import { uuidv7 } from "../src/ids";
import { logLine } from "../src/observability/log";
import type { BroadcastTiming } from "../src/live/hub";
import { metricsFor } from "../src/env";
import service from "../src/index";
import { ProcedureObject as ServiceProcedureObject } from "../src/procedure/object/object";
import { enqueueNotifications, type NotifyMessage } from "../src/notify/delivery";
import { drainOutbox } from "../src/notify/drain";
import { runTick } from "../src/watcher/sweep";
import { runArchivePass } from "../src/retention/sweep";
import { parseRetentionConfig } from "../src/retention/policy";
import { WATCHER_AGENT, parseWatcherConfig } from "../src/watcher/stall";

// Everything the service exports (its Durable Object classes). A Worker's main
// module may export only handlers and classes: workerd refuses to start on a
// plain value, here as in the service itself. The local ProcedureObject below
// shadows the one this re-exports.
export * from "../src/index";

export interface BenchEnv extends Env {
  BASELINE: DurableObjectNamespace<BaselineObject>;
}

/** An activity entry as the bench posts it (the service validates it; the baseline does not). */
interface EntryRow {
  event_id: string;
  step_kind: string;
  payload: Record<string, unknown>;
  sampled_at: string;
  occurred_at?: string;
}

/** One SQLite-backed object per name; the floor for one insert and for one batch. */
export class BaselineObject extends DurableObject<BenchEnv> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: BenchEnv) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // Once per object instance, not per request. `entries` has the shape of the
    // service's logbook table (unique event_id, recorded_at index), so the
    // batch floor pays the same index maintenance as the real logbook.
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS rows (seq INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL, recorded_at TEXT NOT NULL);
       CREATE TABLE IF NOT EXISTS entries (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         event_id TEXT NOT NULL UNIQUE,
         step_kind TEXT NOT NULL,
         payload TEXT NOT NULL,
         sampled_at TEXT NOT NULL,
         occurred_at TEXT NOT NULL,
         recorded_at TEXT NOT NULL
       );
       CREATE INDEX IF NOT EXISTS entries_recorded ON entries (recorded_at);`,
    );
  }

  /** Inserts one row and answers its sequence number. */
  async insert(payload: string): Promise<{ seq: number }> {
    const row = this.sql
      .exec<{ seq: number }>("INSERT INTO rows (payload, recorded_at) VALUES (?, ?) RETURNING seq", payload, new Date().toISOString())
      .one();
    return { seq: row.seq };
  }

  /** Inserts `count` rows, each after a yield to the event loop, so each is a storage commit of its own. */
  async commits(count: number): Promise<{ count: number }> {
    for (let i = 0; i < count; i++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      this.sql.exec("INSERT INTO rows (payload, recorded_at) VALUES (?, ?)", "commit", new Date().toISOString());
    }
    return { count };
  }

  /** Inserts every entry in one transaction, no validation, no dedup lookup: the raw-insert floor. */
  async insertBatch(entries: EntryRow[]): Promise<{ count: number }> {
    const now = new Date().toISOString();
    this.ctx.storage.transactionSync(() => {
      for (const entry of entries) {
        this.sql.exec(
          "INSERT INTO entries (event_id, step_kind, payload, sampled_at, occurred_at, recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
          entry.event_id,
          entry.step_kind,
          JSON.stringify(entry.payload),
          entry.sampled_at,
          entry.occurred_at ?? now,
          now,
        );
      }
    });
    return { count: entries.length };
  }
}

/**
 * The service's ProcedureObject with its D1 projection writes counted. Each
 * projectSummary call is one D1 write of the summary row. The count lives in
 * the instance's memory: it starts at 0 whenever the object is (re)created, so
 * an eviction in the middle of a run loses what was counted before it; the
 * random `instance` tag lets the bench tell.
 */
export class ProcedureObject extends ServiceProcedureObject {
  private projectionWrites = 0;
  private failedProjectionWrites = 0;
  private readonly instance = crypto.randomUUID();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const write = this.projectSummary;
    this.projectSummary = async (row: SummaryRow) => {
      this.projectionWrites += 1;
      try {
        await write(row);
      } catch (error) {
        this.failedProjectionWrites += 1;
        throw error;
      }
    };
  }

  /** The projection writes counted since this instance started (or the last reset). */
  async benchProjectionWrites(reset = false): Promise<{ writes: number; failed: number; instance: string }> {
    const counts = { writes: this.projectionWrites, failed: this.failedProjectionWrites, instance: this.instance };
    if (reset) {
      this.projectionWrites = 0;
      this.failedProjectionWrites = 0;
    }
    return counts;
  }

  /** The latest broadcasts as the object's feed timed them (commit to last send), and this instance's tag. */
  async benchBroadcasts(): Promise<{ timings: BroadcastTiming[]; instance: string }> {
    return { timings: [...this.live.timings], instance: this.instance };
  }
}

function benchProcedure(env: Env, id: string): DurableObjectStub<ProcedureObject> {
  return procedureObject(env, id) as unknown as DurableObjectStub<ProcedureObject>;
}

// ---- seeding procedure_summary (bench/sweep.mjs) ---------------------------

/** Rows per INSERT ... SELECT: one JSON parameter each (D1 binds at most 100 parameters). */
const SEED_CHUNK = 1_000;
/** Statements per env.DB.batch call. */
const SEED_BATCH = 10;

// Row: [procedure_id, "R" | "H", registered_at, last_status_changed_at]. The
// generated column progress_at is left to D1; watch_window, which the core
// computes for a projected row, is set here the way the core would. A row the
// procedure's own object projected first (the stalled Running ones, see seed())
// is overwritten with the backdated times; its version (2: registered,
// started) is the object's, so a projection landing later leaves it alone.
const SEED_SQL = `INSERT INTO procedure_summary (procedure_id, name, kind, target_asset_ids, status, activity_logbook_id,
    registered_at, last_status_changed_at, last_status_reason, interrupted_at, hold_causes, version, last_activity_at, updated_at, watch_window)
  SELECT json_extract(j.value, '$[0]'), 'bench procedure', 'bench', '[]',
    CASE json_extract(j.value, '$[1]') WHEN 'H' THEN 'Held' ELSE 'Running' END, NULL,
    json_extract(j.value, '$[2]'), json_extract(j.value, '$[3]'),
    CASE json_extract(j.value, '$[1]') WHEN 'H' THEN 'bench hold' ELSE NULL END, NULL,
    CASE json_extract(j.value, '$[1]') WHEN 'H' THEN '["operator"]' ELSE '[]' END,
    CASE json_extract(j.value, '$[1]') WHEN 'H' THEN 3 ELSE 2 END, NULL, ?2,
    CASE json_extract(j.value, '$[1]') WHEN 'H' THEN 'held' ELSE 'running' END
  FROM json_each(?1) AS j WHERE true
  ON CONFLICT (procedure_id) DO UPDATE SET status = excluded.status, registered_at = excluded.registered_at,
    last_status_changed_at = excluded.last_status_changed_at, last_status_reason = excluded.last_status_reason,
    hold_causes = excluded.hold_causes, version = excluded.version, last_activity_at = NULL, updated_at = excluded.updated_at,
    watch_window = excluded.watch_window, stall_flagged_at = NULL`;
/** How many objects seed() registers and starts at a time. */
const OBJECT_CONCURRENCY = 16;

interface SeedRequest {
  /** Rows to insert with this call. */
  count: number;
  /** How many of them are past their window at now_ms. */
  stalled: number;
  /** Share of the rows that are Held by an operator (judged on the Held window). */
  held_fraction: number;
  now_ms: number;
  stale_after_seconds: number;
  held_stale_after_seconds: number;
}

/**
 * Inserts `count` in-conduct summaries: fresh ones changed status within 5/6
 * of their window before now_ms (so a tick a minute later still finds them
 * fresh), stalled ones between 1 and 2 windows before it.
 *
 * The stalled Running ones are the only rows the tick reads an object for (the
 * fold), so they get a real object first: registered and started through its
 * RPC methods, no activity. Their fold then reads a Running procedure with an
 * empty logbook, as it would in production, rather than an object that never
 * existed (which the watcher cannot tell from a stale row).
 */
async function seed(env: Env, input: SeedRequest): Promise<{ inserted: number; statements: number; objects: number; objects_ms: number; rows_ms: number }> {
  const now = new Date(input.now_ms).toISOString();
  const rows: Array<[string, "R" | "H", string, string]> = [];
  for (let i = 0; i < input.count; i++) {
    const held = Math.random() < input.held_fraction;
    const windowMs = (held ? input.held_stale_after_seconds : input.stale_after_seconds) * 1000;
    const stalled = i < input.stalled;
    const ageMs = stalled ? windowMs + 1_000 + Math.floor(Math.random() * windowMs) : Math.floor((Math.random() * windowMs * 5) / 6);
    const changedMs = input.now_ms - ageMs;
    const registeredMs = changedMs - 60_000 - Math.floor(Math.random() * 3_600_000);
    rows.push([uuidv7(registeredMs), held ? "H" : "R", new Date(registeredMs).toISOString(), new Date(changedMs).toISOString()]);
  }

  const t0 = Date.now();
  const stalledRunning = rows.slice(0, input.stalled).filter((r) => r[1] === "R").map((r) => r[0]);
  const actor = { principal_id: BOOTSTRAP_ADMIN_ID, scopes: null, correlation_id: uuidv7() };
  let next = 0;
  const createOne = async () => {
    for (let i = next++; i < stalledRunning.length; i = next++) {
      const id = stalledRunning[i]!;
      const stub = procedureObject(env, id);
      const registered = await stub.register(id, { name: "bench procedure", kind: "bench", target_asset_ids: [] }, actor);
      if (!registered.ok) throw new Error(`register ${id}: ${registered.refusal.error_class}`);
      const started = await stub.command({ type: "StartProcedure", on_failure: "abort" }, actor);
      if (!started.ok) throw new Error(`start ${id}: ${started.refusal.error_class}`);
    }
  };
  await Promise.all(Array.from({ length: OBJECT_CONCURRENCY }, createOne));
  const t1 = Date.now();

  const statements: D1PreparedStatement[] = [];
  for (let i = 0; i < rows.length; i += SEED_CHUNK) {
    statements.push(env.DB.prepare(SEED_SQL).bind(JSON.stringify(rows.slice(i, i + SEED_CHUNK)), now));
  }
  for (let i = 0; i < statements.length; i += SEED_BATCH) await env.DB.batch(statements.slice(i, i + SEED_BATCH));
  return { inserted: rows.length, statements: statements.length, objects: stalledRunning.length, objects_ms: t1 - t0, rows_ms: Date.now() - t1 };
}

/** Empties the projection and the watcher's decisions: each sweep size starts from nothing. */
async function clear(env: Env): Promise<{ summaries: number; decisions: number }> {
  const [summaries, decisions] = await env.DB.batch([
    env.DB.prepare("DELETE FROM procedure_summary"),
    env.DB.prepare("DELETE FROM decisions WHERE decided_by = ?").bind(WATCHER_AGENT.id),
  ]);
  return { summaries: summaries?.meta.changes ?? 0, decisions: decisions?.meta.changes ?? 0 };
}

/**
 * One watcher tick at now_ms, enabled, with the given windows, then the
 * notification outbox drained as the scheduled handler does; counts the
 * fold's object reads. The candidate cap is the service's own
 * (WATCHER_MAX_CANDIDATES), answered as max_candidates.
 */
async function tick(env: Env, input: { now_ms: number; stale_after_seconds: number; held_stale_after_seconds: number }) {
  let objectReads = 0;
  const { maxCandidates } = parseWatcherConfig(env);
  const summary = await runTick({
    db: database(env.DB),
    d1: env.DB,
    config: { enabled: true, staleAfterSeconds: input.stale_after_seconds, heldStaleAfterSeconds: input.held_stale_after_seconds, maxCandidates },
    nowMs: input.now_ms,
    readProcedure: (id) => {
      objectReads += 1;
      return procedureObject(env, id).watchReading();
    },
    observeStall: (id, stall, mayHold) => procedureObject(env, id).observeStall(stall, mayHold),
  });
  const notifications = await drainOutbox(database(env.DB), env.DB, env.NOTIFICATIONS as Queue<NotifyMessage>);
  return { ...summary, max_candidates: maxCandidates, object_reads: objectReads, notifications };
}

// ---- the list's orders and search (bench/listing.mjs) ----------------------

/** Adds `count` procedures whose names carry `word`, through the projection's own upsert (and so its triggers). */
async function addNamed(env: Env, input: { word: string; count: number }): Promise<{ inserted: number }> {
  const db = database(env.DB);
  for (let i = 0; i < input.count; i++) {
    const at = new Date().toISOString();
    await upsertSummary(db, {
      procedure_id: uuidv7(), name: `${input.word} ${i}`, kind: "bench", target_asset_ids: [], status: "Defined",
      activity_logbook_id: null, registered_at: at, last_status_changed_at: at, last_status_reason: null,
      interrupted_at: null, hold_causes: [], version: 1, last_activity_at: null, updated_at: at,
    });
  }
  return { inserted: input.count };
}

/**
 * One first page of GET /v1/procedures as the route runs it (the attention
 * order one statement per rank until the page is full), with the D1 rows
 * read summed over its statements.
 */
async function listPage(env: Env, input: { order?: SummaryOrder; limit: number; q?: string; target_asset_id?: string }) {
  const db = database(env.DB);
  const order = input.order ?? "oldest";
  const filter: SummaryFilter = { scopes: null, ...(input.q === undefined ? {} : { q: input.q }), ...(input.target_asset_id === undefined ? {} : { target_asset_id: input.target_asset_id }) };
  let rowsRead = 0;
  let rows = 0;
  let statements = 0;
  const t0 = Date.now();
  for (const rank of order === "attention" ? [0, 1, 2] : [undefined]) {
    if (rows > input.limit) break;
    const { sql, params } = summaryPageQuery(db, filter, null, input.limit - rows, order, rank).toSQL();
    const page = await env.DB.prepare(sql).bind(...params).all();
    rowsRead += page.meta.rows_read;
    rows += page.results.length;
    statements += 1;
  }
  return { rows: Math.min(rows, input.limit), rows_read: rowsRead, statements, ms: Date.now() - t0 };
}

// ---- retention at scale (bench/retention.mjs) -------------------------------

/**
 * Seeds `count` summary rows in one statement (a recursive CTE, so nothing
 * crosses the wire but the numbers): every tenth Running and fresh, the rest
 * Completed two months before now_ms and already archived (the steady state
 * of a service that archives), each on one of `assets` target assets (the
 * trigger of migration 0006 writes its procedure_targets row).
 */
async function seedPopulation(env: Env, input: { from: number; count: number; assets: number; now_ms: number }) {
  const t0 = Date.now();
  const result = await env.DB.prepare(
    `WITH RECURSIVE n(i) AS (SELECT CAST(?1 AS INTEGER) UNION ALL SELECT i + 1 FROM n WHERE i < CAST(?1 + ?2 - 1 AS INTEGER))
     INSERT INTO procedure_summary (procedure_id, name, kind, target_asset_ids, status, registered_at, last_status_changed_at, hold_causes, version, updated_at, watch_window, archive_requested_at, archived_at)
     SELECT printf('00000000-0000-7000-8000-%012x', i), 'bench procedure', 'bench', '["bench-asset-' || (i % CAST(?3 AS INTEGER)) || '"]',
       CASE WHEN i % 10 = 0 THEN 'Running' ELSE 'Completed' END,
       strftime('%Y-%m-%dT%H:%M:%fZ', ?4 / 1000.0 - 5184000 - 86400 + i / 1000.0, 'unixepoch'),
       CASE WHEN i % 10 = 0 THEN strftime('%Y-%m-%dT%H:%M:%fZ', ?4 / 1000.0 - 60, 'unixepoch') ELSE strftime('%Y-%m-%dT%H:%M:%fZ', ?4 / 1000.0 - 5184000 + i / 1000.0, 'unixepoch') END,
       '[]', 3, strftime('%Y-%m-%dT%H:%M:%fZ', ?4 / 1000.0, 'unixepoch'),
       CASE WHEN i % 10 = 0 THEN 'running' END,
       CASE WHEN i % 10 = 0 THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', ?4 / 1000.0 - 2000000, 'unixepoch') END,
       CASE WHEN i % 10 = 0 THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', ?4 / 1000.0 - 2000000, 'unixepoch') END
     FROM n`,
  )
    .bind(input.from, input.count, input.assets, input.now_ms)
    .run();
  return { inserted: result.meta.changes, ms: Date.now() - t0 };
}

/** Registers, starts and completes `count` procedures through their objects, as finished procedures due for archiving. */
async function seedFinished(env: Env, input: { count: number }) {
  const actor = { principal_id: BOOTSTRAP_ADMIN_ID, scopes: null, correlation_id: uuidv7() };
  const ids: string[] = [];
  let next = 0;
  const t0 = Date.now();
  const one = async () => {
    for (let i = next++; i < input.count; i = next++) {
      const id = uuidv7();
      const stub = procedureObject(env, id);
      const registered = await stub.register(id, { name: "bench finished", kind: "bench-archive", target_asset_ids: ["bench-archive"] }, actor);
      if (!registered.ok) throw new Error(`register ${id}: ${registered.refusal.error_class}`);
      await stub.command({ type: "StartProcedure", on_failure: "abort" }, actor);
      await stub.command({ type: "CompleteProcedure" }, actor);
      await stub.project();
      ids.push(id);
    }
  };
  await Promise.all(Array.from({ length: OBJECT_CONCURRENCY }, one));
  return { objects: ids.length, ms: Date.now() - t0 };
}

/** One archive pass at now_ms (the objects then archive themselves from their schedules). */
async function archivePass(env: Env, input: { now_ms: number; batch: number }) {
  const t0 = Date.now();
  const summary = await runArchivePass({
    d1: env.DB,
    config: parseRetentionConfig(env),
    nowMs: input.now_ms,
    batch: input.batch,
    requestArchive: (id) => procedureObject(env, id).requestArchive(input.now_ms),
  });
  return { ...summary, ms: Date.now() - t0 };
}

/** How many of the objects the pass asked have archived themselves (projection rows with archived_at). */
async function archivedCount(env: Env) {
  const row = await env.DB.prepare("SELECT count(*) AS n FROM procedure_summary WHERE kind = 'bench-archive' AND archived_at IS NOT NULL").first<{ n: number }>();
  return { archived: row?.n ?? 0 };
}

// ---- routing ----------------------------------------------------------------

const FLOOR_PATH = /^\/__bench\/floor\/(noop|insert|summary|queue|commit|log|metric)$/;
/** Operations one floor request runs back to back, so the request's own cost is spread thin. */
const FLOOR_OPS = 100;

/**
 * One of the operations every lifecycle command's path is built from, run
 * FLOOR_OPS times in a row (bench/floor.mjs): a bare object RPC with one
 * insert, the projection's D1 upsert of one summary, one queue send of a
 * notification (whose fan-out the consumer then runs), one storage commit of
 * its own inside an object (one RPC for all of them), one info log line or one
 * metric data point of a request's shape, or nothing.
 */
async function floor(env: BenchEnv, op: string): Promise<{ ops: number }> {
  const db = database(env.DB);
  const at = new Date().toISOString();
  const metrics = metricsFor(env);
  if (op === "commit") {
    await env.BASELINE.get(env.BASELINE.idFromName("floor")).commits(FLOOR_OPS);
    return { ops: FLOOR_OPS };
  }
  for (let i = 0; i < FLOOR_OPS; i++) {
    if (op === "insert") {
      await env.BASELINE.get(env.BASELINE.idFromName("floor")).insert("floor");
    } else if (op === "summary") {
      await upsertSummary(db, {
        procedure_id: uuidv7(), name: "bench floor", kind: "bench", target_asset_ids: [], status: "Running",
        activity_logbook_id: null, registered_at: at, last_status_changed_at: at, last_status_reason: null,
        interrupted_at: null, hold_causes: [], version: 2, last_activity_at: null, updated_at: at,
      });
    } else if (op === "log") {
      logLine("info", {
        msg: "request", request_id: uuidv7(), principal_id: BOOTSTRAP_ADMIN_ID, method: "POST",
        route: "/v1/procedures/:id/hold", procedure_id: at, status: 200, duration_ms: 3,
      });
    } else if (op === "metric") {
      metrics.write({ kind: "request", operation: "holdProcedure", outcome: "ok", command: "HoldProcedure", principal_id: BOOTSTRAP_ADMIN_ID, status: 200, duration_ms: 3 });
    } else if (op === "queue") {
      await enqueueNotifications(env.NOTIFICATIONS as Queue<NotifyMessage>, [
        { webhook_id: `msg_floor_${uuidv7()}`, type: "procedure.held", timestamp: at, data: {}, subject: { procedure_id: uuidv7(), kind: "bench", target_asset_ids: [] } },
      ]);
    }
  }
  return { ops: FLOOR_OPS };
}

const BASELINE_PATH = /^\/__bench\/baseline\/([^/]{1,200})$/;
const BASELINE_BATCH_PATH = /^\/__bench\/baseline-batch\/([^/]{1,200})$/;

async function bench(request: Request, env: BenchEnv, path: string): Promise<Response | null> {
  const post = request.method === "POST";
  let match = post ? BASELINE_PATH.exec(path) : null;
  if (match) {
    const stub = env.BASELINE.get(env.BASELINE.idFromName(decodeURIComponent(match[1]!)));
    return Response.json(await stub.insert(await request.text()));
  }
  match = post ? FLOOR_PATH.exec(path) : null;
  if (match) return Response.json(await floor(env, match[1]!));
  match = post ? BASELINE_BATCH_PATH.exec(path) : null;
  if (match) {
    const stub = env.BASELINE.get(env.BASELINE.idFromName(decodeURIComponent(match[1]!)));
    const { entries } = (await request.json()) as { entries: EntryRow[] };
    return Response.json(await stub.insertBatch(entries));
  }
  if (path === "/__bench/broadcasts" && request.method === "GET") {
    // GET ?id=...: the object's own timing of its latest broadcasts (bench/streams.mjs).
    return Response.json(await benchProcedure(env, new URL(request.url).searchParams.get("id") ?? "").benchBroadcasts());
  }
  if (path === "/__bench/projection-writes" && (request.method === "GET" || post)) {
    // GET ?ids=a,b,... reads the counts; POST {ids} reads and resets them.
    const ids = post
      ? ((await request.json()) as { ids: string[] }).ids
      : (new URL(request.url).searchParams.get("ids") ?? "").split(",").filter(Boolean);
    const counts = await Promise.all(
      ids.map(async (id) => ({ procedure_id: id, ...(await benchProcedure(env, id).benchProjectionWrites(post)) })),
    );
    return Response.json(counts);
  }
  if (post && path === "/__bench/token-lookups") {
    // Reads and resets the tally of D1 reads token authentication made (bench/auth.mjs).
    const counted = { ...tokenLookupStats };
    tokenLookupStats.d1_reads = 0;
    tokenLookupStats.throttled = 0;
    return Response.json(counted);
  }
  if (post && path === "/__bench/seed") return Response.json(await seed(env, (await request.json()) as SeedRequest));
  if (post && path === "/__bench/named") return Response.json(await addNamed(env, (await request.json()) as { word: string; count: number }));
  if (post && path === "/__bench/list") return Response.json(await listPage(env, (await request.json()) as Parameters<typeof listPage>[1]));
  if (post && path === "/__bench/clear") return Response.json(await clear(env));
  if (post && path === "/__bench/retention/seed-population") return Response.json(await seedPopulation(env, (await request.json()) as never));
  if (post && path === "/__bench/retention/seed-finished") return Response.json(await seedFinished(env, (await request.json()) as never));
  if (post && path === "/__bench/retention/list") return Response.json(await listPage(env, (await request.json()) as never));
  if (post && path === "/__bench/retention/archive") return Response.json(await archivePass(env, (await request.json()) as never));
  if (post && path === "/__bench/retention/archived") return Response.json(await archivedCount(env));
  if (post && path === "/__bench/tick") return Response.json(await tick(env, (await request.json()) as Parameters<typeof tick>[1]));
  return null;
}

export default {
  ...service,
  async fetch(request, env, ctx) {
    const path = new URL(request.url).pathname;
    if (path.startsWith("/__bench/")) {
      const response = await bench(request, env, path);
      if (response) return response;
    }
    return service.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<BenchEnv>;
