// A watcher tick that meets a fault for one candidate: the others are judged,
// the stall outbox is drained and the tick's summary (with its failure count)
// is written. The fault is injected into D1 for the one candidate's batch, and
// the tick runs through the Worker's own scheduled handler.
import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../src/index";
import type { NotifyMessage } from "../../src/notify/delivery";
import { WATCHER_AGENT } from "../../src/watcher/stall";
import { call, command, registerProcedure } from "../helpers";

const HOUR = 3_600_000;

/**
 * D1 whose batches fail while they carry a statement bound to `poisoned`, and
 * whose watch-index pages fail while `pagesDown`; everything else reaches the
 * real database.
 */
function faultyD1(poisoned: () => string | null, pagesDown: () => boolean = () => false): D1Database {
  const bound = new WeakMap<D1PreparedStatement, unknown[]>();
  const prepare = (query: string) =>
    new Proxy(env.DB.prepare(query), {
      get(target, key) {
        if (key === "bind") {
          return (...values: unknown[]) => {
            if (pagesDown() && query.includes("INDEXED BY")) throw new Error("D1_ERROR: network connection lost");
            const statement = target.bind(...values);
            bound.set(statement, values);
            return statement;
          };
        }
        const value = Reflect.get(target, key);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  const batch = (statements: D1PreparedStatement[]) => {
    const id = poisoned();
    if (id !== null && statements.some((s) => bound.get(s)?.includes(id))) return Promise.reject(new Error("D1_ERROR: batch failed"));
    return env.DB.batch(statements);
  };
  return new Proxy(env.DB, {
    get(target, key) {
      if (key === "prepare") return prepare;
      if (key === "batch") return batch;
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

async function scheduledTick(nowMs: number, d1: D1Database) {
  const sent: NotifyMessage[] = [];
  const queue = {
    send: async (body: NotifyMessage) => void sent.push(body),
    sendBatch: async (batch: Iterable<{ body: NotifyMessage }>) => void sent.push(...[...batch].map((m) => m.body)),
  } as unknown as Queue<NotifyMessage>;
  await worker.scheduled(createScheduledController({ scheduledTime: nowMs, cron: "* * * * *" }), { ...env, WATCHER_ENABLED: "true", DB: d1, NOTIFICATIONS: queue });
  return sent;
}

async function decided(id: string) {
  const result = await call(`/v1/decisions?subject_id=${id}`);
  expect(result.status).toBe(200);
  return (result.json.items as Array<{ choice: string }>).map((d) => d.choice);
}

beforeEach(async () => {
  await env.DB.batch([
    env.DB.prepare("UPDATE actors SET active = 1 WHERE actor_id = ?").bind(WATCHER_AGENT.id),
    env.DB.prepare(`UPDATE principals SET roles = '["watcher"]' WHERE principal_id = ?`).bind(WATCHER_AGENT.id),
  ]);
});

describe("a tick with one failing candidate", () => {
  it("judges the others, drains their stalls and writes its summary with the failure counted; the next tick judges the one it missed", async () => {
    const ids = [await registerProcedure(), await registerProcedure(), await registerProcedure()];
    const started = await Promise.all(ids.map(async (id) => Date.parse((await command(id, "start")).json.last_status_changed_at)));
    const now = Math.max(...started) + HOUR + 1;
    const [first, broken, last] = ids as [string, string, string];
    let poisoned: string | null = broken;
    const d1 = faultyD1(() => poisoned);

    const sent = await scheduledTick(now, d1);
    expect(await decided(first)).toEqual(["Stall"]);
    expect(await decided(last)).toEqual(["Stall"]);
    expect(await decided(broken)).toEqual([]);
    expect(sent.map((m) => m.notification.subject?.procedure_id).sort()).toEqual([first, last].sort());
    const watcher = await call("/v1/watcher");
    expect(watcher.json.last_tick).toMatchObject({ outcome: "ran", candidates: 3, flagged: 2, failures: 1 });

    poisoned = null;
    const again = await scheduledTick(now + 60_000, d1);
    expect(await decided(broken)).toEqual(["Stall"]);
    expect(again.map((m) => m.notification.subject?.procedure_id)).toEqual([broken]);
    expect((await call("/v1/watcher")).json.last_tick).toMatchObject({ candidates: 1, flagged: 1, failures: 0 });
  });
});

describe("a tick that fails as a whole", () => {
  it("fails its invocation, and still drains what the outbox holds", async () => {
    const pending = {
      webhook_id: `msg_${crypto.randomUUID()}`,
      type: "procedure.stalled",
      timestamp: new Date().toISOString(),
      data: {},
      subject: { procedure_id: crypto.randomUUID(), kind: "calibration", target_asset_ids: ["asset-1"] },
    };
    await env.DB.prepare("INSERT INTO notification_outbox (webhook_id, message, created_at) VALUES (?, ?, ?)")
      .bind(pending.webhook_id, JSON.stringify(pending), pending.timestamp)
      .run();
    const sent: NotifyMessage[] = [];
    const queue = { sendBatch: async (batch: Iterable<{ body: NotifyMessage }>) => void sent.push(...[...batch].map((m) => m.body)) } as unknown as Queue<NotifyMessage>;
    const d1 = faultyD1(() => null, () => true);
    await expect(
      worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" }), { ...env, WATCHER_ENABLED: "true", DB: d1, NOTIFICATIONS: queue }),
    ).rejects.toThrow("network connection lost");
    expect(sent.map((m) => m.notification.webhook_id)).toEqual([pending.webhook_id]);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM notification_outbox").first<{ n: number }>()).toEqual({ n: 0 });
  });
});
