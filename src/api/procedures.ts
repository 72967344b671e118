// Procedure registration, listing, reads and the lifecycle commands.
import { createRoute, z } from "@hono/zod-openapi";
import { mayRegister, type CommandName } from "../auth/grants";
import { claimIdempotencyKey } from "../db/idempotency";
import { listSummaries } from "../db/summaries";
import { sha256Hex } from "../encoding";
import { listedAsStalled } from "../watcher/act";
import { MAX_RESOLVED_STEPS } from "../conduct/resolve";
import { uuidv7 } from "../ids";
import type { ProcedureCommand } from "../procedure/decide";
import { ArchiveMissing, archiveUnavailable } from "../procedure/object/archive";
import type { ExportCursor, ExportPage } from "../procedure/object/export";
import { createRouter, type AppEnv } from "./app";
import { requires } from "./auth";
import { problemResponses, ProblemError } from "./problem";
import { decodeCursor, encodeCursor } from "./cursor";
import { actorOf, procedureObject, unwrap } from "./procedure-stub";
import { BEARER, HoldCauseSchema, InputTimestamp, RequestedHoldCauseSchema, Int, Limit, ProcedureIdParam, ProcedureStatusSchema, QueryInt, Text, Timestamp, UuidV7, jsonBody, pageResponse, procedureResponse } from "./schemas";
import type { Context } from "hono";

const RegisterBody = z
  .strictObject({
    name: Text(200),
    kind: Text(50),
    target_asset_ids: z.array(z.string().min(1).max(200)).max(100),
  })
  .openapi("RegisterProcedure");

const SummarySchema = z
  .object({
    procedure_id: z.uuid(),
    name: z.string(),
    kind: z.string(),
    target_asset_ids: z.array(z.string()),
    status: z.string(),
    activity_logbook_id: z.string().nullable(),
    registered_at: Timestamp,
    last_status_changed_at: Timestamp.nullable(),
    last_status_reason: z.string().nullable(),
    interrupted_at: Timestamp.nullable(),
    hold_causes: z.array(z.string()),
    stale_after_seconds: z.number().int().nullable().openapi({ description: "The procedure's own stall window for Running, if its conduct set one" }),
    step_count: z.number().int().nullable().openapi({ description: "Pinned steps; null when not conducted" }),
    completed_count: z.number().int().openapi({ description: "Steps reported done: a coarse mirror like last_activity_at" }),
    stalled: z.boolean().openapi({
      description:
        "The watcher recorded a Stall decision for the current episode and nothing progressed since, or it holds the procedure for that stall (until an operator resumes it)",
    }),
    version: z.number().int(),
    last_activity_at: Timestamp.nullable().openapi({ description: "Coarse mirror: may lag the procedure's own value" }),
    updated_at: Timestamp,
    archived_at: Timestamp.nullable().openapi({ description: "When the procedure was archived; null while live" }),
  })
  .openapi("ProcedureSummary");

const EventSchema = z
  .object({
    version: z.number().int(),
    type: z.string(),
    payload: z.record(z.string(), z.unknown()),
    occurred_at: Timestamp,
    event_id: UuidV7,
    principal_id: z.string(),
    correlation_id: z.string(),
  })
  .openapi("ProcedureEvent");

const register = createRoute({
  method: "post",
  path: "/v1/procedures",
  operationId: "registerProcedure",
  summary: "Register a procedure",
  description: "Creates a Defined procedure. With an `Idempotency-Key`, a retry by the same principal returns the same procedure.",
  security: BEARER,
  middleware: [requires("RegisterProcedure")],
  request: {
    headers: z.object({ "idempotency-key": z.string().min(1).max(200).optional() }),
    body: jsonBody(RegisterBody),
  },
  responses: {
    201: procedureResponse("The registered procedure"),
    ...problemResponses(400, 401, 403, 413, 415, 422),
  },
});

const list = createRoute({
  method: "get",
  path: "/v1/procedures",
  operationId: "listProcedures",
  summary: "List procedures",
  description:
    "Keyset pages from the projection, ordered by (registered_at, procedure_id): oldest first unless `order` says otherwise. " +
    "`kind` and `target_asset_id` match case-insensitively; `q` finds procedures whose name or kind has a word beginning with each of its words.",
  security: BEARER,
  middleware: [requires("ListProcedures")],
  request: {
    query: z.strictObject({
      status: ProcedureStatusSchema.optional(),
      kind: z.string().min(1).max(50).optional(),
      target_asset_id: z.string().min(1).max(200).optional(),
      q: z.string().min(1).max(200).optional().openapi({ description: "Search: each word must begin a word of the name or the kind (case-insensitive)" }),
      order: z
        .enum(["oldest", "newest", "attention"])
        .default("oldest")
        .openapi({ description: "`oldest` (the default) or `newest` by registration; `attention`: Held and stalled first, then Running, then the rest, each newest first" }),
      cursor: z.string().max(500).optional(),
      limit: Limit(100, 50),
    }),
  },
  responses: {
    200: pageResponse("A page of procedure summaries", SummarySchema),
    ...problemResponses(400, 401, 403),
  },
});

const read = createRoute({
  method: "get",
  path: "/v1/procedures/{id}",
  operationId: "readProcedure",
  summary: "Read a procedure",
  description: "The procedure's state, read from its own object.",
  security: BEARER,
  middleware: [requires("ReadProcedure")],
  request: { params: ProcedureIdParam },
  responses: { 200: procedureResponse("The procedure"), ...problemResponses(400, 401, 403, 404) },
});

const events = createRoute({
  method: "get",
  path: "/v1/procedures/{id}/events",
  operationId: "readProcedureEvents",
  summary: "Read a procedure's event log",
  security: BEARER,
  middleware: [requires("ReadProcedureEvents")],
  request: {
    params: ProcedureIdParam,
    query: z.strictObject({
      after: QueryInt(0, Number.MAX_SAFE_INTEGER, 0).openapi({ description: "Return events after this version" }),
      limit: Limit(500, 100),
    }),
  },
  responses: {
    200: pageResponse("A page of events in version order", EventSchema),
    ...problemResponses(400, 401, 403, 404, 503),
  },
});

const exportRoute = createRoute({
  method: "get",
  path: "/v1/procedures/{id}/export",
  operationId: "exportProcedure",
  summary: "Export a procedure's whole record (JSON Lines)",
  description: [
    "The procedure's whole record as JSON Lines (`application/x-ndjson`), streamed: one object per line, each with a `record` field.",
    "First `{\"record\":\"state\",...}` (the state as GET /v1/procedures/{id} shows it), then every event in version order",
    "(`record: \"event\"`, as /events shows it), then the pinned manifest if there is one (`record: \"manifest\"`, as /manifest shows it),",
    "then every logbook entry in the order it was recorded (`record: \"activity\"`, as /activities shows it).",
    "The record ends where it stood when the export began. The same lines are what an archived procedure's file holds.",
  ].join(" "),
  security: BEARER,
  middleware: [requires("ReadProcedure", "ReadProcedureEvents", "ReadProcedureManifest", "ReadProcedureActivities")],
  request: { params: ProcedureIdParam },
  responses: {
    200: {
      description: "The record, one JSON object per line",
      content: {
        "application/x-ndjson": {
          schema: z.string().openapi({ example: '{"record":"state","procedure_id":"…","status":"Completed",…}\n{"record":"event","version":1,"type":"ProcedureRegistered",…}\n' }),
        },
      },
    },
    ...problemResponses(400, 401, 403, 404, 503),
  },
});

/** Streams an export, pulling one page from the object each time the reader wants more, so memory stays bounded. */
function exportBody(first: ExportPage, next: (cursor: ExportCursor) => Promise<ExportPage>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let page: ExportPage | null = first;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (page === null) return controller.close();
        const { lines, next: cursor } = page;
        page = null;
        controller.enqueue(encoder.encode(lines.map((line) => `${line}\n`).join("")));
        if (cursor === null) return controller.close();
        page = await next(cursor);
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * An archived procedure's export: its state line (with `archived_at`), then
 * the file's own lines after its first, decompressed as the reader pulls them.
 */
async function archivedExportBody(bucket: R2Bucket, first: ExportPage): Promise<ReadableStream<Uint8Array>> {
  const object = await bucket.get(first.archive_key!);
  if (!object) throw new ProblemError("ArchiveUnavailable", archiveUnavailable(new ArchiveMissing(first.archive_key!).message));
  const head = new TextEncoder().encode(first.lines.map((line) => `${line}\n`).join(""));
  let skipping = true;
  const afterFirstLine = new TransformStream<Uint8Array, Uint8Array>({
    start(controller) {
      controller.enqueue(head);
    },
    transform(chunk, controller) {
      if (!skipping) return controller.enqueue(chunk);
      const end = chunk.indexOf(0x0a);
      if (end < 0) return;
      skipping = false;
      if (end + 1 < chunk.byteLength) controller.enqueue(chunk.subarray(end + 1));
    },
  });
  return object.body.pipeThrough(new DecompressionStream("gzip")).pipeThrough(afterFirstLine);
}


const SummaryCursorSchema = z.object({
  order: z.enum(["oldest", "newest", "attention"]),
  registered_at: z.string(),
  procedure_id: z.string(),
  attention: z.number().int().min(0).max(2).optional(),
});

/** A fresh id, or under an Idempotency-Key the id its first use claimed. */
async function procedureIdFor(c: Context<AppEnv>, body: z.infer<typeof RegisterBody>, key: string | undefined) {
  const actor = actorOf(c);
  if (key === undefined) return uuidv7();
  const requestHash = await sha256Hex(JSON.stringify(body));
  const principalId = actor.principal_id;
  const claim = { principal_id: principalId, idempotency_key: key, procedure_id: uuidv7(), request_hash: requestHash, created_at: new Date().toISOString() };
  const winner = await claimIdempotencyKey(c.var.db, claim);
  if (winner.request_hash !== requestHash) {
    throw new ProblemError("IdempotencyKeyReused", "this Idempotency-Key was used with a different request body");
  }
  return winner.procedure_id;
}

type LifecycleSpec = {
  path: string;
  operationId: string;
  command: CommandName & ProcedureCommand["type"];
  summary: string;
  body?: z.ZodType;
  toCommand: (body: any, now: string) => ProcedureCommand;
};

const Reason = Text(500);
const Boundary = Int(0, MAX_RESOLVED_STEPS);

const LIFECYCLE: LifecycleSpec[] = [
  {
    path: "start",
    operationId: "startProcedure",
    command: "StartProcedure",
    summary: "Start a procedure without conduct (its logbook is free-form)",
    toCommand: () => ({ type: "StartProcedure", on_failure: "abort" }),
  },
  {
    path: "hold",
    operationId: "holdProcedure",
    command: "HoldProcedure",
    summary: "Hold a Running or Held procedure (adds one claim)",
    body: z.strictObject({ reason: Reason, cause: RequestedHoldCauseSchema.default("operator") }).openapi("HoldProcedure"),
    toCommand: (b) => ({ type: "HoldProcedure", reason: b.reason, cause: b.cause }),
  },
  {
    path: "resume",
    operationId: "resumeProcedure",
    command: "ResumeProcedure",
    summary: "Resume a Held procedure (releases the caller's claim)",
    body: z
      .strictObject({ re_establishment_boundary: Boundary, cause: HoldCauseSchema.default("operator") })
      .openapi("ResumeProcedure"),
    toCommand: (b) => ({ type: "ResumeProcedure", re_establishment_boundary: b.re_establishment_boundary, cause: b.cause }),
  },
  {
    path: "complete",
    operationId: "completeProcedure",
    command: "CompleteProcedure",
    summary: "Complete a Running procedure",
    toCommand: () => ({ type: "CompleteProcedure" }),
  },
  {
    path: "abort",
    operationId: "abortProcedure",
    command: "AbortProcedure",
    summary: "Abort a Running or Held procedure",
    body: z.strictObject({ reason: Reason }).openapi("AbortProcedure"),
    toCommand: (b) => ({ type: "AbortProcedure", reason: b.reason }),
  },
  {
    path: "truncate",
    operationId: "truncateProcedure",
    command: "TruncateProcedure",
    summary: "Truncate a Running or Held procedure",
    body: z.strictObject({ reason: Reason, interrupted_at: InputTimestamp.nullable().optional() }).openapi("TruncateProcedure"),
    toCommand: (b) => ({
      type: "TruncateProcedure",
      reason: b.reason,
      interrupted_at: b.interrupted_at ? new Date(b.interrupted_at).toISOString() : null,
    }),
  },
];

export const procedures = createRouter()
  .openapi(register, async (c) => {
    const body = c.req.valid("json");
    const key = c.req.valid("header")["idempotency-key"];
    if (!mayRegister(c.var.principal.scopes, body.target_asset_ids)) {
      throw new ProblemError("Forbidden", "a scoped principal registers procedures only on assets within its scopes");
    }
    const id = await procedureIdFor(c, body, key);
    const stub = procedureObject(c.env, id);
    const outcome = await stub.register(id, body, actorOf(c));
    // Under a key the id is this request's alone, so "already exists" means an
    // earlier (or concurrent) attempt of the same request registered it.
    const replayed = !outcome.ok && key !== undefined && outcome.refusal.error_class === "ProcedureAlreadyExists";
    const view = replayed ? await unwrap(stub.read(actorOf(c))) : await unwrap(outcome);
    c.header("location", `/v1/procedures/${id}`);
    return c.json(view, 201);
  })
  .openapi(list, async (c) => {
    const { cursor, limit, order, ...filter } = c.req.valid("query");
    const after = cursor === undefined ? null : decodeCursor(cursor, SummaryCursorSchema);
    // A cursor continues the order it was issued for, or none.
    if (after !== null && after.order !== order) throw new ProblemError("InvalidCursor", `the cursor continues order=${after.order}, not order=${order}`);
    const page = await listSummaries(c.var.db, { ...filter, scopes: c.var.principal.scopes }, after, limit, order);
    const items = page.rows.map(({ progress_at: _p, watch_window: _w, stall_due_at: _d, stall_flagged_at: _s, attention: _a, archive_requested_at: _r, stalled, ...row }) => ({
      ...row,
      stalled: listedAsStalled({ ...row, stalled }),
    }));
    const next_cursor = page.next && encodeCursor({ order, ...page.next });
    return c.json({ items, next_cursor }, 200);
  })
  .openapi(read, async (c) => {
    const { id } = c.req.valid("param");
    return c.json(await unwrap(procedureObject(c.env, id).read(actorOf(c))), 200);
  })
  .openapi(exportRoute, async (c) => {
    const { id } = c.req.valid("param");
    const stub = procedureObject(c.env, id);
    const actor = actorOf(c);
    // The first page is read before answering, so a refusal is still a problem document.
    const first = await unwrap(stub.exportPage(null, actor));
    const body = first.archive_key
      ? await archivedExportBody(c.env.ARCHIVE, first)
      : exportBody(first, (cursor) => unwrap(stub.exportPage(cursor, actor)));
    // A plain Response: the OpenAPI types cannot name a streamed body.
    return new Response(body, { status: 200, headers: { "content-type": "application/x-ndjson" } }) as never;
  })
  .openapi(events, async (c) => {
    const { id } = c.req.valid("param");
    const { after, limit } = c.req.valid("query");
    return c.json(await unwrap(procedureObject(c.env, id).events(after, limit, actorOf(c))), 200);
  });

for (const spec of LIFECYCLE) {
  const route = createRoute({
    method: "post",
    path: `/v1/procedures/{id}/${spec.path}`,
    operationId: spec.operationId,
    summary: spec.summary,
    security: BEARER,
    middleware: [requires(spec.command)],
    request: { params: ProcedureIdParam, ...(spec.body ? { body: jsonBody(spec.body) } : {}) },
    responses: {
      200: procedureResponse("The procedure's state after the command"),
      ...problemResponses(400, 401, 403, 404, 409, ...(spec.body ? [413, 415] : [])),
    },
  });
  procedures.openapi(route, async (c) => {
    const { id } = c.req.valid("param");
    const body = spec.body ? (c.req.valid("json" as never) as unknown) : undefined;
    const command = spec.toCommand(body, new Date().toISOString());
    return c.json(await unwrap(procedureObject(c.env, id).command(command, actorOf(c))), 200);
  });
}
