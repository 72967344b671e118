// Step deadlines: a step's in_flight arms the procedure object's own schedule,
// and when the deadline passes with the attempt still open the watcher's agent
// records one StepOverdue decision (the log, the notification, D1). The
// object's clock is injected an hour ahead of the wall clock, so an alarm it
// sets never fires by itself: each test runs it with runDurableObjectAlarm.
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { Notification } from "../../src/notify/events";
import { overdueDecisionId } from "../../src/watcher/deadline";
import { WATCHER_AGENT } from "../../src/watcher/stall";
import { conduct, entry, post, STEPS } from "../conduct-helpers";
import { openSse } from "../live";
import { call, command, eventLog, expectProblem, procedureStub, registerProcedure } from "../helpers";

const AHEAD = 3_600_000;
const asleep = () => new Promise<void>(() => {});

/** A procedure whose object runs on a clock the test moves, with the watcher enabled (or not). */
async function procedure(steps: unknown[], options: { enabled?: boolean; body?: Record<string, unknown> } = {}) {
  const id = await registerProcedure();
  const clock = { now: Date.now() + AHEAD };
  const sent: Notification[] = [];
  const setUp = () =>
    runInDurableObject(procedureStub(id), (instance) => {
      instance.clock = { now: () => clock.now, sleep: asleep };
      instance.watcherEnabled = () => options.enabled ?? true;
      instance.sendNotifications = async (batch) => void sent.push(...batch);
    });
  await setUp();
  expect((await conduct(id, { steps, ...options.body })).json).toMatchObject({ succeeded: true });
  return { id, clock, sent, setUp };
}

/** Posts one step report at the object's current time and answers that time. */
async function report(id: string, step_index: number, result: "in_flight" | "ok" | "failed", step_kind = "setpoint") {
  const posted = await post(id, [entry({ step_kind, step_index, result, ...(result === "failed" ? { error_class: "Timeout" } : {}) })]);
  expect(posted.status).toBe(200);
}

/**
 * Runs the object's alarm once, if one is set, as the runtime would at its
 * time: the handler runs every job due by the object's clock. (Not in a loop:
 * an alarm the handler re-arms for a later job would run again at once.)
 */
const fire = (id: string) => runDurableObjectAlarm(procedureStub(id));

const nowIso = (clock: { now: number }) => new Date(clock.now).toISOString();

async function overdueDecisions(id: string) {
  const result = await call(`/v1/decisions?subject_id=${id}&choice=StepOverdue`);
  expect(result.status).toBe(200);
  return result.json.items as Array<Record<string, any>>;
}

const overdueEvents = async (id: string) => (await eventLog(id)).filter((e) => e.type === "ProcedureStepOverdue");

/** The deadline jobs pending in the object's schedule, and its alarm. */
function schedule(id: string) {
  return runInDurableObject(procedureStub(id), async (_instance, state) => ({
    jobs: state.storage.sql.exec<{ key: string; due_at: number }>("SELECT key, due_at FROM schedule WHERE kind = 'deadline'").toArray(),
    alarm: await state.storage.getAlarm(),
  }));
}

const SLOW = { ...STEPS.setpoint, deadline_seconds: 30 };

beforeEach(async () => {
  await env.DB.batch([
    env.DB.prepare("UPDATE actors SET active = 1 WHERE actor_id = ?").bind(WATCHER_AGENT.id),
    env.DB.prepare(`UPDATE principals SET roles = '["watcher"]' WHERE principal_id = ?`).bind(WATCHER_AGENT.id),
  ]);
});

describe("a step deadline", () => {
  it("is pinned with its step and arms the object's alarm for the moment it passes", async () => {
    const { id, clock } = await procedure([SLOW, STEPS.setpoint]);
    expect((await call(`/v1/procedures/${id}/manifest`)).json.resolved_steps[0]).toEqual(SLOW);
    const inFlightAt = clock.now;
    await report(id, 0, "in_flight");
    const { jobs, alarm } = await schedule(id);
    expect(jobs).toEqual([{ key: `deadline:0:${new Date(inFlightAt).toISOString()}`, due_at: inFlightAt + 30_000 }]);
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeLessThanOrEqual(inFlightAt + 30_000);
  });

  it("yields one StepOverdue once it passes, notified, and a late ok is recorded normally and leaves that one decision", async () => {
    const { id, clock, sent } = await procedure([SLOW, STEPS.setpoint]);
    const inFlightAt = nowIso(clock);
    await report(id, 0, "in_flight");

    clock.now += 30_000 - 1;
    await fire(id);
    expect(await overdueDecisions(id)).toEqual([]);

    clock.now += 1;
    expect(await fire(id)).toBe(true);
    const decisionId = overdueDecisionId(id, { step_index: 0, in_flight_at: inFlightAt });
    const decidedAt = nowIso(clock);
    const [decision, ...more] = await overdueDecisions(id);
    expect(more).toEqual([]);
    expect(decision).toEqual({
      id: decisionId,
      context: "ProcedureProgress",
      choice: "StepOverdue",
      decided_by: WATCHER_AGENT.id,
      rule: "agent:ProcedureWatcher:v1",
      subject_id: id,
      reasoning: "Step 0 has been in flight for 30s, past its deadline of 30s",
      inputs: { procedure_id: id, step_index: 0, deadline_seconds: 30, in_flight_at: inFlightAt, in_flight_seconds: 30, occurred_at: decidedAt },
      confidence_source: "self_reported",
      parent_id: null,
      override_kind: null,
      recorded_at: decidedAt,
    });
    // In the procedure's own log, as the agent's; the stream shows it like any event.
    expect(await overdueEvents(id)).toEqual([
      expect.objectContaining({
        principal_id: WATCHER_AGENT.id,
        correlation_id: decisionId,
        payload: expect.objectContaining({ step_index: 0, deadline_seconds: 30, in_flight_at: inFlightAt, decision_id: decisionId }),
      }),
    ]);
    expect(sent.filter((n) => n.type === "procedure.step_overdue")).toEqual([
      { webhook_id: `msg_${decisionId}`, type: "procedure.step_overdue", timestamp: decidedAt, data: decision, subject: expect.objectContaining({ procedure_id: id }), request_id: decisionId },
    ]);

    clock.now += 5_000;
    await report(id, 0, "ok");
    await report(id, 1, "in_flight");
    await report(id, 1, "ok");
    expect((await call(`/v1/procedures/${id}`)).json).toMatchObject({ status: "Completed", completed_count: 2 });
    await fire(id);
    expect(await overdueDecisions(id)).toHaveLength(1);
    expect(await overdueEvents(id)).toHaveLength(1);
  });

  it("shows on the procedure's stream as the agent's event, then a fresh state", async () => {
    const { id, clock } = await procedure([SLOW]);
    await report(id, 0, "in_flight");
    const sse = await openSse(id);
    expect((await sse.next(1))[0]).toMatchObject({ event: "state" });
    clock.now += 30_000;
    await fire(id);
    const [overdue, state] = await sse.next(2);
    expect(overdue).toMatchObject({ event: "ProcedureStepOverdue", data: { principal_id: WATCHER_AGENT.id, payload: { step_index: 0, deadline_seconds: 30 } } });
    expect(state).toMatchObject({ event: "state", data: { status: "Running" } });
    await sse.close();
  });

  it("is not stopped by heartbeats: a deadline is start-to-close", async () => {
    const { id, clock } = await procedure([SLOW]);
    await report(id, 0, "in_flight");
    for (let beat = 0; beat < 3; beat++) {
      clock.now += 9_000;
      await post(id, [entry({ step_kind: "heartbeat", payload: { step_index: 0, progress: beat / 3 } })]);
    }
    clock.now += 3_000;
    await fire(id);
    expect(await overdueDecisions(id)).toHaveLength(1);
  });

  it("is met by an ok or a failed before it passes: no decision", async () => {
    const { id, clock } = await procedure([SLOW, SLOW], { body: { on_failure: "hold" } });
    await report(id, 0, "in_flight");
    clock.now += 10_000;
    await report(id, 0, "ok");
    await report(id, 1, "in_flight");
    clock.now += 10_000;
    await report(id, 1, "failed");
    clock.now += 60_000;
    await fire(id);
    expect(await overdueDecisions(id)).toEqual([]);
    expect((await schedule(id)).jobs).toEqual([]);
  });

  it("survives the eviction of the object: the schedule is in storage", async () => {
    const { id, clock, setUp } = await procedure([SLOW]);
    const inFlightAt = nowIso(clock);
    await report(id, 0, "in_flight");
    await evictDurableObject(procedureStub(id));
    await setUp();
    clock.now += 30_000;
    expect(await fire(id)).toBe(true);
    await fire(id);
    const [decision] = await overdueDecisions(id);
    expect(decision!.id).toBe(overdueDecisionId(id, { step_index: 0, in_flight_at: inFlightAt }));
  });

  it("gives a replay's new attempt its own deadline and decision", async () => {
    const { id, clock } = await procedure([SLOW]);
    const first = nowIso(clock);
    await report(id, 0, "in_flight");
    clock.now += 40_000;
    await fire(id);
    await command(id, "hold", { reason: "look at it" });
    expect((await call(`/v1/procedures/${id}/conduct-from`, { body: { re_establishment_boundary: 0 } })).status).toBe(200);
    const second = nowIso(clock);
    await report(id, 0, "in_flight");
    clock.now += 30_000;
    await fire(id);
    const ids = (await overdueDecisions(id)).map((d) => d.id).sort();
    expect(ids).toEqual(
      [overdueDecisionId(id, { step_index: 0, in_flight_at: first }), overdueDecisionId(id, { step_index: 0, in_flight_at: second })].sort(),
    );
  });

  it("retries a decision D1 did not take, and records it once", async () => {
    const { id, clock } = await procedure([SLOW]);
    await report(id, 0, "in_flight");
    await runInDurableObject(procedureStub(id), (instance) => {
      instance.recordDecision = () => Promise.reject(new Error("D1 unavailable"));
    });
    clock.now += 30_000;
    await fire(id);
    expect(await overdueDecisions(id)).toEqual([]);
    // Judged once: the event (and its notification) is in the log; only D1 is owed.
    expect(await overdueEvents(id)).toHaveLength(1);
    const [job] = (await schedule(id)).jobs;
    expect(job!.due_at).toBeGreaterThan(clock.now);

    await runInDurableObject(procedureStub(id), (instance, state) => {
      instance.recordDecision = async (decision) => {
        const { insertDecisionStatement } = await import("../../src/db/decisions");
        await insertDecisionStatement(env.DB, decision).run();
      };
      void state;
    });
    clock.now = job!.due_at;
    await fire(id);
    expect(await overdueDecisions(id)).toHaveLength(1);
    expect(await overdueEvents(id)).toHaveLength(1);
    expect((await schedule(id)).jobs).toEqual([]);
  });
});

describe("the deadline's gates", () => {
  it("the kill switch stops it: no decision, no event", async () => {
    const { id, clock } = await procedure([SLOW]);
    await report(id, 0, "in_flight");
    await env.DB.prepare("UPDATE actors SET active = 0 WHERE actor_id = ?").bind(WATCHER_AGENT.id).run();
    clock.now += 30_000;
    await fire(id);
    expect(await overdueDecisions(id)).toEqual([]);
    expect(await overdueEvents(id)).toEqual([]);
    expect((await schedule(id)).jobs).toEqual([]);
  });

  it("is off with the watcher: no decision", async () => {
    const { id, clock } = await procedure([SLOW], { enabled: false });
    await report(id, 0, "in_flight");
    clock.now += 30_000;
    await fire(id);
    expect(await overdueDecisions(id)).toEqual([]);
  });

  it("is an event type a subscription may ask for", async () => {
    const created = await call("/v1/subscriptions", { body: { url: "https://hooks.example.org/overdue", event_types: ["procedure.step_overdue"] } });
    expect(created.status).toBe(201);
    expect(created.json.event_types).toEqual(["procedure.step_overdue"]);
    expect((await call(`/v1/subscriptions/${created.json.subscription_id}`, { method: "DELETE" })).status).toBe(204);
  });

  it("refuses a deadline out of range; nothing is pinned", async () => {
    const id = await registerProcedure();
    for (const deadline_seconds of [0, 604801, 1.5]) {
      expectProblem(await call(`/v1/procedures/${id}/conduct`, { body: { steps: [{ ...STEPS.setpoint, deadline_seconds }] } }), 400);
    }
    expect((await call(`/v1/procedures/${id}`)).json).toMatchObject({ status: "Defined", version: 1 });
  });
});
