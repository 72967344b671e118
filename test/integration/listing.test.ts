import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { database } from "../../src/db/client";
import { decisionPageQuery, insertDecisionStatement } from "../../src/db/decisions";
import { summaryPageQuery, upsertSummary, type SummaryRow } from "../../src/db/summaries";
import { uuidv7 } from "../../src/ids";
import { call, command, expectProblem, registerProcedure, tokenFor } from "../helpers";

describe("GET /v1/procedures", () => {
  it("walks every procedure exactly once with a small limit", async () => {
    const kind = `paging-${crypto.randomUUID().slice(0, 8)}`;
    const ids = new Set<string>();
    for (let i = 0; i < 7; i++) ids.add(await registerProcedure({ kind }));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `?kind=${kind}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const page = await call(`/v1/procedures${query}`, { token: await tokenFor("reader") });
      expect(page.status).toBe(200);
      expect(page.json.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.json.items.map((item: { procedure_id: string }) => item.procedure_id));
      cursor = page.json.next_cursor;
      pages += 1;
    } while (cursor !== null);
    expect(pages).toBe(4);
    expect(seen).toHaveLength(7);
    expect(new Set(seen)).toEqual(ids);
  });

  it("filters by status, kind and target asset", async () => {
    const kind = `filter-${crypto.randomUUID().slice(0, 8)}`;
    const asset = `asset-${crypto.randomUUID()}`;
    const running = await registerProcedure({ kind, target_asset_ids: [asset, "other"] });
    const defined = await registerProcedure({ kind, target_asset_ids: ["other"] });
    await command(running, "start");

    const byStatus = await call(`/v1/procedures?kind=${kind}&status=Running`);
    expect(byStatus.json.items.map((i: { procedure_id: string }) => i.procedure_id)).toEqual([running]);
    const byAsset = await call(`/v1/procedures?target_asset_id=${asset}`);
    expect(byAsset.json.items.map((i: { procedure_id: string }) => i.procedure_id)).toEqual([running]);
    const byKind = await call(`/v1/procedures?kind=${kind}`);
    expect(byKind.json.items.map((i: { procedure_id: string }) => i.procedure_id).sort()).toEqual([running, defined].sort());
    expect(byKind.json.items[0]).toMatchObject({ kind, hold_causes: [], last_activity_at: null });
  });

  it("refuses bad limits, unknown filters and forged cursors", async () => {
    expectProblem(await call("/v1/procedures?limit=0"), 400, "ValidationFailed");
    expectProblem(await call("/v1/procedures?limit=101"), 400, "ValidationFailed");
    expectProblem(await call("/v1/procedures?status=Sleeping"), 400, "ValidationFailed");
    expectProblem(await call("/v1/procedures?colour=red"), 400, "ValidationFailed");
    expectProblem(await call("/v1/procedures?cursor=garbage"), 400, "InvalidCursor");
  });

  it("answers 401 without a token; readers, operators and admins may list, gateways may not", async () => {
    expectProblem(await call("/v1/procedures", { token: null }), 401);
    expectProblem(await call("/v1/procedures", { token: await tokenFor("gateway") }), 403);
    expect((await call("/v1/procedures", { token: await tokenFor("operator") })).status).toBe(200);
  });
});

describe("GET /v1/procedures/{id}/events", () => {
  it("pages the event log by version", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    await command(id, "hold", { reason: "a" });
    await command(id, "resume", { re_establishment_boundary: 0 });
    const first = await call(`/v1/procedures/${id}/events?limit=3`);
    expect(first.json.items.map((e: { version: number }) => e.version)).toEqual([1, 2, 3]);
    expect(first.json.next_cursor).toBe("3");
    expect(first.json.items[0]).toMatchObject({ type: "ProcedureRegistered", principal_id: expect.any(String), event_id: expect.any(String) });
    const rest = await call(`/v1/procedures/${id}/events?after=${first.json.next_cursor}&limit=3`);
    expect(rest.json.items.map((e: { type: string }) => e.type)).toEqual(["ProcedureResumed"]);
    expect(rest.json.next_cursor).toBeNull();
  });

  it("answers 404 for an unknown procedure, 401 and 403", async () => {
    expectProblem(await call(`/v1/procedures/${crypto.randomUUID()}/events`), 404, "ProcedureNotFound");
    const id = await registerProcedure();
    expectProblem(await call(`/v1/procedures/${id}/events`, { token: null }), 401);
    expectProblem(await call(`/v1/procedures/${id}/events`, { token: await tokenFor("gateway") }), 403);
  });
});

describe("hold claims over HTTP", () => {
  it("a non-operator cause releases only its own claim; the last release resumes", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    await command(id, "hold", { reason: "operator pause" });
    await command(id, "hold", { reason: "driver away", cause: "driver-stand-down" });
    expectProblem(await command(id, "hold", { reason: "again" }), 409, "ProcedureCannotHold");
    const released = await command(id, "resume", { re_establishment_boundary: 0, cause: "driver-stand-down" });
    expect(released.json).toMatchObject({ status: "Held", hold_claims: [{ cause: "operator" }] });
    const blocked = await command(id, "resume", { re_establishment_boundary: 0, cause: "step-fault" });
    expectProblem(blocked, 409, "ProcedureHoldClaimsRemain");
    expect(blocked.json.detail).toContain("operator");
    expect((await command(id, "resume", { re_establishment_boundary: 0 })).json.status).toBe("Running");
  });
});

describe("listing by target asset", () => {
  const base = Date.parse("2026-01-01T00:00:00.000Z");
  function summary(i: number, target_asset_ids: string[]): SummaryRow {
    const at = new Date(base + i * 1000).toISOString();
    return {
      procedure_id: uuidv7(),
      name: `procedure ${i}`,
      kind: "calibration",
      target_asset_ids,
      status: "Defined",
      activity_logbook_id: null,
      registered_at: at,
      last_status_changed_at: at,
      last_status_reason: null,
      interrupted_at: null,
      hold_causes: [],
      stale_after_seconds: null,
      version: 1,
      last_activity_at: null,
      updated_at: at,
    };
  }

  it("reads about a page of rows per page however many procedures there are", async () => {
    const db = database(env.DB);
    const asset = `asset-${crypto.randomUUID()}`;
    const noise = `noise-${crypto.randomUUID()}`;
    // Other procedures, in one statement: the listing must not read them.
    const others = Array.from({ length: 150 }, (_, i) => summary(i, [noise]));
    await env.DB.prepare(
      `INSERT INTO procedure_summary (procedure_id, name, kind, target_asset_ids, status, registered_at, hold_causes, version, updated_at)
       SELECT json_extract(value, '$.procedure_id'), 'other', 'calibration', '[]', 'Defined', json_extract(value, '$.registered_at'), '[]', 1,
              json_extract(value, '$.registered_at')
       FROM json_each(?) WHERE true`,
    )
      .bind(JSON.stringify(others))
      .run();
    const mine = Array.from({ length: 5 }, (_, i) => summary(200 + i, [noise, asset]));
    for (const row of mine) await upsertSummary(db, row);

    const limit = 2;
    const seen: string[] = [];
    let after: { registered_at: string; procedure_id: string } | null = null;
    do {
      const { sql, params } = summaryPageQuery(db, { target_asset_id: asset, scopes: null }, after, limit).toSQL();
      const page = await env.DB.prepare(sql).bind(...params).all<{ procedure_id: string; registered_at: string }>();
      // The target rows walked (from the cursor's own row) and the summaries they join, one past the page each.
      expect(page.meta.rows_read).toBeLessThanOrEqual(2 * (limit + 1) + 1);
      const rows = page.results.slice(0, limit);
      seen.push(...rows.map((r) => r.procedure_id));
      after = page.results.length > limit ? rows[rows.length - 1]! : null;
    } while (after !== null);
    expect(seen).toEqual(mine.map((r) => r.procedure_id));

    const listed = await call(`/v1/procedures?target_asset_id=${asset}&limit=10`);
    expect(listed.json.items.map((i: { procedure_id: string }) => i.procedure_id)).toEqual(mine.map((r) => r.procedure_id));
  });

  it("lists for a scoped principal by walking only its assets' procedures, each once, in order", async () => {
    const db = database(env.DB);
    const lab = `lab-${crypto.randomUUID()}`;
    const bench = `${lab}-bench`;
    const noise = `noise-${crypto.randomUUID()}`;
    for (const row of Array.from({ length: 40 }, (_, i) => summary(300 + i, [noise]))) await upsertSummary(db, row);
    // One procedure on both scoped assets, so the walk meets it twice.
    const mine = [summary(400, [lab]), summary(401, [lab, bench]), summary(402, [bench, noise]), summary(403, [lab])];
    for (const row of mine) await upsertSummary(db, row);
    const scopes = { target_asset_ids: [lab, bench] };

    const limit = 2;
    const seen: string[] = [];
    let after: { registered_at: string; procedure_id: string } | null = null;
    do {
      const { sql, params } = summaryPageQuery(db, { scopes }, after, limit).toSQL();
      const page = await env.DB.prepare(sql).bind(...params).all<{ procedure_id: string; registered_at: string }>();
      // The scope's target rows and their summaries; never the 40 others.
      expect(page.meta.rows_read).toBeLessThanOrEqual(4 * (mine.length + 1));
      const rows = page.results.slice(0, limit);
      seen.push(...rows.map((r) => r.procedure_id));
      after = page.results.length > limit ? rows[rows.length - 1]! : null;
    } while (after !== null);
    expect(seen).toEqual(mine.map((r) => r.procedure_id));
  });

  it("lists decisions for a scoped principal by walking its procedures, not every decision", async () => {
    const db = database(env.DB);
    const lab = `lab-${crypto.randomUUID()}`;
    const bench = `${lab}-bench`;
    const noise = `noise-${crypto.randomUUID()}`;
    const decision = (subject_id: string, i: number) => ({
      id: uuidv7(),
      context: "ProcedureProgress",
      choice: "Stall",
      decided_by: "test",
      rule: "test",
      subject_id,
      reasoning: "seeded",
      inputs: {},
      confidence_source: "self_reported",
      parent_id: null,
      override_kind: null,
      recorded_at: new Date(base + 10_000_000 + i * 1000).toISOString(),
    });
    // 200 decisions about procedures outside the scope, newer than the scope's: the walk must not read them.
    const others = Array.from({ length: 4 }, (_, i) => summary(500 + i, [noise]));
    for (const row of others) await upsertSummary(db, row);
    const noiseDecisions = Array.from({ length: 200 }, (_, i) => decision(others[i % others.length]!.procedure_id, 1000 + i));
    await env.DB.batch(noiseDecisions.map((d) => insertDecisionStatement(env.DB, d as never)));
    // One procedure on both scoped assets, so the walk meets it twice.
    const mine = [summary(600, [lab]), summary(601, [lab, bench]), summary(602, [bench, noise])];
    for (const row of mine) await upsertSummary(db, row);
    const mineDecisions = mine.flatMap((row, p) => [decision(row.procedure_id, 2 * p), decision(row.procedure_id, 2 * p + 1)]);
    await env.DB.batch(mineDecisions.map((d) => insertDecisionStatement(env.DB, d as never)));
    const scopes = { target_asset_ids: [lab, bench] };

    const limit = 2;
    const seen: string[] = [];
    let before: { recorded_at: string; id: string } | null = null;
    do {
      const { sql, params } = decisionPageQuery(db, { scopes }, before, limit).toSQL();
      const page = await env.DB.prepare(sql).bind(...params).all<{ id: string; recorded_at: string }>();
      // The scope's target rows and their procedures' decisions; never the 200 others.
      expect(page.meta.rows_read).toBeLessThanOrEqual(4 * (mine.length + mineDecisions.length + 1));
      const rows = page.results.slice(0, limit);
      seen.push(...rows.map((r) => r.id));
      before = page.results.length > limit ? rows[rows.length - 1]! : null;
    } while (before !== null);
    expect(seen).toEqual(mineDecisions.map((d) => d.id).reverse());

    const reader = await call("/v1/principals", { body: { name: "scoped decisions reader", roles: ["reader"], scopes } });
    const listed = await call("/v1/decisions?limit=100", { token: reader.json.token });
    expect(listed.json.items.map((d: { id: string }) => d.id)).toEqual(mineDecisions.map((d) => d.id).reverse());
  });

  it("writes the targets with the summary's first insert: once however often delivered, never without the summary", async () => {
    const db = database(env.DB);
    const asset = `asset-${crypto.randomUUID()}`;
    const row = summary(1, [asset, `${asset}-b`]);
    await upsertSummary(db, row);
    await upsertSummary(db, { ...row, status: "Running", version: 2 });
    await upsertSummary(db, row);
    const targets = await env.DB.prepare("SELECT asset_id FROM procedure_targets WHERE procedure_id = ? ORDER BY asset_id")
      .bind(row.procedure_id)
      .all<{ asset_id: string }>();
    expect(targets.results.map((t) => t.asset_id)).toEqual([asset, `${asset}-b`]);

    // A summary D1 refuses (a NOT NULL column missing) takes its targets down with it.
    const broken = { ...summary(2, [asset]), name: null } as unknown as SummaryRow;
    await expect(upsertSummary(db, broken)).rejects.toThrow();
    const orphan = await env.DB.prepare("SELECT count(*) AS n FROM procedure_targets WHERE procedure_id = ?")
      .bind(broken.procedure_id)
      .first<{ n: number }>();
    expect(orphan!.n).toBe(0);
  });
});
