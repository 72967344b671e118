import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { database } from "../../src/db/client";
import { decisionPageQuery, insertDecisionStatement } from "../../src/db/decisions";
import { summaryPageQuery, upsertSummary, type SummaryRow } from "../../src/db/summaries";
import { uuidv7 } from "../../src/ids";
import { conduct, entry, post, STEPS } from "../conduct-helpers";
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

/** A Defined summary registered `i` seconds after `baseMs`, with `over` on top. */
function summaryAt(baseMs: number, i: number, over: Partial<SummaryRow> = {}): SummaryRow {
  const at = new Date(baseMs + i * 1000).toISOString();
  return {
    procedure_id: uuidv7(),
    name: `procedure ${i}`,
    kind: "calibration",
    target_asset_ids: [],
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
    ...over,
  };
}

describe("listing by target asset", () => {
  const base = Date.parse("2026-01-01T00:00:00.000Z");
  const summary = (i: number, target_asset_ids: string[]) => summaryAt(base, i, { target_asset_ids });

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

  it("writes the targets with the summary's first insert: once however often written, never without the summary", async () => {
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

describe("order and search", () => {
  const base = Date.parse("2026-02-01T00:00:00.000Z");
  const row = (i: number, over: Partial<SummaryRow> = {}) => summaryAt(base, i, over);
  const idsOf = (result: Awaited<ReturnType<typeof call>>) => result.json.items.map((i: { procedure_id: string }) => i.procedure_id);

  /** Follows next_cursor to the end with a small page. */
  async function walk(query: string, limit = 2) {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await call(`/v1/procedures?${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(page.status, JSON.stringify(page.json)).toBe(200);
      seen.push(...idsOf(page));
      cursor = page.json.next_cursor;
    } while (cursor !== null);
    return seen;
  }

  it("orders oldest first by default, newest first, or by attention: Held and stalled, then Running, then the rest, each newest first", async () => {
    const db = database(env.DB);
    const kind = `Order-${crypto.randomUUID().slice(0, 8)}`;
    const defined = row(1, { kind });
    const running = row(2, { kind, status: "Running", version: 2 });
    const stalled = row(3, { kind, status: "Running", version: 2 });
    const held = row(4, { kind, status: "Held", version: 3, hold_causes: ["operator"] });
    const completed = row(5, { kind, status: "Completed", version: 3 });
    const running2 = row(6, { kind, status: "Running", version: 2 });
    const rows = [defined, running, stalled, held, completed, running2];
    for (const r of rows) await upsertSummary(db, r);
    // The watcher decided on the stalled one's current episode.
    await env.DB.prepare("UPDATE procedure_summary SET stall_flagged_at = progress_at WHERE procedure_id = ?").bind(stalled.procedure_id).run();

    const ids = rows.map((r) => r.procedure_id);
    expect(await walk(`kind=${kind}`)).toEqual(ids);
    expect(await walk(`kind=${kind}&order=oldest`)).toEqual(ids);
    expect(await walk(`kind=${kind}&order=newest`)).toEqual([...ids].reverse());
    const attention = [held, stalled, running2, running, completed, defined].map((r) => r.procedure_id);
    expect(await walk(`kind=${kind}&order=attention`)).toEqual(attention);
    expect(await walk(`kind=${kind}&order=attention`, 1)).toEqual(attention);
    expect(await walk(`kind=${kind}&order=attention`, 50)).toEqual(attention);

    const listed = await call(`/v1/procedures?kind=${kind}&order=attention&limit=3`);
    expect(listed.json.items.map((i: { stalled: boolean }) => i.stalled)).toEqual([false, true, false]);
    expect(listed.json.items[0]).not.toHaveProperty("attention");

    // Progress since the decision ends the episode: no longer stalled, back among the Running.
    await upsertSummary(db, { ...stalled, last_activity_at: new Date(base + 10_000).toISOString() });
    expect((await walk(`kind=${kind}&order=attention`)).slice(0, 3)).toEqual([held, running2, stalled].map((r) => r.procedure_id));
    const after = await call(`/v1/procedures?kind=${kind}&order=attention&limit=3`);
    expect(after.json.items[2]).toMatchObject({ procedure_id: stalled.procedure_id, stalled: false });
  });

  it("carries each row's step counts, so a fleet needs no read of each procedure", async () => {
    const kind = `counts-${crypto.randomUUID().slice(0, 8)}`;
    const free = await registerProcedure({ kind });
    const id = await registerProcedure({ kind });
    expect((await conduct(id, { steps: [STEPS.setpoint, STEPS.check, STEPS.setpoint] })).json.succeeded).toBe(true);
    const listed = async () => (await call(`/v1/procedures?kind=${kind}`)).json.items;
    expect(await listed()).toMatchObject([
      { procedure_id: free, step_count: null, completed_count: 0, stalled: false },
      { procedure_id: id, step_count: 3, completed_count: 0 },
    ]);
    // The first entry moves the activity mirror at once, and the count with it.
    expect((await post(id, [entry({ step_kind: "setpoint", step_index: 0 })])).status).toBe(200);
    expect((await listed())[1]).toMatchObject({ step_count: 3, completed_count: 1 });
    // A completed step moves it again within the minute the mirror otherwise waits.
    expect((await post(id, [entry({ step_kind: "check", step_index: 1, result: "in_flight" })])).status).toBe(200);
    expect((await listed())[1]).toMatchObject({ completed_count: 1, status: "Running" });
    expect((await post(id, [entry({ step_kind: "check", step_index: 1 })])).status).toBe(200);
    expect((await listed())[1]).toMatchObject({ completed_count: 2, status: "Running" });
  });

  it("refuses a cursor issued for another order, and an unknown order", async () => {
    const kind = `cursor-${crypto.randomUUID().slice(0, 8)}`;
    for (let i = 0; i < 3; i++) await registerProcedure({ kind });
    const first = await call(`/v1/procedures?kind=${kind}&order=newest&limit=1`);
    expect(first.json.next_cursor).toEqual(expect.any(String));
    const cursor = encodeURIComponent(first.json.next_cursor);
    expectProblem(await call(`/v1/procedures?kind=${kind}&cursor=${cursor}`), 400, "InvalidCursor");
    expectProblem(await call(`/v1/procedures?kind=${kind}&order=attention&cursor=${cursor}`), 400, "InvalidCursor");
    expectProblem(await call("/v1/procedures?order=sideways"), 400, "ValidationFailed");
    expectProblem(await call("/v1/procedures?q="), 400, "ValidationFailed");
  });

  it("matches kind and target asset case-insensitively, and searches name and kind by word prefixes", async () => {
    const tag = crypto.randomUUID().slice(0, 8);
    const asset = `Cryostat-${tag}`;
    const a = await registerProcedure({ name: `Cooldown of ${tag}zeta`, kind: `Calib${tag}`, target_asset_ids: [asset] });
    const b = await registerProcedure({ name: `Warm-up ${tag}zeta`, kind: `bakeout${tag}`, target_asset_ids: [] });
    await new Promise((r) => setTimeout(r, 0));

    expect(idsOf(await call(`/v1/procedures?kind=calib${tag.toUpperCase()}`))).toEqual([a]);
    expect(idsOf(await call(`/v1/procedures?target_asset_id=${asset.toLowerCase()}`))).toEqual([a]);
    expect(idsOf(await call(`/v1/procedures?target_asset_id=${asset.toUpperCase()}`))).toEqual([a]);
    // Each word a prefix of some word of the name or the kind, in any case.
    expect(idsOf(await call(`/v1/procedures?q=${tag.toUpperCase()}ZE`)).sort()).toEqual([a, b].sort());
    expect(idsOf(await call(`/v1/procedures?q=cool+${tag}z`))).toEqual([a]);
    expect(idsOf(await call(`/v1/procedures?q=BAKEOUT${tag}`))).toEqual([b]);
    expect(idsOf(await call(`/v1/procedures?q=warm-up+${tag}&order=newest`))).toEqual([b]);
    expect(idsOf(await call(`/v1/procedures?q=${tag}zeta&target_asset_id=${asset}`))).toEqual([a]);
    // Search syntax is never interpreted: quotes, operators and stars are only separators.
    expect(idsOf(await call(`/v1/procedures?q=${encodeURIComponent(`"${tag}zeta" OR NOT *`)}`))).toEqual([]);
    expect(idsOf(await call(`/v1/procedures?q=${encodeURIComponent('"*')}`))).toEqual([]);
    expect(idsOf(await call(`/v1/procedures?q=nothing${tag}`))).toEqual([]);
  });

  it("reads about a page of rows for the attention order and the matches for a search, however many procedures there are", async () => {
    const db = database(env.DB);
    const tag = `r${crypto.randomUUID().slice(0, 8)}`;
    // 2,000 other procedures in one statement (the triggers index each), Running and Defined.
    const others = Array.from({ length: 2000 }, (_, i) => row(10_000 + i, { status: i % 2 ? "Running" : "Defined" }));
    await env.DB.prepare(
      `INSERT INTO procedure_summary (procedure_id, name, kind, target_asset_ids, status, registered_at, last_status_changed_at, hold_causes, version, updated_at)
       SELECT json_extract(value, '$.procedure_id'), json_extract(value, '$.name'), 'calibration', '[]', json_extract(value, '$.status'),
              json_extract(value, '$.registered_at'), json_extract(value, '$.registered_at'), '[]', 1, json_extract(value, '$.registered_at')
       FROM json_each(?) WHERE true`,
    )
      .bind(JSON.stringify(others))
      .run();
    const found = [row(20_000, { name: `needle ${tag} one` }), row(20_001, { name: `needle ${tag} two`, status: "Held", hold_causes: ["operator"] })];
    for (const r of found) await upsertSummary(db, r);

    const measure = async (filter: Parameters<typeof summaryPageQuery>[1], order: "newest" | "attention", limit: number, rank?: number) => {
      const { sql, params } = summaryPageQuery(db, filter, null, limit, order, rank).toSQL();
      return env.DB.prepare(sql).bind(...params).all<{ procedure_id: string }>();
    };
    // A search reads the full-text index's matches and their rows, not the 2,000.
    const search = await measure({ scopes: null, q: tag.toUpperCase() }, "newest", 10);
    expect(search.results.map((r) => r.procedure_id)).toEqual([found[1]!.procedure_id, found[0]!.procedure_id]);
    expect(search.meta.rows_read).toBeLessThanOrEqual(20);
    // Each attention rank is a seek: about a page of rows.
    for (const rank of [0, 1, 2]) {
      const page = await measure({ scopes: null }, "attention", 20, rank);
      if (rank > 0) expect(page.results).toHaveLength(21);
      expect(page.meta.rows_read, `rank ${rank}`).toBeLessThanOrEqual(2 * 21 + 2);
    }
    const newest = await measure({ scopes: null }, "newest", 20);
    expect(newest.meta.rows_read).toBeLessThanOrEqual(22);
  });
});
