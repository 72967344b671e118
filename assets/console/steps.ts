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

export const STATE_LABELS: Record<StepState, string> = {
  pending: "pending",
  in_flight: "in flight",
  ok: "ok",
  failed: "failed",
  awaiting_go_ahead: "awaiting go-ahead",
};
