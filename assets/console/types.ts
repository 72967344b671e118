// The shapes the console reads, as /openapi.json describes them (the fields it uses).

import type { ProcedureStatus } from "../../src/vocabulary";
import type { components } from "../../clients/typescript/src/openapi";
export { PROCEDURE_STATUSES as STATUSES } from "../../src/vocabulary";
export type Status = ProcedureStatus;

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Me {
  principal_id: string;
  name: string;
  roles: string[];
  /** Null: every procedure. A scoped principal may not run the commands that reach every scope. */
  scopes: { target_asset_ids: string[] } | null;
}

export interface ProcedureSummary {
  procedure_id: string;
  name: string;
  kind: string;
  target_asset_ids: string[];
  status: Status;
  hold_causes: string[];
  version: number;
  registered_at: string;
  last_status_changed_at: string | null;
  step_count: number | null;
  completed_count: number;
  /** When the procedure was archived (its reads answer from the archive, its commands are refused); null while live. */
  archived_at: string | null;
}

/** A list row: the summary plus the projection's stall flag. */
export interface ProcedureListRow extends ProcedureSummary {
  stalled: boolean;
}

export interface Procedure extends ProcedureSummary {
  hold_claims: Array<{ claim_id: string; cause: string }>;
  last_status_reason: string | null;
  in_flight_step_index: number | null;
  last_activity_at: string | null;
  replay_awaiting_operator: number[];
  on_stall: "flag" | "hold";
  /** The Stall decision of the current episode; null once the procedure progressed. */
  open_stall_decision_id: string | null;
}

export type Step =
  | { kind: "setpoint"; address: string; value: number; verify: boolean }
  | { kind: "action"; name: string; params: Record<string, unknown> }
  | { kind: "check"; address: string; criterion: { kind: string; expected: unknown; tolerance?: number } }
  | { kind: "capture"; address: string; capture_name: string }
  | { kind: "compute"; command: string[]; capture_name?: string };

export interface Manifest {
  resolved_steps: Step[];
  resolved_closing_steps: Step[];
  step_count: number;
}

export interface ResumePoint {
  suggested_boundary: number;
  in_flight_step_index: number | null;
  completed_count: number;
  step_count: number;
}

export interface ProcedureEvent {
  version: number;
  type: string;
  payload: Record<string, unknown>;
  occurred_at: string;
  principal_id: string;
}

export interface ActivityEntry {
  event_id: string;
  step_kind: string;
  payload: Record<string, unknown>;
  recorded_at: string;
  principal_id: string;
}

export interface Decision {
  id: string;
  choice: string;
  inputs?: Record<string, unknown>;
  subject_id: string;
  reasoning: string;
  recorded_at: string;
}

export interface WatcherStatus {
  enabled: boolean;
  stale_after_seconds: number;
  held_stale_after_seconds: number;
  agent: { actor_id: string; kind: string; rule: string; present: boolean; active: boolean; authorized: boolean };
  denied_since: string | null;
  last_tick: null | {
    started_at: string;
    duration_ms: number;
    outcome: string;
    candidates: number;
    flagged: number;
    pages: number;
  };
  recent_ticks: RecentTick[];
}

export { EVENT_TYPES } from "../../src/notify/event-types";

/**
 * The shapes below are the API's own, from the OpenAPI document the
 * TypeScript client is generated from: the console never keeps a copy that
 * could drift from what the service answers.
 */
type Schemas = components["schemas"];
export type RecentTick = Schemas["WatcherRecentTick"];
export type DeliveryRecord = Schemas["DeliveryRecord"];
export type Refusals = Schemas["Refusals"];
export type Subscription = Schemas["Subscription"];
export type Delivery = Schemas["Delivery"];
