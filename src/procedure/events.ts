// The procedure's event vocabulary. Status is derived from the event type and
// never stored in a payload; the names are the contract (DOMAIN.md).
import type { StepPayload } from "../conduct/steps";
import type { ProcedureStatus } from "../vocabulary";

export const HOLD_CAUSES = ["operator", "step-fault", "driver-stand-down", "stall"] as const;
export type HoldCause = (typeof HOLD_CAUSES)[number];
/** The causes a caller may hold with; `stall` is the watcher's alone. */
export const REQUESTED_HOLD_CAUSES = ["operator", "step-fault", "driver-stand-down"] as const satisfies readonly HoldCause[];
/** What the watcher does on a Stall: record the decision only, or also hold (cause `stall`). */
export const ON_STALL = ["flag", "hold"] as const;
export type OnStall = (typeof ON_STALL)[number];
export const ON_FAILURE = ["abort", "hold"] as const;
export type OnFailure = (typeof ON_FAILURE)[number];
export { PROCEDURE_STATUSES, type ProcedureStatus } from "../vocabulary";

export interface HoldClaim {
  claim_id: string;
  cause: HoldCause;
}

interface Base {
  procedure_id: string;
  occurred_at: string;
}

export type ProcedureEvent =
  | { type: "ProcedureRegistered"; payload: Base & { name: string; kind: string; target_asset_ids: string[] } }
  | {
      type: "ResolvedStepsRecorded";
      payload: Base & { resolved_steps: StepPayload[]; resolved_closing_steps: StepPayload[]; step_count: number };
    }
  | {
      type: "ProcedureStarted";
      // stale_after_seconds: present only when a conduct set the procedure's own stall window;
      // on_stall: present only when a conduct asked the watcher to hold on a stall.
      payload: Base & { on_failure: OnFailure; stale_after_seconds?: number; on_stall?: "hold" };
    }
  | { type: "ProcedureHeld"; payload: Base & { reason: string; cause: HoldCause; claim_id: string } }
  | { type: "ProcedureHoldClaimReleased"; payload: Base & { claim_id: string; cause: HoldCause } }
  | { type: "ProcedureResumed"; payload: Base & { re_establishment_boundary: number; released_claim_id: string | null } }
  | { type: "ProcedureCompleted"; payload: Base }
  | { type: "ProcedureAborted"; payload: Base & { reason: string } }
  | { type: "ProcedureTruncated"; payload: Base & { reason: string; interrupted_at: string | null } }
  | { type: "ProcedureActivitiesLogbookOpened"; payload: Base & { logbook_id: string } }
  | { type: "ProcedureReplayStepAuthorized"; payload: Base & { step_index: number } }
  // The watcher's StepOverdue decision for one step attempt, recorded by its agent; no status change.
  | {
      type: "ProcedureStepOverdue";
      payload: Base & { step_index: number; deadline_seconds: number; in_flight_at: string; decision_id: string };
    };

export type ProcedureEventType = ProcedureEvent["type"];

/** An event as the object stores it: the stream version and who caused it. */
export interface RecordedEvent {
  version: number;
  event_id: string;
  type: ProcedureEventType;
  payload: ProcedureEvent["payload"];
  occurred_at: string;
  principal_id: string;
  correlation_id: string;
}
