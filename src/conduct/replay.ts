// What a resume of a conducted procedure replays. The pinned list is replayed
// verbatim from the boundary on; it is never re-resolved, because the inputs to
// resolution (pseudoaxis definitions) may have changed since it was pinned.
import { type Step, type StepKind, type StepPayload, stepToPayload } from "./steps";

export type ReplayItem = { step_index: number; step: StepPayload; requires_operator: boolean };

/**
 * Where a resume should start: the interrupted in-flight step, else the first
 * step without an `ok`. While a replay runs, the steps before its boundary
 * count as done (`doneBefore`), as they do for step order: an operator's
 * resume let them stand, reported or not.
 */
export function suggestBoundary(progress: {
  stepCount: number;
  inFlightStepIndex: number | null;
  okIndexes: ReadonlySet<number>;
  doneBefore?: number;
}): number {
  const { stepCount, inFlightStepIndex, okIndexes } = progress;
  const from = Math.max(0, progress.doneBefore ?? 0);
  if (inFlightStepIndex !== null && inFlightStepIndex >= from && inFlightStepIndex < stepCount) return inFlightStepIndex;
  for (let index = from; index < stepCount; index++) if (!okIndexes.has(index)) return index;
  return stepCount;
}

/** Actions and computes may repeat a physical or costly effect, so replaying one needs an operator. */
export function requiresOperator(kind: StepKind): boolean {
  return kind === "action" || kind === "compute";
}

/** A replay after a resume: steps from `boundary` on, and those an operator has let through. */
export type Replay = { boundary: number; approved: ReadonlySet<number> | readonly number[] };

function isApproved(replay: Replay, index: number): boolean {
  return "has" in replay.approved ? replay.approved.has(index) : replay.approved.includes(index);
}

/** True while step `index` of this kind may not be reported: a replayed action or compute without the go-ahead. */
export function awaitsOperator(replay: Replay | null, index: number, kind: StepKind): boolean {
  return replay !== null && index >= replay.boundary && requiresOperator(kind) && !isApproved(replay, index);
}

/** Every pinned step still waiting for the operator's go-ahead. */
export function awaitingOperator(replay: Replay | null, kinds: readonly StepKind[]): number[] {
  return replay === null ? [] : kinds.flatMap((kind, index) => (awaitsOperator(replay, index, kind) ? [index] : []));
}

/** Why a boundary cannot be used for these many pinned steps, or null when it can (equal to the count completes). */
export function boundaryError(stepCount: number, boundary: number): string | null {
  if (!Number.isSafeInteger(boundary) || boundary < 0) {
    return `re_establishment_boundary must be a non-negative integer, got ${boundary}`;
  }
  if (boundary > stepCount) {
    return `re_establishment_boundary ${boundary} is past the end of the ${stepCount} pinned steps`;
  }
  return null;
}

/** The pinned steps from the boundary on, with their absolute indexes (steps: resolved + closing). */
export function replayPlan(steps: readonly Step[], boundary: number): ReplayItem[] {
  const invalid = boundaryError(steps.length, boundary);
  // The shell answers 400 before it gets here; a bad boundary now is a bug, not a request error.
  if (invalid !== null) throw new RangeError(invalid);
  return steps.slice(boundary).map((step, offset) => ({
    step_index: boundary + offset,
    step: stepToPayload(step),
    requires_operator: requiresOperator(step.kind),
  }));
}
