// Dead letters are read: the dead-letter queue's batches reach the Worker's
// queue handler, which records each as a `failed` delivery; admins list the
// failed deliveries and send one again under its original webhook-id.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { database } from "../../src/db/client";
import { deliveriesPageQuery } from "../../src/db/subscriptions";
import { uuidv7 } from "../../src/ids";
import { DEAD_LETTER_QUEUE, MAX_DELIVERY_ATTEMPTS, type NotifyMessage } from "../../src/notify/delivery";
import type { Notification } from "../../src/notify/events";
import { call, expectProblem, tokenFor } from "../helpers";

interface Received {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** Every outbound request the Worker makes, answered 200. */
function receiver() {
  const received: Received[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    received.push({ url: request.url, headers: Object.fromEntries(request.headers), body: await request.text() });
    return new Response("ok", { status: 200 });
  });
  return received;
}

async function subscribe(body: Record<string, unknown>, token?: string) {
  const created = await call("/v1/subscriptions", { body, token });
  expect(created.status).toBe(201);
  return created.json as { subscription_id: string; secret: string };
}

function ping(): Notification {
  return { webhook_id: `msg_${uuidv7()}`, type: "ping", timestamp: new Date().toISOString(), data: {}, subject: null };
}

/** Runs the Worker's queue handler on a batch of the dead-letter queue. */
async function deadLetters(bodies: NotifyMessage[]) {
  const batch = createMessageBatch<NotifyMessage>(
    DEAD_LETTER_QUEUE,
    bodies.map((body, i) => ({ id: `dead-${i}`, timestamp: Date.now(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, env);
  return getQueueResult(batch, ctx);
}

/** Every failed delivery, walked page by page with `limit`. */
async function failedDeliveries(limit = 100, token?: string) {
  const seen: Array<Record<string, any>> = [];
  let cursor: string | null = null;
  do {
    const page = await call(`/v1/deliveries?outcome=failed&limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`, { token });
    expect(page.status).toBe(200);
    expect(page.json.items.length).toBeLessThanOrEqual(limit);
    seen.push(...page.json.items);
    cursor = page.json.next_cursor;
  } while (cursor);
  return seen;
}

async function deliveryCount() {
  return (await env.DB.prepare("SELECT count(*) AS n FROM deliveries").first<{ n: number }>())!.n;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the dead-letter queue's consumer", () => {
  it("records each dead letter as a failed delivery once: a delivery for its subscription, a fan-out for every subscription it would have reached", async () => {
    const target = `asset-${uuidv7()}`;
    const lost = await subscribe({ url: "https://hooks.example.org/lost", event_types: ["ping"] });
    const held = await subscribe({ url: "https://hooks.example.org/held", event_types: ["procedure.held"], filter: { target_asset_id: target } });
    const lostPing = ping();
    const heldNotification: Notification = {
      webhook_id: `msg_${uuidv7()}_v3`,
      type: "procedure.held",
      timestamp: new Date().toISOString(),
      data: { status: "Held" },
      subject: { procedure_id: uuidv7(), kind: "calibration", target_asset_ids: [target] },
    };
    const result = await deadLetters([
      { kind: "delivery", subscription_id: lost.subscription_id, notification: lostPing },
      { kind: "fanout", notification: heldNotification },
    ]);
    expect(result.ackAll || result.explicitAcks.length === 2).toBe(true);
    expect(result.retryMessages).toEqual([]);

    const failed = await failedDeliveries(1);
    const mine = failed.filter((d) => [lost.subscription_id, held.subscription_id].includes(d.subscription_id));
    expect(mine.map((d) => [d.subscription_id, d.webhook_id, d.outcome, d.attempt, d.status_code, d.redeliverable]).sort()).toEqual(
      [
        [lost.subscription_id, lostPing.webhook_id, "failed", MAX_DELIVERY_ATTEMPTS, null, true],
        [held.subscription_id, heldNotification.webhook_id, "failed", 0, null, true],
      ].sort(),
    );
    expect(new Set(failed.map((d) => d.delivery_id)).size).toBe(failed.length);
    const times = failed.map((d) => `${d.attempted_at} ${d.delivery_id}`);
    expect(times).toEqual([...times].sort().reverse());
    expect(JSON.stringify(failed)).not.toContain('"notification"');

    // The same dead letter again (a redelivered batch) is not recorded twice.
    const before = await deliveryCount();
    await deadLetters([{ kind: "delivery", subscription_id: lost.subscription_id, notification: lostPing }]);
    expect(await deliveryCount()).toBe(before);
  });
});

describe("POST /v1/deliveries/{id}/redeliver", () => {
  it("sends a failed delivery again under its original webhook-id", async () => {
    const url = "https://hooks.example.org/again";
    const sub = await subscribe({ url, event_types: ["ping"] });
    const notification = ping();
    await deadLetters([{ kind: "delivery", subscription_id: sub.subscription_id, notification }]);
    const failed = (await failedDeliveries()).find((d) => d.webhook_id === notification.webhook_id)!;
    const received = receiver();
    const again = await call(`/v1/deliveries/${failed.delivery_id}/redeliver`, { method: "POST" });
    expect(again.status).toBe(202);
    expect(again.json).toEqual({ webhook_id: notification.webhook_id, subscription_id: sub.subscription_id });
    // The queue's own consumer runs in the test pool: wait for its delivery.
    await vi.waitFor(
      async () => {
        const log = await call(`/v1/subscriptions/${sub.subscription_id}/deliveries`);
        expect(log.json.items.map((d: { outcome: string }) => d.outcome)).toContain("delivered");
      },
      { timeout: 10_000, interval: 100 },
    );
    const mine = received.filter((r) => r.url === url);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.headers["webhook-id"]).toBe(notification.webhook_id);
    expect(new Webhook(sub.secret).verify(mine[0]!.body, mine[0]!.headers)).toMatchObject({ type: "ping" });
  });

  it("refuses an unknown delivery, one that did not fail, and one whose subscription is no longer served, writing nothing", async () => {
    expectProblem(await call(`/v1/deliveries/${uuidv7()}/redeliver`, { method: "POST" }), 404, "DeliveryNotFound");

    const sub = await subscribe({ url: "https://hooks.example.org/fine", event_types: ["ping"] });
    const notification = ping();
    await env.DB.prepare(
      "INSERT INTO deliveries (delivery_id, subscription_id, webhook_id, event_type, attempt, status_code, outcome, attempted_at) VALUES (?, ?, ?, 'ping', 1, 200, 'delivered', ?)",
    )
      .bind(uuidv7(), sub.subscription_id, notification.webhook_id, new Date().toISOString())
      .run();
    const delivered = (await call(`/v1/subscriptions/${sub.subscription_id}/deliveries`)).json.items[0];
    const before = await deliveryCount();
    expectProblem(await call(`/v1/deliveries/${delivered.delivery_id}/redeliver`, { method: "POST" }), 409, "DeliveryNotRedeliverable");

    const operator = await call("/v1/principals", { body: { name: `operator ${uuidv7()}`, roles: ["operator"] } });
    const theirs = await subscribe({ url: "https://hooks.example.org/theirs", event_types: ["ping"] }, operator.json.token);
    const theirPing = ping();
    await deadLetters([{ kind: "delivery", subscription_id: theirs.subscription_id, notification: theirPing }]);
    const dead = (await failedDeliveries()).find((d) => d.webhook_id === theirPing.webhook_id)!;
    expect((await call(`/v1/principals/${operator.json.principal_id}/revoke`, { method: "POST" })).status).toBe(200);
    const afterDead = await deliveryCount();
    expectProblem(await call(`/v1/deliveries/${dead.delivery_id}/redeliver`, { method: "POST" }), 409, "DeliveryNotRedeliverable");
    expect(await deliveryCount()).toBe(afterDead);
    expect(afterDead).toBe(before + 1);
  });
});

describe("GET /v1/deliveries", () => {
  it("walks only the rows of the outcome asked for, page by page", async () => {
    const subscriptionId = uuidv7();
    const at = (i: number) => new Date(Date.parse("2030-01-01T00:00:00.000Z") + i * 1000).toISOString();
    // Many attempts with other outcomes, newer than the failed ones: a page must not read them.
    const rows = [
      ...Array.from({ length: 200 }, (_, i) => [uuidv7(), i % 2 === 0 ? "delivered" : "retrying", at(100 + i)]),
      ...Array.from({ length: 5 }, (_, i) => [uuidv7(), "failed", at(i)]),
    ];
    await env.DB.prepare(
      `INSERT INTO deliveries (delivery_id, subscription_id, webhook_id, event_type, attempt, status_code, outcome, attempted_at)
       SELECT json_extract(value, '$[0]'), ?1, 'msg_bound', 'ping', 1, 500, json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?2) WHERE true`,
    )
      .bind(subscriptionId, JSON.stringify(rows))
      .run();
    const limit = 2;
    let before: { attempted_at: string; delivery_id: string } | null = null;
    let pages = 0;
    do {
      const { sql, params } = deliveriesPageQuery(database(env.DB), { outcome: "failed" }, before, limit).toSQL();
      const page = await env.DB.prepare(sql).bind(...params).all<{ attempted_at: string; delivery_id: string; outcome: string }>();
      // The index entries walked, one past the page, and the cursor's own row.
      expect(page.meta.rows_read).toBeLessThanOrEqual(limit + 2);
      expect(page.results.every((r) => r.outcome === "failed")).toBe(true);
      const shown = page.results.slice(0, limit);
      before = page.results.length > limit ? shown[shown.length - 1]! : null;
      pages += 1;
    } while (before && pages < 10);
    expect(pages).toBeGreaterThanOrEqual(3);
  });

  it("needs an outcome and a cursor it issued", async () => {
    expectProblem(await call("/v1/deliveries"), 400, "ValidationFailed");
    expectProblem(await call("/v1/deliveries?outcome=lost"), 400, "ValidationFailed");
    expectProblem(await call("/v1/deliveries?outcome=failed&cursor=bm90LWEtY3Vyc29y"), 400, "InvalidCursor");
  });

  it("is for admins only", async () => {
    expectProblem(await call("/v1/deliveries?outcome=failed", { token: null }), 401, "Unauthenticated");
    for (const role of ["operator", "reader", "gateway"]) {
      const token = await tokenFor(role);
      expectProblem(await call("/v1/deliveries?outcome=failed", { token }), 403, "Forbidden");
      expectProblem(await call(`/v1/deliveries/${uuidv7()}/redeliver`, { method: "POST", token }), 403, "Forbidden");
    }
    expectProblem(await call(`/v1/deliveries/${uuidv7()}/redeliver`, { method: "POST", token: null }), 401, "Unauthenticated");
  });
});
