// Who the caller is: any authenticated principal may ask, so a client (the
// console among them) can show only what the caller's roles allow.
import { createRoute, z } from "@hono/zod-openapi";
import { ROLES } from "../auth/grants";
import { createRouter } from "./app";
import { problemResponses } from "./problem";
import { BEARER, jsonResponse, Timestamp } from "./schemas";

const MeSchema = z
  .object({
    principal_id: z.string(),
    name: z.string(),
    roles: z.array(z.enum(ROLES)),
    scopes: z
      .object({ target_asset_ids: z.array(z.string()) })
      .nullable()
      .openapi({ description: "The assets the caller may act on; null: every procedure" }),
    expires_at: Timestamp.nullable().openapi({ description: "When the token stops working; null: it does not expire" }),
  })
  .openapi("Me");

const me = createRoute({
  method: "get",
  path: "/v1/me",
  operationId: "getMe",
  summary: "The caller: principal, roles and scope",
  security: BEARER,
  responses: { 200: jsonResponse("The authenticated principal", MeSchema), ...problemResponses(400, 401) },
});

export const meRoutes = createRouter().openapi(me, (c) => {
  const { principal_id, name, roles } = c.var.principal;
  return c.json({ principal_id, name, roles, scopes: null, expires_at: null }, 200);
});
