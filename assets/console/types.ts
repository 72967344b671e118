// The shapes the console reads, as /openapi.json describes them.

import type { ProcedureStatus } from "../../src/vocabulary";
import type { components } from "../../clients/typescript/src/openapi";
export { PROCEDURE_STATUSES as STATUSES } from "../../src/vocabulary";
export { EVENT_TYPES } from "../../src/notify/event-types";
export type Status = ProcedureStatus;

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/**
 * The shapes below are the API's own, from the OpenAPI document the
 * TypeScript client is generated from: the console never keeps a copy that
 * could drift from what the service answers. The document types a status as
 * a string; the console reads it as one of the statuses it knows.
 */
type Schemas = components["schemas"];
type WithStatus<T> = Omit<T, "status"> & { status: Status };
export type Me = Schemas["Me"];
export type ProcedureListRow = WithStatus<Schemas["ProcedureSummary"]>;
export type Procedure = WithStatus<Schemas["Procedure"]>;
export type Step = Schemas["Step"];
export type Manifest = Schemas["Manifest"];
export type ResumePoint = Schemas["ResumePoint"];
export type ProcedureEvent = Schemas["ProcedureEvent"];
export type ActivityEntry = Schemas["ActivityEntry"];
export type Decision = Schemas["Decision"];
export type WatcherStatus = Schemas["Watcher"];
export type StreamTicket = Schemas["StreamTicket"];
export type ConductPreview = Schemas["ConductPreview"];
/** A listed template; the listing leaves its conduct open, and it holds what the template's definition took. */
export type Template = Omit<Schemas["Template"], "conduct"> & { conduct: Schemas["TemplateDefinition"]["conduct"] };
export type ErrorClass = Schemas["Problem"]["error_class"];
export type DeliveryRecord = Schemas["DeliveryRecord"];
export type Refusals = Schemas["Refusals"];
export type Subscription = Schemas["Subscription"];
export type Delivery = Schemas["Delivery"];
