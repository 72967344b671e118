// The activity logbook over HTTP: gateways post entries, readers page them.
import { createRoute, z } from "@hono/zod-openapi";
import { metricsFor } from "../env";
import { JsonObject } from "../json";
import { MAX_ENTRY_PAYLOAD_BYTES } from "../procedure/activity";
import { createRouter } from "./app";
import { requires } from "./auth";
import { problemResponses, ProblemError } from "./problem";
import { actorOf, procedureObject, unwrap } from "./procedure-stub";
import { MAX_ENTRIES_PER_BATCH } from "../vocabulary";
import { BEARER, InputTimestamp, Limit, ProcedureIdParam, Timestamp, UuidV7, jsonBody, jsonResponse, pageResponse } from "./schemas";


const EntrySchema = z
  .strictObject({
    event_id: UuidV7.openapi({ description: "The gateway's UUIDv7; entries are deduplicated on it" }),
    step_kind: z.string().min(1).max(50),
    payload: JsonObject.openapi({
      description: `For a conducted procedure: \`{step_index, result: in_flight | ok | failed, error_class?, message?, ...}\`. At most ${MAX_ENTRY_PAYLOAD_BYTES} bytes serialized (413 \`ActivityEntryTooLarge\`).`,
    }),
    sampled_at: InputTimestamp.openapi({ description: "When the gateway says it happened (not trusted for liveness)" }),
    occurred_at: InputTimestamp.optional(),
  })
  .openapi("ActivityEntryInput");

const RecordedEntrySchema = z
  .object({
    event_id: z.uuid(),
    step_kind: z.string(),
    payload: z.record(z.string(), z.unknown()),
    sampled_at: Timestamp,
    occurred_at: Timestamp,
    recorded_at: Timestamp.openapi({ description: "Set by the service when it stored the entry" }),
    principal_id: z.string(),
  })
  .openapi("ActivityEntry");

const append = createRoute({
  method: "post",
  path: "/v1/procedures/{id}/activities",
  operationId: "appendActivities",
  summary: "Append activity entries (1-500)",
  description:
    "Only a Running procedure accepts entries (409 `ProcedureStepsLogbookClosed`). Step entries are validated against the pinned manifest; a refused batch writes nothing. An `event_id` already recorded is a duplicate when its entry is repeated exactly, and 422 `ActivityEventIdReused` when it names a different entry.",
  security: BEARER,
  middleware: [requires("AppendProcedureActivities")],
  request: {
    params: ProcedureIdParam,
    body: jsonBody(z.strictObject({ entries: z.array(EntrySchema).min(1).max(MAX_ENTRIES_PER_BATCH) }).openapi("AppendActivities")),
  },
  responses: {
    200: jsonResponse("How many entries were new and how many were already recorded", z.object({ event_count: z.number().int(), duplicate_count: z.number().int() })),
    ...problemResponses(400, 401, 403, 404, 409, 413, 415, 422),
  },
});

const page = createRoute({
  method: "get",
  path: "/v1/procedures/{id}/activities",
  operationId: "pageActivities",
  summary: "Page the activity logbook, newest first",
  description: "A page holds at most `limit` entries and stops early, after at least one entry, once its entries reach about 1 MiB; `next_cursor` continues after the last entry returned.",
  security: BEARER,
  middleware: [requires("ReadProcedureActivities")],
  request: {
    params: ProcedureIdParam,
    query: z.strictObject({ cursor: z.string().regex(/^\d+$/).optional(), limit: Limit(500, 100) }),
  },
  responses: {
    200: pageResponse("A page of entries", RecordedEntrySchema),
    ...problemResponses(400, 401, 403, 404, 503),
  },
});

export const activityRoutes = createRouter()
  .openapi(append, async (c) => {
    const { id } = c.req.valid("param");
    const { entries } = c.req.valid("json");
    const appended = await unwrap(procedureObject(c.env, id).appendActivities(entries, actorOf(c)));
    metricsFor(c.env).write({ kind: "activity", procedure_id: id, accepted: appended.event_count, duplicates: appended.duplicate_count });
    return c.json(appended, 200);
  })
  .openapi(page, async (c) => {
    const { id } = c.req.valid("param");
    const { cursor, limit } = c.req.valid("query");
    const before = cursor === undefined ? null : Number(cursor);
    if (before !== null && !Number.isSafeInteger(before)) throw new ProblemError("InvalidCursor", "the cursor is not one this service issued");
    return c.json(await unwrap(procedureObject(c.env, id).activities(before, limit, actorOf(c))), 200);
  });
