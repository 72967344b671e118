// Live progress over hibernatable WebSockets, stream tickets for browsers, and
// streams of principals that are no longer active.
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { BOOTSTRAP_ADMIN_ID, createPrincipal } from "../../src/auth/principals";
import { database } from "../../src/db/client";
import { uuidv7 } from "../../src/ids";
import type { ProcedureObject } from "../../src/procedure/object/object";
import { systemClock } from "../../src/procedure/object/schedule";
import { call, command, eventLog, expectProblem, procedureStub, registerProcedure } from "../helpers";
import { openSocket, openSse, streamRequest } from "../live";

const UPGRADE = { upgrade: "websocket" };

function objectOf(id: string) {
  return procedureStub(id) as DurableObjectStub<ProcedureObject>;
}

/** Moves the object's clock `ms` ahead of the wall clock. */
function advance(id: string, ms: number) {
  return runInDurableObject(objectOf(id), (instance: ProcedureObject) => {
    instance.clock = { now: () => Date.now() + ms, sleep: systemClock.sleep };
  });
}

async function principal(roles: string[]) {
  const id = uuidv7();
  const input = { principal_id: id, name: `watcher-${id}`, roles: roles as never, scopes: null, expires_at: null };
  const { token } = await createPrincipal(database(env.DB), input, new Date().toISOString(), BOOTSTRAP_ADMIN_ID, uuidv7);
  return { id, token };
}

async function ticketFor(id: string, token?: string) {
  const issued = await call(`/v1/procedures/${id}/stream-ticket`, { method: "POST", token });
  expect(issued.status).toBe(201);
  return issued.json as { ticket: string; expires_at: string; stream_path: string };
}

describe("GET /v1/procedures/{id}/stream (WebSocket)", () => {
  it("sends the same messages as SSE, as JSON {id, event, data}, and answers ping with pong", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const socket = await openSocket(id);
    const sse = await openSse(id);
    const [first] = await socket.next(1);
    expect(first).toEqual((await sse.next(1))[0]);
    await command(id, "hold", { reason: "door" });
    const held = await socket.next(2);
    expect(held).toEqual(await sse.next(2));
    expect(held[0]).toMatchObject({ event: "ProcedureHeld", data: (await eventLog(id)).at(-1) });
    socket.ws.send("ping");
    expect(await socket.text()).toBe("pong");
  });

  it("serves every socket of an audience larger than one broadcast slice", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    // One principal opens them all: past its own cap, which is not what this test is about.
    await runInDurableObject(objectOf(id), (instance: ProcedureObject) => {
      instance.live.limits.socketSubscribersPerPrincipal = 1000;
    });
    const sockets = await Promise.all(Array.from({ length: 150 }, () => openSocket(id)));
    await Promise.all(sockets.map((s) => s.next(1)));
    await command(id, "hold", { reason: "everyone" });
    const received = await Promise.all(sockets.map((s) => s.next(2)));
    expect(new Set(received.map((messages) => JSON.stringify(messages))).size).toBe(1);
    expect(received[0]!.map((m) => m.event)).toEqual(["ProcedureHeld", "state"]);
    // The feed timed that broadcast: its version, its audience, and a duration by the object's clock.
    const { version } = (await call(`/v1/procedures/${id}`)).json;
    // It is kept a turn after the last send.
    await vi.waitFor(async () => {
      const timings = await runInDurableObject(objectOf(id), (instance: ProcedureObject) => [...instance.live.timings]);
      expect(timings.find((t) => t.version === version)).toEqual({ version, sockets: 150, sse: 0, ms: expect.any(Number) });
    });
  });

  it("keeps its sockets through an eviction and sends each what it has not seen", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const socket = await openSocket(id);
    const [first] = await socket.next(1);
    await evictDurableObject(objectOf(id));
    await command(id, "hold", { reason: "after the object slept" });
    const held = await socket.next(2);
    expect(held.map((m) => m.event)).toEqual(["ProcedureHeld", "state"]);
    expect(held[1]!.data.status).toBe("Held");
    // A second socket resuming from the first message gets the same.
    const resumed = await openSocket(id, { lastEventId: first!.id! });
    expect(await resumed.next(2)).toEqual(held);
  });

  it("sends a terminal procedure's final state and closes with 1000", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const socket = await openSocket(id);
    await socket.next(1);
    await command(id, "complete");
    expect((await socket.next(2)).map((m) => m.event)).toEqual(["ProcedureCompleted", "state"]);
    expect(await socket.closed()).toEqual({ code: 1000, reason: "procedure ended" });
    const late = await openSocket(id);
    expect((await late.next(1))[0]!.data.status).toBe("Completed");
    expect((await late.closed()).code).toBe(1000);
  });

  it("answers 401, 403 and 404 as problems to an upgrade", async () => {
    const id = await registerProcedure();
    expectProblem(await call(`/v1/procedures/${id}/stream`, { token: null, headers: UPGRADE }), 401, "Unauthenticated");
    expectProblem(await call(`/v1/procedures/${id}/stream`, { token: (await principal([])).token, headers: UPGRADE }), 403, "Forbidden");
    expectProblem(await call(`/v1/procedures/${uuidv7()}/stream`, { headers: UPGRADE }), 404, "ProcedureNotFound");
  });

  it("closes the streams of a principal no longer active at the next stream check (1008), and keeps the others", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const leaving = await principal(["reader"]);
    const staying = await principal(["reader"]);
    const gone = await openSocket(id, { token: leaving.token });
    const kept = await openSocket(id, { token: staying.token });
    const goneSse = await openSse(id, { token: leaving.token });
    await Promise.all([gone.next(1), kept.next(1), goneSse.next(1)]);
    await env.DB.prepare("DELETE FROM principals WHERE principal_id = ?").bind(leaving.id).run();
    await advance(id, 30_000);
    expect(await runDurableObjectAlarm(objectOf(id))).toBe(true);
    expect(await gone.closed()).toEqual({ code: 1008, reason: "principal no longer active" });
    expect((await goneSse.rest()).map((m) => [m.event, m.data.reason])).toEqual([["error", "revoked"]]);
    expect(goneSse.comments).toContain("keepalive");
    await command(id, "hold", { reason: "still watched" });
    expect((await kept.next(2)).map((m) => m.event)).toEqual(["ProcedureHeld", "state"]);
  });
});

describe("POST /v1/procedures/{id}/stream-ticket", () => {
  it("issues a ticket that opens one stream without an Authorization header, once", async () => {
    const id = await registerProcedure();
    const reader = await principal(["reader"]);
    const issued = await ticketFor(id, reader.token);
    expect(issued.stream_path).toBe(`/v1/procedures/${id}/stream?ticket=${encodeURIComponent(issued.ticket)}`);
    expect(Date.parse(issued.expires_at) - Date.now()).toBeLessThanOrEqual(60_000);
    const socket = await openSocket(id, { token: null, query: `ticket=${encodeURIComponent(issued.ticket)}` });
    expect((await socket.next(1))[0]!.event).toBe("state");
    expectProblem(await call(`/v1/procedures/${id}/stream?ticket=${encodeURIComponent(issued.ticket)}`, { token: null, headers: UPGRADE }), 401, "Unauthenticated");
    // SSE takes tickets too.
    const again = await ticketFor(id, reader.token);
    expect((await streamRequest(id, { token: null, query: `ticket=${again.ticket}` })).status).toBe(200);
  });

  it("refuses an expired ticket, a ticket for another procedure, and an unknown one", async () => {
    const id = await registerProcedure();
    const other = await registerProcedure();
    const expiring = await ticketFor(id);
    await advance(id, 61_000);
    expectProblem(await call(`/v1/procedures/${id}/stream?ticket=${expiring.ticket}`, { token: null }), 401, "Unauthenticated");
    const elsewhere = await ticketFor(other);
    expectProblem(await call(`/v1/procedures/${id}/stream?ticket=${elsewhere.ticket}`, { token: null }), 401, "Unauthenticated");
    // Still unspent where it belongs.
    expect((await streamRequest(other, { token: null, query: `ticket=${elsewhere.ticket}` })).status).toBe(200);
    expectProblem(await call(`/v1/procedures/${id}/stream?ticket=nope`, { token: null }), 401, "Unauthenticated");
  });

  it("answers 401, 403 and 404, and writes nothing for an unknown procedure", async () => {
    const id = await registerProcedure();
    expectProblem(await call(`/v1/procedures/${id}/stream-ticket`, { method: "POST", token: null }), 401, "Unauthenticated");
    expectProblem(await call(`/v1/procedures/${id}/stream-ticket`, { method: "POST", token: (await principal([])).token }), 403, "Forbidden");
    const unknown = uuidv7();
    expectProblem(await call(`/v1/procedures/${unknown}/stream-ticket`, { method: "POST" }), 404, "ProcedureNotFound");
    // The ticket path tells nobody which procedures exist: an unknown one answers as an unknown ticket.
    expectProblem(await call(`/v1/procedures/${unknown}/stream?ticket=${"a".repeat(43)}`, { token: null }), 401, "Unauthenticated");
    const tables = await runInDurableObject(procedureStub(unknown), (_i, state) =>
      state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name NOT LIKE '_cf_%' AND name NOT LIKE 'sqlite_%'").toArray(),
    );
    expect(tables).toEqual([]);
  });
});
