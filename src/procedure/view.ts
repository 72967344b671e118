// What readers see of a procedure: the folded state plus the conduct progress
// kept beside it, and the summary row the projection receives.
import type { SummaryRow } from "../db/summaries";
import type { ProcedureState } from "./state";

/** Conduct progress kept by the object from its logbook (not from events). */
export interface ConductProgress {
  completed_count: number;
  in_flight_step_index: number | null;
  last_activity_at: string | null;
}

export interface ProcedureView {
  procedure_id: string;
  name: string;
  kind: string;
  target_asset_ids: string[];
  status: ProcedureState["status"];
  hold_claims: ProcedureState["hold_claims"];
  activity_logbook_id: string | null;
  version: number;
  registered_at: string;
  last_status_changed_at: string | null;
  last_status_reason: string | null;
  interrupted_at: string | null;
  on_failure: ProcedureState["on_failure"];
  stale_after_seconds: number | null;
  on_stall: "flag" | "hold";
  /** The Stall decision of the current episode; null once the procedure progressed. */
  open_stall_decision_id: string | null;
  step_count: number | null;
  completed_count: number;
  in_flight_step_index: number | null;
  last_activity_at: string | null;
  /** The replay in progress starts here; null unless Running in a replay. */
  replay_boundary: number | null;
  replay_awaiting_operator: number[];
  /** When the procedure was archived (its reads then answer from the archive); null while it is live. */
  archived_at: string | null;
}

/** What the API view and the projection row both carry straight from the state. */
function identityAndStatus(state: ProcedureState) {
  return {
    procedure_id: state.procedure_id,
    name: state.name,
    kind: state.kind,
    target_asset_ids: state.target_asset_ids,
    status: state.status,
    activity_logbook_id: state.activity_logbook_id,
    version: state.version,
    registered_at: state.registered_at,
    last_status_changed_at: state.last_status_changed_at,
    last_status_reason: state.last_status_reason,
    interrupted_at: state.interrupted_at,
    // A snapshot written before the field existed has no key: no own window.
    stale_after_seconds: state.stale_after_seconds ?? null,
  };
}

/** The replay in progress: only a Running procedure replays (a later hold or the end leaves none). */
export function activeReplay(state: ProcedureState): ProcedureState["replay"] {
  return state.status === "Running" ? state.replay : null;
}

/** The procedure as the API returns it; `openStallDecisionId` comes from the watcher's act rung (src/watcher/act.ts). */
export function procedureView(
  state: ProcedureState,
  progress: ConductProgress,
  awaitingOperator: number[],
  openStallDecisionId: string | null = null,
): ProcedureView {
  const replay = activeReplay(state);
  return {
    ...identityAndStatus(state),
    hold_claims: state.hold_claims,
    on_failure: state.on_failure,
    on_stall: state.on_stall ?? "flag",
    open_stall_decision_id: openStallDecisionId,
    step_count: state.step_count,
    completed_count: progress.completed_count,
    in_flight_step_index: progress.in_flight_step_index,
    last_activity_at: progress.last_activity_at,
    replay_boundary: replay?.boundary ?? null,
    replay_awaiting_operator: awaitingOperator,
    archived_at: null,
  };
}

/**
 * The projection row for this state: `mirrored_activity_at` is the coarse
 * activity mirror, and the step counts travel with it, so a list row carries
 * its progress without a read of the procedure.
 */
export function summaryRow(
  state: ProcedureState,
  progress: { mirrored_activity_at: string | null; completed_count: number },
  now: string,
): SummaryRow {
  return {
    ...identityAndStatus(state),
    hold_causes: state.hold_claims.map((c) => c.cause),
    step_count: state.step_count,
    completed_count: progress.completed_count,
    last_activity_at: progress.mirrored_activity_at,
    updated_at: now,
  };
}
