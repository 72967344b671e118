// The stream applies the rules of the REST routes: it carries only what its
// principal may read by the other routes, it is bound to the token that opened
// it (rotation, revocation and expiry end it and spend its tickets), one
// principal cannot take every slot, and the unauthenticated ticket path is no
// oracle of which procedures exist and is limited per client address.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { ProcedureObject } from "../../src/procedure/object/object";
import { systemClock } from "../../src/procedure/object/schedule";
import { call, command, expectProblem, procedureStub, registerProcedure } from "../helpers";
import { openSocket, openSse, streamRequest } from "../live";

function objectOf(id: string) {
  return procedureStub(id) as DurableObjectStub<ProcedureObject>;
}

/** Moves the object's clock `ms` ahead of the wall clock. */
function advance(id: string, ms: number) {
  return runInDurableObject(objectOf(id), (instance: ProcedureObject) => {
    instance.clock = { now: () => Date.now() + ms, sleep: systemClock.sleep };
  });
}

async function principal(roles: string[], extra: Record<string, unknown> = {}) {
  const created = await call("/v1/principals", { body: { name: `stream ${roles.join(",")} ${crypto.randomUUID()}`, roles, ...extra } });
  expect(created.status).toBe(201);
  return created.json as { principal_id: string; token: string };
}

async function ticketFor(id: string, token?: string) {
  const issued = await call(`/v1/procedures/${id}/stream-ticket`, { method: "POST", token });
  expect(issued.status, issued.text).toBe(201);
  return issued.json.ticket as string;
}

async function running() {
  const id = await registerProcedure();
  await command(id, "start");
  return id;
}

/** The documented bound: a stream of a token no longer good ends at the first stream check after it, which runs within 20 s (30 s with the alarm's own delay). */
const CHECK_WITHIN_MS = 20_000;

describe("a stream is bound to the token that opened it", () => {
  it("ends every stream of a rotated token at the next stream check, and keeps the new token's", async () => {
    const id = await running();
    const reader = await principal(["reader"]);
    const oldSocket = await openSocket(id, { token: reader.token });
    const oldSse = await openSse(id, { token: reader.token });
    const byTicket = await openSocket(id, { token: null, query: `ticket=${await ticketFor(id, reader.token)}` });
    await Promise.all([oldSocket.next(1), oldSse.next(1), byTicket.next(1)]);

    const rotated = await call(`/v1/principals/${reader.principal_id}/rotate`, { method: "POST" });
    expect(rotated.status).toBe(200);
    const fresh = await openSocket(id, { token: rotated.json.token });
    // The bootstrap admin's token is the ADMIN_TOKEN secret: its stream is checked against it and stays.
    const admin = await openSocket(id);
    await Promise.all([fresh.next(1), admin.next(1)]);

    await advance(id, CHECK_WITHIN_MS + 1);
    expect(await runDurableObjectAlarm(objectOf(id))).toBe(true);
    expect(await oldSocket.closed()).toEqual({ code: 1008, reason: "principal no longer active" });
    expect(await byTicket.closed()).toEqual({ code: 1008, reason: "principal no longer active" });
    expect((await oldSse.rest()).map((m) => [m.event, m.data.reason])).toEqual([["error", "revoked"]]);
    await command(id, "hold", { reason: "the new token still watches" });
    expect((await fresh.next(2)).map((m) => m.event)).toEqual(["ProcedureHeld", "state"]);
    expect((await admin.next(2)).map((m) => m.event)).toEqual(["ProcedureHeld", "state"]);
  });

  it("ends a stream whose token expired, within the documented bound", async () => {
    const id = await running();
    const expiring = await principal(["reader"], { expires_at: new Date(Date.now() + 5_000).toISOString().replace(/\.\d+Z$/, "Z") });
    const socket = await openSocket(id, { token: expiring.token });
    await socket.next(1);
    await advance(id, CHECK_WITHIN_MS + 1);
    expect(await runDurableObjectAlarm(objectOf(id))).toBe(true);
    expect(await socket.closed()).toEqual({ code: 1008, reason: "principal no longer active" });
  });

  it("ends a revoked token's stream within the documented bound", async () => {
    const id = await running();
    const reader = await principal(["reader"]);
    const sse = await openSse(id, { token: reader.token });
    await sse.next(1);
    expect((await call(`/v1/principals/${reader.principal_id}/revoke`, { method: "POST", body: {} })).status).toBe(200);
    await advance(id, CHECK_WITHIN_MS + 1);
    expect(await runDurableObjectAlarm(objectOf(id))).toBe(true);
    expect((await sse.rest()).map((m) => [m.event, m.data.reason])).toEqual([["error", "revoked"]]);
  });

  it("spends the tickets a token asked for once it is rotated or revoked", async () => {
    const id = await running();
    const rotating = await principal(["reader"]);
    const before = await ticketFor(id, rotating.token);
    const rotated = await call(`/v1/principals/${rotating.principal_id}/rotate`, { method: "POST" });
    expectProblem(await call(`/v1/procedures/${id}/stream?ticket=${before}`, { token: null }), 401, "Unauthenticated");
    const after = await ticketFor(id, rotated.json.token);
    expect((await streamRequest(id, { token: null, query: `ticket=${after}` })).status).toBe(200);

    const revoking = await principal(["reader"]);
    const issued = await ticketFor(id, revoking.token);
    await call(`/v1/principals/${revoking.principal_id}/revoke`, { method: "POST", body: {} });
    expectProblem(await call(`/v1/procedures/${id}/stream?ticket=${issued}`, { token: null }), 401, "Unauthenticated");
  });
});

describe("a stream carries only what its principal may read", () => {
  it("refuses a gateway (no /events, no /activities) the stream and its ticket, and writes nothing", async () => {
    const id = await running();
    const gateway = await principal(["gateway"]);
    expectProblem(await call(`/v1/procedures/${id}/events`, { token: gateway.token }), 403, "Forbidden");
    expectProblem(await call(`/v1/procedures/${id}/stream`, { token: gateway.token }), 403, "Forbidden");
    expectProblem(await call(`/v1/procedures/${id}/stream`, { token: gateway.token, headers: { upgrade: "websocket" } }), 403, "Forbidden");
    expectProblem(await call(`/v1/procedures/${id}/stream-ticket`, { method: "POST", token: gateway.token }), 403, "Forbidden");
    const tickets = await runInDurableObject(objectOf(id), (_i, state) => state.storage.sql.exec("SELECT count(*) AS n FROM stream_tickets").one().n);
    expect(tickets).toBe(0);
    // A gateway that is also a reader may read both, and so the stream.
    const both = await principal(["gateway", "reader"]);
    expect((await streamRequest(id, { token: both.token })).status).toBe(200);
  });
});

describe("stream slots", () => {
  it("caps one principal's SSE watchers of a procedure, and leaves the rest to others", async () => {
    const id = await running();
    await runInDurableObject(objectOf(id), (instance: ProcedureObject) => {
      instance.live.limits.sseSubscribersPerPrincipal = 2;
    });
    const greedy = await principal(["reader"]);
    const other = await principal(["reader"]);
    const open = [await openSse(id, { token: greedy.token }), await openSse(id, { token: greedy.token })];
    await Promise.all(open.map((s) => s.next(1)));
    const refused = await call(`/v1/procedures/${id}/stream`, { token: greedy.token, headers: { accept: "text/event-stream" } });
    expectProblem(refused, 503, "StreamWatcherLimitReached");
    expect(refused.json.detail).toContain("per principal");
    const theirs = await openSse(id, { token: other.token });
    expect((await theirs.next(1))[0]!.event).toBe("state");
    // A slot comes back when a stream ends.
    await open[0]!.close();
    await expect.poll(async () => (await runInDurableObject(objectOf(id), (instance: ProcedureObject) => instance.live.counts().sse))).toBe(2);
    expect((await streamRequest(id, { token: greedy.token })).status).toBe(200);
  });

  it("caps one principal's WebSocket watchers of a procedure", async () => {
    const id = await running();
    await runInDurableObject(objectOf(id), (instance: ProcedureObject) => {
      instance.live.limits.socketSubscribersPerPrincipal = 1;
    });
    const greedy = await principal(["reader"]);
    await (await openSocket(id, { token: greedy.token })).next(1);
    expectProblem(await call(`/v1/procedures/${id}/stream`, { token: greedy.token, headers: { upgrade: "websocket" } }), 503, "StreamWatcherLimitReached");
    await (await openSocket(id, { token: (await principal(["reader"])).token })).next(1);
  });
});

describe("the ticket path", () => {
  const guess = () => `${crypto.randomUUID().replaceAll("-", "")}${"x".repeat(11)}`;
  const address = (a: string) => ({ "cf-connecting-ip": a });

  it("answers an unknown procedure exactly as an existing one: 401, the same body", async () => {
    const existing = await running();
    const headers = address(`192.0.2.1-${crypto.randomUUID()}`);
    const known = await call(`/v1/procedures/${existing}/stream?ticket=${guess()}`, { token: null, headers });
    const unknown = await call(`/v1/procedures/${crypto.randomUUID()}/stream?ticket=${guess()}`, { token: null, headers });
    expectProblem(known, 401, "Unauthenticated");
    expect(unknown.status).toBe(401);
    // Alike but for each request's own id.
    expect({ ...unknown.json, request_id: "" }).toEqual({ ...known.json, request_id: "" });
  });

  it("answers a malformed ticket 401, not a validation error", async () => {
    const id = await running();
    const headers = address(`192.0.2.2-${crypto.randomUUID()}`);
    for (const ticket of ["", "short", "x".repeat(500), "%20%20", "a".repeat(42) + "!"]) {
      expectProblem(await call(`/v1/procedures/${id}/stream?ticket=${ticket}`, { token: null, headers }), 401, "Unauthenticated");
    }
  });

  it("is limited per client address before the object is reached: a limited address spends no ticket, another is not limited", async () => {
    const id = await running();
    const flooder = address(`198.51.100.9-${crypto.randomUUID()}`);
    let limited: Awaited<ReturnType<typeof call>> | undefined;
    // The simulator's windows are aligned to the clock: a flood straddling a window's end may need twice the limit (60).
    for (let i = 0; i < 125 && !limited; i += 1) {
      const answer = await call(`/v1/procedures/${crypto.randomUUID()}/stream?ticket=${guess()}`, { token: null, headers: flooder });
      if (answer.status === 429) limited = answer;
      else expect(answer.status).toBe(401);
    }
    expect(limited, "the guesses were never limited").toBeDefined();
    expectProblem(limited!, 429, "RateLimited");
    expect(limited!.headers.get("retry-after")).toBe("10");
    const ticket = await ticketFor(id);
    expectProblem(await call(`/v1/procedures/${id}/stream?ticket=${ticket}`, { token: null, headers: flooder }), 429, "RateLimited");
    // The object was not reached: the ticket is still unspent, and another address is not limited.
    const elsewhere = await streamRequest(id, { token: null, query: `ticket=${ticket}` });
    expect(elsewhere.status).toBe(200);
    await elsewhere.body!.cancel();
  });
});
