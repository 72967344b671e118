// Admin routes for actors (the watcher's kill switch); each switch is audited.
import { createRoute, z } from "@hono/zod-openapi";
import { findActor, setActorActive } from "../db/actors";
import { uuidv7 } from "../ids";
import { createRouter } from "./app";
import { requires } from "./auth";
import { ProblemError, problemResponses } from "./problem";
import { BEARER, Timestamp, jsonResponse } from "./schemas";

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

const readActor = createRoute({
  method: "get",
  path: "/v1/actors/{id}",
  operationId: "readActor",
  summary: "Read an actor",
  security: BEARER,
  middleware: [requires("ReadActor")],
  request: { params: ActorIdParam },
  responses: { 200: jsonResponse("The actor", ActorSchema), ...problemResponses(400, 401, 403, 404, 429) },
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
    responses: { 200: jsonResponse("The actor", ActorSchema), ...problemResponses(400, 401, 403, 404, 429) },
  });
}

function present<T>(actor: T | null, id: string): T {
  if (!actor) throw new ProblemError("ActorNotFound", `actor ${id} does not exist`);
  return actor;
}

export const admin = createRouter()
  .openapi(readActor, async (c) => {
    const { id } = c.req.valid("param");
    return c.json(ActorSchema.parse(present(await findActor(c.var.db, id), id)), 200);
  });

for (const active of [true, false]) {
  admin.openapi(actorSwitch(active), async (c) => {
    const { id } = c.req.valid("param");
    const by = { principal_id: c.var.principal.principal_id, audit_id: uuidv7() };
    const actor = await setActorActive(c.var.db, id, active, new Date().toISOString(), by);
    return c.json(ActorSchema.parse(present(actor, id)), 200);
  });
}
