// Webhook deliveries across subscriptions, for admins: the attempts with one
// outcome (the `failed` ones include dead letters), and sending a failed one
// again under its original webhook-id.
import { createRoute, z } from "@hono/zod-openapi";
import { activeSubscriptionsById, findDelivery, listDeliveries } from "../db/subscriptions";
import type { NotifyMessage } from "../notify/delivery";
import { createRouter } from "./app";
import { requires } from "./auth";
import { decodeCursor, encodeCursor } from "./cursor";
import { ProblemError, problemResponses } from "./problem";
import { BEARER, Limit, jsonResponse, pageResponse } from "./schemas";
import { DeliveryCursorSchema, DeliverySchema, IdParam } from "./subscriptions";

const OUTCOMES = ["delivered", "retrying", "failed"] as const;

const DeliveryRecordSchema = DeliverySchema.extend({
  subscription_id: z.uuid(),
  redeliverable: z.boolean().openapi({ description: "A failed delivery whose notification was kept: POST .../redeliver sends it again" }),
}).openapi("DeliveryRecord");

const list = createRoute({
  method: "get",
  path: "/v1/deliveries",
  operationId: "listDeliveries",
  summary: "Page the delivery attempts with one outcome across subscriptions (failed: dead letters included), newest first",
  security: BEARER,
  middleware: [requires("ListDeliveries")],
  request: {
    query: z.strictObject({
      outcome: z.enum(OUTCOMES),
      cursor: z.string().max(500).optional(),
      limit: Limit(100, 50),
    }),
  },
  responses: { 200: pageResponse("A page of delivery attempts", DeliveryRecordSchema), ...problemResponses(400, 401, 403) },
});

const redeliver = createRoute({
  method: "post",
  path: "/v1/deliveries/{id}/redeliver",
  operationId: "redeliverDelivery",
  summary: "Send a failed delivery again, under its original webhook-id",
  security: BEARER,
  middleware: [requires("RedeliverDelivery")],
  request: { params: IdParam },
  responses: {
    202: jsonResponse("The delivery is queued", z.object({ webhook_id: z.string(), subscription_id: z.uuid() })),
    ...problemResponses(400, 401, 403, 404, 409),
  },
});

function record(row: Awaited<ReturnType<typeof findDelivery>> & object) {
  return DeliveryRecordSchema.parse({ ...row, redeliverable: row.outcome === "failed" && row.notification !== null });
}

export const deliveryRoutes = createRouter()
  .openapi(list, async (c) => {
    const { outcome, cursor, limit } = c.req.valid("query");
    const before = cursor === undefined ? null : decodeCursor(cursor, DeliveryCursorSchema);
    const page = await listDeliveries(c.var.db, { outcome }, before, limit);
    return c.json({ items: page.rows.map(record), next_cursor: page.next && encodeCursor(page.next) }, 200);
  })
  .openapi(redeliver, async (c) => {
    const { id } = c.req.valid("param");
    const found = await findDelivery(c.var.db, id);
    if (!found) throw new ProblemError("DeliveryNotFound", `delivery ${id} does not exist`);
    if (found.outcome !== "failed" || found.notification === null) {
      throw new ProblemError("DeliveryNotRedeliverable", `delivery ${id} is ${found.outcome}${found.outcome === "failed" ? " with no notification kept" : ""}: only a failed delivery is sent again`);
    }
    const served = await activeSubscriptionsById(c.var.db, [found.subscription_id], new Date().toISOString());
    if (!served.has(found.subscription_id)) {
      throw new ProblemError("DeliveryNotRedeliverable", `subscription ${found.subscription_id} was deleted or its creator is no longer active`);
    }
    // Sent again under its webhook-id, and under this request's id: the one to quote about the redelivery.
    const notification = { ...found.notification, request_id: c.var.request_id };
    const message: NotifyMessage = { kind: "delivery", subscription_id: found.subscription_id, notification };
    await (c.env.NOTIFICATIONS as Queue<NotifyMessage>).send(message);
    return c.json({ webhook_id: found.webhook_id, subscription_id: found.subscription_id }, 202);
  });
