// Pure: each pinned step's state from the logbook (the latest report for its
// index wins, as the service itself counts it) and the replay's go-aheads.
import { isFinished } from "../../src/vocabulary";
import { stepLabel } from "./steps";
import type { ActivityEntry, Decision, Procedure, ResumePoint } from "./types";

export type StepState = "pending" | "in_flight" | "ok" | "failed" | "awaiting_go_ahead" | "not_reported";

export interface StepReport {
  result: "in_flight" | "ok" | "failed";
  error_class?: string;
  message?: string;
  recorded_at: string;
}

/** The latest report per step index in entries given newest first. */
export function latestReports(entriesNewestFirst: readonly ActivityEntry[]): Map<number, StepReport> {
  const reports = new Map<number, StepReport>();
  for (const entry of entriesNewestFirst) {
    const { step_index, result, error_class, message } = entry.payload;
    if (typeof step_index !== "number" || reports.has(step_index)) continue;
    if (result !== "in_flight" && result !== "ok" && result !== "failed") continue;
    reports.set(step_index, {
      result,
      error_class: typeof error_class === "string" ? error_class : undefined,
      message: typeof message === "string" ? message : undefined,
      recorded_at: entry.recorded_at,
    });
  }
  return reports;
}

/**
 * The state of each of `stepCount` steps of procedure `p`; a replayed step
 * waiting for the go-ahead says so whatever it reported before. A step never
 * reported is pending while the procedure may still run it. It is not reported
 * when it never will be: it lies before the replay's boundary (the operator's
 * resume counted it done), or the procedure is finished (a resume, or the
 * operator's complete, abort or truncate, came first).
 */
export function stepStates(
  stepCount: number,
  reports: ReadonlyMap<number, StepReport>,
  p: Pick<Procedure, "status" | "replay_boundary" | "replay_awaiting_operator">,
): StepState[] {
  const awaiting = new Set(p.replay_awaiting_operator);
  const finished = isFinished(p.status);
  return Array.from({ length: stepCount }, (_, index) => {
    if (awaiting.has(index)) return "awaiting_go_ahead";
    const reported = reports.get(index)?.result;
    if (reported) return reported;
    return finished || (p.replay_boundary !== null && index < p.replay_boundary) ? "not_reported" : "pending";
  });
}

/** The newest Stall decision per procedure from decisions listed newest first. */
export function newestStalls(decisionsNewestFirst: readonly Decision[]): Map<string, Decision> {
  const stalls = new Map<string, Decision>();
  for (const decision of decisionsNewestFirst) if (!stalls.has(decision.subject_id)) stalls.set(decision.subject_id, decision);
  return stalls;
}

/**
 * A procedure is flagged while its newest Stall decision is still current:
 * it is in conduct and neither its status nor its activity moved since.
 */
export function isStallCurrent(procedure: Pick<Procedure, "status" | "last_status_changed_at" | "last_activity_at">, stall: Decision | undefined): boolean {
  if (!stall || (procedure.status !== "Running" && procedure.status !== "Held")) return false;
  const moved = [procedure.last_status_changed_at, procedure.last_activity_at].filter((at): at is string => at !== null);
  return moved.every((at) => at <= stall.recorded_at);
}

/**
 * Warn-at-resume: what an operator is asked before resuming a procedure whose
 * current episode has a Stall decision (null when it has none). The step is
 * where the conduct stands: the suggested boundary, else the step in flight,
 * else the first step not yet done.
 */
export function stallWarning(
  procedure: Pick<Procedure, "open_stall_decision_id" | "step_count" | "completed_count" | "in_flight_step_index">,
  rp: Pick<ResumePoint, "suggested_boundary"> | null,
): string | null {
  if (procedure.open_stall_decision_id === null) return null;
  const step = procedure.step_count === null ? null : (rp?.suggested_boundary ?? procedure.in_flight_step_index ?? procedure.completed_count);
  return step === null ? "It stalled; resume anyway?" : `It stalled at step ${stepLabel(step)}; resume anyway?`;
}
