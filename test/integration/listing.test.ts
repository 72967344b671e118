import { describe, expect, it } from "vitest";
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
