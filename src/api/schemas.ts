// Schemas shared by several routes; each is declared once and used for both
// validation and the OpenAPI document.
import { z } from "@hono/zod-openapi";
import { HOLD_CAUSES, ON_FAILURE, ON_STALL, PROCEDURE_STATUSES, REQUESTED_HOLD_CAUSES } from "../procedure/events";

export const Timestamp = z.iso.datetime({ offset: false }).openapi({ example: "2026-11-21T05:00:00.000Z" });

export const ProcedureIdParam = z.object({
  id: z.uuid().openapi({ param: { name: "id", in: "path" }, example: "01936b2e-8f0a-7c3d-9e4f-0a1b2c3d4e5f" }),
});

/** The years an input time may fall in: anything outside is a broken clock or a typo, not a lab's record. */
export const INPUT_YEARS = { from: 1970, to: 2099 } as const;

/** A time a client sends: UTC with `Z`, seconds required, within `INPUT_YEARS`. */
export const InputTimestamp = z.iso
  .datetime({ offset: false })
  .refine((at) => at >= `${INPUT_YEARS.from}` && at < `${INPUT_YEARS.to + 1}`, {
    message: `must fall in the years ${INPUT_YEARS.from} to ${INPUT_YEARS.to}`,
  })
  .openapi({
    example: "2026-11-21T05:00:00.000Z",
    pattern: "^(19[7-9][0-9]|20[0-9]{2})-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$",
  });

/** A UUIDv7, documented with the pattern the check applies. */
export const UuidV7 = z.uuid({ version: "v7" }).openapi({
  pattern: "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-7[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$",
});

/**
 * Free text that must say something: the check and the document agree (a non-space
 * character, at most `max` characters as sent); the value is stored trimmed.
 */
export const Text = (max: number) =>
  z.string().max(max).regex(/\S/, "must contain a non-space character").trim();

/** An integer in a JSON body, with the bounds the document shows. */
export const Int = (min: number, max: number) => z.int().min(min).max(max);

/**
 * An integer in a query string: plain decimal digits only (no sign, exponent, hex, spaces or
 * leading zeros), documented as the integer it is.
 */
export const QueryInt = (min: number, max: number, fallback: number) =>
  z
    .string()
    .regex(/^(0|[1-9][0-9]{0,15})$/, "must be a decimal integer")
    .transform(Number)
    .pipe(z.int().min(min).max(max))
    .default(fallback)
    .openapi({ type: "integer", minimum: min, maximum: max, default: fallback });

export const Limit = (max: number, fallback: number) => QueryInt(1, max, fallback);

export const ProcedureStatusSchema = z.enum(PROCEDURE_STATUSES);
export const HoldCauseSchema = z.enum(HOLD_CAUSES);
/** The causes a hold request may name: `stall` is the watcher's alone. */
export const RequestedHoldCauseSchema = z.enum(REQUESTED_HOLD_CAUSES);
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
    stale_after_seconds: z
      .number()
      .int()
      .nullable()
      .openapi({ description: "The procedure's own stall window for Running, set by its conduct; null: the watcher's STALE_AFTER_SECONDS" }),
    on_stall: z
      .enum(ON_STALL)
      .openapi({ description: "What the watcher does when it records a Stall of this procedure while Running: `flag` (the decision only) or `hold` (also a hold claim with cause `stall`)" }),
    open_stall_decision_id: z
      .uuid()
      .nullable()
      .openapi({ description: "The Stall decision of the current episode; null once the procedure progressed (a transition other than the watcher's own hold, or new activity)" }),
    step_count: z.number().int().nullable().openapi({ description: "Pinned steps; null when started without conduct" }),
    completed_count: z.number().int(),
    in_flight_step_index: z.number().int().nullable(),
    last_activity_at: Timestamp.nullable(),
    replay_boundary: z
      .number()
      .int()
      .nullable()
      .openapi({ description: "The boundary of the replay in progress (the step a gateway resumes from); null unless Running in a replay" }),
    replay_awaiting_operator: z
      .array(z.number().int())
      .openapi({ description: "Replay steps (action, compute) a gateway may not report before an operator's go-ahead" }),
    archived_at: Timestamp.nullable().openapi({ description: "When the procedure was archived (its reads answer from the archive, its commands 409 ProcedureArchived); null while live" }),
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

/**
 * The operations on one procedure, which a response holding that procedure
 * links to (OpenAPI links): a client, or a stateful fuzzer, follows its
 * `procedure_id` from one to the next. Not the manifest and the resume point:
 * those exist only once a conduct pinned steps.
 */
const PROCEDURE_OPERATIONS = [
  "readProcedure",
  "readProcedureEvents",
  "startProcedure",
  "conductProcedure",
  "holdProcedure",
  "resumeProcedure",
  "completeProcedure",
  "abortProcedure",
  "truncateProcedure",
  "conductProcedureFrom",
  "authorizeReplayStep",
  "appendActivities",
  "pageActivities",
  "exportProcedure",
  "issueStreamTicket",
  "streamProcedure",
] as const;

const procedureLinks = Object.fromEntries(
  PROCEDURE_OPERATIONS.map((operationId) => [operationId, { operationId, parameters: { id: "$response.body#/procedure_id" } }]),
);

export const procedureResponse = (description: string) => ({ ...jsonResponse(description, ProcedureSchema), links: procedureLinks });

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { "application/json": { schema } },
});

export const BEARER = [{ bearer: [] }];
/** For routes anyone may call. */
export const PUBLIC: Array<Record<string, string[]>> = [];
