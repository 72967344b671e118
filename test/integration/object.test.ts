// The procedure's object as a Durable Object: eviction, concurrency and the
// outbox that feeds the D1 projection through D1 failures.
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { database } from "../../src/db/client";
import { upsertSummary, type SummaryRow } from "../../src/db/summaries";
import { fold } from "../../src/procedure/state";
import type { ProcedureEvent } from "../../src/procedure/events";
import { uuidv7 } from "../../src/ids";
import { ACTIVITY_MIRROR_INTERVAL_MS, PROJECTION_BACKSTOP_MS, PROJECTION_DELAY_MS } from "../../src/procedure/object/projection";
import { JOB_RETRY_MS } from "../../src/procedure/object/schedule";
import { entry, post } from "../conduct-helpers";
import { call, command, eventLog, expectProblem, procedureStub, registerProcedure, summaryOf, userTables } from "../helpers";

/** The projection row as D1 holds it now, without flushing anything first. */
function summaryRow(id: string) {
  return env.DB.prepare("SELECT * FROM procedure_summary WHERE procedure_id = ?").bind(id).first<Record<string, unknown>>();
}

/** The pending projection and the alarm, as the object's storage holds them. */
function projectionJob(id: string) {
  return runInDurableObject(procedureStub(id), async (_instance, state) => ({
    job: state.storage.sql.exec("SELECT due_at, attempts FROM schedule WHERE key = 'projection'").toArray()[0] ?? null,
    alarm: await state.storage.getAlarm(),
  }));
}

/** The object's own delivery timer never fires: as if it stopped right after replying, leaving the delivery to its alarm. */
const asleep = () => new Promise<void>(() => {});

/** An hour ahead of the wall clock: an alarm the object sets by its own clock never fires by itself during a test. */
const AHEAD = 3_600_000;
const ACTOR = { principal_id: "01900000-0000-7000-8000-0000000000ad", scopes: null, correlation_id: "test" };

describe("ProcedureObject", () => {
  it("reads the same state after eviction", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    await command(id, "hold", { reason: "lunch" });
    const before = (await call(`/v1/procedures/${id}`)).json;
    await evictDurableObject(procedureStub(id));
    const after = (await call(`/v1/procedures/${id}`)).json;
    expect(after).toEqual(before);
    expect((await command(id, "resume", { re_establishment_boundary: 0 })).json.version).toBe(before.version + 1);
  });

  it("serializes parallel commands: contiguous versions and a state equal to the fold of the log", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const commands = Array.from({ length: 40 }, (_, i) =>
      i % 2 === 0 ? command(id, "hold", { reason: `pause ${i}` }) : command(id, "resume", { re_establishment_boundary: 0 }),
    );
    const results = await Promise.all(commands);
    expect(results.every((r) => r.status === 200 || r.status === 409)).toBe(true);
    const log = await eventLog(id);
    expect(log.map((e) => e.version)).toEqual(log.map((_, i) => i + 1));
    const folded = fold(log.map((e) => ({ type: e.type, payload: e.payload }) as unknown as ProcedureEvent))!;
    const state = (await call(`/v1/procedures/${id}`)).json;
    expect(state).toMatchObject({
      status: folded.status,
      version: folded.version,
      hold_claims: folded.hold_claims,
      last_status_changed_at: folded.last_status_changed_at,
    });
    expect(await summaryOf(id)).toMatchObject({ status: folded.status, version: folded.version });
  });

  it("keeps answering while D1 fails, and the alarm brings the projection level with the object", async () => {
    const id = await registerProcedure();
    const stub = procedureStub(id);
    let healthy: ((row: SummaryRow) => Promise<void>) | undefined;
    await runInDurableObject(stub, (instance) => {
      healthy = instance.projectSummary;
      instance.projectSummary = () => Promise.reject(new Error("D1 unavailable"));
    });
    expect((await command(id, "start")).status).toBe(200);
    expect((await command(id, "hold", { reason: "during outage" })).status).toBe(200);
    expect(await summaryOf(id)).toMatchObject({ status: "Defined", version: 1 });

    await runInDurableObject(stub, (instance, state) => {
      expect(state.storage.sql.exec("SELECT count(*) AS n FROM schedule WHERE kind = 'projection'").one().n).toBe(1);
      instance.projectSummary = healthy!;
      // Past any retry delay, so the alarm finds the delivery due.
      instance.clock = { now: () => Date.now() + 600_000, sleep: asleep };
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const state = (await call(`/v1/procedures/${id}`)).json;
    expect(await summaryRow(id)).toMatchObject({ status: state.status, version: state.version, hold_causes: JSON.stringify(["operator"]) });
    await runInDurableObject(stub, (_instance, s) => {
      expect(s.storage.sql.exec("SELECT count(*) AS n FROM schedule").one().n).toBe(0);
    });
  });

  it("never moves a projection row backwards when an older summary is replayed", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const current = (await summaryOf(id))!;
    await upsertSummary(database(env.DB), {
      procedure_id: id,
      name: "stale",
      kind: String(current.kind),
      target_asset_ids: [],
      status: "Defined",
      activity_logbook_id: null,
      registered_at: String(current.registered_at),
      last_status_changed_at: null,
      last_status_reason: null,
      interrupted_at: null,
      hold_causes: [],
      version: 1,
      last_activity_at: null,
      updated_at: new Date().toISOString(),
    });
    expect(await summaryOf(id)).toMatchObject({ status: "Running", version: 2, name: current.name });
  });

  it("registers only the procedure it stands for, and a refused register writes nothing", async () => {
    const own = uuidv7();
    const other = uuidv7();
    const outcome = await procedureStub(own).register(other, { name: "intruder", kind: "calibration", target_asset_ids: [] }, ACTOR);
    expect(outcome).toMatchObject({ ok: false, refusal: { error_class: "ProcedureIdMismatch" } });
    expectProblem(await call(`/v1/procedures/${own}`), 404, "ProcedureNotFound");
    expectProblem(await call(`/v1/procedures/${other}`), 404, "ProcedureNotFound");
    expect(await userTables(own)).toEqual([]);
  });

  it("answers 404 for a procedure nobody registered and leaves its object empty", async () => {
    const id = uuidv7();
    expectProblem(await call(`/v1/procedures/${id}`), 404, "ProcedureNotFound");
    expectProblem(await call(`/v1/procedures/${id}/events`), 404, "ProcedureNotFound");
    expectProblem(await call(`/v1/procedures/${id}/manifest`), 404, "ProcedureNotFound");
    expectProblem(await call(`/v1/procedures/${id}/resume-point`), 404, "ProcedureNotFound");
    expectProblem(await call(`/v1/procedures/${id}/activities`), 404, "ProcedureNotFound");
    expectProblem(await call(`/v1/procedures/${id}/hold`, { body: { reason: "probe" } }), 404, "ProcedureNotFound");
    expectProblem(await call(`/v1/procedures/${id}/activities`, { body: { entries: [entry({ step_kind: "note", payload: {} })] } }), 404, "ProcedureNotFound");
    expect(await procedureStub(id).watchReading()).toEqual({ status: null, latest_recorded_at: null });
    expect(await userTables(id)).toEqual([]);
    expect(await runInDurableObject(procedureStub(id), (_instance, state) => state.storage.getAlarm())).toBeNull();
  });

  it("replies first and delivers to D1 after, once for the commands of one delay, on its alarm", async () => {
    const id = await registerProcedure();
    const stub = procedureStub(id);
    let clock = Date.now() + AHEAD;
    const sent: number[] = [];
    await runInDurableObject(stub, (instance) => {
      const d1 = instance.projectSummary;
      instance.projectSummary = (row) => (sent.push(row.version), d1(row));
      instance.clock = { now: () => clock, sleep: asleep };
    });
    const started = await call(`/v1/procedures/${id}/start`, { method: "POST" });
    expect(started.json).toMatchObject({ status: "Running", version: 2 });
    const held = await call(`/v1/procedures/${id}/hold`, { body: { reason: "sample swap" } });
    expect(held.json).toMatchObject({ status: "Held", version: 3 });
    // Both replies came before any delivery: the list still shows the registration.
    expect(await summaryRow(id)).toMatchObject({ status: "Defined", version: 1 });
    expect(await projectionJob(id)).toEqual({
      job: { due_at: clock + PROJECTION_DELAY_MS, attempts: 0 },
      alarm: clock + PROJECTION_DELAY_MS + PROJECTION_BACKSTOP_MS,
    });

    clock += PROJECTION_DELAY_MS + PROJECTION_BACKSTOP_MS;
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(sent).toEqual([3]);
    expect(await summaryRow(id)).toMatchObject({ status: "Held", version: 3, hold_causes: JSON.stringify(["operator"]) });
    expect((await projectionJob(id)).job).toBeNull();
  });

  it("keeps a failing delivery's attempts and due time in storage, so its backoff continues after eviction", async () => {
    const id = await registerProcedure();
    const stub = procedureStub(id);
    const t0 = Date.now() + AHEAD;
    let clock = t0;
    const outage = () =>
      runInDurableObject(stub, (instance) => {
        instance.projectSummary = () => Promise.reject(new Error("D1 unavailable"));
        instance.clock = { now: () => clock, sleep: asleep };
      });
    await outage();
    expect((await call(`/v1/procedures/${id}/start`, { method: "POST" })).status).toBe(200);
    let due = t0 + PROJECTION_DELAY_MS;
    expect(await projectionJob(id)).toEqual({ job: { due_at: due, attempts: 0 }, alarm: due + PROJECTION_BACKSTOP_MS });

    for (const [attempt, delay] of JOB_RETRY_MS.slice(0, 2).entries()) {
      clock = attempt === 0 ? due + PROJECTION_BACKSTOP_MS : due;
      expect(await runDurableObjectAlarm(stub)).toBe(true);
      due = clock + delay;
      expect(await projectionJob(id)).toEqual({ job: { due_at: due, attempts: attempt + 1 }, alarm: due });
    }

    await evictDurableObject(stub);
    // Waking again neither resets the attempts nor moves the alarm the retry set.
    expect(await projectionJob(id)).toEqual({ job: { due_at: due, attempts: 2 }, alarm: due });
    await outage();
    clock = due;
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    due = clock + JOB_RETRY_MS[2];
    expect(await projectionJob(id)).toEqual({ job: { due_at: due, attempts: 3 }, alarm: due });
    expect(await summaryRow(id)).toMatchObject({ status: "Defined" });

    await evictDurableObject(stub);
    await runInDurableObject(stub, (instance) => {
      instance.clock = { now: () => clock, sleep: asleep };
    });
    clock = due;
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await summaryRow(id)).toMatchObject({ status: "Running", version: 2 });
    expect((await projectionJob(id)).job).toBeNull();
  });

  it("refreshes the list's activity mirror at most once per interval, by the object's clock", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const t0 = Date.now() + AHEAD;
    let clock = t0;
    await runInDurableObject(procedureStub(id), (instance) => {
      instance.clock = { now: () => clock, sleep: asleep };
    });
    const note = () => post(id, [entry({ step_kind: "note", payload: { text: "still here" } })]);
    const mirror = async () => (await summaryOf(id))!.last_activity_at;

    expect((await note()).status).toBe(200);
    expect(await mirror()).toBe(new Date(t0).toISOString());
    clock = t0 + ACTIVITY_MIRROR_INTERVAL_MS - 1;
    await note();
    expect((await call(`/v1/procedures/${id}`)).json.last_activity_at).toBe(new Date(clock).toISOString());
    expect(await mirror()).toBe(new Date(t0).toISOString());
    clock = t0 + ACTIVITY_MIRROR_INTERVAL_MS;
    await note();
    expect(await mirror()).toBe(new Date(clock).toISOString());
  });
});
