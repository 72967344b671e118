// Every table bounded: the Cron Trigger deletes rows older than each table's
// retention window, a bounded batch per table per tick on the table's time
// index, and reports each batch's rows read and written in the tick summary.
import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { DEFAULT_RETENTION_SECONDS, parseRetentionConfig, type RetainedTable } from "../../src/retention/policy";
import { runRetention } from "../../src/retention/sweep";
import { call } from "../helpers";

const RUN = crypto.randomUUID().slice(0, 8);
const DAY = 86_400_000;
const config = parseRetentionConfig({});
const longAgo = (table: RetainedTable, i: number) => new Date(Date.now() - DEFAULT_RETENTION_SECONDS[table] * 1000 - DAY - i * 1000).toISOString();
const recent = new Date(Date.now() - 60_000).toISOString();

function summary(id: string, archivedAt: string | null) {
  return env.DB.prepare(
    `INSERT INTO procedure_summary (procedure_id, name, kind, target_asset_ids, status, registered_at, last_status_changed_at, hold_causes, version, updated_at, archived_at)
     VALUES (?1, 'seeded', 'k', '["asset-retention"]', 'Completed', ?2, ?2, '[]', 3, ?2, ?3)`,
  ).bind(id, longAgo("decisions", 0), archivedAt);
}

function decision(subject: string, at: string) {
  return env.DB.prepare(
    `INSERT INTO decisions (id, context, choice, decided_by, rule, subject_id, reasoning, inputs, confidence_source, recorded_at)
     VALUES (?1, 'ProcedureProgress', 'Stall', 'agent', 'rule', ?2, 'seeded', '{}', 'self_reported', ?3)`,
  ).bind(crypto.randomUUID(), subject, at);
}

const delivery = (at: string, outcome: string) =>
  env.DB.prepare(
    `INSERT INTO deliveries (delivery_id, subscription_id, webhook_id, event_type, attempt, outcome, attempted_at) VALUES (?1, ?2, ?1, 'procedure.held', 1, ?3, ?4)`,
  ).bind(crypto.randomUUID(), `sub-${RUN}`, outcome, at);
const audit = (at: string) =>
  env.DB.prepare(`INSERT INTO audit_log (audit_id, action, subject_id, actor_id, occurred_at) VALUES (?1, 'seeded', ?2, 'seed', ?3)`).bind(crypto.randomUUID(), `subject-${RUN}`, at);
const idempotencyKey = (at: string) =>
  env.DB.prepare(`INSERT INTO idempotency_keys (principal_id, idempotency_key, procedure_id, request_hash, created_at) VALUES (?1, ?2, 'p', 'h', ?3)`).bind(`seed-${RUN}`, crypto.randomUUID(), at);

const counts = async () => {
  const one = async (sql: string) => (await env.DB.prepare(sql).first<{ n: number }>())!.n;
  return {
    decisions: await one(`SELECT count(*) AS n FROM decisions WHERE reasoning = 'seeded'`),
    deliveries: await one(`SELECT count(*) AS n FROM deliveries WHERE subscription_id = 'sub-${RUN}'`),
    audit: await one(`SELECT count(*) AS n FROM audit_log WHERE subject_id = 'subject-${RUN}'`),
    idempotencyKeys: await one(`SELECT count(*) AS n FROM idempotency_keys WHERE principal_id = 'seed-${RUN}'`),
  };
};

describe("retention windows", () => {
  it("deletes rows past each table's window a bounded batch at a time, keeps the rest, and reads about a batch", async () => {
    const archived = crypto.randomUUID();
    const live = crypto.randomUUID();
    const OLD = 30;
    await env.DB.batch([
      summary(archived, new Date().toISOString()),
      summary(live, null),
      // Old and recent decisions of an archived procedure; old ones of a live procedure stay whatever their age.
      ...Array.from({ length: OLD }, (_, i) => decision(archived, longAgo("decisions", i))),
      decision(archived, recent),
      ...Array.from({ length: 3 }, (_, i) => decision(live, longAgo("decisions", OLD + i))),
      ...Array.from({ length: OLD }, (_, i) => delivery(longAgo("deliveries", i), ["delivered", "retrying", "failed"][i % 3]!)),
      delivery(recent, "delivered"),
      ...Array.from({ length: OLD }, (_, i) => audit(longAgo("audit", i))),
      audit(recent),
      ...Array.from({ length: OLD }, (_, i) => idempotencyKey(longAgo("idempotencyKeys", i))),
      idempotencyKey(recent),
    ]);
    expect(await counts()).toEqual({ decisions: OLD + 4, deliveries: OLD + 1, audit: OLD + 1, idempotencyKeys: OLD + 1 });

    const batch = 8;
    const first = await runRetention(env.DB, config, Date.now(), batch);
    for (const result of first) {
      expect(result.error, result.table).toBeUndefined();
      expect(result.deleted, result.table).toBe(batch);
      // The batch's rows and its index entries, not the table.
      expect(result.rows_read, result.table).toBeLessThanOrEqual(batch * 6);
    }
    expect(await counts()).toEqual({ decisions: OLD + 4 - batch, deliveries: OLD + 1 - batch, audit: OLD + 1 - batch, idempotencyKeys: OLD + 1 - batch });

    // The backlog is worked off over the following ticks; what is within its window, or about a live procedure, stays.
    for (let i = 0; i < 6; i += 1) await runRetention(env.DB, config, Date.now(), batch);
    expect(await counts()).toEqual({ decisions: 1 + 3, deliveries: 1, audit: 1, idempotencyKeys: 1 });
    const left = await env.DB.prepare(`SELECT subject_id, recorded_at FROM decisions WHERE reasoning = 'seeded' AND subject_id = ?`).bind(archived).all();
    expect(left.results).toEqual([{ subject_id: archived, recorded_at: recent }]);
  });

  it("honours each window's variable, and refuses a malformed one", () => {
    expect(parseRetentionConfig({ AUDIT_RETENTION_SECONDS: "60" }).keepSeconds).toMatchObject({ audit: 60, deliveries: DEFAULT_RETENTION_SECONDS.deliveries });
    expect(() => parseRetentionConfig({ DELIVERY_RETENTION_SECONDS: "1e3" })).toThrow(/DELIVERY_RETENTION_SECONDS/);
    expect(() => parseRetentionConfig({ ARCHIVE_AFTER_SECONDS: "0" })).toThrow(/ARCHIVE_AFTER_SECONDS/);
  });

  it("puts each batch's rows read and written, and the archive pass, in the tick summary", async () => {
    await env.DB.batch([audit(longAgo("audit", 0)), audit(longAgo("audit", 1))]);
    const enabled = { ...env, WATCHER_ENABLED: "true" };
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" }), enabled);
    const watcher = await call("/v1/watcher");
    expect(watcher.status).toBe(200);
    const tick = watcher.json.last_tick;
    expect(tick.archive).toMatchObject({ candidates: expect.any(Number), rows_read: expect.any(Number), rows_written: expect.any(Number) });
    expect(tick.retention.map((b: { table: string }) => b.table).sort()).toEqual(["audit", "decisions", "deliveries", "idempotencyKeys"]);
    const auditBatch = tick.retention.find((b: { table: string }) => b.table === "audit");
    expect(auditBatch.deleted).toBeGreaterThanOrEqual(2);
    expect(auditBatch.rows_written).toBeGreaterThanOrEqual(2);
  });
});
