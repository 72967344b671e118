// Decisions over HTTP: read-only, since only the watcher records them.
import { createRoute, z } from "@hono/zod-openapi";
import { findDecision, listDecisions } from "../db/decisions";
import { DECISION_CHOICES, DECISION_CONTEXTS } from "../decisions/vocabulary";
import { createRouter } from "./app";
import { requires } from "./auth";
import { ProblemError, problemResponses } from "./problem";
import { decodeCursor, encodeCursor } from "./cursor";
import { BEARER, Limit, Timestamp, jsonResponse, pageResponse } from "./schemas";

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
  operationId: "listDecisions",
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
    200: pageResponse("A page of decisions", DecisionSchema),
    ...problemResponses(400, 401, 403),
  },
});

const read = createRoute({
  method: "get",
  path: "/v1/decisions/{id}",
  operationId: "readDecision",
  summary: "Read a decision",
  security: BEARER,
  middleware: [requires("ReadDecision")],
  request: { params: z.object({ id: z.uuid().openapi({ param: { name: "id", in: "path" } }) }) },
  responses: {
    200: jsonResponse("The decision", DecisionSchema),
    ...problemResponses(400, 401, 403, 404),
  },
});

const DecisionCursorSchema = z.object({ recorded_at: z.string(), id: z.string() });

export const decisionRoutes = createRouter()
  .openapi(list, async (c) => {
    const { cursor, limit, ...filter } = c.req.valid("query");
    const before = cursor === undefined ? null : decodeCursor(cursor, DecisionCursorSchema);
    const page = await listDecisions(c.var.db, { ...filter, scopes: c.var.principal.scopes }, before, limit);
    const next_cursor = page.next && encodeCursor(page.next);
    return c.json({ items: page.rows.map((row) => DecisionSchema.parse(row)), next_cursor }, 200);
  })
  .openapi(read, async (c) => {
    const { id } = c.req.valid("param");
    const found = await findDecision(c.var.db, id, c.var.principal.scopes);
    if (!found) throw new ProblemError("DecisionNotFound", `decision ${id} does not exist`);
    return c.json(DecisionSchema.parse(found), 200);
  });
