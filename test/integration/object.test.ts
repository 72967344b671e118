// The procedure's object as a Durable Object: eviction, concurrency and the
// outbox that feeds the D1 projection through D1 failures.
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { env } from "cloudflare:workers";
import { database } from "../../src/db/client";
import { upsertSummary, type SummaryRow } from "../../src/db/summaries";
import { fold } from "../../src/procedure/state";
import type { ProcedureEvent } from "../../src/procedure/events";
import { call, command, eventLog, procedureStub, registerProcedure, summaryOf } from "../helpers";

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
      expect(state.storage.sql.exec("SELECT count(*) AS n FROM outbox").one().n).toBeGreaterThan(0);
      instance.projectSummary = healthy!;
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const state = (await call(`/v1/procedures/${id}`)).json;
    expect(await summaryOf(id)).toMatchObject({ status: state.status, version: state.version, hold_causes: JSON.stringify(["operator"]) });
    await runInDurableObject(stub, (_instance, s) => {
      expect(s.storage.sql.exec("SELECT count(*) AS n FROM outbox").one().n).toBe(0);
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
});
