// Step deadlines, pure: when a step attempt's deadline falls due, whether the
// attempt is still open when it does, and the StepOverdue decision it yields.
// A deadline is start-to-close: from the step's `in_flight` (its recorded_at,
// the service's own time) to its `ok` or `failed`. Heartbeats never touch it.
// The procedure's object arms its schedule with `deadlineJob` and judges with
// `overdueDecision`; the decision is the watcher agent's, under its gates.
import type { DecisionRecord } from "../decisions/vocabulary";
import { uuidv5 } from "../ids";
import type { ProcedureStatus } from "../procedure/events";
import { agentDecision } from "./stall";

/** One step attempt: the step and the recorded_at of the `in_flight` that opened it. */
export type StepAttempt = { step_index: number; in_flight_at: string };

const KEY = /^deadline:(\d+):(.+)$/;

/** The schedule job that judges an attempt when its deadline passes: one key per attempt, so a replay's new attempt has its own. */
export function deadlineJob(attempt: StepAttempt, deadlineSeconds: number): { key: string; due_at: number } {
  return { key: `deadline:${attempt.step_index}:${attempt.in_flight_at}`, due_at: Date.parse(attempt.in_flight_at) + deadlineSeconds * 1000 };
}

/** The attempt a deadline job's key names; null for a key that is not one. */
export function attemptOfJob(key: string): StepAttempt | null {
  const match = KEY.exec(key);
  return match ? { step_index: Number(match[1]), in_flight_at: match[2]! } : null;
}

/** One id per step attempt, so a retried or repeated judgement converges on one decision. */
export function overdueDecisionId(procedureId: string, attempt: StepAttempt): string {
  return uuidv5(`overdue:${procedureId}:${attempt.step_index}:${attempt.in_flight_at}`);
}

/** The deadline jobs a batch arms: one per `in_flight` report of a step that has a deadline. */
export function deadlinesArmed(
  reports: ReadonlyArray<{ step_index: number; result: string } | null>,
  deadlines: ReadonlyArray<number | null>,
  recordedAt: string,
): Array<{ key: string; due_at: number }> {
  return reports.flatMap((report) => {
    const deadline = report?.result === "in_flight" ? deadlines[report.step_index] : null;
    return report && deadline ? [deadlineJob({ step_index: report.step_index, in_flight_at: recordedAt }, deadline)] : [];
  });
}

/** What the judgement reads of the procedure when a deadline job runs. */
export type DeadlineReading = {
  procedure_id: string;
  status: ProcedureStatus;
  /** The step's latest report (step_progress), or null when it has none. */
  latest: { result: string; recorded_at: string } | null;
  deadline_seconds: number | null;
};

/** True while the attempt is open: the procedure is in conduct and the step's latest report is still that `in_flight`. */
export function attemptOpen(reading: DeadlineReading, attempt: StepAttempt): boolean {
  if (reading.status !== "Running" && reading.status !== "Held") return false;
  return reading.latest?.result === "in_flight" && reading.latest.recorded_at === attempt.in_flight_at;
}

/** The StepOverdue decision of an attempt, decided at `nowMs`; its id depends on the attempt alone. */
export function stepOverdueDecision(procedureId: string, attempt: StepAttempt, deadlineSeconds: number, nowMs: number): DecisionRecord {
  const now = new Date(nowMs).toISOString();
  const { step_index, in_flight_at } = attempt;
  const in_flight_seconds = Math.floor((nowMs - Date.parse(in_flight_at)) / 1000);
  return agentDecision({
    id: overdueDecisionId(procedureId, attempt),
    choice: "StepOverdue",
    subject_id: procedureId,
    reasoning: `Step ${step_index} has been in flight for ${in_flight_seconds}s, past its deadline of ${deadlineSeconds}s`,
    inputs: { procedure_id: procedureId, step_index, deadline_seconds: deadlineSeconds, in_flight_at, in_flight_seconds, occurred_at: now },
    recorded_at: now,
  });
}

/**
 * The decision a deadline job yields at `nowMs`: null when the attempt closed
 * (an `ok` or `failed`, a newer attempt, the procedure out of conduct) or the
 * deadline has not passed yet.
 */
export function overdueDecision(reading: DeadlineReading, attempt: StepAttempt, nowMs: number): DecisionRecord | null {
  const deadline = reading.deadline_seconds;
  if (deadline === null || !attemptOpen(reading, attempt)) return null;
  if (nowMs < deadlineJob(attempt, deadline).due_at) return null;
  return stepOverdueDecision(reading.procedure_id, attempt, deadline, nowMs);
}
