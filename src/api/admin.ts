// Admin routes: principals (bearer tokens) and actors (the watcher's kill switch).
import { createRoute, z } from "@hono/zod-openapi";
import { API_ROLES } from "../auth/grants";
import { createPrincipal } from "../auth/principals";
import { findActor, setActorActive } from "../db/actors";
import { uuidv7 } from "../ids";
import { createRouter } from "./app";
import { requires } from "./auth";
import { ProblemError, problemResponses } from "./problem";
import { BEARER, Text, Timestamp, jsonBody, jsonResponse } from "./schemas";

const ActorSchema = z
  .object({
    actor_id: z.string(),
    kind: z.enum(["human", "agent", "service_account"]),
    name: z.string(),
    active: z.boolean(),
    updated_at: Timestamp,
  })
  .openapi("Actor");

const ActorIdParam = z.object({ id: z.uuid().openapi({ param: { name: "id", in: "path" } }) });

const createPrincipalRoute = createRoute({
  method: "post",
  path: "/v1/principals",
  operationId: "createPrincipal",
  summary: "Create a principal and its bearer token (shown once)",
  security: BEARER,
  middleware: [requires("CreatePrincipal")],
  request: {
    body: jsonBody(
      z.strictObject({ name: Text(200), roles: z.array(z.enum(API_ROLES)).min(1).max(4) }).openapi("CreatePrincipal"),
    ),
  },
  responses: {
    201: jsonResponse("The principal; the token is not stored and cannot be shown again", z.object({ principal_id: z.uuid(), token: z.string() })),
    ...problemResponses(400, 401, 403, 413, 415),
  },
});

const readActor = createRoute({
  method: "get",
  path: "/v1/actors/{id}",
  operationId: "readActor",
  summary: "Read an actor",
  security: BEARER,
  middleware: [requires("ReadActor")],
  request: { params: ActorIdParam },
  responses: { 200: jsonResponse("The actor", ActorSchema), ...problemResponses(400, 401, 403, 404) },
});

function actorSwitch(active: boolean) {
  return createRoute({
    method: "post",
    path: `/v1/actors/{id}/${active ? "activate" : "deactivate"}`,
    operationId: active ? "activateActor" : "deactivateActor",
    summary: active ? "Activate an actor" : "Deactivate an actor (for the watcher's agent: the kill switch)",
    security: BEARER,
    middleware: [requires(active ? "ActivateActor" : "DeactivateActor")],
    request: { params: ActorIdParam },
    responses: { 200: jsonResponse("The actor", ActorSchema), ...problemResponses(400, 401, 403, 404) },
  });
}

function present<T>(actor: T | null, id: string): T {
  if (!actor) throw new ProblemError("ActorNotFound", `actor ${id} does not exist`);
  return actor;
}

export const admin = createRouter()
  .openapi(createPrincipalRoute, async (c) => {
    const { name, roles } = c.req.valid("json");
    const created = await createPrincipal(c.var.db, name, [...new Set(roles)], new Date().toISOString(), uuidv7());
    return c.json(created, 201);
  })
  .openapi(readActor, async (c) => {
    const { id } = c.req.valid("param");
    return c.json(ActorSchema.parse(present(await findActor(c.var.db, id), id)), 200);
  });

for (const active of [true, false]) {
  admin.openapi(actorSwitch(active), async (c) => {
    const { id } = c.req.valid("param");
    const actor = await setActorActive(c.var.db, id, active, new Date().toISOString());
    return c.json(ActorSchema.parse(present(actor, id)), 200);
  });
}
