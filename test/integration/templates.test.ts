// Templates (a lab's saved conduct requests) and the conduct preview, the dry
// run the console shows before a list is pinned.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { conduct, entry, post, STEPS } from "../conduct-helpers";
import { call, eventLog, expectProblem, registerProcedure, tokenFor } from "../helpers";

const scan = { kind: "scan", address: "stage.x", start: 0, stop: 1, points: 3 };

async function templateCount() {
  return (await env.DB.prepare("SELECT count(*) AS n FROM templates").first<{ n: number }>())!.n;
}

describe("POST /v1/conduct-preview", () => {
  it("answers the list a conduct would pin, resolved with today's pseudoaxes, and writes nothing", async () => {
    const axis = `preview-axis-${crypto.randomUUID().slice(0, 8)}`;
    expect((await call(`/v1/pseudoaxes/${axis}`, { method: "PUT", body: { constituents: [{ address: "m1", scale: 2, offset: 1 }] } })).status).toBe(200);
    const body = {
      steps: [STEPS.action, { kind: "repeat", times: 2, steps: [STEPS.capture] }, scan, { kind: "setpoint", address: axis, value: 3, verify: false }],
      closing_steps: [STEPS.setpoint],
      on_failure: "hold",
    };
    const preview = await call("/v1/conduct-preview", { body, token: await tokenFor("operator") });
    expect(preview.status).toBe(200);
    expect(preview.json.step_count).toBe(1 + 2 + 3 + 1 + 1);
    expect(preview.json.resolved_steps.map((s: { kind: string }) => s.kind)).toEqual(["action", "capture", "capture", "setpoint", "setpoint", "setpoint", "setpoint"]);
    expect(preview.json.resolved_steps[6]).toMatchObject({ kind: "setpoint", address: "m1", value: 7 });
    expect(preview.json.resolved_closing_steps).toEqual([STEPS.setpoint]);

    // The same list a conduct then pins.
    const id = await registerProcedure();
    expect((await conduct(id, body)).json.succeeded).toBe(true);
    const manifest = await call(`/v1/procedures/${id}/manifest`);
    expect(manifest.json.resolved_steps).toEqual(preview.json.resolved_steps);
  });

  it("refuses what a conduct refuses, with the same problems", async () => {
    expectProblem(await call("/v1/conduct-preview", { body: { steps: [] } }), 400, "ValidationFailed");
    expectProblem(await call("/v1/conduct-preview", { body: { steps: [{ kind: "setpoint", address: "x" }] } }), 400, "ValidationFailed");
    const huge = { steps: [{ kind: "repeat", times: 1000, steps: [{ ...scan, points: 10_000 }] }] };
    expectProblem(await call("/v1/conduct-preview", { body: huge }), 422, "StepResolutionLimitExceeded");
    expectProblem(await call("/v1/conduct-preview", { body: { steps: [STEPS.action] }, token: await tokenFor("reader") }), 403, "Forbidden");
    expectProblem(await call("/v1/conduct-preview", { body: { steps: [STEPS.action] }, token: null }), 401, "Unauthenticated");
  });
});

describe("templates", () => {
  it("saves, reads, lists by name, replaces and deletes a template", async () => {
    const operator = await tokenFor("operator");
    const tag = crypto.randomUUID().slice(0, 8);
    const body = { description: "Bake the oven out", kind: "thermal", conduct: { steps: [STEPS.setpoint, { kind: "repeat", times: 2, steps: [STEPS.check] }], on_failure: "hold" } };
    const saved = await call(`/v1/templates/Bake-out ${tag}`, { method: "PUT", body, token: operator });
    expect(saved.status).toBe(200);
    expect(saved.json).toMatchObject({ name: `Bake-out ${tag}`, description: "Bake the oven out", kind: "thermal", updated_by: expect.any(String) });
    // Stored as validated: the defaults a conduct would apply are filled in.
    expect(saved.json.conduct).toEqual({ ...body.conduct, closing_steps: [], on_stall: "flag" });
    expect((await call(`/v1/templates/${encodeURIComponent(`Bake-out ${tag}`)}`, { token: await tokenFor("reader") })).json).toEqual(saved.json);

    for (const name of [`a-${tag}`, `b-${tag}`]) expect((await call(`/v1/templates/${name}`, { method: "PUT", body: { conduct: { steps: [STEPS.action] } } })).status).toBe(200);
    const names: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await call(`/v1/templates?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expect(page.status).toBe(200);
      names.push(...page.json.items.map((t: { name: string }) => t.name));
      cursor = page.json.next_cursor;
    } while (cursor !== null);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining([`Bake-out ${tag}`, `a-${tag}`, `b-${tag}`]));

    const replaced = await call(`/v1/templates/a-${tag}`, { method: "PUT", body: { description: "second", conduct: { steps: [STEPS.capture] } } });
    expect(replaced.json).toMatchObject({ description: "second", kind: null, conduct: { steps: [STEPS.capture] } });
    expect((await call(`/v1/templates/a-${tag}`)).json.description).toBe("second");

    expect((await call(`/v1/templates/a-${tag}`, { method: "DELETE", token: operator })).status).toBe(204);
    expectProblem(await call(`/v1/templates/a-${tag}`), 404, "TemplateNotFound");
    expectProblem(await call(`/v1/templates/a-${tag}`, { method: "DELETE" }), 404, "TemplateNotFound");
  });

  it("refuses malformed steps, names and bodies, and writes nothing", async () => {
    const before = await templateCount();
    const tag = crypto.randomUUID().slice(0, 8);
    expectProblem(await call(`/v1/templates/t-${tag}`, { method: "PUT", body: { conduct: { steps: [] } } }), 400, "ValidationFailed");
    expectProblem(await call(`/v1/templates/t-${tag}`, { method: "PUT", body: { conduct: { steps: [{ kind: "teleport" }] } } }), 400, "ValidationFailed");
    expectProblem(await call(`/v1/templates/t-${tag}`, { method: "PUT", body: { conduct: { steps: [STEPS.action] }, colour: "red" } }), 400, "ValidationFailed");
    expectProblem(await call(`/v1/templates/${encodeURIComponent(" leading space")}`, { method: "PUT", body: { conduct: { steps: [STEPS.action] } } }), 400, "ValidationFailed");
    expectProblem(await call(`/v1/templates/${"x".repeat(101)}`, { method: "PUT", body: { conduct: { steps: [STEPS.action] } } }), 400, "ValidationFailed");
    expectProblem(await call("/v1/templates?cursor=garbage"), 400, "InvalidCursor");
    expectProblem(await call(`/v1/templates/t-${tag}`, { method: "PUT", body: { conduct: { steps: [STEPS.action] } }, token: await tokenFor("reader") }), 403, "Forbidden");
    expectProblem(await call(`/v1/templates`, { token: await tokenFor("gateway") }), 403, "Forbidden");
    expectProblem(await call(`/v1/templates/t-${tag}`, { method: "PUT", body: { conduct: { steps: [STEPS.action] } }, token: null }), 401, "Unauthenticated");
    expect(await templateCount()).toBe(before);
  });

  it("starts a procedure the way the console does: register, preview the template's steps, conduct, through to Completed", async () => {
    const tag = crypto.randomUUID().slice(0, 8);
    const template = (await call(`/v1/templates/quick-${tag}`, { method: "PUT", body: { kind: "thermal", conduct: { steps: [STEPS.action] } } })).json;
    const id = await registerProcedure({ kind: template.kind });
    const preview = await call("/v1/conduct-preview", { body: template.conduct });
    expect(preview.json.step_count).toBe(1);
    expect((await conduct(id, template.conduct)).json).toMatchObject({ succeeded: true, step_count: 1 });
    expect((await post(id, [entry({ step_kind: "action", step_index: 0 })], await tokenFor("gateway"))).status).toBe(200);
    expect((await call(`/v1/procedures/${id}`)).json).toMatchObject({ status: "Completed", kind: "thermal" });
    expect((await eventLog(id)).map((e) => e.type)).toEqual(["ProcedureRegistered", "ResolvedStepsRecorded", "ProcedureStarted", "ProcedureActivitiesLogbookOpened", "ProcedureCompleted"]);
  });
});
