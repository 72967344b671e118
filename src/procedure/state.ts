// The fold: a procedure's state is a pure function of its events.
import type { HoldClaim, OnFailure, OnStall, ProcedureEvent, ProcedureStatus } from "./events";

export interface ProcedureState {
  procedure_id: string;
  name: string;
  kind: string;
  target_asset_ids: string[];
  status: ProcedureStatus;
  hold_claims: HoldClaim[];
  activity_logbook_id: string | null;
  registered_at: string;
  last_status_changed_at: string | null;
  last_status_reason: string | null;
  interrupted_at: string | null;
  version: number;
  on_failure: OnFailure;
  /** Pinned steps (resolved + closing); null when started without conduct. */
  step_count: number | null;
  /** Set by a resume of a conducted procedure: steps from `boundary` on are a replay. */
  replay: { boundary: number; authorized: number[] } | null;
  /** The procedure's own stall window for Running, set by its conduct; null: the watcher's default. */
  stale_after_seconds: number | null;
  /** What the watcher does on a Stall of this procedure, set by its conduct (a snapshot from before it has none: flag). */
  on_stall?: OnStall;
}

function transition(state: ProcedureState, status: ProcedureStatus, at: string | null, reason: string | null): ProcedureState {
  return { ...state, status, last_status_changed_at: at, last_status_reason: reason };
}

/** Applies one event to the state before it (null before registration). */
export function evolve(state: ProcedureState | null, event: ProcedureEvent): ProcedureState {
  const at = event.payload.occurred_at;
  if (event.type === "ProcedureRegistered") {
    const p = event.payload;
    return {
      procedure_id: p.procedure_id,
      name: p.name,
      kind: p.kind,
      target_asset_ids: [...p.target_asset_ids],
      status: "Defined",
      hold_claims: [],
      activity_logbook_id: null,
      registered_at: at,
      last_status_changed_at: at,
      last_status_reason: null,
      interrupted_at: null,
      version: 1,
      on_failure: "abort",
      step_count: null,
      replay: null,
      stale_after_seconds: null,
      on_stall: "flag",
    };
  }
  if (state === null) throw new Error(`${event.type} before ProcedureRegistered`);
  const next = { ...state, version: state.version + 1 };
  switch (event.type) {
    case "ResolvedStepsRecorded":
      return { ...next, step_count: event.payload.step_count };
    case "ProcedureStarted":
      return {
        ...transition(next, "Running", at, null),
        on_failure: event.payload.on_failure,
        stale_after_seconds: event.payload.stale_after_seconds ?? null,
        on_stall: event.payload.on_stall ?? "flag",
      };
    case "ProcedureHeld":
      // A claim added to a Held procedure changes no status: the time stays, so the
      // watcher does not count it as progress; the reason names the newest claim.
      return {
        ...transition(next, "Held", state.status === "Held" ? state.last_status_changed_at : at, event.payload.reason),
        hold_claims: [...state.hold_claims, { claim_id: event.payload.claim_id, cause: event.payload.cause }],
      };
    case "ProcedureHoldClaimReleased":
      return { ...next, hold_claims: state.hold_claims.filter((c) => c.claim_id !== event.payload.claim_id) };
    case "ProcedureResumed":
      return {
        ...transition(next, "Running", at, null),
        hold_claims: state.hold_claims.filter((c) => c.claim_id !== event.payload.released_claim_id),
        replay: state.step_count === null ? null : { boundary: event.payload.re_establishment_boundary, authorized: [] },
      };
    case "ProcedureCompleted":
      return { ...transition(next, "Completed", at, null), hold_claims: [] };
    case "ProcedureAborted":
      return { ...transition(next, "Aborted", at, event.payload.reason), hold_claims: [] };
    case "ProcedureTruncated":
      return {
        ...transition(next, "Truncated", at, event.payload.reason),
        hold_claims: [],
        interrupted_at: event.payload.interrupted_at,
      };
    case "ProcedureActivitiesLogbookOpened":
      return { ...next, activity_logbook_id: event.payload.logbook_id };
    case "ProcedureStepOverdue":
      return next;
    case "ProcedureReplayStepAuthorized":
      return state.replay === null
        ? next
        : { ...next, replay: { ...state.replay, authorized: [...state.replay.authorized, event.payload.step_index] } };
  }
}

/** Folds a whole stream from nothing. */
export function fold(events: readonly ProcedureEvent[]): ProcedureState | null {
  return events.reduce<ProcedureState | null>(evolve, null);
}
