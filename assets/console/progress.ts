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
 * The state of each of `stepCount` steps of a procedure in `status`; a
 * replayed step waiting for the go-ahead says so whatever it reported before.
 * A step never reported is pending while the procedure may still run it, and
 * not reported once it is finished: an operator's resume from a later step
 * counted it done, or the procedure was completed, aborted or truncated first.
 */
export function stepStates(
  stepCount: number,
  reports: ReadonlyMap<number, StepReport>,
  awaitingGoAhead: readonly number[],
  status: Procedure["status"],
): StepState[] {
  const awaiting = new Set(awaitingGoAhead);
  const unreported: StepState = isFinished(status) ? "not_reported" : "pending";
  return Array.from({ length: stepCount }, (_, index) => (awaiting.has(index) ? "awaiting_go_ahead" : (reports.get(index)?.result ?? unreported)));
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
