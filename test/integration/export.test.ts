// GET /v1/procedures/{id}/export: the whole record as JSON Lines, in the
// documented order (state, events, manifest, logbook), streamed page by page
// from the procedure's object.
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { uuidv7 } from "../../src/ids";
import { EXPORT_PAGE_BYTES, EXPORT_PAGE_ROWS, type ExportCursor } from "../../src/procedure/object/export";
import { conduct, entry, post, STEPS } from "../conduct-helpers";
import { call, command, eventLog, expectProblem, procedureStub, registerProcedure, tokenFor, userTables } from "../helpers";

type Line = Record<string, unknown> & { record: string };

function lines(text: string): Line[] {
  expect(text.endsWith("\n")).toBe(true);
  return text.slice(0, -1).split("\n").map((line) => JSON.parse(line) as Line);
}

async function exported(id: string, token?: string) {
  const result = await call(`/v1/procedures/${id}/export`, { token });
  expect(result.status).toBe(200);
  expect(result.headers.get("content-type")).toBe("application/x-ndjson");
  return lines(result.text);
}

const strip = ({ record: _record, ...rest }: Line) => rest;

/** Appends `count` logbook rows straight into the object's storage, the way many accepted batches would have. */
function seedLogbook(id: string, count: number, payload: (i: number) => Record<string, unknown>) {
  return runInDurableObject(procedureStub(id), (_instance, state) => {
    const sql = state.storage.sql;
    state.storage.transactionSync(() => {
      for (let i = 0; i < count; i += 1) {
        sql.exec(
          `INSERT INTO logbook (event_id, step_kind, payload, sampled_at, occurred_at, recorded_at, principal_id, at_version, batch)
           VALUES (?, 'note', ?, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'seed', 1, 0)`,
          uuidv7(),
          JSON.stringify(payload(i)),
        );
      }
    });
  });
}

describe("exporting a procedure", () => {
  it("streams the state, every event, the manifest and every logbook entry, in that order, as the reads show them", async () => {
    const id = await registerProcedure();
    expect((await conduct(id, { steps: [STEPS.setpoint, STEPS.capture] })).json.succeeded).toBe(true);
    const batch = [
      entry({ step_kind: "setpoint", step_index: 0, result: "in_flight" }),
      entry({ step_kind: "setpoint", step_index: 0, result: "ok" }),
      entry({ step_kind: "capture", step_index: 1, result: "ok" }),
    ];
    expect((await post(id, batch)).status).toBe(200);

    const all = await exported(id);
    expect(all.map((l) => l.record)).toEqual(["state", ...Array(5).fill("event"), "manifest", "activity", "activity", "activity"]);
    expect(strip(all[0]!)).toEqual((await call(`/v1/procedures/${id}`)).json);
    expect(all[0]).toMatchObject({ status: "Completed", completed_count: 2 });
    expect(all.filter((l) => l.record === "event").map(strip)).toEqual(await eventLog(id));
    expect(strip(all.find((l) => l.record === "manifest")!)).toEqual((await call(`/v1/procedures/${id}/manifest`)).json);
    const logbook = (await call(`/v1/procedures/${id}/activities?limit=500`)).json.items as unknown[];
    expect(all.filter((l) => l.record === "activity").map(strip)).toEqual([...logbook].reverse());
    expect(all.filter((l) => l.record === "activity").map((l) => l.event_id)).toEqual(batch.map((e) => e.event_id));
  });

  it("has no manifest line for a procedure started without conduct", async () => {
    const id = await registerProcedure();
    expect((await command(id, "start")).status).toBe(200);
    expect((await exported(id)).map((l) => l.record)).toEqual(["state", "event", "event"]);
  });

  it("streams a large logbook in pages bounded by rows and by bytes, each entry once and in order", async () => {
    const id = await registerProcedure();
    expect((await command(id, "start")).status).toBe(200);
    const count = EXPORT_PAGE_ROWS * 3 + 17;
    await seedLogbook(id, count, (i) => ({ i }));

    // The object's pages, as the route pulls them: none holds more than a page of rows.
    const stub = procedureStub(id);
    let cursor: ExportCursor | null = null;
    let pages = 0;
    let total = 0;
    do {
      const page = await stub.exportPage(cursor, { scopes: null });
      if (!page.ok) throw new Error(page.refusal.detail);
      expect(page.value.lines.length).toBeLessThanOrEqual(EXPORT_PAGE_ROWS);
      total += page.value.lines.length;
      cursor = page.value.next;
      pages += 1;
    } while (cursor !== null);
    expect(pages).toBeGreaterThanOrEqual(4);

    const all = await exported(id);
    expect(all.length).toBe(total);
    const entries = all.filter((l) => l.record === "activity");
    expect(entries.map((l) => (l.payload as { i: number }).i)).toEqual(Array.from({ length: count }, (_, i) => i));
  });

  it("stops a page at about a megabyte of lines, however few rows that is", async () => {
    const id = await registerProcedure();
    expect((await command(id, "start")).status).toBe(200);
    await seedLogbook(id, 40, (i) => ({ i, blob: "x".repeat(60_000) }));
    const page = await procedureStub(id).exportPage({ until_version: 2, until_seq: 40, manifest: false, section: "logbook", after: 0 }, { scopes: null });
    if (!page.ok) throw new Error(page.refusal.detail);
    expect(page.value.lines.length).toBeLessThan(40);
    expect(page.value.lines.join("\n").length).toBeLessThan(EXPORT_PAGE_BYTES + 70_000);
    expect((await exported(id)).filter((l) => l.record === "activity")).toHaveLength(40);
  });

  it("ends the record where it stood when the export began", async () => {
    const id = await registerProcedure();
    expect((await command(id, "start")).status).toBe(200);
    await seedLogbook(id, EXPORT_PAGE_ROWS + 5, (i) => ({ i }));
    const stub = procedureStub(id);
    const first = await stub.exportPage(null, { scopes: null });
    if (!first.ok) throw new Error(first.refusal.detail);
    // The procedure moves on while the export is under way.
    expect((await command(id, "hold", { reason: "later" })).status).toBe(200);
    await seedLogbook(id, 3, (i) => ({ later: i }));
    let cursor = first.value.next;
    const rest: string[] = [];
    while (cursor !== null) {
      const page = await stub.exportPage(cursor, { scopes: null });
      if (!page.ok) throw new Error(page.refusal.detail);
      rest.push(...page.value.lines);
      cursor = page.value.next;
    }
    const all = [...first.value.lines, ...rest].map((line) => JSON.parse(line) as Line);
    expect(all.filter((l) => l.record === "event")).toHaveLength(2);
    expect(all.filter((l) => l.record === "activity")).toHaveLength(EXPORT_PAGE_ROWS + 5);
    expect(all[0]).toMatchObject({ record: "state", status: "Running", version: 2 });
  });

  it("answers every role that may read the events and the logbook, not a gateway, and none without a token", async () => {
    const id = await registerProcedure();
    for (const role of ["reader", "operator"]) expect((await exported(id, await tokenFor(role)))[0]).toMatchObject({ record: "state", procedure_id: id });
    // The record holds the event log and the logbook, which a gateway may not read by their own routes.
    expectProblem(await call(`/v1/procedures/${id}/export`, { token: await tokenFor("gateway") }), 403, "Forbidden");
    expectProblem(await call(`/v1/procedures/${id}/export`, { token: null }), 401, "Unauthenticated");
  });

  it("answers 404 for a procedure nobody registered, and leaves no trace", async () => {
    const id = uuidv7();
    expectProblem(await call(`/v1/procedures/${id}/export`), 404, "ProcedureNotFound");
    expect(await userTables(id)).toEqual([]);
    expectProblem(await call(`/v1/procedures/not-a-uuid/export`), 400, "ValidationFailed");
  });

  it("hides a procedure outside a scoped principal's scopes", async () => {
    const id = await registerProcedure({ target_asset_ids: ["asset-export-outside"] });
    const created = await call("/v1/principals", { body: { name: "export scoped", roles: ["reader"], scopes: { target_asset_ids: ["asset-export-inside"] } } });
    expectProblem(await call(`/v1/procedures/${id}/export`, { token: created.json.token }), 404, "ProcedureNotFound");
  });
});
