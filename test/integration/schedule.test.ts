// The object's scheduler: every due job runs on its own, and a job that throws
// is logged and tried again after a capped backoff counted in the schedule
// table, without keeping the other jobs of that alarm (or any later alarm)
// from running. The faults are injected into the object's own seams.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS } from "../../src/live/hub";
import type { Notification } from "../../src/notify/events";
import type { ProcedureObject } from "../../src/procedure/object/object";
import { Scheduler, systemClock, type JobHandler, type JobKind } from "../../src/procedure/object/schedule";
import { call, command, procedureStub, registerProcedure } from "../helpers";
import { openSocket } from "../live";

function objectOf(id: string) {
  return procedureStub(id) as DurableObjectStub<ProcedureObject>;
}

/** The object's clock, moved by hand; its own timers never fire, so only the alarm runs the jobs. */
async function handClock(id: string) {
  const clock = { at: Date.now() };
  await runInDurableObject(objectOf(id), (instance: ProcedureObject) => {
    instance.clock = { now: () => clock.at, sleep: () => new Promise(() => {}) };
  });
  return clock;
}

function scheduleRows(id: string) {
  return runInDurableObject(objectOf(id), (_instance, state) =>
    state.storage.sql.exec<{ key: string; due_at: number; attempts: number }>("SELECT key, due_at, attempts FROM schedule ORDER BY key").toArray(),
  );
}

async function reader() {
  const created = await call("/v1/principals", { body: { name: `stream reader ${crypto.randomUUID()}`, roles: ["reader"] } });
  expect(created.status).toBe(201);
  return created.json as { principal_id: string; token: string };
}

describe("the object's scheduler", () => {
  it("retries a stream check whose principal look-up threw, so a revoked principal's stream still closes within the bound", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const leaving = await reader();
    const gone = await reader();
    const clock = await handClock(id);
    const socket = await openSocket(id, { token: leaving.token });
    const goneSocket = await openSocket(id, { token: gone.token });
    await Promise.all([socket.next(1), goneSocket.next(1)]);
    let failures = 1;
    await runInDurableObject(objectOf(id), (instance: ProcedureObject) => {
      const lookUp = instance.principalIsActive;
      instance.principalIsActive = (holder) =>
        holder.principal_id === leaving.principal_id && failures-- > 0 ? Promise.reject(new Error("D1 unavailable")) : lookUp(holder);
    });
    expect((await call(`/v1/principals/${gone.principal_id}/revoke`, { method: "POST" })).status).toBe(200);

    clock.at += DEFAULT_LIMITS.checkIntervalMs;
    expect(await runDurableObjectAlarm(objectOf(id))).toBe(true);
    // The look-up that failed spares nobody else: the principal read as revoked is closed in the same check.
    expect(await goneSocket.closed()).toEqual({ code: 1008, reason: "principal no longer active" });
    // The check is still pending, one failed attempt on its row, due again well within the interval.
    const [check] = (await scheduleRows(id)).filter((row) => row.key === "stream-check");
    expect(check).toMatchObject({ attempts: 1 });
    expect(check!.due_at - clock.at).toBeGreaterThan(0);
    expect(check!.due_at - clock.at).toBeLessThanOrEqual(DEFAULT_LIMITS.checkIntervalMs);

    const revokedAt = clock.at;
    expect((await call(`/v1/principals/${leaving.principal_id}/revoke`, { method: "POST", body: { reason: "left the lab" } })).status).toBe(200);
    clock.at = check!.due_at;
    expect(await runDurableObjectAlarm(objectOf(id))).toBe(true);
    expect(await socket.closed()).toEqual({ code: 1008, reason: "principal no longer active" });
    expect(clock.at - revokedAt).toBeLessThanOrEqual(DEFAULT_LIMITS.checkIntervalMs);
  });

  it("runs the projection and notification jobs of an alarm whose stream check throws, and keeps retrying the check", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const clock = await handClock(id);
    const socket = await openSocket(id);
    await socket.next(1);
    let queueUp = false;
    const sent: Notification[] = [];
    await runInDurableObject(objectOf(id), (instance: ProcedureObject) => {
      instance.principalIsActive = () => Promise.reject(new Error("D1 unavailable"));
      instance.sendNotifications = async (batch) => {
        if (!queueUp) throw new Error("queue unavailable");
        sent.push(...batch);
      };
    });
    // The check falls due first; the hold's projection and its (failed) send after it.
    clock.at += DEFAULT_LIMITS.checkIntervalMs + 1_000;
    expect((await call(`/v1/procedures/${id}/hold`, { method: "POST", body: { reason: "door open" } })).status).toBe(200);
    expect((await socket.next(2)).map((m) => m.event)).toEqual(["ProcedureHeld", "state"]);
    await objectOf(id).notify();
    const projected = () => env.DB.prepare("SELECT status FROM procedure_summary WHERE procedure_id = ?").bind(id).first<{ status: string }>();
    expect((await projected())!.status).toBe("Running");
    expect(sent).toEqual([]);

    queueUp = true;
    clock.at += 60_000;
    expect(await runDurableObjectAlarm(objectOf(id))).toBe(true);
    expect((await projected())!.status).toBe("Held");
    expect(sent.map((n) => n.type)).toEqual(["procedure.held"]);
    expect(await scheduleRows(id)).toEqual([{ key: "stream-check", due_at: clock.at + 1_000, attempts: 1 }]);

    // A later alarm runs the failing check again, with a longer wait, and the socket stays open.
    clock.at += 1_000;
    expect(await runDurableObjectAlarm(objectOf(id))).toBe(true);
    expect(await scheduleRows(id)).toEqual([{ key: "stream-check", due_at: clock.at + 5_000, attempts: 2 }]);
    // The third wait would be 30 s: the check caps it at its interval.
    clock.at += 5_000;
    expect(await runDurableObjectAlarm(objectOf(id))).toBe(true);
    expect(await scheduleRows(id)).toEqual([{ key: "stream-check", due_at: clock.at + DEFAULT_LIMITS.checkIntervalMs, attempts: 3 }]);
    expect((await command(id, "resume", { re_establishment_boundary: 0 })).status).toBe(200);
    expect((await socket.next(2)).map((m) => m.event)).toEqual(["ProcedureResumed", "state"]);
  });

  it("forgets a job asked for in a transaction that failed: the copy in memory follows the rolled-back table", async () => {
    const id = await registerProcedure();
    await runInDurableObject(objectOf(id), (_instance, state) => {
      const idle: JobHandler = { run: async () => {} };
      // Typed in full, so a kind added to JobKind and missing here does not compile.
      const handlers: Record<JobKind, JobHandler> = {
        projection: idle,
        notify: idle,
        "stream-check": idle,
        deadline: idle,
        "stall-decision": idle,
        archive: idle,
      };
      const scheduler = new Scheduler(state.storage, systemClock, handlers, () => ({}));
      const failed = () =>
        scheduler.transaction(() => {
          scheduler.jobs.request("rolled-back", "projection", Date.now());
          throw new Error("a write of the same transaction failed");
        });
      expect(failed).toThrow("a write of the same transaction failed");
      expect(state.storage.sql.exec("SELECT key FROM schedule WHERE key = 'rolled-back'").toArray()).toEqual([]);
      expect(scheduler.jobs.pending("rolled-back")).toBeNull();
      // Asked for again, it is new: its row is written and the caller arms the alarm.
      expect(scheduler.transaction(() => scheduler.jobs.request("rolled-back", "projection", Date.now()))).toBe(true);
      expect(state.storage.sql.exec("SELECT key FROM schedule WHERE key = 'rolled-back'").toArray()).toEqual([{ key: "rolled-back" }]);
    });
  });
});
