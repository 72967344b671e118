// Decisions over HTTP (read-only: only the watcher records them) and the
// watcher's own status.
import { createRoute, z } from "@hono/zod-openapi";
import { findActor } from "../db/actors";
import { findDecision, listDecisions, type DecisionCursor } from "../db/decisions";
import { readWatcherState } from "../db/watcher-state";
import { DECISION_CHOICES, DECISION_CONTEXTS } from "../decisions/vocabulary";
import { isAuthorized } from "../auth/grants";
import { principalById } from "../auth/principals";
import { WATCHER_AGENT } from "../watcher/stall";
import { createRouter } from "./app";
import { requires } from "./auth";
import { ProblemError, problemResponses } from "./problem";
import { decodeCursor, encodeCursor } from "./procedure-stub";
import { BEARER, Limit, Timestamp } from "./schemas";

const DecisionSchema = z
  .object({
    id: z.uuid(),
    context: z.enum(DECISION_CONTEXTS as [string, ...string[]]),
    choice: z.enum(DECISION_CHOICES as [string, ...string[]]),
    decided_by: z.string(),
    rule: z.string(),
    subject_id: z.string(),
    reasoning: z.string(),
    inputs: z.record(z.string(), z.unknown()),
    confidence_source: z.literal("self_reported"),
    parent_id: z.string().nullable(),
    override_kind: z.string().nullable(),
    recorded_at: Timestamp,
  })
  .openapi("Decision");

const list = createRoute({
  method: "get",
  path: "/v1/decisions",
  summary: "List decisions, newest first",
  security: BEARER,
  middleware: [requires("ListDecisions")],
  request: {
    query: z.strictObject({
      context: z.enum(DECISION_CONTEXTS as [string, ...string[]]).optional(),
      choice: z.enum(DECISION_CHOICES as [string, ...string[]]).optional(),
      subject_id: z.string().min(1).max(200).optional(),
      cursor: z.string().max(500).optional(),
      limit: Limit(100, 50),
    }),
  },
  responses: {
    200: {
      description: "A page of decisions",
      content: { "application/json": { schema: z.object({ items: z.array(DecisionSchema), next_cursor: z.string().nullable() }) } },
    },
    ...problemResponses(400, 401, 403),
  },
});

const read = createRoute({
  method: "get",
  path: "/v1/decisions/{id}",
  summary: "Read a decision",
  security: BEARER,
  middleware: [requires("ReadDecision")],
  request: { params: z.object({ id: z.uuid().openapi({ param: { name: "id", in: "path" } }) }) },
  responses: {
    200: { description: "The decision", content: { "application/json": { schema: DecisionSchema } } },
    ...problemResponses(400, 401, 403, 404),
  },
});

const TickSchema = z
  .object({
    started_at: Timestamp,
    duration_ms: z.number(),
    outcome: z.enum(["disabled", "agent-missing", "agent-inactive", "denied", "ran"]),
    candidates: z.number().int(),
    rescued: z.number().int(),
    deferred: z.number().int(),
    flagged: z.number().int(),
    already_flagged: z.number().int().optional(),
    pages: z.number().int(),
    rows_read: z.number().int().optional(),
  })
  .openapi("WatcherTick");

const watcher = createRoute({
  method: "get",
  path: "/v1/watcher",
  summary: "The stall watcher's configuration, agent and last tick",
  security: BEARER,
  middleware: [requires("ReadWatcher")],
  responses: {
    200: {
      description: "The watcher's status",
      content: {
        "application/json": {
          schema: z
            .object({
              enabled: z.boolean(),
              stale_after_seconds: z.number().int(),
              held_stale_after_seconds: z.number().int(),
              agent: z.object({
                actor_id: z.string(),
                kind: z.string(),
                rule: z.string(),
                present: z.boolean(),
                active: z.boolean(),
                authorized: z.boolean(),
              }),
              denied_since: Timestamp.nullable(),
              last_tick: TickSchema.nullable(),
            })
            .openapi("Watcher"),
        },
      },
    },
    ...problemResponses(401, 403),
  },
});

function isCursor(value: unknown): value is DecisionCursor {
  const v = value as DecisionCursor;
  return typeof value === "object" && value !== null && typeof v.recorded_at === "string" && typeof v.id === "string";
}

export const decisionRoutes = createRouter()
  .openapi(list, async (c) => {
    const { cursor, limit, ...filter } = c.req.valid("query");
    const before = cursor === undefined ? null : decodeCursor(cursor, isCursor);
    const page = await listDecisions(c.var.db, filter, before, limit);
    const last = page.rows[page.rows.length - 1];
    const next_cursor = page.more && last ? encodeCursor({ recorded_at: last.recorded_at, id: last.id }) : null;
    return c.json({ items: page.rows.map((row) => DecisionSchema.parse(row)), next_cursor }, 200);
  })
  .openapi(read, async (c) => {
    const { id } = c.req.valid("param");
    const found = await findDecision(c.var.db, id);
    if (!found) throw new ProblemError(404, "DecisionNotFound", `decision ${id} does not exist`);
    return c.json(DecisionSchema.parse(found), 200);
  })
  .openapi(watcher, async (c) => {
    const { watcher: config } = c.var.config;
    const [actor, principal, memory] = await Promise.all([
      findActor(c.var.db, WATCHER_AGENT.id),
      principalById(c.var.db, WATCHER_AGENT.id),
      readWatcherState(c.var.db),
    ]);
    return c.json(
      {
        enabled: config.enabled,
        stale_after_seconds: config.staleAfterSeconds,
        held_stale_after_seconds: config.heldStaleAfterSeconds,
        agent: {
          actor_id: WATCHER_AGENT.id,
          kind: WATCHER_AGENT.name,
          rule: WATCHER_AGENT.rule,
          present: actor !== null,
          active: actor?.active ?? false,
          authorized: principal !== null && isAuthorized(principal, "ListProcedures"),
        },
        denied_since: memory.denied_since,
        last_tick: memory.last_tick,
      },
      200,
    );
  });
