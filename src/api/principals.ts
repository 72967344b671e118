// Principals over HTTP (admin): create with an optional scope and expiry, list,
// read, revoke, rotate; and the audit trail of those changes. No answer and no
// log line ever carries a token's hash; a token is shown once, when made.
import { createRoute, z } from "@hono/zod-openapi";
import { API_ROLES, ROLES } from "../auth/grants";
import {
  BOOTSTRAP_ADMIN_ID,
  createPrincipal,
  findPrincipal,
  listPrincipals,
  principalNames,
  revokePrincipal,
  rotatePrincipal,
  type PrincipalRecord,
} from "../auth/principals";
import { AUDIT_ACTIONS, listAudit } from "../db/audit";
import { uuidv7 } from "../ids";
import { createRouter } from "./app";
import { requires } from "./auth";
import { decodeCursor, encodeCursor } from "./cursor";
import { emptyBodyIsNone } from "./input";
import { ProblemError, problemResponses, validationFailed } from "./problem";
import { BEARER, InputTimestamp, Limit, Text, Timestamp, jsonBody, jsonResponse, pageResponse } from "./schemas";

export const ScopesSchema = z
  .object({ target_asset_ids: z.array(z.string()) })
  .nullable()
  .openapi("Scopes", { description: "The assets the principal may act on; null: every procedure" });

const PrincipalSchema = z
  .object({
    principal_id: z.string(),
    name: z.string(),
    roles: z.array(z.enum(ROLES)),
    scopes: ScopesSchema,
    created_at: Timestamp,
    expires_at: Timestamp.nullable(),
    revoked_at: Timestamp.nullable(),
    revoked_reason: z.string().nullable(),
    rotated_at: Timestamp.nullable(),
    has_token: z.boolean().openapi({ description: "False for an agent that acts without a bearer token (the watcher)" }),
  })
  .openapi("Principal");

const AuditEntrySchema = z
  .object({
    audit_id: z.uuid(),
    action: z.enum(AUDIT_ACTIONS),
    subject_id: z.string(),
    actor_id: z.string(),
    reason: z.string().nullable(),
    occurred_at: Timestamp,
    before: z.unknown().openapi({ description: "A definition change (`pseudoaxis.defined`): the value before it, null when it was new; null for access changes" }),
    after: z.unknown().openapi({ description: "A definition change: the value after it; null for access changes" }),
  })
  .openapi("AuditEntry");

const PrincipalIdParam = z.object({ id: z.uuid().openapi({ param: { name: "id", in: "path" } }) });

const CreateBody = z
  .strictObject({
    name: Text(200),
    roles: z.array(z.enum(API_ROLES)).min(1).max(4),
    scopes: z
      .strictObject({ target_asset_ids: z.array(z.string().min(1).max(200)).min(1).max(100) })
      .optional()
      .openapi({ description: "Limit the principal to procedures with one of these target assets (not for admins)" }),
    expires_at: InputTimestamp.optional().openapi({ description: "When the token stops working; must be in the future", example: "2099-01-01T00:00:00.000Z" }),
  })
  .openapi("CreatePrincipal");

function view(row: PrincipalRecord): z.infer<typeof PrincipalSchema> {
  const { token_hash, ...rest } = row;
  return PrincipalSchema.parse({ ...rest, has_token: token_hash !== null });
}

const create = createRoute({
  method: "post",
  path: "/v1/principals",
  operationId: "createPrincipal",
  summary: "Create a principal and its bearer token (shown once)",
  security: BEARER,
  middleware: [requires("CreatePrincipal")],
  request: { body: jsonBody(CreateBody) },
  responses: {
    201: jsonResponse("The principal; the token is not stored and cannot be shown again", z.object({ principal_id: z.uuid(), token: z.string() })),
    ...problemResponses(400, 401, 403, 413, 415, 422, 429),
  },
});

const list = createRoute({
  method: "get",
  path: "/v1/principals",
  operationId: "listPrincipals",
  summary: "List principals in creation order (never a token or its hash)",
  security: BEARER,
  middleware: [requires("ListPrincipals")],
  request: { query: z.strictObject({ cursor: z.string().max(500).optional(), limit: Limit(100, 50) }) },
  responses: { 200: pageResponse("A page of principals", PrincipalSchema), ...problemResponses(400, 401, 403, 429) },
});

const read = createRoute({
  method: "get",
  path: "/v1/principals/{id}",
  operationId: "readPrincipal",
  summary: "Read a principal",
  description: "The bootstrap admin is the `ADMIN_TOKEN` secret, not a stored principal: 404.",
  security: BEARER,
  middleware: [requires("ReadPrincipal")],
  request: { params: PrincipalIdParam },
  responses: { 200: jsonResponse("The principal", PrincipalSchema), ...problemResponses(400, 401, 403, 404, 429) },
});

const revoke = createRoute({
  method: "post",
  path: "/v1/principals/{id}/revoke",
  operationId: "revokePrincipal",
  summary: "Revoke a principal: its token is refused from the next request on",
  description:
    "The body is optional: no body, an empty body or `{}` revokes without a reason. Revoking again answers the principal as it is. The bootstrap admin cannot be revoked here (409 `PrincipalManagedElsewhere`): rotate the `ADMIN_TOKEN` secret.",
  security: BEARER,
  middleware: [requires("RevokePrincipal"), emptyBodyIsNone],
  request: {
    params: PrincipalIdParam,
    body: { ...jsonBody(z.strictObject({ reason: Text(500).optional() }).openapi("RevokePrincipal")), required: false },
  },
  responses: { 200: jsonResponse("The principal, revoked", PrincipalSchema), ...problemResponses(400, 401, 403, 404, 409, 413, 415, 429) },
});

const rotate = createRoute({
  method: "post",
  path: "/v1/principals/{id}/rotate",
  operationId: "rotatePrincipal",
  summary: "Replace a principal's token: the new one is shown once, the old one is refused from then on",
  description:
    "409 `PrincipalRevoked` for a revoked principal; 409 `PrincipalManagedElsewhere` for the bootstrap admin (rotate the `ADMIN_TOKEN` secret) and for an agent without a token.",
  security: BEARER,
  middleware: [requires("RotatePrincipal")],
  request: { params: PrincipalIdParam },
  responses: {
    200: jsonResponse("The new token, shown once", z.object({ principal_id: z.uuid(), token: z.string() })),
    ...problemResponses(400, 401, 403, 404, 409, 429),
  },
});

const audit = createRoute({
  method: "get",
  path: "/v1/audit",
  operationId: "listAudit",
  summary: "The audit trail of access changes, newest first",
  security: BEARER,
  middleware: [requires("ReadAuditLog")],
  request: {
    query: z.strictObject({
      subject_id: z.string().min(1).max(200).optional(),
      cursor: z.string().max(500).optional(),
      limit: Limit(100, 50),
    }),
  },
  responses: { 200: pageResponse("A page of audit entries", AuditEntrySchema), ...problemResponses(400, 401, 403, 429) },
});

const PrincipalCursorSchema = z.object({ created_at: z.string(), principal_id: z.string() });
const AuditCursorSchema = z.object({ occurred_at: z.string(), audit_id: z.string() });

/** The stored principal an admin may manage over the API, or the refusal why not. */
async function managed(db: Parameters<typeof findPrincipal>[0], id: string): Promise<PrincipalRecord> {
  if (id === BOOTSTRAP_ADMIN_ID) {
    throw new ProblemError("PrincipalManagedElsewhere", "the bootstrap admin is the ADMIN_TOKEN secret: rotate the secret instead");
  }
  const row = await findPrincipal(db, id);
  if (!row) throw new ProblemError("PrincipalNotFound", `principal ${id} does not exist`);
  // The watcher's agent: no token to revoke or rotate; deactivating its actor is the switch that stops it.
  if (row.token_hash === null) throw new ProblemError("PrincipalManagedElsewhere", `principal ${id} acts without a token; its actor's switch stops it`);
  return row;
}

const names = createRoute({
  method: "get",
  path: "/v1/principal-names",
  operationId: "readPrincipalNames",
  summary: "The names of principals, for showing who ran a command",
  description: "Event log and logbook entries carry a `principal_id`; this answers the names of up to 100 of them. Unknown ids are left out.",
  security: BEARER,
  middleware: [requires("ReadPrincipalNames")],
  request: {
    query: z.strictObject({
      ids: z
        .string()
        .min(1)
        .max(3_800)
        // Each id 1-100 characters, at most 100 of them: in the pattern, so the document says what the route accepts.
        .regex(/^[^,]{1,100}(,[^,]{1,100}){0,99}$/)
        .openapi({ description: "Principal ids, comma-separated (1-100 ids of 1-100 characters each)" })
        .transform((text) => [...new Set(text.split(","))])
        .pipe(z.array(z.string().min(1).max(100)).min(1).max(100)),
    }),
  },
  responses: {
    200: jsonResponse("The names of the principals found", z.object({ items: z.array(z.object({ principal_id: z.string(), name: z.string() })) }).openapi("PrincipalNames")),
    ...problemResponses(400, 401, 403),
  },
});

export const principalRoutes = createRouter()
  .openapi(names, async (c) => {
    const { ids } = c.req.valid("query");
    return c.json({ items: await principalNames(c.var.db, ids) }, 200);
  })
  .openapi(create, async (c) => {
    const { name, roles, scopes, expires_at } = c.req.valid("json");
    const now = new Date();
    if (scopes && roles.includes("admin")) throw new ProblemError("AdminCannotBeScoped", "an admin cannot be scoped: it could create an unscoped principal");
    if (expires_at !== undefined && Date.parse(expires_at) <= now.getTime()) {
      throw validationFailed("json", [{ path: ["expires_at"], message: "must be in the future" }]);
    }
    const input = {
      principal_id: uuidv7(),
      name,
      roles: [...new Set(roles)],
      scopes: scopes ? { target_asset_ids: [...new Set(scopes.target_asset_ids)] } : null,
      expires_at: expires_at === undefined ? null : new Date(expires_at).toISOString(),
    };
    return c.json(await createPrincipal(c.var.db, input, now.toISOString(), c.var.principal.principal_id, uuidv7), 201);
  })
  .openapi(list, async (c) => {
    const { cursor, limit } = c.req.valid("query");
    const after = cursor === undefined ? null : decodeCursor(cursor, PrincipalCursorSchema);
    const page = await listPrincipals(c.var.db, after, limit);
    return c.json({ items: page.rows.map(view), next_cursor: page.next && encodeCursor(page.next) }, 200);
  })
  .openapi(read, async (c) => {
    const { id } = c.req.valid("param");
    const row = await findPrincipal(c.var.db, id);
    if (!row) throw new ProblemError("PrincipalNotFound", `principal ${id} does not exist`);
    return c.json(view(row), 200);
  })
  .openapi(revoke, async (c) => {
    const { id } = c.req.valid("param");
    const reason = (c.req.valid("json") as { reason?: string } | undefined)?.reason ?? null;
    const row = await managed(c.var.db, id);
    if (row.revoked_at !== null) return c.json(view(row), 200);
    const revoked = await revokePrincipal(c.var.db, id, reason, new Date().toISOString(), c.var.principal.principal_id, uuidv7());
    return c.json(view(revoked ?? row), 200);
  })
  .openapi(rotate, async (c) => {
    const { id } = c.req.valid("param");
    const row = await managed(c.var.db, id);
    if (row.revoked_at !== null) throw new ProblemError("PrincipalRevoked", `principal ${id} was revoked at ${row.revoked_at}`);
    const rotated = await rotatePrincipal(c.var.db, row, new Date().toISOString(), c.var.principal.principal_id, uuidv7());
    if (!rotated) throw new ProblemError("PrincipalRevoked", `principal ${id} was revoked or rotated meanwhile`);
    return c.json(rotated, 200);
  })
  .openapi(audit, async (c) => {
    const { subject_id, cursor, limit } = c.req.valid("query");
    const before = cursor === undefined ? null : decodeCursor(cursor, AuditCursorSchema);
    const page = await listAudit(c.var.db, subject_id, before, limit);
    return c.json({ items: page.rows.map((row) => AuditEntrySchema.parse(row)), next_cursor: page.next && encodeCursor(page.next) }, 200);
  });
