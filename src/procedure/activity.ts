// The activity rules of a procedure, pure: which entries of a gateway's batch
// are new, whether the logbook is open, whether the batch is valid against the
// pinned manifest, and what it does to the procedure (complete, abort, hold).
import { judgeBatch, withArticle, type BatchContext, type StepReport } from "../conduct/entries";
import { requiresOperator } from "../conduct/replay";
import type { StepKind } from "../conduct/steps";
import { decideAll, notFound, type DecideContext, type ProcedureCommand } from "./decide";
import type { ProcedureEvent } from "./events";
import { utf8Length } from "../json";
import { accept, refuse, type Verdict } from "./refusal";
import type { ProcedureState } from "./state";

/** One entry of a gateway's batch, as the route validated it. */
export interface ActivityEntryInput {
  event_id: string;
  step_kind: string;
  payload: Record<string, unknown>;
  sampled_at: string;
  occurred_at?: string | undefined;
}

/** What a retry of an entry must repeat: its kind, payload (JSON text as stored) and sampling time. */
export interface RecordedContent {
  step_kind: string;
  payload: string;
  sampled_at: string;
}


/** An entry's payload, serialized, may hold at most this many bytes. */
export const MAX_ENTRY_PAYLOAD_BYTES = 64 * 1024;

/**
 * Each entry's payload as the logbook stores it, serialized once for both the
 * size check and the insert; refused (413) at the first one over
 * MAX_ENTRY_PAYLOAD_BYTES, before anything is written.
 */
export function payloadTexts(entries: readonly ActivityEntryInput[]): Verdict<Map<ActivityEntryInput, string>> {
  const texts = new Map<ActivityEntryInput, string>();
  for (const [i, entry] of entries.entries()) {
    const text = JSON.stringify(entry.payload);
    // A UTF-16 unit is at most 3 bytes in UTF-8: most payloads need no count.
    if (text.length * 3 > MAX_ENTRY_PAYLOAD_BYTES && utf8Length(text) > MAX_ENTRY_PAYLOAD_BYTES) {
      return refuse("ActivityEntryTooLarge", `entries[${i}].payload is over ${MAX_ENTRY_PAYLOAD_BYTES} bytes serialized`);
    }
    texts.set(entry, text);
  }
  return accept(texts);
}

/** What the activity rules need of the pinned manifest: per step, its kind and the label reasons name. */
export interface ManifestShape {
  manifestKinds: readonly StepKind[];
  manifestTargets: readonly string[];
}

type BatchDecision = {
  /** The entries to record, in request order, and the step each reports (null in a free-form logbook). */
  fresh: ActivityEntryInput[];
  steps: Array<StepReport | null>;
  duplicate_count: number;
  /** Nothing to write when empty and `fresh` is empty. */
  events: ProcedureEvent[];
  state: ProcedureState;
};

/**
 * Decides a gateway's batch. Duplicates are settled first, so a gateway that
 * retries the batch that ended the procedure is told it was recorded, not that
 * the logbook is closed. The whole batch is refused or none of it is.
 * `ctx.done_steps` are the steps whose latest report is `ok`, for the step order.
 */
export function decideActivities(
  state: ProcedureState | null,
  manifest: ManifestShape | null,
  entries: readonly ActivityEntryInput[],
  known: ReadonlySet<string>,
  ctx: DecideContext & { logbook_id: string; done_steps: ReadonlySet<number> },
): Verdict<BatchDecision> {
  if (state === null) return notFound(ctx.procedure_id);
  const seen = new Set(known);
  const fresh: ActivityEntryInput[] = [];
  const positions: number[] = [];
  entries.forEach((entry, position) => {
    if (seen.has(entry.event_id)) return;
    seen.add(entry.event_id);
    fresh.push(entry);
    positions.push(position);
  });
  const duplicate_count = entries.length - fresh.length;
  if (fresh.length === 0) return accept({ fresh, steps: [], duplicate_count, events: [], state });
  if (state.status !== "Running") {
    // A Defined procedure is the newcomer's case: say what opens the logbook.
    const detail =
      state.status === "Defined"
        ? "a Defined procedure accepts no activity yet: conduct it (POST /v1/procedures/{id}/conduct) or start it without conduct (POST /v1/procedures/{id}/start) first"
        : `${withArticle(state.status)} procedure accepts no activity`;
    return refuse("ProcedureStepsLogbookClosed", detail);
  }

  const batch: BatchContext = {
    manifestKinds: manifest?.manifestKinds ?? null,
    manifestTargets: manifest?.manifestTargets,
    on_failure: state.on_failure,
    replay: state.replay ? { boundary: state.replay.boundary, approved: state.replay.authorized } : null,
    stepCount: state.step_count ?? 0,
    done: ctx.done_steps,
  };
  const judged = judgeBatch(batch, fresh, positions);
  if (!judged.ok) return refuse(judged.error_class, judged.detail);

  const commands: ProcedureCommand[] = [{ type: "OpenActivitiesLogbook", logbook_id: ctx.logbook_id }];
  const outcome = judged.outcome;
  if (outcome?.type === "complete") commands.push({ type: "CompleteProcedure" });
  if (outcome?.type === "abort") commands.push({ type: "AbortProcedure", reason: outcome.reason });
  if (outcome?.type === "hold") commands.push({ type: "HoldProcedure", reason: outcome.reason, cause: outcome.cause });
  const decided = decideAll(state, commands, ctx);
  if (!decided.ok) return decided;
  return accept({ fresh, steps: judged.steps, duplicate_count, ...decided.value });
}

/** True when two JSON values are equal, whatever the order of their keys. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((item, i) => sameJson(item, (b as unknown[])[i]));
  const keys = Object.keys(a);
  const other = b as Record<string, unknown>;
  return keys.length === Object.keys(other).length && keys.every((key) => Object.hasOwn(other, key) && sameJson((a as Record<string, unknown>)[key], other[key]));
}

/**
 * Refuses a batch that repeats an event id with a different entry, recorded
 * before or earlier in the same batch: an event id names one entry, so a retry
 * repeats it exactly (kind, payload, sampling time), as a reused Idempotency-Key
 * must repeat its request. Checked before duplicates are dropped.
 */
export function reusedEventId(entries: readonly ActivityEntryInput[], recorded: ReadonlyMap<string, RecordedContent>): Verdict<never> | null {
  const first = new Map<string, ActivityEntryInput>();
  for (const entry of entries) {
    const stored = recorded.get(entry.event_id);
    const earlier = first.get(entry.event_id);
    const same = stored
      ? stored.step_kind === entry.step_kind && stored.sampled_at === entry.sampled_at && sameJson(JSON.parse(stored.payload), entry.payload)
      : !earlier || (earlier.step_kind === entry.step_kind && earlier.sampled_at === entry.sampled_at && sameJson(earlier.payload, entry.payload));
    if (!same) {
      return refuse("ActivityEventIdReused", `event_id ${entry.event_id} names another entry ${stored ? "already recorded" : "in this batch"}; a retry repeats an entry exactly`);
    }
    if (!earlier) first.set(entry.event_id, entry);
  }
  return null;
}

/** The operator's go-ahead for one replayed step: only an action or a compute needs one. */
export function decideGoAhead(
  state: ProcedureState | null,
  manifest: ManifestShape | null,
  stepIndex: number,
  ctx: DecideContext,
): Verdict<{ events: ProcedureEvent[]; state: ProcedureState }> {
  const kind = manifest?.manifestKinds[stepIndex];
  const requires_operator = kind !== undefined && requiresOperator(kind);
  return decideAll(state, [{ type: "AuthorizeReplayStep", step_index: stepIndex, requires_operator }], ctx);
}
