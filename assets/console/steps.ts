// How a pinned step reads to an operator.
import type { StepState } from "./progress";
import type { Step } from "./types";

/** One line naming what the step does. */
export function describeStep(step: Step): string {
  switch (step.kind) {
    case "setpoint":
      return `${step.address} ← ${step.value}${step.verify ? " (verified)" : ""}`;
    case "check": {
      const { criterion } = step;
      const expected = criterion.kind === "within_tolerance" ? `${String(criterion.expected)} ± ${criterion.tolerance}` : `= ${String(criterion.expected)}`;
      return `${step.address} ${expected}`;
    }
    case "action":
      return `${step.name} ${JSON.stringify(step.params)}`;
    case "capture":
      return `${step.address} → ${step.capture_name}`;
    case "compute":
      return step.command.join(" ");
  }
}

/**
 * A pinned step as every page names it: its index as the API has it
 * (`step_index`, from 0), then its kind when known ("#0 check").
 */
export function stepLabel(index: number, kind?: string): string {
  return kind ? `#${index} ${kind}` : `#${index}`;
}

/**
 * A status reason with the service's `kind[idx]` form of a failed step (the
 * reason of a step-fault hold or an abort) in the console's "#idx kind"; any
 * other reason as it is.
 */
export function readableReason(reason: string): string {
  return reason.replace(/^(setpoint|check|action|capture|compute)\[(\d+)\]/, (_all, kind: string, index: string) => stepLabel(Number(index), kind));
}

/** Whether a replay from `boundary` has no pinned step left to run. */
export function pastLastStep(boundary: number, stepCount: number | null): boolean {
  return stepCount !== null && boundary >= stepCount;
}

/** A resume boundary in words: its step's label, or "after the last step". */
export function boundaryLabel(boundary: number, stepCount: number | null): string {
  return pastLastStep(boundary, stepCount) ? "after the last step" : stepLabel(boundary);
}

/**
 * What a replay from `boundary` keeps and what it runs again, in words that
 * never speak of steps "before #0".
 */
export function replayWords(boundary: number, stepCount: number | null): string {
  if (pastLastStep(boundary, stepCount)) return "Every pinned step counts as done: nothing runs again, and the procedure completes.";
  if (boundary === 0) return "Every pinned step runs again, from #0 on, exactly as pinned.";
  const done = boundary === 1 ? "#0 stays done" : `#0 to #${boundary - 1} stay done`;
  return `${done}; the pinned steps run again from ${stepLabel(boundary)} on, exactly as pinned.`;
}

export const STATE_LABELS: Record<StepState, string> = {
  pending: "pending",
  in_flight: "in flight",
  ok: "ok",
  failed: "failed",
  awaiting_go_ahead: "awaiting go-ahead",
  not_reported: "not reported",
};
