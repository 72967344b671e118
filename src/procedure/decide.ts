// The decider: command + state -> the events to append, or a typed refusal.
// Transitions are not idempotent: repeating one is refused.
import type { ErrorClass } from "../errors";
import { uuidv5 } from "../ids";
import type { StepPayload } from "../conduct/steps";
import type { HoldCause, OnFailure, OnStall, ProcedureEvent, ProcedureStatus } from "./events";
import { withArticle } from "../conduct/entries";
import { accept, refuse, type Verdict } from "./refusal";
import { evolve, type ProcedureState } from "./state";

export type ProcedureCommand =
  | { type: "RegisterProcedure"; name: string; kind: string; target_asset_ids: string[] }
  | { type: "StartProcedure"; on_failure: OnFailure }
  | {
      type: "ConductProcedure";
      on_failure: OnFailure;
      /** The procedure's own stall window for Running; absent or null: the watcher's default. */
      stale_after_seconds?: number | null;
      /** What the watcher does on a Stall; absent: flag. */
      on_stall?: OnStall;
      resolved_steps: StepPayload[];
      resolved_closing_steps: StepPayload[];
    }
  | { type: "HoldProcedure"; reason: string; cause: HoldCause }
  | { type: "ResumeProcedure"; re_establishment_boundary: number; cause: HoldCause }
  | { type: "CompleteProcedure" }
  | { type: "AbortProcedure"; reason: string }
  | { type: "TruncateProcedure"; reason: string; interrupted_at: string | null }
  | { type: "OpenActivitiesLogbook"; logbook_id: string }
  | { type: "AuthorizeReplayStep"; step_index: number; requires_operator: boolean }
  | { type: "RecordStepOverdue"; step_index: number; deadline_seconds: number; in_flight_at: string; decision_id: string };

export interface DecideContext {
  procedure_id: string;
  /** ISO time of this command; every event it yields carries it. */
  now: string;
}

/** Claim ids already derived (the same few per procedure, each a SHA-1 to compute): a cache, so every answer is the same as without it. */
const claimIds = new Map<string, string>();
const CLAIM_IDS_KEPT = 1_000;

/** The deterministic id of the claim `cause` holds on a procedure. */
export function holdClaimId(procedureId: string, cause: HoldCause): string {
  const name = `${procedureId}|${cause}`;
  let id = claimIds.get(name);
  if (id === undefined) {
    if (claimIds.size >= CLAIM_IDS_KEPT) claimIds.clear();
    id = uuidv5(name);
    claimIds.set(name, id);
  }
  return id;
}

type EventDraft = ProcedureEvent extends infer E
  ? E extends { type: infer T; payload: infer P }
    ? { type: T; payload: Omit<P, "procedure_id" | "occurred_at"> }
    : never
  : never;

function stamp(ctx: DecideContext, drafts: EventDraft[]): ProcedureEvent[] {
  return drafts.map(
    (d) => ({ type: d.type, payload: { procedure_id: ctx.procedure_id, occurred_at: ctx.now, ...d.payload } }) as ProcedureEvent,
  );
}

function wrongStatus(error_class: ErrorClass, action: string, status: ProcedureStatus): Verdict<never> {
  return refuse(error_class, `cannot ${action} ${withArticle(status)} procedure`);
}

/** The refusal for a procedure this object does not hold. */
export function notFound(procedureId: string): Verdict<never> {
  return refuse("ProcedureNotFound", `procedure ${procedureId} does not exist`);
}

const ATTENTION_CAUSES: readonly HoldCause[] = ["step-fault", "driver-stand-down", "stall"];

function decideResume(
  state: ProcedureState,
  boundary: number,
  cause: HoldCause,
): Verdict<EventDraft[]> {
  if (state.status !== "Held") return wrongStatus("ProcedureCannotResume", "resume", state.status);
  if (state.step_count !== null && boundary > state.step_count) {
    return refuse("ReEstablishmentBoundaryInvalid", `re_establishment_boundary ${boundary} is past the ${state.step_count} pinned steps`);
  }
  // A resume from the end of the pinned steps has nothing left to report: it completes.
  const completes: EventDraft[] =
    state.step_count !== null && boundary === state.step_count ? [{ type: "ProcedureCompleted", payload: {} }] : [];
  const claims = state.hold_claims;
  if (claims.length === 0) {
    return accept([{ type: "ProcedureResumed", payload: { re_establishment_boundary: boundary, released_claim_id: null } }, ...completes]);
  }
  // An operator's resume may also clear the attention claims in the same act;
  // any other cause releases only its own claim.
  if (cause !== "operator" && !claims.some((c) => c.cause === cause)) {
    const blocking = claims.map((c) => c.cause).join(", ");
    return refuse("ProcedureHoldClaimsRemain", `held by ${blocking}; the ${cause} cause holds no claim`);
  }
  const releasable = claims.filter((c) => c.cause === cause || (cause === "operator" && ATTENTION_CAUSES.includes(c.cause)));
  const remaining = claims.length - releasable.length;
  if (remaining > 0) {
    return accept(
      releasable.map((c) => ({ type: "ProcedureHoldClaimReleased", payload: { claim_id: c.claim_id, cause: c.cause } })),
    );
  }
  // The caller's own claim is released last, by the resume itself.
  const own = releasable.find((c) => c.cause === cause) ?? releasable[releasable.length - 1]!;
  const others = releasable.filter((c) => c !== own);
  return accept([
    ...others.map((c): EventDraft => ({ type: "ProcedureHoldClaimReleased", payload: { claim_id: c.claim_id, cause: c.cause } })),
    { type: "ProcedureResumed", payload: { re_establishment_boundary: boundary, released_claim_id: own.claim_id } },
    ...completes,
  ]);
}

function decideDrafts(state: ProcedureState | null, command: ProcedureCommand, ctx: DecideContext): Verdict<EventDraft[]> {
  if (command.type === "RegisterProcedure") {
    if (state !== null) return refuse("ProcedureAlreadyExists", `procedure ${ctx.procedure_id} already exists`);
    const { name, kind, target_asset_ids } = command;
    return accept([{ type: "ProcedureRegistered", payload: { name, kind, target_asset_ids: [...new Set(target_asset_ids)] } }]);
  }
  if (state === null) return notFound(ctx.procedure_id);
  const { status } = state;
  const inConduct = status === "Running" || status === "Held";

  switch (command.type) {
    case "StartProcedure":
      if (status !== "Defined") return wrongStatus("ProcedureCannotStart", "start", status);
      return accept([{ type: "ProcedureStarted", payload: { on_failure: command.on_failure } }]);
    case "ConductProcedure": {
      if (status !== "Defined") return wrongStatus("ProcedureCannotStart", "start", status);
      const { resolved_steps, resolved_closing_steps } = command;
      return accept([
        {
          type: "ResolvedStepsRecorded",
          payload: { resolved_steps, resolved_closing_steps, step_count: resolved_steps.length + resolved_closing_steps.length },
        },
        {
          type: "ProcedureStarted",
          payload: {
            on_failure: command.on_failure,
            ...(command.stale_after_seconds == null ? {} : { stale_after_seconds: command.stale_after_seconds }),
            ...(command.on_stall === "hold" ? { on_stall: "hold" as const } : {}),
          },
        },
      ]);
    }
    case "HoldProcedure": {
      if (!inConduct) return wrongStatus("ProcedureCannotHold", "hold", status);
      if (state.hold_claims.some((c) => c.cause === command.cause)) {
        return refuse("ProcedureCannotHold", `the ${command.cause} cause already holds a claim`);
      }
      const claim_id = holdClaimId(ctx.procedure_id, command.cause);
      return accept([{ type: "ProcedureHeld", payload: { reason: command.reason, cause: command.cause, claim_id } }]);
    }
    case "ResumeProcedure":
      return decideResume(state, command.re_establishment_boundary, command.cause);
    case "CompleteProcedure":
      if (status !== "Running") return wrongStatus("ProcedureCannotComplete", "complete", status);
      return accept([{ type: "ProcedureCompleted", payload: {} }]);
    case "AbortProcedure":
      if (!inConduct) return wrongStatus("ProcedureCannotAbort", "abort", status);
      return accept([{ type: "ProcedureAborted", payload: { reason: command.reason } }]);
    case "TruncateProcedure":
      // Compare instants, not strings: a client may send fewer fraction digits.
      if (command.interrupted_at !== null && Date.parse(command.interrupted_at) > Date.parse(ctx.now)) {
        return refuse("InterruptedAtInFuture", "interrupted_at must not be in the future");
      }
      if (!inConduct) return wrongStatus("ProcedureCannotTruncate", "truncate", status);
      return accept([{ type: "ProcedureTruncated", payload: { reason: command.reason, interrupted_at: command.interrupted_at } }]);
    case "OpenActivitiesLogbook":
      if (state.activity_logbook_id !== null) return accept([]);
      return accept([{ type: "ProcedureActivitiesLogbookOpened", payload: { logbook_id: command.logbook_id } }]);
    case "RecordStepOverdue": {
      // The watcher judges an attempt open only in conduct; this guards a state that moved on.
      if (!inConduct) return refuse("ProcedureStepsLogbookClosed", `a ${status} procedure has no step in flight`);
      const { step_index, deadline_seconds, in_flight_at, decision_id } = command;
      return accept([{ type: "ProcedureStepOverdue", payload: { step_index, deadline_seconds, in_flight_at, decision_id } }]);
    }
    case "AuthorizeReplayStep": {
      if (status !== "Running" || state.replay === null) {
        return refuse("ReplayStepNotAwaitingOperator", "no replay is awaiting an operator's go-ahead");
      }
      if (command.step_index < state.replay.boundary || (state.step_count !== null && command.step_index >= state.step_count)) {
        return refuse("ReplayStepNotAwaitingOperator", `step ${command.step_index} is not part of the replay`);
      }
      if (!command.requires_operator) {
        return refuse("ReplayStepNotAwaitingOperator", `step ${command.step_index} needs no operator go-ahead`);
      }
      if (state.replay.authorized.includes(command.step_index)) {
        return refuse("ReplayStepNotAwaitingOperator", `step ${command.step_index} already has the go-ahead`);
      }
      return accept([{ type: "ProcedureReplayStepAuthorized", payload: { step_index: command.step_index } }]);
    }
  }
}

/** Decides a command against the current state: the events it yields, or why not. */
export function decide(state: ProcedureState | null, command: ProcedureCommand, ctx: DecideContext): Verdict<ProcedureEvent[]> {
  const drafts = decideDrafts(state, command, ctx);
  return drafts.ok ? accept(stamp(ctx, drafts.value)) : drafts;
}

/** Decides commands in order, each against the state the previous one left: all their events, or the first refusal. */
export function decideAll(
  state: ProcedureState | null,
  commands: readonly ProcedureCommand[],
  ctx: DecideContext,
): Verdict<{ events: ProcedureEvent[]; state: ProcedureState }> {
  let next = state;
  const events: ProcedureEvent[] = [];
  for (const command of commands) {
    const decision = decide(next, command, ctx);
    if (!decision.ok) return decision;
    for (const event of decision.value) {
      next = evolve(next, event);
      events.push(event);
    }
  }
  if (next === null) return notFound(ctx.procedure_id);
  return accept({ events, state: next });
}

/**
 * A resume of a conducted procedure from a boundary, as conduct-from asks it:
 * only from Held (checked first), only after conduct; the operator's resume
 * then decides the rest, including the completion at the end of the steps.
 */
export function decideConductFrom(
  state: ProcedureState | null,
  boundary: number,
  ctx: DecideContext,
): Verdict<{ events: ProcedureEvent[]; state: ProcedureState }> {
  if (state === null) return notFound(ctx.procedure_id);
  if (state.status !== "Held") return wrongStatus("ProcedureCannotResume", "resume", state.status);
  if (state.step_count === null) return refuse("ProcedureNotConducted", "the procedure was started without conduct: use resume");
  return decideAll(state, [{ type: "ResumeProcedure", re_establishment_boundary: boundary, cause: "operator" }], ctx);
}
