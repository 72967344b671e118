// Judges a gateway's batch of activity entries against the pinned manifest:
// either the whole batch is refused (nothing of it is stored), or each entry's
// step report is accepted and the batch may carry the procedure to an outcome.
// Steps are reported in order: a report for a step is accepted only once every
// step before it is done, so the record never shows a step that did not happen.
// Heartbeats ride in the same batches: validated, stored, counted as activity,
// and never a step report.
import { z } from "zod";
import { awaitsOperator, type Replay } from "./replay";
import type { Step, StepKind } from "./steps";

export const StepEntryPayloadSchema = z
  // Loose: gateways attach their measurements next to the step report.
  .looseObject({
    step_index: z.int().min(0),
    result: z.enum(["in_flight", "ok", "failed"]),
    error_class: z.string().min(1).max(200).optional(),
    message: z.string().max(2000).optional(),
  })
  .refine((entry) => entry.result !== "failed" || entry.error_class !== undefined, {
    message: "a failed step must carry error_class",
    path: ["error_class"],
  });

export type StepEntryPayload = z.infer<typeof StepEntryPayloadSchema>;

/** The step_kind of a heartbeat: a sign of life during a long step, not a report on it. */
export const HEARTBEAT = "heartbeat";

export const HeartbeatPayloadSchema = z.strictObject({
  /** The step the gateway is working on, when it says. */
  step_index: z.int().min(0).optional(),
  /** How far along that step is, from 0 to 1. */
  progress: z.number().min(0).max(1).optional(),
  message: z.string().max(2000).optional(),
});
export type StepResult = StepEntryPayload["result"];

export type EntryInput = { event_id: string; step_kind: string; payload: Record<string, unknown> };

export type BatchContext = {
  /** null: started without conduct, so the logbook is free-form. */
  manifestKinds: readonly StepKind[] | null;
  /** Per pinned step, the label abort reasons name (see `stepTarget`). */
  manifestTargets?: readonly string[];
  on_failure: "abort" | "hold";
  /** Set after a resume of a conducted procedure. */
  replay: Replay | null;
  /** Resolved plus closing steps. */
  stepCount: number;
  /** The steps whose latest report is `ok`, before this batch (see `doneAfter`). */
  done: ReadonlySet<number>;
};

export type BatchOutcome =
  | { type: "complete" }
  | { type: "abort"; reason: string }
  | { type: "hold"; reason: string; cause: "step-fault" };

export type BatchRefusalClass =
  | "StepEntryInvalid"
  | "StepIndexOutOfRange"
  | "StepKindMismatch"
  | "StepOutOfOrder"
  | "AcquisitionResumeRequiresOperator";

export type StepReport = { step_index: number; result: StepResult };

export type BatchJudgement =
  | { ok: false; error_class: BatchRefusalClass; detail: string; entry_index: number }
  /** `steps` is aligned with the entries: null for an entry that reports no step (a heartbeat, a free-form entry). */
  | { ok: true; steps: Array<StepReport | null>; outcome: BatchOutcome | null };

/**
 * The done steps once `reports` are on record, in order: a step is done while its latest
 * report is `ok`, so a step reported `in_flight` or `failed` again is no longer done.
 */
export function doneAfter(done: ReadonlySet<number>, reports: ReadonlyArray<StepReport | null>): Set<number> {
  const next = new Set(done);
  for (const report of reports) if (report !== null) markDone(next, report);
  return next;
}

function markDone(done: Set<number>, report: StepReport): void {
  if (report.result === "ok") done.add(report.step_index);
  else done.delete(report.step_index);
}

/**
 * The first step a report may not skip: the lowest one that is neither done nor before the
 * replay boundary. A report for step i is in order when i is at most this step.
 */
export function nextStepDue(done: ReadonlySet<number>, replay: Replay | null): number {
  let index = replay?.boundary ?? 0;
  while (done.has(index)) index++;
  return index;
}

function issuesOf(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "payload"}: ${i.message}`).join("; ");
}

export const MAX_REASON_LENGTH = 500;

/** The short label that names a step in abort reasons: what it acts on. */
export function stepTarget(step: Step): string {
  switch (step.kind) {
    case "setpoint":
    case "check":
    case "capture":
      return step.address;
    case "action":
      return step.name;
    case "compute":
      return step.command[0] ?? "";
  }
}

/** The manifest view `judgeBatch` needs, built once from the pinned steps (resolved + closing). */
export function manifestOf(steps: readonly Step[]): { manifestKinds: StepKind[]; manifestTargets: string[] } {
  return { manifestKinds: steps.map((s) => s.kind), manifestTargets: steps.map(stepTarget) };
}

/** A word with its indefinite article, as refusals say it: "an action", "a Held procedure". */
export function withArticle(word: string): string {
  return `${/^[aeiou]/i.test(word) ? "an" : "a"} ${word}`;
}

/** Cuts to `max` UTF-16 units without leaving half a surrogate pair behind. */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

/** The abort (and hold) reason for a failed step, in the domain's `kind[idx] target failed: Class: message` form. */
export function failureReason(kind: StepKind, index: number, target: string | undefined, errorClass: string, message: string): string {
  const named = target ? ` ${target}` : "";
  return cutText(`${kind}[${index}]${named} failed: ${errorClass}: ${message}`, MAX_REASON_LENGTH);
}

function outcomeOf(ctx: BatchContext, kind: StepKind, entry: StepEntryPayload): BatchOutcome | null {
  if (entry.result === "failed") {
    const reason = failureReason(kind, entry.step_index, ctx.manifestTargets?.[entry.step_index], entry.error_class ?? "", entry.message ?? "");
    // Only a setpoint or a check can be retried in place after an operator looks; an action or
    // compute may have half-happened, so the conduct ends.
    if (ctx.on_failure === "hold" && (kind === "setpoint" || kind === "check")) {
      return { type: "hold", reason, cause: "step-fault" };
    }
    return { type: "abort", reason };
  }
  if (entry.result === "ok" && entry.step_index === ctx.stepCount - 1) return { type: "complete" };
  return null;
}

/**
 * Validates a batch against the manifest and finds the outcome it carries (the first one wins).
 * Each step report must be in order (`nextStepDue`), counting the batch's own earlier reports.
 * An `in_flight` for a check or capture is accepted: it announces no effect, so it is harmless.
 * A heartbeat is checked (its fields, its step_index in range) and reports no step: it never
 * completes, fails or advances one, whatever the replay awaits.
 * `positions` are the entries' places in the request (when duplicates were left out) for naming them.
 */
export function judgeBatch(
  ctx: BatchContext,
  entries: readonly EntryInput[],
  positions: readonly number[] = entries.map((_, i) => i),
): BatchJudgement {
  if (ctx.manifestKinds === null) return { ok: true, steps: entries.map(() => null), outcome: null };
  const steps: Array<StepReport | null> = [];
  let outcome: BatchOutcome | null = null;
  const done = new Set(ctx.done);
  for (const [i, entry] of entries.entries()) {
    const entry_index = positions[i] ?? i;
    const refuse = (error_class: BatchRefusalClass, detail: string) =>
      ({ ok: false, error_class, detail: `entries[${entry_index}]: ${detail}`, entry_index }) as const;
    const pastTheEnd = (index: number) =>
      refuse("StepIndexOutOfRange", `step_index ${index} is past the manifest's ${ctx.stepCount} steps`);
    if (entry.step_kind === HEARTBEAT) {
      const beat = HeartbeatPayloadSchema.safeParse(entry.payload);
      if (!beat.success) return refuse("StepEntryInvalid", `not a heartbeat: ${issuesOf(beat.error)}`);
      const index = beat.data.step_index;
      if (index !== undefined && index >= ctx.stepCount) return pastTheEnd(index);
      steps.push(null);
      continue;
    }
    const parsed = StepEntryPayloadSchema.safeParse(entry.payload);
    if (!parsed.success) return refuse("StepEntryInvalid", `not a step entry: ${issuesOf(parsed.error)}`);
    const report = parsed.data;
    const index = report.step_index;
    const kind = ctx.manifestKinds[index];
    if (index >= ctx.stepCount || kind === undefined) return pastTheEnd(index);
    if (entry.step_kind !== kind) {
      return refuse("StepKindMismatch", `step ${index} is ${withArticle(kind)}, not ${withArticle(entry.step_kind)}`);
    }
    // A replayed action or compute may repeat a physical effect; only an operator can allow that.
    if (awaitsOperator(ctx.replay, index, kind)) {
      return refuse(
        "AcquisitionResumeRequiresOperator",
        `step ${index} (${kind}) is replayed after a resume and needs an operator's approval before it is reported`,
      );
    }
    const due = nextStepDue(done, ctx.replay);
    if (index > due) {
      return refuse("StepOutOfOrder", `step ${index} is reported before step ${due} is done`);
    }
    const step = { step_index: index, result: report.result };
    steps.push(step);
    markDone(done, step);
    outcome ??= outcomeOf(ctx, kind, report);
  }
  return { ok: true, steps, outcome };
}
