// Webhook subscriptions over HTTP: create (the signing secret shown once),
// list, read, delete, send a test ping, and page the delivery attempts.
import { createRoute, z } from "@hono/zod-openapi";
import type { Principal } from "../auth/grants";
import {
  countActiveSubscriptions,
  deactivateSubscription,
  findSubscription,
  insertSubscription,
  listDeliveries,
  listSubscriptions,
  type StoredSubscription,
} from "../db/subscriptions";
import { uuidv7 } from "../ids";
import type { NotifyMessage } from "../notify/delivery";
import { EVENT_TYPES, pingNotification } from "../notify/events";
import { encryptSecret, newSigningSecret } from "../notify/secret";
import { webhookUrlProblem } from "../notify/webhook-url";
import { createRouter, type AppEnv } from "./app";
import { requires } from "./auth";
import { decodeCursor, encodeCursor } from "./cursor";
import { ProblemError, problemResponses } from "./problem";
import { BEARER, Limit, Text, Timestamp, jsonBody, jsonResponse, pageResponse } from "./schemas";

const FORMATS = ["standard", "slack"] as const;

const FilterSchema = z
  .strictObject({
    kind: z.string().min(1).max(200).optional(),
    target_asset_id: z.string().min(1).max(200).optional(),
  })
  .openapi("SubscriptionFilter");

const CreateSubscriptionSchema = z
  .strictObject({
    url: z.string().max(2000).openapi({
      description:
        "https:// to a public host, or http(s):// to localhost, 127.0.0.1 or [::1] for a receiver under development; never a private, loopback, link-local, reserved or metadata address, a numerically encoded host, this service itself, or text with surrounding whitespace",
      example: "https://hooks.example.org/lab",
    }),
    event_types: z
      .array(z.string().max(100))
      .min(1)
      .max(EVENT_TYPES.length)
      .openapi({ description: `Any of: ${EVENT_TYPES.join(", ")}`, example: ["procedure.stalled", "procedure.held"] }),
    filter: FilterSchema.optional(),
    format: z.enum(FORMATS).default("standard"),
    description: Text(500).optional(),
  })
  .openapi("CreateSubscription");

const SubscriptionSchema = z
  .object({
    subscription_id: z.uuid(),
    url: z.string(),
    event_types: z.array(z.enum(EVENT_TYPES)),
    filter: z.object({ kind: z.string().nullable(), target_asset_id: z.string().nullable() }),
    format: z.enum(FORMATS),
    description: z.string().nullable(),
    active: z.boolean(),
    created_at: Timestamp,
  })
  .openapi("Subscription");

const CreatedSubscriptionSchema = SubscriptionSchema.extend({
  secret: z.string().openapi({ description: "The Standard Webhooks signing secret (whsec_…); shown only here" }),
}).openapi("CreatedSubscription");

export const DeliverySchema = z
  .object({
    delivery_id: z.uuid(),
    webhook_id: z.string(),
    event_type: z.enum(EVENT_TYPES),
    attempt: z.number().int(),
    status_code: z.number().int().nullable().openapi({ description: "The receiver's status; null when it gave no answer in time" }),
    outcome: z.enum(["delivered", "retrying", "failed"]),
    attempted_at: Timestamp,
  })
  .openapi("Delivery");

export const IdParam = z.object({ id: z.uuid().openapi({ param: { name: "id", in: "path" } }) });

const create = createRoute({
  method: "post",
  path: "/v1/subscriptions",
  operationId: "createSubscription",
  summary: "Subscribe a webhook to procedure notifications (the signing secret is shown once)",
  security: BEARER,
  middleware: [requires("CreateSubscription")],
  request: { body: jsonBody(CreateSubscriptionSchema) },
  responses: {
    201: jsonResponse("The subscription and its signing secret", CreatedSubscriptionSchema),
    ...problemResponses(400, 401, 403, 409, 413, 415, 422),
  },
});

const list = createRoute({
  method: "get",
  path: "/v1/subscriptions",
  operationId: "listSubscriptions",
  summary: "List subscriptions, oldest first",
  security: BEARER,
  middleware: [requires("ListSubscriptions")],
  request: { query: z.strictObject({ cursor: z.string().max(500).optional(), limit: Limit(100, 50) }) },
  responses: { 200: pageResponse("A page of subscriptions", SubscriptionSchema), ...problemResponses(400, 401, 403) },
});

const read = createRoute({
  method: "get",
  path: "/v1/subscriptions/{id}",
  operationId: "readSubscription",
  summary: "Read a subscription (never its secret)",
  security: BEARER,
  middleware: [requires("ReadSubscription")],
  request: { params: IdParam },
  responses: { 200: jsonResponse("The subscription", SubscriptionSchema), ...problemResponses(400, 401, 403, 404) },
});

const remove = createRoute({
  method: "delete",
  path: "/v1/subscriptions/{id}",
  operationId: "deleteSubscription",
  summary: "Delete a subscription: nothing more is delivered to it",
  security: BEARER,
  middleware: [requires("DeleteSubscription")],
  request: { params: IdParam },
  responses: { 204: { description: "Deleted" }, ...problemResponses(400, 401, 403, 404) },
});

const test = createRoute({
  method: "post",
  path: "/v1/subscriptions/{id}/test",
  operationId: "testSubscription",
  summary: "Send a ping to the subscription's URL",
  security: BEARER,
  middleware: [requires("TestSubscription")],
  request: { params: IdParam },
  responses: {
    202: jsonResponse("The ping is queued", z.object({ webhook_id: z.string() })),
    ...problemResponses(400, 401, 403, 404),
  },
});

const deliveryLog = createRoute({
  method: "get",
  path: "/v1/subscriptions/{id}/deliveries",
  operationId: "listSubscriptionDeliveries",
  summary: "Page a subscription's delivery attempts, newest first",
  security: BEARER,
  middleware: [requires("ListSubscriptionDeliveries")],
  request: { params: IdParam, query: z.strictObject({ cursor: z.string().max(500).optional(), limit: Limit(100, 50) }) },
  responses: { 200: pageResponse("A page of delivery attempts", DeliverySchema), ...problemResponses(400, 401, 403, 404) },
});

/** Active subscriptions one principal may hold; past it a new one is 409 `SubscriptionLimitReached`. */
export const SUBSCRIPTIONS_PER_PRINCIPAL = 100;

/**
 * The principal's scope, when it has one: such a principal subscribes only to
 * its own procedures and sees only its own subscriptions.
 */
function scopeOf(principal: Principal): string[] | null {
  return principal.scopes?.target_asset_ids ?? null;
}

/** Whose subscriptions a principal may see: its own when scoped, everyone's otherwise. */
function ownerFilter(principal: Principal): string | null {
  return scopeOf(principal) === null ? null : principal.principal_id;
}

function view(row: StoredSubscription) {
  return SubscriptionSchema.parse({
    subscription_id: row.subscription_id,
    url: row.url,
    event_types: row.event_types,
    filter: { kind: row.filter_kind, target_asset_id: row.filter_target_asset_id },
    format: row.format,
    description: row.description,
    active: row.active,
    created_at: row.created_at,
  });
}

async function visible(c: { var: AppEnv["Variables"] }, id: string): Promise<StoredSubscription> {
  const found = await findSubscription(c.var.db, id, ownerFilter(c.var.principal));
  if (!found) throw new ProblemError("SubscriptionNotFound", `subscription ${id} does not exist`);
  return found;
}

const SubscriptionCursorSchema = z.object({ created_at: z.string(), subscription_id: z.string() });
export const DeliveryCursorSchema = z.object({ attempted_at: z.string(), delivery_id: z.string() });

export const subscriptionRoutes = createRouter()
  .openapi(create, async (c) => {
    const input = c.req.valid("json");
    // The service as this request reached it, and its public console.
    const consoleUrl = c.var.config.consoleUrl;
    const urlProblem = webhookUrlProblem(input.url, [new URL(c.req.url), ...(consoleUrl ? [new URL(consoleUrl)] : [])]);
    if (urlProblem !== null) throw new ProblemError("WebhookUrlNotAllowed", urlProblem);
    const unknown = input.event_types.filter((type) => !(EVENT_TYPES as readonly string[]).includes(type));
    if (unknown.length > 0) {
      throw new ProblemError("UnknownEventType", `unknown event types: ${unknown.slice(0, 10).join(", ")}; known: ${EVENT_TYPES.join(", ")}`);
    }
    const scope = scopeOf(c.var.principal);
    if (scope !== null && input.filter?.target_asset_id !== undefined && !scope.includes(input.filter.target_asset_id)) {
      throw new ProblemError("Forbidden", `target asset ${input.filter.target_asset_id} is outside the principal's scope`);
    }
    const held = await countActiveSubscriptions(c.var.db, c.var.principal.principal_id, SUBSCRIPTIONS_PER_PRINCIPAL);
    if (held >= SUBSCRIPTIONS_PER_PRINCIPAL) {
      throw new ProblemError("SubscriptionLimitReached", `principal ${c.var.principal.principal_id} already holds ${held} subscriptions (the limit is ${SUBSCRIPTIONS_PER_PRINCIPAL}); delete one first`);
    }
    const subscriptionId = uuidv7();
    const secret = newSigningSecret();
    const row: StoredSubscription = {
      subscription_id: subscriptionId,
      url: input.url,
      event_types: [...new Set(input.event_types)],
      filter_kind: input.filter?.kind ?? null,
      filter_target_asset_id: input.filter?.target_asset_id ?? null,
      format: input.format,
      description: input.description ?? null,
      secret_ciphertext: await encryptSecret(c.var.config.webhookSigningKey, subscriptionId, secret),
      created_by: c.var.principal.principal_id,
      scope_target_asset_ids: scope,
      active: true,
      created_at: new Date().toISOString(),
      deleted_at: null,
    };
    await insertSubscription(c.var.db, row);
    c.header("location", `/v1/subscriptions/${subscriptionId}`);
    return c.json({ ...view(row), secret }, 201);
  })
  .openapi(list, async (c) => {
    const { cursor, limit } = c.req.valid("query");
    const after = cursor === undefined ? null : decodeCursor(cursor, SubscriptionCursorSchema);
    const page = await listSubscriptions(c.var.db, ownerFilter(c.var.principal), after, limit);
    return c.json({ items: page.rows.map(view), next_cursor: page.next && encodeCursor(page.next) }, 200);
  })
  .openapi(read, async (c) => c.json(view(await visible(c, c.req.valid("param").id)), 200))
  .openapi(remove, async (c) => {
    const { id } = c.req.valid("param");
    await visible(c, id);
    if (!(await deactivateSubscription(c.var.db, id, new Date().toISOString()))) {
      throw new ProblemError("SubscriptionNotFound", `subscription ${id} does not exist`);
    }
    return c.body(null, 204);
  })
  .openapi(test, async (c) => {
    const { id } = c.req.valid("param");
    await visible(c, id);
    const notification = { ...pingNotification(uuidv7(), id, new Date().toISOString()), request_id: c.var.request_id };
    const message: NotifyMessage = { kind: "delivery", subscription_id: id, notification };
    await (c.env.NOTIFICATIONS as Queue<NotifyMessage>).send(message);
    return c.json({ webhook_id: notification.webhook_id }, 202);
  })
  .openapi(deliveryLog, async (c) => {
    const { id } = c.req.valid("param");
    const { cursor, limit } = c.req.valid("query");
    await visible(c, id);
    const before = cursor === undefined ? null : decodeCursor(cursor, DeliveryCursorSchema);
    const page = await listDeliveries(c.var.db, { subscription_id: id }, before, limit);
    return c.json({ items: page.rows.map((row) => DeliverySchema.parse(row)), next_cursor: page.next && encodeCursor(page.next) }, 200);
  });
