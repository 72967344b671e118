// Pseudoaxes are shared by every scope: a definition is read by every later
// conduct whatever its targets. So only an unscoped principal defines one, and
// every definition is audited with who made it and the constituents before and
// after; a refused definition writes neither the definition nor its audit row.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { conduct } from "../conduct-helpers";
import { call, expectProblem, registerProcedure, tokenFor } from "../helpers";

const RUN = crypto.randomUUID().slice(0, 8);

async function principal(name: string, roles: string[], scopes?: string[]) {
  const created = await call("/v1/principals", { body: { name, roles, ...(scopes ? { scopes: { target_asset_ids: scopes } } : {}) } });
  expect(created.status).toBe(201);
  return created.json as { principal_id: string; token: string };
}

function define(name: string, constituents: Array<{ address: string; scale: number; offset: number }>, token: string) {
  return call(`/v1/pseudoaxes/${name}`, { method: "PUT", token, body: { constituents } });
}

async function stored(name: string) {
  const row = await env.DB.prepare("SELECT constituents, updated_by FROM pseudoaxes WHERE name = ?").bind(name).first<{ constituents: string; updated_by: string }>();
  return row && { constituents: JSON.parse(row.constituents), updated_by: row.updated_by };
}

async function auditRows(name: string) {
  const { results } = await env.DB.prepare("SELECT action, actor_id, before, after FROM audit_log WHERE subject_id = ? ORDER BY occurred_at, audit_id").bind(name).all();
  return results;
}

const A = [{ address: "motor.a", scale: 1, offset: 0 }];
const EVIL = [{ address: "motor.evil", scale: 1000, offset: 5 }];

describe("who may define a pseudoaxis", () => {
  it("refuses a scoped operator (403), writes nothing, and another scope's conduct still pins the real definition", async () => {
    const axis = `stage.x-${RUN}`;
    const owner = await principal(`axis owner ${RUN}`, ["operator"]);
    const scoped = await principal(`scoped operator ${RUN}`, ["operator"], [`lab-b-${RUN}`]);
    expect((await define(axis, A, owner.token)).status).toBe(200);
    const audited = await auditRows(axis);

    // Neither a new definition nor an overwrite, and a name shaped like an address is no exception.
    for (const name of [axis, `fresh-${RUN}`, `zone.b-${RUN}`]) {
      expectProblem(await define(name, EVIL, scoped.token), 403, "Forbidden");
    }
    expect(await stored(axis)).toEqual({ constituents: A, updated_by: owner.principal_id });
    expect(await stored(`fresh-${RUN}`)).toBeNull();
    expect(await auditRows(axis)).toEqual(audited);
    const byScoped = await env.DB.prepare("SELECT count(*) AS n FROM audit_log WHERE actor_id = ?").bind(scoped.principal_id).first<{ n: number }>();
    expect(byScoped!.n).toBe(0);

    const id = await registerProcedure({ target_asset_ids: [`lab-a-${RUN}`] });
    expect((await conduct(id, { steps: [{ kind: "setpoint", address: axis, value: 3, verify: false }] })).json.succeeded).toBe(true);
    expect((await call(`/v1/procedures/${id}/manifest`)).json.resolved_steps).toEqual([{ kind: "setpoint", address: "motor.a", value: 3, verify: false }]);
  });

  it("lets a scoped principal read definitions", async () => {
    const axis = `readable-${RUN}`;
    expect((await define(axis, A, await tokenFor("operator"))).status).toBe(200);
    const reader = await principal(`scoped reader ${RUN}`, ["reader"], [`lab-b-${RUN}`]);
    expect((await call(`/v1/pseudoaxes/${axis}`, { token: reader.token })).json.constituents).toEqual(A);
  });
});

describe("the audit of definitions", () => {
  it("records who defined a pseudoaxis and its constituents before and after, for each change", async () => {
    const axis = `audited-${RUN}`;
    const operator = await principal(`auditing operator ${RUN}`, ["operator"]);
    expect((await define(axis, A, operator.token)).status).toBe(200);
    expect((await define(axis, EVIL, await tokenFor("admin"))).status).toBe(200);

    const page = await call(`/v1/audit?subject_id=${axis}`);
    expect(page.status).toBe(200);
    const admin = (await call("/v1/me", { token: await tokenFor("admin") })).json.principal_id;
    expect(page.json.items.map((e: Record<string, unknown>) => ({ action: e.action, actor_id: e.actor_id, before: e.before, after: e.after }))).toEqual([
      { action: "pseudoaxis.defined", actor_id: admin, before: A, after: EVIL },
      { action: "pseudoaxis.defined", actor_id: operator.principal_id, before: null, after: A },
    ]);
  });

  it("writes no audit row for a refused definition", async () => {
    const inner = `inner-${RUN}`;
    const outer = `outer-${RUN}`;
    const operator = await tokenFor("operator");
    expect((await define(inner, A, operator)).status).toBe(200);
    expectProblem(await define(outer, [{ address: inner, scale: 1, offset: 0 }], operator), 422, "PseudoaxisOfPseudoaxis");
    expectProblem(await define(`self-${RUN}`, [{ address: `self-${RUN}`, scale: 1, offset: 0 }], operator), 400, "PseudoaxisSelfReference");
    expect(await auditRows(outer)).toEqual([]);
    expect(await auditRows(`self-${RUN}`)).toEqual([]);
    expect(await stored(outer)).toBeNull();
  });
});

describe("a name that spells an address", () => {
  it("shadows that address in later conducts, as documented: the constituents are pinned instead", async () => {
    const address = `oven.${RUN}`;
    const id = await registerProcedure();
    expect((await define(address, [{ address: "heater.1", scale: 2, offset: 0 }], await tokenFor("operator"))).status).toBe(200);
    await conduct(id, { steps: [{ kind: "setpoint", address, value: 10, verify: false }] });
    expect((await call(`/v1/procedures/${id}/manifest`)).json.resolved_steps).toEqual([{ kind: "setpoint", address: "heater.1", value: 20, verify: false }]);
  });
});
