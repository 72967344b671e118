// Live progress over Server-Sent Events: framing and order against the record,
// resuming after a missed stretch, terminal procedures, authorization, and
// watchers that never read.
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { BOOTSTRAP_ADMIN_ID, createPrincipal } from "../../src/auth/principals";
import { database } from "../../src/db/client";
import { uuidv7 } from "../../src/ids";
import { measureReplay } from "../../src/live/feed";
import type { ProcedureObject } from "../../src/procedure/object/object";
import { conduct, STEPS } from "../conduct-helpers";
import { entry, post } from "../conduct-helpers";
import { call, command, eventLog, expectProblem, procedureStub, registerProcedure, userTables } from "../helpers";
import { openSse, streamRequest, type Message } from "../live";

async function stateOf(id: string) {
  return (await call(`/v1/procedures/${id}`)).json;
}

/** A principal holding no role: it may read nothing. */
async function rolelessToken() {
  const id = uuidv7();
  const input = { principal_id: id, name: `roleless-${id}`, roles: [], scopes: null, expires_at: null };
  const { token } = await createPrincipal(database(env.DB), input, new Date().toISOString(), BOOTSTRAP_ADMIN_ID, uuidv7);
  return token;
}

const kinds = (messages: Message[]) => messages.map((m) => m.event);

describe("GET /v1/procedures/{id}/stream (SSE)", () => {
  it("sends the state, then each command's events as /events shows them and a fresh state, in order with increasing ids", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const sse = await openSse(id);
    expect(sse.response.headers.get("content-type")).toContain("text/event-stream");
    const [first] = await sse.next(1);
    expect(first).toMatchObject({ event: "state", data: await stateOf(id) });

    await command(id, "hold", { reason: "door open" });
    const held = await sse.next(2);
    await command(id, "resume", { re_establishment_boundary: 0 });
    const resumed = await sse.next(2);
    await command(id, "abort", { reason: "enough" });
    const aborted = await sse.next(2);

    expect(kinds([...held, ...resumed, ...aborted])).toEqual(["ProcedureHeld", "state", "ProcedureResumed", "state", "ProcedureAborted", "state"]);
    const log = await eventLog(id);
    expect([held[0]!.data, resumed[0]!.data, aborted[0]!.data]).toEqual(log.slice(-3));
    expect(aborted[1]!.data).toEqual(await stateOf(id));
    expect(held[1]!.data.status).toBe("Held");
    // Ids are distinct and ordered as the stream was sent.
    const ids = [first!, ...held, ...resumed, ...aborted].map((m) => m.id!);
    expect(new Set(ids).size).toBe(ids.length);
    // The procedure is over: its stream ends after the final state.
    expect(await sse.rest()).toEqual([]);
    expect(sse.ended).toBe(true);
  });

  it("sends every watcher at the same position the same messages, each in full", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const watchers = await Promise.all([openSse(id), openSse(id), openSse(id)]);
    for (const sse of watchers) await sse.next(1);
    await command(id, "hold", { reason: "door open" });
    const received = await Promise.all(watchers.map((sse) => sse.next(2)));
    expect(kinds(received[0]!)).toEqual(["ProcedureHeld", "state"]);
    expect(received[0]![0]!.data).toEqual((await eventLog(id)).at(-1));
    expect(received[0]![1]!.data).toEqual(await stateOf(id));
    expect(received[1]).toEqual(received[0]);
    expect(received[2]).toEqual(received[0]);
  });

  it("sends each accepted activity batch as one activity message with the logbook's entries, before the events it caused", async () => {
    const id = await registerProcedure();
    await conduct(id, { steps: [STEPS.setpoint], on_failure: "abort" });
    const sse = await openSse(id);
    await sse.next(1);
    const batch = [entry({ step_kind: "setpoint", step_index: 0, result: "in_flight" }), entry({ step_kind: "setpoint", step_index: 0, result: "ok" })];
    expect((await post(id, batch)).status).toBe(200);
    const messages = await sse.next(4);
    expect(kinds(messages)).toEqual(["activity", "ProcedureActivitiesLogbookOpened", "ProcedureCompleted", "state"]);
    const logbook = (await call(`/v1/procedures/${id}/activities?limit=10`)).json.items;
    expect(messages[0]!.data).toEqual({ items: [...logbook].reverse() });
    expect(messages[3]!.data).toMatchObject({ status: "Completed", completed_count: 1 });
  });

  it("resumes after Last-Event-ID with exactly the missed events and activity, then the current state, also after an eviction", async () => {
    const id = await registerProcedure();
    await conduct(id, { steps: [STEPS.setpoint, STEPS.check], on_failure: "hold" });
    const steady = await openSse(id);
    const leaving = await openSse(id);
    await steady.next(1);
    await post(id, [entry({ step_kind: "setpoint", step_index: 0, result: "in_flight" })]);
    const seen = [...(await leaving.next(3))];
    await steady.next(3);
    await leaving.close();

    // The stretch the leaving watcher misses: activity, a hold, a resume, more activity.
    await post(id, [entry({ step_kind: "setpoint", step_index: 0, result: "ok" })]);
    const live1 = await steady.next(2);
    await command(id, "hold", { reason: "pause" });
    const live2 = await steady.next(2);
    await command(id, "resume", { re_establishment_boundary: 1 });
    const live3 = await steady.next(2);
    await post(id, [entry({ step_kind: "check", step_index: 1, result: "in_flight" })]);
    const live4 = await steady.next(2);
    const missed = [live1[0], live2[0], live3[0], live4[0]];

    const lastSeen = seen[seen.length - 1]!.id!;
    const resumed = await openSse(id, { lastEventId: lastSeen });
    const replay = await resumed.next(5);
    expect(replay.slice(0, 4)).toEqual(missed);
    expect(replay[4]).toEqual(live4[1]);

    // The same from the record alone, after the object lost its memory, by ?after=.
    // (An open SSE response keeps its object in memory, so the watchers leave first.)
    await Promise.all([steady.close(), resumed.close()]);
    await evictDurableObject(procedureStub(id));
    const afterEviction = await openSse(id, { query: `after=${encodeURIComponent(lastSeen)}` });
    expect(await afterEviction.next(5)).toEqual(replay);
    await afterEviction.close();

    // Resuming from the current state misses nothing and repeats nothing: no message until the next commit.
    const current = await openSse(id, { lastEventId: live4[1]!.id! });
    expect((await command(id, "hold", { reason: "again" })).status).toBe(200);
    expect(kinds(await current.next(2))).toEqual(["ProcedureHeld", "state"]);
  });

  it("replays a logbook recorded before the feed's schema the same way, once the object migrates it", async () => {
    const id = await registerProcedure();
    await conduct(id, { steps: [STEPS.setpoint, STEPS.check], on_failure: "hold" });
    await post(id, [entry({ step_kind: "setpoint", step_index: 0, result: "in_flight" }), entry({ step_kind: "setpoint", step_index: 0, result: "ok" })]);
    await command(id, "hold", { reason: "pause" });
    await command(id, "resume", { re_establishment_boundary: 1 });
    await post(id, [entry({ step_kind: "check", step_index: 1, result: "in_flight" })]);
    const first = await openSse(id, { query: "after=0.0" });
    const before = await first.next(9);
    await first.close();
    expect(kinds(before)).toEqual([
      "ProcedureRegistered", "ResolvedStepsRecorded", "ProcedureStarted", "activity", "ProcedureActivitiesLogbookOpened",
      "ProcedureHeld", "ProcedureResumed", "activity", "state",
    ]);
    // As the storage was before the migration that placed entries among events.
    await runInDurableObject(procedureStub(id), (_instance, state) => {
      const sql = state.storage.sql;
      sql.exec("ALTER TABLE logbook DROP COLUMN at_version");
      sql.exec("ALTER TABLE logbook DROP COLUMN batch");
      sql.exec("DROP TABLE stream_tickets");
      sql.exec("UPDATE schema_version SET applied = 3");
    });
    await evictDurableObject(procedureStub(id));
    expect(await (await openSse(id, { query: "after=0.0" })).next(9)).toEqual(before);
  });

  it("refuses an id the stream never gave out, and a malformed one", async () => {
    const id = await registerProcedure();
    expectProblem(await call(`/v1/procedures/${id}/stream?after=999.0`), 400, "InvalidCursor");
    expectProblem(await call(`/v1/procedures/${id}/stream`, { headers: { "last-event-id": "latest" } }), 400, "ValidationFailed");
  });

  it("refuses a reconnect from further back than one replay reads, with 409", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const sse = await openSse(id);
    const [first] = await sse.next(1);
    await command(id, "hold", { reason: "one" });
    await command(id, "resume", { re_establishment_boundary: 0 });
    await runInDurableObject(procedureStub(id) as DurableObjectStub<ProcedureObject>, (instance: ProcedureObject) => {
      instance.live.limits.replayEvents = 1;
    });
    expectProblem(await call(`/v1/procedures/${id}/stream`, { headers: { "last-event-id": first!.id! } }), 409, "StreamReplayTooLong");
  });

  it("stops reading an old position's replay at the cap: the rows read follow the cap, not the record", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const note = (n: number) => entry({ step_kind: "note", payload: { n, text: "x".repeat(1000) } });
    for (let b = 0; b < 4; b++) await post(id, Array.from({ length: 100 }, (_, i) => note(b * 100 + i)));
    await runInDurableObject(procedureStub(id) as DurableObjectStub<ProcedureObject>, (instance: ProcedureObject, state) => {
      const sql = state.storage.sql;
      const version = sql.exec<{ v: number }>("SELECT max(version) AS v FROM events").one().v;
      const start = { version: 0, seq: 0 };
      // 20 KiB holds about 16 of these entries: the walk stops right after.
      const capped = measureReplay(sql, start, version, { events: 10_000, bytes: 20 * 1024 });
      expect(capped.fits).toBe(false);
      expect(capped.rows_read).toBeLessThanOrEqual(version + 20);
      // The same walk with room for everything reads every row: the measure is real.
      const whole = measureReplay(sql, start, version, { events: 10_000, bytes: 8 * 1024 * 1024 });
      expect(whole).toEqual({ fits: true, rows_read: expect.any(Number) });
      expect(whole.rows_read).toBeGreaterThanOrEqual(400 + version);
      instance.live.limits.replayBytes = 20 * 1024;
    });
    expectProblem(await call(`/v1/procedures/${id}/stream?after=0.0`), 409, "StreamReplayTooLong");
  });

  it("counts the missed events' bytes toward the replay cap, not only the entries'", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const sse = await openSse(id);
    const [first] = await sse.next(1);
    for (let i = 0; i < 4; i++) {
      await command(id, "hold", { reason: `${i} ${"r".repeat(480)}` });
      await command(id, "resume", { re_establishment_boundary: 0 });
    }
    await runInDurableObject(procedureStub(id) as DurableObjectStub<ProcedureObject>, (instance: ProcedureObject) => {
      // No entry at all: only the eight events' reasons can go past 4 KiB.
      instance.live.limits.replayBytes = 4 * 1024;
    });
    expectProblem(await call(`/v1/procedures/${id}/stream`, { headers: { "last-event-id": first!.id! } }), 409, "StreamReplayTooLong");
    await runInDurableObject(procedureStub(id) as DurableObjectStub<ProcedureObject>, (instance: ProcedureObject) => {
      instance.live.limits.replayBytes = 64 * 1024;
    });
    const resumed = await openSse(id, { lastEventId: first!.id! });
    expect(kinds(await resumed.next(9))).toEqual([...Array.from({ length: 4 }, () => ["ProcedureHeld", "ProcedureResumed"]).flat(), "state"]);
  });

  it("sends a terminal procedure's final state and ends", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    await command(id, "complete");
    const sse = await openSse(id);
    const messages = await sse.rest();
    expect(messages).toEqual([expect.objectContaining({ event: "state", data: await stateOf(id) })]);
  });

  it("answers 401, 403 and 404 as problems before any stream starts, and an unknown id leaves no trace", async () => {
    const id = await registerProcedure();
    expectProblem(await call(`/v1/procedures/${id}/stream`, { token: null }), 401, "Unauthenticated");
    expectProblem(await call(`/v1/procedures/${id}/stream`, { token: "not-a-token" }), 401, "Unauthenticated");
    expectProblem(await call(`/v1/procedures/${id}/stream`, { token: await rolelessToken() }), 403, "Forbidden");
    const unknown = uuidv7();
    expectProblem(await call(`/v1/procedures/${unknown}/stream`), 404, "ProcedureNotFound");
    expect(await userTables(unknown)).toEqual([]);
  });

  it("never holds up a command for a watcher that does not read", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const stuck = await streamRequest(id);
    expect(stuck.status).toBe(200);
    for (let i = 0; i < 20; i += 1) {
      expect((await command(id, "hold", { reason: "x".repeat(500) })).status).toBe(200);
      expect((await command(id, "resume", { re_establishment_boundary: 0 })).status).toBe(200);
    }
    await stuck.body!.cancel();
  });

  it("refuses a watcher past the procedure's limit with 503", async () => {
    const id = await registerProcedure();
    const stub = procedureStub(id) as DurableObjectStub<ProcedureObject>;
    await runInDurableObject(stub, (instance: ProcedureObject) => {
      instance.live.limits.sseSubscribers = 1;
    });
    const first = await openSse(id);
    await first.next(1);
    expectProblem(await call(`/v1/procedures/${id}/stream`), 503, "StreamWatcherLimitReached");
  });
});
