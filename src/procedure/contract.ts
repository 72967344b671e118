// What the procedure's object and the routes exchange over RPC: the arguments
// a command carries and the results a route turns into a response.
import type { PrincipalScopes } from "../auth/grants";
import type { StepPayload } from "../conduct/steps";
import type { OnFailure, OnStall, ProcedureStatus } from "./events";

/**
 * What the caller may reach: with scopes, only a procedure whose targets meet
 * them; any other answers as if it did not exist. Every call carries it.
 */
export interface Access {
  scopes: PrincipalScopes | null;
}

/** The principal calling a command (not an `actors` row: those are the agents the watcher acts as), carried onto every event the command appends. */
export interface Caller extends Access {
  principal_id: string;
  correlation_id: string;
}

export interface RegisterInput {
  name: string;
  kind: string;
  target_asset_ids: string[];
}

/** The resolved steps conduct pins; resolution happens at the edge, with the pseudoaxes it reads from D1. */
export interface ConductPlan {
  on_failure: OnFailure;
  /** The procedure's own stall window for Running; null or absent: the watcher's default. */
  stale_after_seconds?: number | null;
  /** What the watcher does on a Stall; absent: flag. */
  on_stall?: OnStall;
  resolved_steps: StepPayload[];
  resolved_closing_steps: StepPayload[];
}

export interface Conducted {
  procedure_id: string;
  step_count: number;
}

export interface PinnedManifest {
  resolved_steps: StepPayload[];
  resolved_closing_steps: StepPayload[];
  step_count: number;
  recorded_at: string;
}

export interface ReplayResult {
  procedure_id: string;
  re_establishment_boundary: number;
  replay: Array<{ step_index: number; step: StepPayload; requires_operator: boolean }>;
  completed: boolean;
}

export interface ResumePoint {
  suggested_boundary: number;
  in_flight_step_index: number | null;
  completed_count: number;
  step_count: number;
}

export interface AppendResult {
  event_count: number;
  duplicate_count: number;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** What the watcher's fold reads of a procedure. */
export interface WatchReading {
  status: ProcedureStatus | null;
  latest_recorded_at: string | null;
}

/** The Stall episode the watcher is recording, with what its decision is built from (see the stall core's StallInput). */
export interface StallEpisode {
  status: "Running" | "Held";
  last_progress_at: string;
  window: number;
  nowMs: number;
}

/** What the object did when the watcher told it of a Stall. */
export interface StallObservation {
  /** "hold" when the object placed the `stall` claim. */
  acted: "hold" | null;
  /**
   * Why a procedure conducted with `on_stall: "hold"` was not held: `denied`
   * (the agent lacks HoldProcedure), `progressed` (the episode ended before
   * the act), or the error class of the refused hold. Null otherwise.
   */
  not_acted: string | null;
}
