// The watcher's act rung, pure: whether a Stall it records is also acted on
// (a hold with cause `stall`), and which Stall decision a procedure's state
// still names as open. The procedure's object calls these with its own record,
// so the episode the watcher judged and the one the object holds are compared
// on the same terms (the stall core's `lastProgressAt`).
import type { DecisionRecord } from "../decisions/vocabulary";
import type { ProcedureState } from "../procedure/state";
import { lastProgressAt } from "./stall";

/** What the object keeps of the latest Stall the watcher told it of. */
export type StallRecord = {
  decision_id: string;
  /** The episode: the progress time the decision was taken on. */
  last_progress_at: string;
  acted: "hold" | null;
  /** When the watcher's own hold moved the status; that transition is not progress. */
  held_at: string | null;
  /** Why a procedure conducted to be held was not (see StallObservation). */
  not_acted: string | null;
  /** The decision of a Stall the object acted on, kept until it is written to D1. */
  decision?: DecisionRecord;
};

/** What the watcher does about a Stall of this procedure now: hold it, flag it only, or flag it because its agent may not hold. */
export type StallAct = "hold" | "flag" | "denied";

/** The procedure's current episode: its last progress time as the watcher judges it (null: cannot tell). */
export function currentEpisode(state: ProcedureState, lastActivityAt: string | null): string | null {
  return lastProgressAt({
    procedure_id: state.procedure_id,
    status: state.status,
    hold_causes: state.hold_claims.map((c) => c.cause),
    last_status_changed_at: state.last_status_changed_at,
    last_activity_at: lastActivityAt,
    stale_after_seconds: state.stale_after_seconds ?? null,
  });
}

/**
 * Whether a Stall is acted on: only a Running procedure conducted with
 * `on_stall: "hold"`, and only when the agent holds the HoldProcedure grant.
 * A Held procedure is never acted on, whoever holds it.
 */
export function stallAct(state: ProcedureState, mayHold: boolean): StallAct {
  if (state.status !== "Running" || (state.on_stall ?? "flag") !== "hold") return "flag";
  return mayHold ? "hold" : "denied";
}

/**
 * The Stall decision of the current episode, or null once the procedure
 * progressed (a transition other than the watcher's own hold, or new
 * activity) or left conduct.
 */
export function openStallDecisionId(record: StallRecord | null, state: ProcedureState, lastActivityAt: string | null): string | null {
  if (record === null || (state.status !== "Running" && state.status !== "Held")) return null;
  const episode = currentEpisode(state, lastActivityAt);
  if (episode === record.last_progress_at) return record.decision_id;
  return record.held_at !== null && episode === record.held_at ? record.decision_id : null;
}

/**
 * Whether a listed procedure is stalled: the projection's flag (a Stall
 * decision covers its current episode), or the watcher holds it for a stall.
 * The watcher's own hold is not progress (as `openStallDecisionId` keeps the
 * decision open across it), a Held procedure takes no activity, and only an
 * operator resume, a transition, releases the `stall` claim: while that claim
 * stands, the procedure is still in the episode it was held for, though the
 * hold moved the projection's progress time.
 */
export function listedAsStalled(row: { status: string; hold_causes: readonly string[]; stalled: boolean | null }): boolean {
  return row.stalled === true || (row.status === "Held" && row.hold_causes.includes("stall"));
}
