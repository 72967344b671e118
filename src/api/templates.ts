// Templates: a conduct request saved under a name, so a lab starts the same
// procedure the same way. Saved as requested (unresolved): a procedure
// conducted from one resolves it then, with the pseudoaxes of that day.
import { createRoute, z } from "@hono/zod-openapi";
import { ConductRequestSchema } from "../conduct/steps";
import { deleteTemplate, findTemplate, listTemplates, saveTemplate, type TemplateRecord } from "../db/templates";
import { createRouter } from "./app";
import { requires } from "./auth";
import { decodeCursor, encodeCursor } from "./cursor";
import { ProblemError, problemResponses } from "./problem";
import { BEARER, Limit, Text, Timestamp, jsonBody, jsonResponse, pageResponse } from "./schemas";

const NameParam = z.object({
  name: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9][A-Za-z0-9 _.:()-]*$/, "a letter or digit, then letters, digits, spaces and _ . : ( ) -")
    .openapi({ param: { name: "name", in: "path" }, example: "Bake-out 120C" }),
});

const TemplateBody = z
  .strictObject({
    description: Text(500).nullable().default(null),
    kind: Text(50).nullable().default(null).openapi({ description: "The kind a procedure started from it is registered with; null: chosen each time" }),
    conduct: ConductRequestSchema.openapi({ description: "The body a conduct from this template sends (POST /v1/procedures/{id}/conduct)" }),
  })
  .openapi("TemplateDefinition");

const TemplateSchema = z
  .object({
    name: z.string(),
    description: z.string().nullable(),
    kind: z.string().nullable(),
    conduct: z.record(z.string(), z.unknown()),
    updated_at: Timestamp,
    updated_by: z.string(),
  })
  .openapi("Template");

const TemplateCursorSchema = z.object({ name: z.string() });

const put = createRoute({
  method: "put",
  path: "/v1/templates/{name}",
  operationId: "saveTemplate",
  summary: "Save a conduct template under a name (creates or replaces it)",
  description: "The steps are checked as a conduct checks them (400 when malformed), not resolved: a conduct from the template resolves them, and `POST /v1/conduct-preview` shows what that gives today.",
  security: BEARER,
  middleware: [requires("SaveTemplate")],
  request: { params: NameParam, body: jsonBody(TemplateBody) },
  responses: { 200: jsonResponse("The saved template", TemplateSchema), ...problemResponses(400, 401, 403, 413, 415) },
});

const get = createRoute({
  method: "get",
  path: "/v1/templates/{name}",
  operationId: "readTemplate",
  summary: "Read a template",
  security: BEARER,
  middleware: [requires("ReadTemplate")],
  request: { params: NameParam },
  responses: { 200: jsonResponse("The template", TemplateSchema), ...problemResponses(400, 401, 403, 404) },
});

const list = createRoute({
  method: "get",
  path: "/v1/templates",
  operationId: "listTemplates",
  summary: "List templates",
  description: "Keyset pages in name order.",
  security: BEARER,
  middleware: [requires("ListTemplates")],
  request: { query: z.strictObject({ cursor: z.string().max(500).optional(), limit: Limit(100, 50) }) },
  responses: { 200: pageResponse("A page of templates", TemplateSchema), ...problemResponses(400, 401, 403) },
});

const remove = createRoute({
  method: "delete",
  path: "/v1/templates/{name}",
  operationId: "deleteTemplate",
  summary: "Delete a template (procedures conducted from it keep what they pinned)",
  security: BEARER,
  middleware: [requires("DeleteTemplate")],
  request: { params: NameParam },
  responses: { 204: { description: "Deleted" }, ...problemResponses(400, 401, 403, 404) },
});

function notFound(name: string): ProblemError {
  return new ProblemError("TemplateNotFound", `no template named ${name}`);
}

export const templateRoutes = createRouter()
  .openapi(put, async (c) => {
    const { name } = c.req.valid("param");
    const body = c.req.valid("json");
    const row: TemplateRecord = {
      name,
      description: body.description,
      kind: body.kind,
      conduct: body.conduct,
      updated_at: new Date().toISOString(),
      updated_by: c.var.principal.principal_id,
    };
    await saveTemplate(c.var.db, row);
    return c.json(row, 200);
  })
  .openapi(get, async (c) => {
    const { name } = c.req.valid("param");
    const found = await findTemplate(c.var.db, name);
    if (!found) throw notFound(name);
    return c.json(found, 200);
  })
  .openapi(list, async (c) => {
    const { cursor, limit } = c.req.valid("query");
    const after = cursor === undefined ? null : decodeCursor(cursor, TemplateCursorSchema).name;
    const page = await listTemplates(c.var.db, after, limit);
    return c.json({ items: page.rows, next_cursor: page.next && encodeCursor(page.next) }, 200);
  })
  .openapi(remove, async (c) => {
    const { name } = c.req.valid("param");
    if (!(await deleteTemplate(c.var.db, name))) throw notFound(name);
    return c.body(null, 204);
  });
