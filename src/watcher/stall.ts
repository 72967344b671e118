// The pure core of the ProcedureWatcher: which candidates are stalled, and the
// Stall decision they yield. The cron shell owns all I/O (the projection page,
// the one activity read per Running candidate, writing the decision) and
// calls these functions in between, so every judgement here is testable
// without a runtime.
import { z } from "zod";
import type { DecisionRecord } from "../decisions/vocabulary";
import { uuidv5 } from "../ids";
import type { HoldCause } from "../procedure/events";
import type { ArchivePassSummary, RetentionBatch } from "../retention/policy";

/** The watcher's agent identity; the id is fixed so its actor can be seeded and revoked. */
export const WATCHER_AGENT = {
  id: "01900000-0000-7000-8000-00000c0c0010",
  kind: "agent",
  rule: "agent:ProcedureWatcher:v1",
  name: "ProcedureWatcher",
} as const;

/** The most candidates one tick judges unless WATCHER_MAX_CANDIDATES says otherwise. */
export const DEFAULT_MAX_CANDIDATES = 500;

export type WatcherConfig = {
  enabled: boolean;
  staleAfterSeconds: number;
  heldStaleAfterSeconds: number;
  /** Candidates one tick judges at most (DEFAULT_MAX_CANDIDATES when absent); the rest wait for the next tick. */
  maxCandidates?: number;
};
export type InConductStatus = "Running" | "Held";

/** A row of the in-conduct sweep, as read from the projection. */
export type Candidate = {
  procedure_id: string;
  status: string;
  hold_causes: HoldCause[];
  last_status_changed_at: string | null;
  /** The coarse D1 mirror of the latest activity; may lag the truth, never leads it. */
  last_activity_at: string | null;
  /** The procedure's own Running window, when its conduct set one. */
  stale_after_seconds: number | null;
};

/**
 * Which window a procedure is judged on: the shared Running window, the
 * shared Held window, or its own. The projection stores this, and the tick
 * selects on it, so this function is the only statement of the policy.
 */
export type WatchWindow = "running" | "held" | "own";

/** The window that applies to a procedure; null when it is not in conduct. */
export function watchWindow(status: string, holdCauses: readonly HoldCause[], staleAfterSeconds: number | null): WatchWindow | null {
  if (status !== "Running" && status !== "Held") return null;
  // Only a purely deliberate operator pause gets the long Held window. A Held
  // with no claims at all counts as deliberate: nothing is faulted or stood
  // down, and "all claims are operator" holds vacuously. A step fault or a
  // stood-down driver is judged like Running, on the procedure's own window
  // when it has one.
  if (status === "Held" && holdCauses.every((cause) => cause === "operator")) return "held";
  return staleAfterSeconds === null ? "running" : "own";
}

/** Stale-after window, in seconds, for a procedure in conduct. */
export function windowSeconds(
  status: InConductStatus,
  holdCauses: readonly HoldCause[],
  config: WatcherConfig,
  staleAfterSeconds: number | null = null,
): number {
  switch (watchWindow(status, holdCauses, staleAfterSeconds)) {
    case "held":
      return config.heldStaleAfterSeconds;
    case "own":
      return staleAfterSeconds ?? config.staleAfterSeconds;
    default:
      return config.staleAfterSeconds;
  }
}

// NaN for anything unparseable, so comparisons fail closed (never flag).
function toMs(iso: string | null): number {
  return iso === null ? Number.NaN : Date.parse(iso);
}

/** When the candidate last progressed, canonical ISO; null when that cannot be told. */
export function lastProgressAt(candidate: Candidate): string | null {
  const statusMs = toMs(candidate.last_status_changed_at);
  if (Number.isNaN(statusMs)) return null;
  // Held accepts no activity, so only Running may count the mirror as progress.
  const activityMs = candidate.status === "Running" ? toMs(candidate.last_activity_at) : Number.NaN;
  const latest = Number.isNaN(activityMs) ? statusMs : Math.max(statusMs, activityMs);
  // Canonical form matters: the decision id is derived from this exact string.
  return new Date(latest).toISOString();
}

/** Stalled means `now - last_progress_at >= window`; the boundary itself counts. */
export function isStalled(nowMs: number, lastProgressAtIso: string, windowSeconds: number): boolean {
  const progressMs = toMs(lastProgressAtIso);
  if (Number.isNaN(progressMs)) return false;
  return nowMs - progressMs >= windowSeconds * 1000;
}

export type Screened = { last_progress_at: string; window: number };
export type ScreenVerdict =
  | { verdict: "skip"; why: "not-in-conduct" }
  | { verdict: "defer"; why: "no-status-time" }
  | { verdict: "fresh" }
  | ({ verdict: "needs-activity-read" } & Screened)
  | ({ verdict: "stalled" } & Screened);

/** First step of a candidate's judgement, before any I/O. */
export function screen(candidate: Candidate, nowMs: number, config: WatcherConfig): ScreenVerdict {
  // Defensive: the query filters on status, but a row may have moved on since.
  if (candidate.status !== "Running" && candidate.status !== "Held") {
    return { verdict: "skip", why: "not-in-conduct" };
  }
  const last_progress_at = lastProgressAt(candidate);
  if (last_progress_at === null) return { verdict: "defer", why: "no-status-time" };
  const window = windowSeconds(candidate.status, candidate.hold_causes, config, candidate.stale_after_seconds);
  if (!isStalled(nowMs, last_progress_at, window)) return { verdict: "fresh" };
  // The mirror may lag, so a Running procedure is never flagged on it alone.
  if (candidate.status === "Running") return { verdict: "needs-activity-read", last_progress_at, window };
  return { verdict: "stalled", last_progress_at, window };
}

export type FoldVerdict =
  | { verdict: "rescued"; last_progress_at: string }
  | { verdict: "stalled"; last_progress_at: string };

/** Second step for Running: fold the object's latest activity `recorded_at` in and re-test. */
export function fold(screened: Screened, latestRecordedAt: string | null, nowMs: number): FoldVerdict {
  // A failed read must not reach here: the shell defers instead of folding null.
  const recordedMs = toMs(latestRecordedAt);
  const last_progress_at =
    recordedMs > toMs(screened.last_progress_at)
      ? new Date(recordedMs).toISOString()
      : screened.last_progress_at;
  return isStalled(nowMs, last_progress_at, screened.window)
    ? { verdict: "stalled", last_progress_at }
    : { verdict: "rescued", last_progress_at };
}

/** One id per stall episode, so overlapping ticks converge on the same decision. */
export function decisionId(procedureId: string, lastProgressAtIso: string): string {
  return uuidv5(`decision:${procedureId}:${lastProgressAtIso}`);
}

export type StallInput = {
  procedure_id: string;
  status: InConductStatus;
  last_progress_at: string;
  window: number;
  nowMs: number;
  /** What the act rung did: "hold" when the watcher held the procedure. */
  acted?: "hold" | null;
  /** Why a procedure conducted with `on_stall: "hold"` was not held (see the object's StallObservation). */
  not_acted?: string | null;
};

/** A decision of the watcher's agent, in context ProcedureProgress: the fields every such decision shares filled in. */
export function agentDecision(
  fields: Pick<DecisionRecord, "id" | "choice" | "subject_id" | "reasoning" | "inputs" | "recorded_at">,
): DecisionRecord {
  const { id, choice, subject_id, reasoning, inputs, recorded_at } = fields;
  return {
    id,
    context: "ProcedureProgress",
    choice,
    decided_by: WATCHER_AGENT.id,
    rule: WATCHER_AGENT.rule,
    subject_id,
    reasoning,
    inputs,
    confidence_source: "self_reported",
    parent_id: null,
    override_kind: null,
    recorded_at,
  };
}

/** The Stall decision for one episode; `last_progress_at` must be the canonical string from screen/fold. */
export function stallDecision(input: StallInput): DecisionRecord {
  const { procedure_id, status, last_progress_at, window, nowMs, acted = null, not_acted = null } = input;
  const now = new Date(nowMs).toISOString();
  const stalled_seconds = Math.floor((nowMs - Date.parse(last_progress_at)) / 1000);
  return agentDecision({
    id: decisionId(procedure_id, last_progress_at),
    choice: "Stall",
    subject_id: procedure_id,
    reasoning: `Procedure has been ${status} for ${stalled_seconds}s without progressing (window ${window}s)`,
    inputs: { procedure_id, status, last_progress_at, stalled_seconds, occurred_at: now, acted, ...(not_acted === null ? {} : { not_acted }) },
    recorded_at: now,
  });
}

// Strict digits only: Number()/z.coerce would take "", "1e3" or " 60 ".
const positiveInteger = (message: string, max: number, fallback: number) =>
  z.string().regex(/^[1-9][0-9]*$/, message).transform(Number).pipe(z.number().int().positive().max(max, message)).default(fallback);

export const seconds = (name: string, fallback: number) =>
  positiveInteger(`${name} must be a positive integer number of seconds`, Number.MAX_SAFE_INTEGER / 1000, fallback);

/** Past this a tick risks a Cron invocation's limits: each Running candidate may cost an object read. */
const MAX_CANDIDATES_CEILING = 10_000;

const WatcherVars = z.object({
  // Off unless exactly "true": a typo must leave the watcher off, not on.
  WATCHER_ENABLED: z.string().optional().transform((value) => value === "true"),
  STALE_AFTER_SECONDS: seconds("STALE_AFTER_SECONDS", 3600),
  HELD_STALE_AFTER_SECONDS: seconds("HELD_STALE_AFTER_SECONDS", 86400),
  WATCHER_MAX_CANDIDATES: positiveInteger(
    `WATCHER_MAX_CANDIDATES must be an integer from 1 to ${MAX_CANDIDATES_CEILING}`,
    MAX_CANDIDATES_CEILING,
    DEFAULT_MAX_CANDIDATES,
  ),
});

/** Reads the watcher's Worker variables; throws a ZodError naming the bad variable. */
export function parseWatcherConfig(vars: {
  WATCHER_ENABLED?: string;
  STALE_AFTER_SECONDS?: string;
  HELD_STALE_AFTER_SECONDS?: string;
  WATCHER_MAX_CANDIDATES?: string;
}): Required<WatcherConfig> {
  const parsed = WatcherVars.parse(vars);
  return {
    enabled: parsed.WATCHER_ENABLED,
    staleAfterSeconds: parsed.STALE_AFTER_SECONDS,
    heldStaleAfterSeconds: parsed.HELD_STALE_AFTER_SECONDS,
    maxCandidates: parsed.WATCHER_MAX_CANDIDATES,
  };
}

/** What one tick did, logged as one structured line. */
export type TickSummary = {
  /** The tick's archive pass (src/retention): the procedures handed over, and its rows read and written. */
  archive?: ArchivePassSummary;
  /** The tick's retention batches, one per table, with their rows read and written. */
  retention?: RetentionBatch[];
  started_at: string;
  duration_ms: number;
  outcome: "disabled" | "agent-missing" | "agent-inactive" | "denied" | "ran";
  candidates: number;
  rescued: number;
  deferred: number;
  flagged: number;
  /** Stalls the watcher also acted on (a hold with cause `stall`). */
  acted?: number;
  already_flagged?: number;
  /** Candidates whose object said they are no longer Running (the projection lagged). */
  skipped?: number;
  pages: number;
  rows_read?: number;
  /** The tick stopped at the candidate cap; what it did not reach is judged by the next tick. */
  capped?: boolean;
  /** Candidates whose read or write failed; each is judged again by the next tick. */
  failures?: number;
};

/** A summary with every count at zero, for a tick that stops before the sweep or starts it. */
export function emptySummary(outcome: TickSummary["outcome"], startedAt: string): TickSummary {
  return { started_at: startedAt, duration_ms: 0, outcome, candidates: 0, rescued: 0, deferred: 0, flagged: 0, pages: 0 };
}
