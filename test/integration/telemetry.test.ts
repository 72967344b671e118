// Logs and metrics as whoever runs the service sees them: no secret ever
// reaches a log line, each request, delivery attempt and tick is measured
// with the right fields in an Analytics Engine stand-in that records its data
// points, and TELEMETRY_ENABLED = "false" turns the info lines and metrics off.
import { createExecutionContext, createScheduledController, runDurableObjectAlarm, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BOOTSTRAP_ADMIN_ID } from "../../src/auth/principals";
import worker from "../../src/index";
import { uuidv7 } from "../../src/ids";
import type { Notification } from "../../src/notify/events";
import type { DataPoint } from "../../src/observability/metrics";
import { entry } from "../conduct-helpers";
import { ADMIN_TOKEN, call, command, procedureStub, registerProcedure } from "../helpers";
import { consoleOutput, consume, logLines } from "../ops-helpers";

/** An Analytics Engine dataset stand-in: the binding's one method, keeping every point. */
function recordingDataset() {
  const points: DataPoint[] = [];
  return { points, binding: { writeDataPoint: (point: DataPoint) => void points.push(point) } };
}

/** Sends a request to the Worker with `overrides` on its environment, its waitUntil work awaited. */
async function fetchWith(overrides: Record<string, unknown>, path: string, init: { method?: string; token?: string | null; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers = new Headers(init.headers);
  const token = init.token === undefined ? ADMIN_TOKEN : init.token;
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  if (init.body !== undefined) headers.set("content-type", "application/json");
  const ctx = createExecutionContext();
  const response = await worker.fetch(
    new Request(`http://procedure-edge.test${path}`, { method: init.method ?? (init.body === undefined ? "GET" : "POST"), headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) }),
    { ...env, ...overrides } as Env,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

/** Holds a started procedure targeting `target`, capturing the notifications its object commits. */
async function heldNotifications(target: string): Promise<Notification[]> {
  const id = await registerProcedure({ target_asset_ids: [target] });
  await command(id, "start");
  const sent: Notification[] = [];
  await runInDurableObject(procedureStub(id), (instance) => {
    instance.sendNotifications = async (batch) => void sent.push(...batch);
  });
  await command(id, "hold", { reason: "door" });
  await procedureStub(id).notify();
  return sent;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the logs carry no secret", () => {
  it("whatever the requests carried: the admin token, principals' tokens, webhook secrets, the signing key, stream tickets", async () => {
    const secrets: string[] = [ADMIN_TOKEN, env.WEBHOOK_SIGNING_KEY];
    const target = `asset-${uuidv7()}`;
    const output = await consoleOutput(async () => {
      const principal = await call("/v1/principals", { body: { name: "log probe", roles: ["operator"] } });
      secrets.push(principal.json.token);
      const rotated = await call(`/v1/principals/${principal.json.principal_id}/rotate`, { method: "POST" });
      secrets.push(rotated.json.token);
      await call("/v1/me", { token: rotated.json.token });
      await call("/v1/me", { token: principal.json.token });
      const bogus = `pe_${"z".repeat(40)}`;
      secrets.push(bogus);
      await call("/v1/me", { token: bogus });

      const subscription = await call("/v1/subscriptions", {
        body: { url: "https://hooks.example.test/secret-probe", event_types: ["procedure.held"], filter: { target_asset_id: target } },
      });
      expect(subscription.status).toBe(201);
      secrets.push(subscription.json.secret, subscription.json.secret.slice("whsec_".length));

      const id = await registerProcedure({ target_asset_ids: [target] }, rotated.json.token);
      const ticket = await call(`/v1/procedures/${id}/stream-ticket`, { method: "POST", token: rotated.json.token });
      expect(ticket.status).toBe(201);
      secrets.push(ticket.json.ticket);
      await call(`/v1/procedures/${id}/stream?ticket=${encodeURIComponent(ticket.json.ticket)}`, { token: null });
      await call(`/v1/procedures/${id}/stream?ticket=${encodeURIComponent(ticket.json.ticket)}`, { token: null });

      vi.spyOn(globalThis, "fetch").mockImplementation(async () => new Response(null, { status: 500 }));
      const notifications = await heldNotifications(target);
      const fanned = await consume(notifications.map((notification) => ({ kind: "fanout", notification })));
      await consume(fanned.onward);
    });
    const text = output.join("\n");
    // The probe wrote lines (a request line for each call, the delivery attempt, ...).
    expect(output.length).toBeGreaterThan(10);
    expect(text).toContain('"msg":"delivery attempt"');
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThanOrEqual(16);
      expect(text).not.toContain(secret);
    }
    expect(text.toLowerCase()).not.toContain("bearer ");
  });
});

describe("an alarm job's line", () => {
  it("names the procedure, the job, its outcome and duration", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const clock = { at: Date.now() };
    await runInDurableObject(procedureStub(id), (instance) => {
      // Its own timers never fire: only the alarm runs the hold's projection.
      instance.clock = { now: () => clock.at, sleep: () => new Promise(() => {}) };
    });
    expect((await call(`/v1/procedures/${id}/hold`, { body: { reason: "door" } })).status).toBe(200);
    clock.at += 60_000;
    const lines = await logLines(async () => expect(await runDurableObjectAlarm(procedureStub(id))).toBe(true));
    expect(lines.filter((line) => line.msg === "job" && line.kind === "projection")).toEqual([
      { level: "info", msg: "job", procedure_id: id, kind: "projection", key: "projection", outcome: "done", attempts: 0, duration_ms: expect.any(Number) },
    ]);
  });
});

describe("metrics", () => {
  it("writes one point per request: operation, outcome (ok or the error class), command, principal, status and duration", async () => {
    const { points, binding } = recordingDataset();
    const id = await registerProcedure();
    await fetchWith({ METRICS: binding }, `/v1/procedures/${id}/start`, { method: "POST" });
    await fetchWith({ METRICS: binding }, `/v1/procedures/${id}/start`, { method: "POST" });
    await fetchWith({ METRICS: binding }, "/v1/me", { token: "unknown-token-0123456789" });
    expect(points.map((p) => p.blobs)).toEqual([
      ["request", "startProcedure", "ok", "StartProcedure", BOOTSTRAP_ADMIN_ID],
      ["request", "startProcedure", "ProcedureCannotStart", "StartProcedure", BOOTSTRAP_ADMIN_ID],
      ["request", "getMe", "Unauthenticated", "", ""],
    ]);
    expect(points.map((p) => p.doubles![0])).toEqual([200, 409, 401]);
    expect(points.every((p) => p.doubles!.length === 2 && p.doubles![1]! >= 0)).toBe(true);
    expect(points.map((p) => p.indexes)).toEqual([["startProcedure"], ["startProcedure"], ["getMe"]]);
  });

  it("counts a rate-limited request under RateLimited, and an accepted activity batch", async () => {
    const { points, binding } = recordingDataset();
    const operator = await call("/v1/principals", { body: { name: "metrics operator", roles: ["operator", "gateway"] } });
    const id = await registerProcedure();
    await command(id, "start");
    const spent = { limit: async () => ({ success: false }) };
    const limited = await fetchWith({ METRICS: binding, API_RATE_LIMITER: spent }, "/v1/me", { token: operator.json.token });
    expect(limited.status).toBe(429);
    const entries = [entry({ step_kind: "note" }), entry({ step_kind: "note" })];
    const appended = await fetchWith({ METRICS: binding }, `/v1/procedures/${id}/activities`, { token: operator.json.token, body: { entries } });
    expect(appended.status).toBe(200);
    await fetchWith({ METRICS: binding }, `/v1/procedures/${id}/activities`, { token: operator.json.token, body: { entries } });
    const blobs = points.map((p) => p.blobs);
    expect(blobs[0]).toEqual(["request", "getMe", "RateLimited", "", operator.json.principal_id]);
    expect(points.filter((p) => p.blobs![0] === "activity").map((p) => [p.blobs, p.doubles])).toEqual([
      [["activity", id], [2, 0]],
      [["activity", id], [0, 2]],
    ]);
  });

  it("writes one point per delivery attempt: outcome, event type, subscription, latency, status and attempt", async () => {
    const { points, binding } = recordingDataset();
    const target = `asset-${uuidv7()}`;
    const subscription = await call("/v1/subscriptions", { body: { url: "https://hooks.example.test/metrics", event_types: ["procedure.held"], filter: { target_asset_id: target } } });
    const notifications = await heldNotifications(target);
    vi.spyOn(globalThis, "fetch").mockImplementation(async () => new Response(null, { status: 502 }));
    const fanned = await consume(notifications.map((notification) => ({ kind: "fanout", notification })), { METRICS: binding });
    await consume(fanned.onward, { METRICS: binding });
    const deliveries = points.filter((p) => p.blobs![0] === "delivery");
    expect(deliveries.map((p) => p.blobs)).toEqual([["delivery", "retrying", "procedure.held", subscription.json.subscription_id]]);
    expect(deliveries[0]!.doubles).toEqual([expect.any(Number), 502, 1]);
  });

  it("writes one point per tick: duration, candidates, flagged, acted, archived, failures and rows read", async () => {
    const { points, binding } = recordingDataset();
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" }), { ...env, WATCHER_ENABLED: "true", METRICS: binding } as Env);
    expect(points.map((p) => p.blobs)).toEqual([["tick", "ran"]]);
    expect(points[0]!.doubles).toHaveLength(7);
    expect(points[0]!.doubles!.every((value) => Number.isFinite(value) && value >= 0)).toBe(true);
  });

  it("writes nothing, and no info line, with TELEMETRY_ENABLED = \"false\"; warnings and errors still go", async () => {
    const { points, binding } = recordingDataset();
    const id = await registerProcedure();
    let answered: Awaited<ReturnType<typeof fetchWith>> | undefined;
    const output = await consoleOutput(async () => {
      answered = await fetchWith({ METRICS: binding, TELEMETRY_ENABLED: "false" }, `/v1/procedures/${id}/start`, { method: "POST" });
      await fetchWith({ METRICS: binding, TELEMETRY_ENABLED: "false" }, "/v1/me", { token: "unknown-token-0123456789" });
    });
    expect(answered!.status).toBe(200);
    expect(points).toEqual([]);
    expect(output.filter((line) => line.includes('"level":"info"') && line.includes('"msg":"request"'))).toEqual([]);
  });
});
