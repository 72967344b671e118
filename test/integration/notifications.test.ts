// Webhook notifications end to end, with the queue driven by hand: the
// sources' messages are captured where they would enter the queue, handed to
// the Worker's own `queue` handler as a batch, and the receiver is the
// Worker's outbound fetch, answering as each test tells it to. Every delivery
// is checked with the `standardwebhooks` package, as a receiver would.
import { createExecutionContext, createMessageBatch, getQueueResult, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { database } from "../../src/db/client";
import { MAX_DELIVERY_ATTEMPTS, RETRY_DELAYS_SECONDS, type NotifyMessage } from "../../src/notify/delivery";
import { drainOutbox } from "../../src/notify/drain";
import type { Notification } from "../../src/notify/events";
import { uuidv7 } from "../../src/ids";
import { WATCHER_AGENT } from "../../src/watcher/stall";
import { runTick } from "../../src/watcher/sweep";
import { conduct, entry, post, STEPS } from "../conduct-helpers";
import { SUBSCRIPTIONS_PER_PRINCIPAL } from "../../src/api/subscriptions";
import { ADMIN_TOKEN, call, command, expectProblem, procedureStub, registerProcedure, tokenFor } from "../helpers";

const QUEUE = "procedure-edge-notifications";

interface Received {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * The receiving end: every outbound request the Worker makes is recorded and
 * answered with the next status scripted for its URL (200 when none is left).
 */
function receiver(script: Record<string, number[]> = {}) {
  const received: Received[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    received.push({ url: request.url, headers: Object.fromEntries(request.headers), body: await request.text() });
    const status = script[request.url]?.shift() ?? 200;
    return new Response(status === 204 ? null : "answer", { status });
  });
  return received;
}

/** A queue stand-in that keeps what is sent to it. */
function capturingQueue() {
  const sent: NotifyMessage[] = [];
  const queue = {
    send: async (body: NotifyMessage) => void sent.push(body),
    sendBatch: async (batch: Iterable<{ body: NotifyMessage }>) => void sent.push(...[...batch].map((m) => m.body)),
  } as unknown as Queue<NotifyMessage>;
  return { sent, queue };
}

/**
 * Runs the Worker's queue handler on `bodies` (each at `attempts`); answers the
 * queue's verdict, the delay each retry asked for, and what the handler sent on.
 */
async function consume(bodies: NotifyMessage[], attempts = 1) {
  const onward = capturingQueue();
  const batch = createMessageBatch<NotifyMessage>(
    QUEUE,
    bodies.map((body, i) => ({ id: `message-${i}`, timestamp: Date.now(), attempts, body })),
  );
  // The verdict names the retried messages but not their delays: those are read off the calls.
  const delays = batch.messages.map((message) => vi.spyOn(message, "retry"));
  const ctx = createExecutionContext();
  await worker.queue(batch, { ...env, NOTIFICATIONS: onward.queue });
  const retryDelays = delays.flatMap((spy) => spy.mock.calls.map(([options]) => options?.delaySeconds));
  return { result: await getQueueResult(batch, ctx), retryDelays, onward: onward.sent };
}

/** Fans each notification out and delivers what that produced: the path a committed source takes. */
async function deliverAll(notifications: Notification[]) {
  const fanned = await consume(notifications.map((notification) => ({ kind: "fanout", notification })));
  expect(fanned.result.retryMessages).toEqual([]);
  if (fanned.onward.length > 0) await consume(fanned.onward);
  return fanned.onward;
}

async function subscribe(body: Record<string, unknown>, token?: string) {
  const created = await call("/v1/subscriptions", { body, token });
  expect(created.status).toBe(201);
  return created.json as { subscription_id: string; secret: string; url: string };
}

/** A fresh asset id: each test's subscriptions hear only of its own procedures. */
function asset() {
  return `asset-${uuidv7()}`;
}

/** The object's notifications, captured where they would enter the queue. */
async function captureObject(id: string) {
  const sent: Notification[] = [];
  await runInDurableObject(procedureStub(id), (instance) => {
    instance.sendNotifications = async (batch) => void sent.push(...batch);
  });
  return {
    sent,
    /** Waits until the object handed over everything it committed. */
    flush: () => procedureStub(id).notify(),
  };
}

function verified(delivery: Received, secret: string) {
  return new Webhook(secret).verify(delivery.body, delivery.headers) as { type: string; timestamp: string; data: Record<string, unknown> };
}

async function deliveryLog(subscriptionId: string) {
  const log = await call(`/v1/subscriptions/${subscriptionId}/deliveries`);
  expect(log.status).toBe(200);
  return log.json.items as Array<Record<string, unknown>>;
}

async function subscriptionCount() {
  return (await env.DB.prepare("SELECT count(*) AS n FROM subscriptions").first<{ n: number }>())!.n;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("subscriptions", () => {
  it("shows the secret once, stores it only encrypted, lists, reads and deletes", async () => {
    const created = await subscribe({ url: "https://hooks.example.org/a", event_types: ["procedure.held"], description: "lab" });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(atob(created.secret.slice("whsec_".length))).toHaveLength(32);
    const stored = await env.DB.prepare("SELECT * FROM subscriptions WHERE subscription_id = ?").bind(created.subscription_id).first();
    expect(JSON.stringify(stored)).not.toContain(created.secret.slice("whsec_".length));

    const read = await call(`/v1/subscriptions/${created.subscription_id}`);
    expect(read.status).toBe(200);
    expect(read.json).toEqual({
      subscription_id: created.subscription_id,
      url: "https://hooks.example.org/a",
      event_types: ["procedure.held"],
      filter: { kind: null, target_asset_id: null },
      format: "standard",
      description: "lab",
      active: true,
      created_at: expect.any(String),
    });
    const listed = await call("/v1/subscriptions?limit=100");
    expect(listed.json.items.map((s: { subscription_id: string }) => s.subscription_id)).toContain(created.subscription_id);
    expect(listed.text).not.toContain("whsec_");

    expect((await call(`/v1/subscriptions/${created.subscription_id}`, { method: "DELETE" })).status).toBe(204);
    expectProblem(await call(`/v1/subscriptions/${created.subscription_id}`), 404, "SubscriptionNotFound");
    expectProblem(await call(`/v1/subscriptions/${created.subscription_id}`, { method: "DELETE" }), 404, "SubscriptionNotFound");
  });

  it("refuses a url that is not https or loopback http, unknown event types and unknown fields, writing nothing", async () => {
    const before = await subscriptionCount();
    for (const url of [
      "http://hooks.example.org/a",
      "ftp://localhost/a",
      "not a url",
      "https://user:pw@hooks.example.org/",
      // private, loopback, link-local and metadata addresses over https too; numeric encodings; the service itself; whitespace
      "https://10.1.2.3/hook",
      "https://127.0.0.2/hook",
      "https://169.254.169.254/latest/meta-data",
      "https://[fe80::1]/hook",
      "https://metadata.google.internal/",
      "https://2130706433/",
      "https://0x7f000001/",
      "https://127.1/",
      "https://procedure-edge.test/v1/procedures",
      "https://console.lab.example/hook",
      " https://hooks.example.org/a",
      "https://hooks.example.org/a ",
    ]) {
      expectProblem(await call("/v1/subscriptions", { body: { url, event_types: ["ping"] } }), 422, "WebhookUrlNotAllowed");
    }
    expectProblem(
      await call("/v1/subscriptions", { body: { url: "https://hooks.example.org/a", event_types: ["procedure.exploded"] } }),
      422,
      "UnknownEventType",
    );
    expectProblem(
      await call("/v1/subscriptions", { body: { url: "https://hooks.example.org/a", event_types: ["ping"], secret: "mine" } }),
      400,
      "ValidationFailed",
    );
    expect(await subscriptionCount()).toBe(before);
    for (const url of ["http://localhost:9999/in", "http://127.0.0.1/in", "http://[::1]:8080/in"]) {
      expect((await call("/v1/subscriptions", { body: { url, event_types: ["ping"] } })).status).toBe(201);
    }
  });

  it("caps one principal's active subscriptions (409), writing nothing past it; deleting one makes room", async () => {
    const operator = (await call("/v1/principals", { body: { name: `subscriber ${uuidv7()}`, roles: ["operator"] } })).json as { principal_id: string; token: string };
    const made: string[] = [];
    for (let i = 0; i < SUBSCRIPTIONS_PER_PRINCIPAL; i += 1) {
      const created = await call("/v1/subscriptions", { token: operator.token, body: { url: `https://hooks.example.org/cap/${i}`, event_types: ["ping"] } });
      expect(created.status).toBe(201);
      made.push(created.json.subscription_id);
    }
    const mine = () => env.DB.prepare("SELECT count(*) AS n FROM subscriptions WHERE created_by = ?").bind(operator.principal_id).first<{ n: number }>();
    const refused = await call("/v1/subscriptions", { token: operator.token, body: { url: "https://hooks.example.org/cap/over", event_types: ["ping"] } });
    expectProblem(refused, 409, "SubscriptionLimitReached");
    expect((await mine())!.n).toBe(SUBSCRIPTIONS_PER_PRINCIPAL);
    // Another principal has its own cap.
    expect((await call("/v1/subscriptions", { body: { url: "https://hooks.example.org/cap/admin", event_types: ["ping"] } })).status).toBe(201);
    expect((await call(`/v1/subscriptions/${made[0]}`, { method: "DELETE", token: operator.token })).status).toBe(204);
    expect((await call("/v1/subscriptions", { token: operator.token, body: { url: "https://hooks.example.org/cap/again", event_types: ["ping"] } })).status).toBe(201);
  });

  it("answers 404 for a subscription that does not exist, and 400 for a cursor it did not issue", async () => {
    const unknown = uuidv7();
    expectProblem(await call(`/v1/subscriptions/${unknown}/test`, { method: "POST" }), 404, "SubscriptionNotFound");
    expectProblem(await call(`/v1/subscriptions/${unknown}/deliveries`), 404, "SubscriptionNotFound");
    expectProblem(await call("/v1/subscriptions?cursor=bm90LWEtY3Vyc29y"), 400, "InvalidCursor");
  });

  it("pages subscriptions oldest first", async () => {
    const created: string[] = [];
    for (let i = 0; i < 3; i++) created.push((await subscribe({ url: `https://hooks.example.org/page/${i}`, event_types: ["ping"] })).subscription_id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await call(`/v1/subscriptions?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.status).toBe(200);
      expect(page.json.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.json.items.map((s: { subscription_id: string }) => s.subscription_id));
      cursor = page.json.next_cursor;
    } while (cursor);
    expect(seen.filter((id) => created.includes(id))).toEqual(created);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it("is for admins and operators only", async () => {
    const body = { url: "https://hooks.example.org/a", event_types: ["ping"] };
    const before = await subscriptionCount();
    expectProblem(await call("/v1/subscriptions", { body, token: null }), 401, "Unauthenticated");
    expectProblem(await call("/v1/subscriptions", { body, token: await tokenFor("reader") }), 403, "Forbidden");
    expectProblem(await call("/v1/subscriptions", { body, token: await tokenFor("gateway") }), 403, "Forbidden");
    expectProblem(await call("/v1/subscriptions", { token: await tokenFor("reader") }), 403, "Forbidden");
    expect(await subscriptionCount()).toBe(before);
    expect((await call("/v1/subscriptions", { body, token: await tokenFor("operator") })).status).toBe(201);
  });
});

describe("deliveries", () => {
  it("delivers a step-fault hold (and its step_failed) and a completion once each, signed", async () => {
    const target = asset();
    const sub = await subscribe({
      url: "https://hooks.example.org/transitions",
      event_types: ["procedure.held", "procedure.step_failed", "procedure.completed"],
      filter: { target_asset_id: target },
    });
    const id = await registerProcedure({ target_asset_ids: [target] });
    const object = await captureObject(id);
    expect((await conduct(id, { steps: [STEPS.setpoint, STEPS.check], on_failure: "hold" })).json.succeeded).toBe(true);
    await post(id, [entry({ step_kind: "setpoint", step_index: 0, result: "ok" })]);
    await post(id, [entry({ step_kind: "check", step_index: 1, result: "failed", error_class: "OutOfTolerance", message: "1.7" })]);
    await object.flush();
    const received = receiver();
    await deliverAll(object.sent.splice(0));

    expect(received.map((r) => verified(r, sub.secret).type)).toEqual(["procedure.step_failed", "procedure.held"]);
    const failed = verified(received[0]!, sub.secret);
    expect(failed.data).toMatchObject({ procedure_id: id, status: "Held", step_index: 1, error_class: "OutOfTolerance", kind: "calibration" });
    expect(String(failed.data.reason)).toContain("OutOfTolerance");

    expect((await command(id, "resume", { re_establishment_boundary: 1 })).status).toBe(200);
    await post(id, [entry({ step_kind: "check", step_index: 1, result: "ok" })]);
    await object.flush();
    await deliverAll(object.sent.splice(0));
    // The resume is not subscribed to: only the completion arrives.
    expect(received.slice(2).map((r) => verified(r, sub.secret))).toEqual([
      expect.objectContaining({ type: "procedure.completed", data: expect.objectContaining({ procedure_id: id, status: "Completed" }) }),
    ]);
    expect(new Set(received.map((r) => r.headers["webhook-id"])).size).toBe(3);
    expect((await deliveryLog(sub.subscription_id)).map((d) => d.outcome)).toEqual(["delivered", "delivered", "delivered"]);
  });

  it("delivers a stall once per episode, however many ticks decide it", async () => {
    await env.DB.batch([
      env.DB.prepare("UPDATE actors SET active = 1 WHERE actor_id = ?").bind(WATCHER_AGENT.id),
      env.DB.prepare(`UPDATE principals SET roles = '["watcher"]' WHERE principal_id = ?`).bind(WATCHER_AGENT.id),
    ]);
    const target = asset();
    const sub = await subscribe({ url: "https://hooks.example.org/stalls", event_types: ["procedure.stalled"], filter: { target_asset_id: target } });
    const id = await registerProcedure({ target_asset_ids: [target] });
    const started = (await command(id, "start")).json;
    const tick = () =>
      runTick({
        db: database(env.DB),
        d1: env.DB,
        config: { enabled: true, staleAfterSeconds: 3600, heldStaleAfterSeconds: 86400 },
        nowMs: Date.parse(started.last_status_changed_at) + 3_600_000 + 1,
        readProcedure: (pid) => procedureStub(pid).watchReading(),
        observeStall: (pid, stall, mayHold) => procedureStub(pid).observeStall(stall, mayHold),
      });
    await Promise.all([tick(), tick()]);
    await tick();
    // A queue outage at the end of the tick leaves the outbox as it was, for the next tick.
    const down = { sendBatch: () => Promise.reject(new Error("queue unavailable")) } as unknown as Queue<NotifyMessage>;
    await expect(drainOutbox(database(env.DB), env.DB, down)).rejects.toThrow("queue unavailable");
    const first = capturingQueue();
    await drainOutbox(database(env.DB), env.DB, first.queue);
    const again = capturingQueue();
    await drainOutbox(database(env.DB), env.DB, again.queue);
    const mine = first.sent.filter((m) => m.notification.subject?.procedure_id === id);
    expect(mine).toHaveLength(1);
    expect(again.sent).toEqual([]);

    const received = receiver();
    await deliverAll(mine.map((m) => m.notification));
    expect(received).toHaveLength(1);
    const delivered = verified(received[0]!, sub.secret);
    expect(delivered).toMatchObject({ type: "procedure.stalled", data: { choice: "Stall", subject_id: id } });
    expect(received[0]!.headers["webhook-id"]).toBe(`msg_${delivered.data.id}`);
    expect((await command(id, "abort", { reason: "test over" })).status).toBe(200);
  });

  it("keeps a transition's notification through a queue outage and sends it once, under the same id, after", async () => {
    const id = await registerProcedure();
    const stub = procedureStub(id);
    let clock = Date.now();
    let queueUp = false;
    const sent: Notification[] = [];
    await runInDurableObject(stub, (instance) => {
      instance.clock = { now: () => clock, sleep: () => new Promise(() => {}) };
      instance.sendNotifications = async (batch) => {
        if (!queueUp) throw new Error("queue unavailable");
        sent.push(...batch);
      };
    });
    await command(id, "start");
    expect((await command(id, "hold", { reason: "sample swap" })).status).toBe(200);
    await stub.notify();
    const pending = () =>
      runInDurableObject(stub, (_, state) => state.storage.sql.exec<{ webhook_id: string }>("SELECT webhook_id FROM notifications").toArray());
    expect(await pending()).toEqual([{ webhook_id: `msg_${id}_v3` }]);
    expect(sent).toEqual([]);

    queueUp = true;
    clock += 300_000;
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await stub.notify();
    expect(sent.map((n) => [n.webhook_id, n.type])).toEqual([[`msg_${id}_v3`, "procedure.held"]]);
    expect(await pending()).toEqual([]);
  });

  it("retries a failing receiver with growing delays under the same webhook-id, then delivers", async () => {
    const url = "https://hooks.example.org/flaky";
    const sub = await subscribe({ url, event_types: ["ping"] });
    const received = receiver({ [url]: [500, 503, 204] });
    const message: NotifyMessage = {
      kind: "delivery",
      subscription_id: sub.subscription_id,
      notification: { webhook_id: `msg_${uuidv7()}`, type: "ping", timestamp: new Date().toISOString(), data: {}, subject: null },
    };
    const verdicts = [];
    for (const attempts of [1, 2, 3]) verdicts.push(await consume([message], attempts));
    expect(verdicts.map((v) => v.retryDelays)).toEqual([[RETRY_DELAYS_SECONDS[0]], [RETRY_DELAYS_SECONDS[1]], []]);
    expect(verdicts.map((v) => v.result.retryMessages.length)).toEqual([1, 1, 0]);
    expect(verdicts[2]!.result.explicitAcks).toEqual(["message-0"]);
    expect(received.map((r) => r.headers["webhook-id"])).toEqual(Array(3).fill(message.notification.webhook_id));
    for (const r of received) verified(r, sub.secret);
    const log = await deliveryLog(sub.subscription_id);
    expect(log.map((d) => [d.attempt, d.status_code, d.outcome])).toEqual([
      [3, 204, "delivered"],
      [2, 503, "retrying"],
      [1, 500, "retrying"],
    ]);
    // A redelivery of a delivered message is not sent again.
    await consume([message], 4);
    expect(received).toHaveLength(3);
  });

  it("marks a delivery failed after the last attempt and hands it to the dead-letter queue", async () => {
    const url = "https://hooks.example.org/down";
    const sub = await subscribe({ url, event_types: ["ping"] });
    const received = receiver({ [url]: Array(MAX_DELIVERY_ATTEMPTS).fill(500) });
    const message: NotifyMessage = {
      kind: "delivery",
      subscription_id: sub.subscription_id,
      notification: { webhook_id: `msg_${uuidv7()}`, type: "ping", timestamp: new Date().toISOString(), data: {}, subject: null },
    };
    let last;
    for (let attempts = 1; attempts <= MAX_DELIVERY_ATTEMPTS; attempts++) last = (await consume([message], attempts)).result;
    // Retried past max_retries: the queue moves it to the dead-letter queue.
    expect(last!.retryMessages).toHaveLength(1);
    expect(received).toHaveLength(MAX_DELIVERY_ATTEMPTS);
    const log = await deliveryLog(sub.subscription_id);
    expect(log[0]).toMatchObject({ attempt: MAX_DELIVERY_ATTEMPTS, status_code: 500, outcome: "failed" });
    expect(log.slice(1).every((d) => d.outcome === "retrying")).toBe(true);
  });

  it("counts a redirect or no answer as not delivered and never follows the redirect", async () => {
    const sub = await subscribe({ url: "https://hooks.example.org/moved", event_types: ["ping"] });
    const seen: RequestInit[] = [];
    vi.spyOn(globalThis, "fetch").mockImplementation(async (_input, init) => {
      seen.push(init!);
      if (seen.length === 1) return new Response(null, { status: 302, headers: { location: "https://elsewhere.example.org/" } });
      throw new DOMException("The operation was aborted due to timeout", "TimeoutError");
    });
    const message: NotifyMessage = {
      kind: "delivery",
      subscription_id: sub.subscription_id,
      notification: { webhook_id: `msg_${uuidv7()}`, type: "ping", timestamp: new Date().toISOString(), data: {}, subject: null },
    };
    await consume([message], 1);
    await consume([message], 2);
    expect(seen.map((init) => init.redirect)).toEqual(["manual", "manual"]);
    expect(seen.every((init) => init.signal instanceof AbortSignal)).toBe(true);
    expect((await deliveryLog(sub.subscription_id)).map((d) => [d.status_code, d.outcome])).toEqual([
      [null, "retrying"],
      [302, "retrying"],
    ]);
  });

  it("sends nothing to a deleted subscription, even what was fanned out before the delete", async () => {
    const target = asset();
    const sub = await subscribe({ url: "https://hooks.example.org/gone", event_types: ["procedure.held"], filter: { target_asset_id: target } });
    const id = await registerProcedure({ target_asset_ids: [target] });
    const object = await captureObject(id);
    await command(id, "start");
    await command(id, "hold", { reason: "sample swap" });
    await object.flush();
    const fanned = await consume(object.sent.map((notification) => ({ kind: "fanout", notification })));
    expect(fanned.onward).toHaveLength(1);
    expect((await call(`/v1/subscriptions/${sub.subscription_id}`, { method: "DELETE" })).status).toBe(204);
    const received = receiver();
    const delivered = await consume(fanned.onward);
    expect(delivered.result.explicitAcks).toEqual(["message-0"]);
    expect(await deliverAll(object.sent)).toEqual([]);
    expect(received).toEqual([]);
    expect((await env.DB.prepare("SELECT count(*) AS n FROM deliveries WHERE subscription_id = ?").bind(sub.subscription_id).first())!.n).toBe(0);
  });

  it("filters by event type, kind and target asset", async () => {
    const target = asset();
    const other = asset();
    const wanted = await subscribe({ url: "https://hooks.example.org/kind", event_types: ["procedure.held"], filter: { kind: "alignment", target_asset_id: target } });
    const wrongKind = await subscribe({ url: "https://hooks.example.org/k2", event_types: ["procedure.held"], filter: { kind: "calibration", target_asset_id: target } });
    const wrongType = await subscribe({ url: "https://hooks.example.org/t", event_types: ["procedure.completed"], filter: { target_asset_id: target } });
    const wrongAsset = await subscribe({ url: "https://hooks.example.org/a", event_types: ["procedure.held"], filter: { target_asset_id: other } });
    const id = await registerProcedure({ kind: "alignment", target_asset_ids: [target, asset()] });
    const object = await captureObject(id);
    await command(id, "start");
    await command(id, "hold", { reason: "sample swap" });
    await object.flush();
    const received = receiver();
    const onward = await deliverAll(object.sent);
    const targets = onward.map((m) => (m.kind === "delivery" ? m.subscription_id : null));
    expect(targets).toEqual([wanted.subscription_id]);
    expect(targets).not.toContain(wrongKind.subscription_id);
    expect(targets).not.toContain(wrongType.subscription_id);
    expect(targets).not.toContain(wrongAsset.subscription_id);
    expect(received.map((r) => r.url)).toEqual(["https://hooks.example.org/kind"]);
  });

  it("posts a Slack message naming the procedure, what happened and why, with a console link", async () => {
    const target = asset();
    // Created through a host of the caller's choosing: the link must not follow it.
    const created = await exports.default.fetch(
      new Request("http://attacker.example/v1/subscriptions", {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ url: "https://hooks.slack.example/services/x", event_types: ["procedure.held"], format: "slack", filter: { target_asset_id: target } }),
      }),
    );
    expect(created.status).toBe(201);
    const id = await registerProcedure({ name: "beamline 7 alignment", target_asset_ids: [target] });
    const object = await captureObject(id);
    await command(id, "start");
    await command(id, "hold", { reason: "sample <swap> & check" });
    await object.flush();
    const received = receiver();
    await deliverAll(object.sent);
    const body = JSON.parse(received[0]!.body);
    expect(body.text).toContain("*beamline 7 alignment* is held: sample &lt;swap&gt; &amp; check");
    expect(body.text).toContain(`<https://console.lab.example/console#/procedures/${id}|Open in the console>`);
    expect(received[0]!.body).not.toContain("attacker.example");
    expect(received[0]!.headers["webhook-signature"]).toMatch(/^v1,/);
  });

  it("delivers a ping through the real queue", async () => {
    const url = "https://hooks.example.org/ping";
    const sub = await subscribe({ url, event_types: ["ping"] });
    const received = receiver();
    const pinged = await call(`/v1/subscriptions/${sub.subscription_id}/test`, { method: "POST" });
    expect(pinged.status).toBe(202);
    // The queue's own consumer runs in the test pool: wait for its one delivery.
    await vi.waitFor(async () => expect(await deliveryLog(sub.subscription_id)).toHaveLength(1), { timeout: 10_000, interval: 100 });
    const mine = received.filter((r) => r.url === url);
    expect(mine).toHaveLength(1);
    expect(verified(mine[0]!, sub.secret)).toMatchObject({ type: "ping", data: { subscription_id: sub.subscription_id } });
    expect(mine[0]!.headers["webhook-id"]).toBe(pinged.json.webhook_id);
  });
});

describe("whose subscriptions are served", () => {
  async function operator() {
    const created = await call("/v1/principals", { body: { name: `operator ${uuidv7()}`, roles: ["operator"] } });
    expect(created.status).toBe(201);
    return created.json as { principal_id: string; token: string };
  }

  /** A held procedure's notification, as its object committed it. */
  async function heldNotification(target: string) {
    const id = await registerProcedure({ target_asset_ids: [target] });
    const object = await captureObject(id);
    await command(id, "start");
    await command(id, "hold", { reason: "sample swap" });
    await object.flush();
    return object.sent.splice(0);
  }

  it("stops a revoked principal's subscriptions, even deliveries fanned out before the revocation", async () => {
    const target = asset();
    const leaving = await operator();
    const staying = await operator();
    const gone = await subscribe({ url: "https://hooks.example.org/revoked", event_types: ["procedure.held"], filter: { target_asset_id: target } }, leaving.token);
    const kept = await subscribe({ url: "https://hooks.example.org/kept", event_types: ["procedure.held"], filter: { target_asset_id: target } }, staying.token);
    const byAdmin = await subscribe({ url: "https://hooks.example.org/admin", event_types: ["procedure.held"], filter: { target_asset_id: target } });

    const before = await consume((await heldNotification(target)).map((notification) => ({ kind: "fanout", notification })));
    expect(before.onward.map((m) => (m.kind === "delivery" ? m.subscription_id : null)).sort()).toEqual(
      [gone.subscription_id, kept.subscription_id, byAdmin.subscription_id].sort(),
    );
    expect((await call(`/v1/principals/${leaving.principal_id}/revoke`, { method: "POST", body: { reason: "left the lab" } })).status).toBe(200);
    const received = receiver();
    const delivered = await consume(before.onward);
    expect(delivered.result.retryMessages).toEqual([]);
    expect(received.map((r) => r.url).sort()).toEqual(["https://hooks.example.org/admin", "https://hooks.example.org/kept"]);

    const after = await deliverAll(await heldNotification(target));
    expect(after.map((m) => (m.kind === "delivery" ? m.subscription_id : null)).sort()).toEqual([kept.subscription_id, byAdmin.subscription_id].sort());
    expect(received.filter((r) => r.url === "https://hooks.example.org/revoked")).toEqual([]);
    expect((await env.DB.prepare("SELECT count(*) AS n FROM deliveries WHERE subscription_id = ?").bind(gone.subscription_id).first())!.n).toBe(0);
  });

  it("stops an expired principal's subscriptions", async () => {
    const target = asset();
    const expiring = await operator();
    const sub = await subscribe({ url: "https://hooks.example.org/expired", event_types: ["procedure.held"], filter: { target_asset_id: target } }, expiring.token);
    const notifications = await heldNotification(target);
    // Its expiry passes (the token was valid when it subscribed).
    await env.DB.prepare("UPDATE principals SET expires_at = ? WHERE principal_id = ?").bind(new Date(Date.now() - 1000).toISOString(), expiring.principal_id).run();
    const received = receiver();
    expect(await deliverAll(notifications)).toEqual([]);
    const direct = await consume([{ kind: "delivery", subscription_id: sub.subscription_id, notification: notifications[0]! }]);
    expect(direct.result.explicitAcks).toEqual(["message-0"]);
    expect(received).toEqual([]);
  });
});

describe("a batch with one bad message", () => {
  it("delivers the good subscription once and records the one whose secret does not decrypt, retrying only it until it fails", async () => {
    const good = await subscribe({ url: "https://hooks.example.org/good", event_types: ["ping"] });
    const bad = await subscribe({ url: "https://hooks.example.org/bad", event_types: ["ping"] });
    // A ciphertext that no longer decrypts (a rotated WEBHOOK_SIGNING_KEY, a damaged row).
    await env.DB.prepare("UPDATE subscriptions SET secret_ciphertext = ? WHERE subscription_id = ?").bind("v1.AAAAAAAAAAAAAAAA.AAAA", bad.subscription_id).run();
    const notification: Notification = { webhook_id: `msg_${uuidv7()}`, type: "ping", timestamp: new Date().toISOString(), data: {}, subject: null };
    const bodies: NotifyMessage[] = [bad, good].map((s) => ({ kind: "delivery", subscription_id: s.subscription_id, notification }));
    const received = receiver();

    const first = await consume(bodies, 1);
    expect(first.result.explicitAcks).toEqual(["message-1"]);
    expect(first.result.retryMessages.map((m) => m.msgId)).toEqual(["message-0"]);
    expect(first.retryDelays).toEqual([RETRY_DELAYS_SECONDS[0]]);
    // The queue retries only the bad one, up to its last attempt.
    for (let attempts = 2; attempts <= MAX_DELIVERY_ATTEMPTS; attempts++) await consume([bodies[0]!], attempts);

    expect(received.map((r) => r.url)).toEqual(["https://hooks.example.org/good"]);
    verified(received[0]!, good.secret);
    expect((await deliveryLog(good.subscription_id)).map((d) => d.outcome)).toEqual(["delivered"]);
    const log = await deliveryLog(bad.subscription_id);
    expect(log).toHaveLength(MAX_DELIVERY_ATTEMPTS);
    expect(log[0]).toMatchObject({ attempt: MAX_DELIVERY_ATTEMPTS, status_code: null, outcome: "failed" });
    expect(log.slice(1).every((d) => d.outcome === "retrying")).toBe(true);
  });
});
