// Schemas shared by several routes; each is declared once and used for both
// validation and the OpenAPI document.
import { z } from "@hono/zod-openapi";
import { HOLD_CAUSES, ON_FAILURE, PROCEDURE_STATUSES } from "../procedure/events";

export const Timestamp = z.iso.datetime({ offset: false }).openapi({ example: "2026-11-21T05:00:00.000Z" });

export const ProcedureIdParam = z.object({
  id: z.uuid().openapi({ param: { name: "id", in: "path" }, example: "01936b2e-8f0a-7c3d-9e4f-0a1b2c3d4e5f" }),
});

export const Limit = (max: number, fallback: number) =>
  z.coerce.number().int().min(1).max(max).default(fallback).openapi({ example: fallback });

export const ProcedureStatusSchema = z.enum(PROCEDURE_STATUSES);
export const HoldCauseSchema = z.enum(HOLD_CAUSES);
export const HoldClaimSchema = z.object({ claim_id: z.uuid(), cause: HoldCauseSchema });

export const ProcedureSchema = z
  .object({
    procedure_id: z.uuid(),
    name: z.string(),
    kind: z.string(),
    target_asset_ids: z.array(z.string()),
    status: ProcedureStatusSchema,
    hold_claims: z.array(HoldClaimSchema),
    activity_logbook_id: z.uuid().nullable(),
    version: z.number().int(),
    registered_at: Timestamp,
    last_status_changed_at: Timestamp.nullable(),
    last_status_reason: z.string().nullable(),
    interrupted_at: Timestamp.nullable(),
    on_failure: z.enum(ON_FAILURE),
    step_count: z.number().int().nullable().openapi({ description: "Pinned steps; null when started without conduct" }),
    completed_count: z.number().int(),
    in_flight_step_index: z.number().int().nullable(),
    last_activity_at: Timestamp.nullable(),
    replay_awaiting_operator: z
      .array(z.number().int())
      .openapi({ description: "Replay steps (action, compute) a gateway may not report before an operator's go-ahead" }),
  })
  .openapi("Procedure");

/** A JSON success response for a route's OpenAPI declaration. */
export const jsonResponse = <T extends z.ZodType>(description: string, schema: T) => ({
  description,
  content: { "application/json": { schema } },
});

/** A keyset page: `{items, next_cursor}`. */
export const pageResponse = <T extends z.ZodType>(description: string, item: T) =>
  jsonResponse(description, z.object({ items: z.array(item), next_cursor: z.string().nullable() }));

export const procedureResponse = (description: string) => jsonResponse(description, ProcedureSchema);

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { "application/json": { schema } },
});

export const BEARER = [{ bearer: [] }];
