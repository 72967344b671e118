// The ProcedureWatcher's tick: the shell around the pure stall core. It reads
// the projection page by page on the partial index of undecided in-conduct
// procedures, reads a Running candidate's latest activity once from its object,
// and records one Stall decision per episode. It tells the procedure's object
// of each Stall it records; the object keeps it for the state and, for a
// procedure conducted with `on_stall: "hold"`, holds it (the act rung).
import type { Database } from "../db/client";
import { insertDecisionStatement } from "../db/decisions";
import { outboxAfterInsertStatement } from "../db/subscriptions";
import { pruneOperations, recordTick, type TickRow } from "../db/operations";
import { readWatcherState, writeWatcherState } from "../db/watcher-state";
import { uuidv7 } from "../ids";
import { stallNotification } from "../notify/events";
import { logLine } from "../observability/log";
import type { Metrics } from "../observability/metrics";
import { watcherGate } from "./gate";
import type { StallEpisode, StallObservation } from "../procedure/contract";
import type { HoldCause } from "../procedure/events";
import {
  DEFAULT_MAX_CANDIDATES,
  emptySummary,
  fold,
  screen,
  stallDecision,
  WATCHER_AGENT,
  type Candidate,
  type InConductStatus,
  type TickSummary,
  type WatchWindow,
  type WatcherConfig,
} from "./stall";

export interface TickDeps {
  db: Database;
  d1: D1Database;
  config: WatcherConfig;
  /** The tick's one reading of the clock. */
  nowMs: number;
  /** The procedure's status and latest activity recorded_at, read from its own object. */
  readProcedure: (procedureId: string) => Promise<{ status: string | null; latest_recorded_at: string | null }>;
  /** Tells the procedure's object of the Stall about to be recorded; it may act on it (see ProcedureObject.observeStall). */
  observeStall: (procedureId: string, episode: StallEpisode, mayHold: boolean) => Promise<StallObservation>;
  pageSize?: number;
  /** What the tick's housekeeping (archive pass, retention batches) did before it, for its summary. */
  housekeeping?: Pick<TickSummary, "archive" | "retention">;
  /** Whether the tick's summary line is written (TELEMETRY_ENABLED); warnings and errors always are. */
  logs?: boolean;
  /** Where the tick's metric goes; none: not measured. */
  metrics?: Metrics;
}


interface Row {
  procedure_id: string;
  kind: string;
  target_asset_ids: string;
  status: string;
  hold_causes: string;
  last_status_changed_at: string | null;
  last_activity_at: string | null;
  stale_after_seconds: number | null;
  /** The keyset key of the window's walk: progress_at, or stall_due_at on a procedure's own window. */
  watch_key: string | null;
}

// Each statement rides a partial index of the undecided procedures in
// conduct, and its WHERE repeats that index's predicate (with the window as a
// literal) so the planner may use it. On the shared windows every row has the
// same window, so progress_at orders them by due time; on their own windows
// only the stored due time does.
const UNDECIDED = "(stall_flagged_at IS NULL OR stall_flagged_at <> progress_at)";

function pageSql(window: WatchWindow, index: string, key: "progress_at" | "stall_due_at"): string {
  return `SELECT procedure_id, kind, target_asset_ids, status, hold_causes, last_status_changed_at, last_activity_at, stale_after_seconds, ${key} AS watch_key
  FROM procedure_summary INDEXED BY ${index}
  WHERE watch_window = '${window}' AND ${UNDECIDED} AND ${key} <= ?1 AND (${key} > ?2 OR (${key} = ?2 AND procedure_id > ?3))
  ORDER BY ${key}, procedure_id LIMIT ?4`;
}

const WINDOWS: ReadonlyArray<{ window: WatchWindow; sql: string; dueBefore: (deps: TickDeps) => number }> = [
  {
    window: "running",
    sql: pageSql("running", "procedure_summary_watch", "progress_at"),
    dueBefore: (deps) => deps.nowMs - deps.config.staleAfterSeconds * 1000,
  },
  {
    window: "own",
    sql: pageSql("own", "procedure_summary_watch_own", "stall_due_at"),
    dueBefore: (deps) => deps.nowMs,
  },
  {
    window: "held",
    sql: pageSql("held", "procedure_summary_watch", "progress_at"),
    dueBefore: (deps) => deps.nowMs - deps.config.heldStaleAfterSeconds * 1000,
  },
];

// One seek per window on (watch_window, progress_at IS NULL): a range like
// `watch_window IS NOT NULL` would read every undecided row in the index.
const NO_STATUS_TIME_SQL = `SELECT count(*) AS n FROM procedure_summary INDEXED BY procedure_summary_watch
  WHERE watch_window IN (${WINDOWS.map(({ window }) => `'${window}'`).join(", ")}) AND ${UNDECIDED} AND progress_at IS NULL`;

/** Runs one tick and returns its summary (also logged as one JSON line and kept for GET /v1/watcher). */
export async function runTick(deps: TickDeps): Promise<TickSummary> {
  const startedAt = new Date(deps.nowMs).toISOString();
  // The tick's own request id: its log lines and its Stall notifications' deliveries name it.
  const requestId = uuidv7(deps.nowMs);
  const clock = Date.now();
  const memory = await readWatcherState(deps.db);
  let deniedSince = memory.denied_since;
  let summary: TickSummary;

  const gate = await watcherGate(deps.db, deps.config.enabled, deps.nowMs);
  if (gate.open) {
    deniedSince = null;
    summary = await sweep({ ...deps, requestId }, emptySummary("ran", startedAt), gate.mayHold);
  } else {
    if (gate.outcome === "denied" && deniedSince === null) {
      deniedSince = startedAt;
      logLine("warn", { msg: "watcher denied ListProcedures", request_id: requestId, agent_id: WATCHER_AGENT.id, since: startedAt });
    }
    summary = emptySummary(gate.outcome, startedAt);
  }
  Object.assign(summary, deps.housekeeping);
  summary.duration_ms = Date.now() - clock;
  logLine("info", { msg: "watcher tick", request_id: requestId, ...summary }, deps.logs ?? true);
  const tick: TickRow = {
    started_at: summary.started_at,
    outcome: summary.outcome,
    duration_ms: summary.duration_ms,
    rows_read: summary.rows_read ?? 0,
    candidates: summary.candidates,
    flagged: summary.flagged,
    acted: summary.acted ?? 0,
    // The finished procedures this tick's archive pass handed over to be archived.
    archived: summary.archive?.requested ?? 0,
    failures: summary.failures ?? 0,
  };
  deps.metrics?.write({ kind: "tick", ...tick });
  // A disabled watcher's tick is kept only when its housekeeping did (or failed at) something, so the
  // Health page shows the archiving and retention the default configuration still does; an idle one only prunes.
  const kept = deps.config.enabled || housekeepingDidWork(summary);
  if (kept || memory.last_tick !== null) {
    await writeWatcherState(deps.db, { last_tick: summary, denied_since: deniedSince });
  }
  if (kept) await recordTick(deps.d1, tick, deps.nowMs);
  else await pruneOperations(deps.d1, deps.nowMs);
  return summary;
}

/** Whether a tick's archive pass or retention batches archived, deleted or failed at anything. */
export function housekeepingDidWork(summary: Pick<TickSummary, "archive" | "retention">): boolean {
  const archive = summary.archive;
  return (
    (archive !== undefined && archive.requested + archive.failures > 0) ||
    (summary.retention ?? []).some((batch) => batch.deleted > 0 || batch.error !== undefined)
  );
}

/** What the sweep and each candidate's judgement work with: the tick's dependencies and its request id. */
type SweepDeps = TickDeps & { requestId: string };

async function sweep(deps: SweepDeps, summary: TickSummary, mayHold: boolean): Promise<TickSummary> {
  const pageSize = deps.pageSize ?? 100;
  // A bounded tick: a backlog (the watcher turned on over months of stalls)
  // is worked off over several ticks, oldest first. What a tick leaves is
  // still in the watch index for the next one, and a decided episode has left
  // it, so nothing is skipped or decided twice.
  let budget = deps.config.maxCandidates ?? DEFAULT_MAX_CANDIDATES;
  summary.rows_read = 0;
  summary.failures = 0;
  for (const { sql, dueBefore } of WINDOWS) {
    const cutoff = new Date(dueBefore(deps)).toISOString();
    let after = { watch_key: "", procedure_id: "" };
    for (;;) {
      if (budget === 0) {
        summary.capped = true;
        break;
      }
      const limit = Math.min(pageSize, budget);
      const page = await deps.d1
        .prepare(sql)
        .bind(cutoff, after.watch_key, after.procedure_id, limit)
        .all<Row>();
      summary.pages += 1;
      summary.rows_read += page.meta.rows_read ?? 0;
      budget -= page.results.length;
      await Promise.all(page.results.map((row) => judgeApart(deps, row, summary, mayHold)));
      const last = page.results[page.results.length - 1];
      if (!last || page.results.length < limit) break;
      after = { watch_key: last.watch_key ?? "", procedure_id: last.procedure_id };
    }
  }
  const unknown = await deps.d1.prepare(NO_STATUS_TIME_SQL).all<{ n: number }>();
  summary.rows_read += unknown.meta.rows_read ?? 0;
  summary.deferred += unknown.results[0]?.n ?? 0;
  return summary;
}

/**
 * One candidate, walled off from the others: a read or a batch that fails for
 * it is logged and counted in the summary's `failures`, and the tick goes on.
 * Nothing of it was written (its batch is one transaction), so it stays in
 * the watch index and the next tick judges it again.
 */
async function judgeApart(deps: SweepDeps, row: Row, summary: TickSummary, mayHold: boolean): Promise<void> {
  try {
    await judge(deps, row, summary, mayHold);
  } catch (error) {
    summary.failures = (summary.failures ?? 0) + 1;
    logLine("error", { msg: "watcher candidate failed", request_id: deps.requestId, procedure_id: row.procedure_id, error: String(error) });
  }
}

async function judge(deps: SweepDeps, row: Row, summary: TickSummary, mayHold: boolean): Promise<void> {
  const candidate: Candidate = {
    procedure_id: row.procedure_id,
    status: row.status,
    hold_causes: JSON.parse(row.hold_causes) as HoldCause[],
    last_status_changed_at: row.last_status_changed_at,
    last_activity_at: row.last_activity_at,
    stale_after_seconds: row.stale_after_seconds,
  };
  summary.candidates += 1;
  const screened = screen(candidate, deps.nowMs, deps.config);
  if (screened.verdict === "skip" || screened.verdict === "fresh") return;
  if (screened.verdict === "defer") {
    summary.deferred += 1;
    return;
  }
  let lastProgressAt = screened.last_progress_at;
  if (screened.verdict === "needs-activity-read") {
    let reading: { status: string | null; latest_recorded_at: string | null };
    try {
      reading = await deps.readProcedure(row.procedure_id);
    } catch (error) {
      // Never flag what cannot be told: try again next tick.
      summary.deferred += 1;
      logLine("warn", { msg: "watcher deferred", request_id: deps.requestId, procedure_id: row.procedure_id, error: String(error) });
      return;
    }
    // The defensive guard again, on the truth: the projection may lag a transition.
    if (reading.status !== "Running") {
      summary.skipped = (summary.skipped ?? 0) + 1;
      return;
    }
    const folded = fold(screened, reading.latest_recorded_at, deps.nowMs);
    lastProgressAt = folded.last_progress_at;
    if (folded.verdict === "rescued") {
      summary.rescued += 1;
      await deps.d1.batch([mirrorActivity(deps.d1, row.procedure_id, lastProgressAt)]);
      return;
    }
  }
  // The object learns of the Stall before it is recorded, so the decision can
  // say whether it was acted on; an object that cannot be told defers it.
  const episode: StallEpisode = { status: candidate.status as InConductStatus, last_progress_at: lastProgressAt, window: screened.window, nowMs: deps.nowMs };
  let observed: StallObservation;
  try {
    observed = await deps.observeStall(row.procedure_id, episode, mayHold);
  } catch (error) {
    summary.deferred += 1;
    logLine("warn", { msg: "watcher deferred", request_id: deps.requestId, procedure_id: row.procedure_id, error: String(error) });
    return;
  }
  if (observed.not_acted === "denied") {
    // Once per episode: the episode's decision is recorded once, and this is its only tick.
    logLine("warn", { msg: "watcher denied HoldProcedure", request_id: deps.requestId, agent_id: WATCHER_AGENT.id, procedure_id: row.procedure_id });
  }
  // The object builds the same decision from the same episode when it acted, so either insert gives one row.
  const decision = stallDecision({ ...episode, procedure_id: row.procedure_id, acted: observed.acted, not_acted: observed.not_acted });
  // The decision, its notification (only if the decision was new), the mirror
  // catching up with what the object said, and the episode mark that takes the
  // row out of the watch index, in one batch.
  const subject = { procedure_id: row.procedure_id, kind: row.kind, target_asset_ids: JSON.parse(row.target_asset_ids) as string[] };
  const results = await deps.d1.batch([
    insertDecisionStatement(deps.d1, decision),
    outboxAfterInsertStatement(deps.d1, { ...stallNotification(decision, subject), request_id: deps.requestId }, decision.recorded_at),
    ...(lastProgressAt !== screened.last_progress_at ? [mirrorActivity(deps.d1, row.procedure_id, lastProgressAt)] : []),
    deps.d1
      .prepare("UPDATE procedure_summary SET stall_flagged_at = progress_at WHERE procedure_id = ? AND progress_at = ?")
      .bind(row.procedure_id, lastProgressAt),
  ]);
  if ((results[0]?.meta.changes ?? 0) > 0) {
    summary.flagged += 1;
    if (observed.acted !== null) summary.acted = (summary.acted ?? 0) + 1;
  }
  else summary.already_flagged = (summary.already_flagged ?? 0) + 1;
}

/** Moves the activity mirror forward to a recorded_at the object reported; never backwards. */
function mirrorActivity(d1: D1Database, procedureId: string, recordedAt: string): D1PreparedStatement {
  return d1
    .prepare(
      "UPDATE procedure_summary SET last_activity_at = ?2 WHERE procedure_id = ?1 AND status = 'Running' AND (last_activity_at IS NULL OR last_activity_at < ?2)",
    )
    .bind(procedureId, recordedAt);
}
