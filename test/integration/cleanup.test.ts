// The work after a commit (the notification send, the projection) leaves its
// clean-ups (the outbox rows the queue took, the finished jobs' rows) for the
// object's next write: the next command's transaction on a busy procedure, or
// one commit of their own after CLEANUP_DELAY_MS on a quiet one, which also
// removes the alarm when no job is left. A crash before then repeats the
// work, never loses it. The send itself goes at once after a quiet spell and
// gathers a busy procedure's commits into one send per NOTIFY_COALESCE_MS.
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Notification } from "../../src/notify/events";
import { NOTIFY_COALESCE_MS } from "../../src/notify/outbox";
import type { ProcedureObject } from "../../src/procedure/object/object";
import { PROJECTION_DELAY_MS } from "../../src/procedure/object/projection";
import { CLEANUP_DELAY_MS } from "../../src/procedure/object/schedule";
import { env } from "cloudflare:workers";
import { call, command, procedureStub, registerProcedure } from "../helpers";

/** A command as a client sends it; unlike the helpers' `command`, it asks the object to write nothing early. */
function send(id: string, name: string, body: unknown) {
  return call(`/v1/procedures/${id}/${name}`, { method: "POST", body });
}

/** The projection row as D1 holds it, without asking the object to write it first. */
function summaryRow(id: string) {
  return env.DB.prepare("SELECT status, version FROM procedure_summary WHERE procedure_id = ?").bind(id).first<Record<string, unknown>>();
}

function objectOf(id: string) {
  return procedureStub(id) as DurableObjectStub<ProcedureObject>;
}

/**
 * The object's clock, with its timers held until the test releases them by
 * duration (`fire(ms)` resolves every pending sleep of that length), and the
 * notifications it hands to the queue.
 */
async function heldTimers(id: string, now: () => number = () => Date.now()) {
  const sleeps: Array<{ ms: number; resolve: () => void }> = [];
  const sends: string[][] = [];
  await runInDurableObject(objectOf(id), (instance: ProcedureObject) => {
    instance.clock = { now, sleep: (ms) => new Promise<void>((resolve) => sleeps.push({ ms, resolve })) };
    instance.sendNotifications = async (batch) => {
      sends.push(batch.map((n) => n.webhook_id));
    };
  });
  const settle = () => runInDurableObject(objectOf(id), () => new Promise((resolve) => setTimeout(resolve, 20)));
  return {
    /** The webhook ids of each send, in order. */
    sends,
    pendingSleeps: () => sleeps.map((s) => s.ms),
    /** Released from inside the object, so what the timer runs has the object's own I/O context. */
    async fire(ms: number) {
      await runInDurableObject(objectOf(id), () => {
        for (const sleep of sleeps.filter((s) => s.ms === ms)) {
          sleeps.splice(sleeps.indexOf(sleep), 1);
          sleep.resolve();
        }
      });
      await settle();
    },
    settle,
  };
}

/** A started procedure with its object's timers held, once its first hold (version 3) is committed and the work right after it ran. */
async function afterFirstHold(reason: string, now?: () => number) {
  const id = await registerProcedure();
  await command(id, "start");
  const timers = await heldTimers(id, now);
  expect((await send(id, "hold", { reason })).status).toBe(200);
  await timers.settle();
  return { id, timers };
}

/** What the object's storage holds: outbox rows, job rows and the alarm. */
function stored(id: string) {
  return runInDurableObject(objectOf(id), async (_instance, state) => ({
    outbox: state.storage.sql.exec<{ webhook_id: string }>("SELECT webhook_id FROM notifications ORDER BY seq").toArray().map((r) => r.webhook_id),
    jobs: state.storage.sql.exec<{ key: string }>("SELECT key FROM schedule ORDER BY key").toArray().map((r) => r.key),
    alarm: await state.storage.getAlarm(),
  }));
}

describe("clean-ups after a commit", () => {
  it("wait for the next command's transaction, which removes what the queue took and the finished jobs", async () => {
    const { id, timers } = await afterFirstHold("first");
    // Sent at once; its removal waits.
    expect(timers.sends.flat()).toEqual([`msg_${id}_v3`]);
    expect((await stored(id)).outbox).toContain(`msg_${id}_v3`);

    await timers.fire(PROJECTION_DELAY_MS);
    expect(await summaryRow(id)).toEqual({ status: "Held", version: 3 });
    expect((await stored(id)).jobs).toContain("projection");

    expect((await send(id, "resume", { re_establishment_boundary: 0 })).status).toBe(200);
    // Sent at once, or after the coalescing window on a machine fast enough to get here within it.
    await timers.fire(NOTIFY_COALESCE_MS);
    const after = await stored(id);
    // The resume's transaction removed the hold's outbox row and the finished projection job; its own wait in turn.
    expect(after.outbox).toEqual([`msg_${id}_v4`]);
    expect(timers.sends.flat()).toEqual([`msg_${id}_v3`, `msg_${id}_v4`]);
  });

  it("are applied on their own after CLEANUP_DELAY_MS on a quiet procedure, and the alarm goes when nothing is left", async () => {
    const { id, timers } = await afterFirstHold("then quiet");
    await timers.fire(PROJECTION_DELAY_MS);
    expect(timers.pendingSleeps()).toContain(CLEANUP_DELAY_MS);
    const waiting = await stored(id);
    expect(waiting.alarm).not.toBeNull();
    expect(waiting.outbox.length + waiting.jobs.length).toBeGreaterThan(0);

    await timers.fire(CLEANUP_DELAY_MS);
    expect(await stored(id)).toEqual({ outbox: [], jobs: [], alarm: null });
    expect(await summaryRow(id)).toEqual({ status: "Held", version: 3 });
  });

  it("lost to a crash only repeat the work: the restarted object resends with the same webhook id and writes the projection again", async () => {
    const { id, timers } = await afterFirstHold("before the crash");
    await timers.fire(PROJECTION_DELAY_MS);
    expect(timers.sends.flat()).toEqual([`msg_${id}_v3`]);

    await evictDurableObject(objectOf(id));
    const resent: Notification[] = [];
    await runInDurableObject(objectOf(id), (instance: ProcedureObject) => {
      // A minute on: every job the crash left is due.
      instance.clock = { now: () => Date.now() + 60_000, sleep: () => new Promise(() => {}) };
      instance.sendNotifications = async (batch) => {
        resent.push(...batch);
      };
    });
    await runInDurableObject(objectOf(id), (_instance, state) => state.storage.setAlarm(Date.now()));
    expect(await runDurableObjectAlarm(objectOf(id))).toBe(true);
    expect(resent.map((n) => n.webhook_id)).toEqual([`msg_${id}_v3`]);
    expect(await stored(id)).toEqual({ outbox: [], jobs: [], alarm: null });
    expect(await summaryRow(id)).toEqual({ status: "Held", version: 3 });
  });
});

describe("the send after a commit", () => {
  it("goes at once on a quiet procedure and gathers the commits of a busy one into one send per window", async () => {
    // The object's clock stands still, so every command below falls in the window of the first send.
    const at = Date.now() + 60_000;
    const { id, timers } = await afterFirstHold("first", () => at);
    expect(timers.sends).toEqual([[`msg_${id}_v3`]]);

    expect((await send(id, "resume", { re_establishment_boundary: 0 })).status).toBe(200);
    expect((await send(id, "hold", { reason: "third" })).status).toBe(200);
    await timers.settle();
    // Committed, on record in the outbox, and waiting for the window to end.
    expect(timers.sends).toEqual([[`msg_${id}_v3`]]);
    expect(timers.pendingSleeps().filter((ms) => ms === NOTIFY_COALESCE_MS)).toHaveLength(1);
    expect((await stored(id)).outbox).toEqual(expect.arrayContaining([`msg_${id}_v4`, `msg_${id}_v5`]));

    await timers.fire(NOTIFY_COALESCE_MS);
    expect(timers.sends).toEqual([[`msg_${id}_v3`], [`msg_${id}_v4`, `msg_${id}_v5`]]);
  });
});
