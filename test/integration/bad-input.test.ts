// Bad input found by fuzzing the running service: each is refused with a
// problem (never a 5xx) and writes nothing.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { uuidv7 } from "../../src/ids";
import { MAX_ENTRY_PAYLOAD_BYTES } from "../../src/procedure/activity";
import { conduct, entry, post, STEPS } from "../conduct-helpers";
import { call, command, expectProblem, procedureStub, registerProcedure, summaryOf } from "../helpers";

/** Everything a refused request could have written for a procedure: its state, log, logbook and projection row. */
async function writtenFor(id: string) {
  const state = await call(`/v1/procedures/${id}`);
  const events = await call(`/v1/procedures/${id}/events?limit=500`);
  const logbook = await call(`/v1/procedures/${id}/activities?limit=500`);
  return { state: state.json, events: events.json.items, logbook: logbook.json.items, summary: await summaryOf(id) };
}

/** `levels` nested single-key objects around `leaf`, as JSON text (built without recursion). */
function nestedJson(levels: number, leaf = "1"): string {
  return '{"a":'.repeat(levels) + leaf + "}".repeat(levels);
}

async function running() {
  const id = await registerProcedure();
  expect((await command(id, "start")).status).toBe(200);
  return id;
}

describe("deeply nested JSON", () => {
  it("refuses a gateway payload nested 3,500 levels deep with 400 and writes nothing", async () => {
    const id = await running();
    const before = await writtenFor(id);
    const rawBody = `{"entries":[{"event_id":"${uuidv7()}","step_kind":"note","sampled_at":"${new Date().toISOString()}","payload":${nestedJson(3500)}}]}`;
    const result = await call(`/v1/procedures/${id}/activities`, { rawBody, headers: { "content-type": "application/json" } });
    expectProblem(result, 400, "NestingTooDeep");
    expect(await writtenFor(id)).toEqual(before);
  });

  it.each([
    ["an activity payload", "entries.0.payload"],
    ["an action's params", "steps.0.params"],
    ["a compute's parameters", "steps.0.parameters"],
  ])("bounds %s to 32 levels with the one shared check (400 naming the field)", async (what, path) => {
    const deep = JSON.parse(nestedJson(40));
    const id = what === "an activity payload" ? await running() : await registerProcedure();
    const before = await writtenFor(id);
    const result =
      what === "an activity payload"
        ? await post(id, [entry({ step_kind: "note", payload: deep })])
        : await conduct(id, { steps: [what === "an action's params" ? { ...STEPS.action, params: deep } : { ...STEPS.compute, parameters: deep }] });
    expectProblem(result, 400, "ValidationFailed");
    expect(result.json.errors[0]).toMatchObject({ path, message: expect.stringContaining("deeper than 32") });
    expect(await writtenFor(id)).toEqual(before);
  });

  it("refuses a conduct of 900 nested repeats before parsing it, and pins nothing", async () => {
    const id = await registerProcedure();
    const before = await writtenFor(id);
    let step = JSON.stringify(STEPS.setpoint);
    for (let i = 0; i < 900; i++) step = `{"kind":"repeat","times":1,"steps":[${step}]}`;
    const result = await call(`/v1/procedures/${id}/conduct`, { rawBody: `{"steps":[${step}]}`, headers: { "content-type": "application/json" } });
    expectProblem(result, 400, "NestingTooDeep");
    expect(await writtenFor(id)).toEqual(before);
    expectProblem(await call(`/v1/procedures/${id}/manifest`), 404);
  });

  it("still accepts a conduct nested a dozen repeats deep", async () => {
    const id = await registerProcedure();
    let step: Record<string, unknown> = STEPS.setpoint;
    for (let i = 0; i < 12; i++) step = { kind: "repeat", times: 1, steps: [step] };
    const result = await conduct(id, { steps: [step] });
    expect(result.status).toBe(200);
    expect(result.json).toMatchObject({ succeeded: true, step_count: 1 });
  });
});

describe("the size of logbook entries and pages", () => {
  it("refuses an entry whose payload is over 64 KiB with 413 ActivityEntryTooLarge and writes nothing", async () => {
    const id = await running();
    const before = await writtenFor(id);
    const big = entry({ step_kind: "note", payload: { blob: "x".repeat(MAX_ENTRY_PAYLOAD_BYTES) } });
    const result = await post(id, [entry({ step_kind: "note", payload: { n: 1 } }), big]);
    expectProblem(result, 413, "ActivityEntryTooLarge");
    expect(result.json.detail).toContain("entries[1].payload");
    expect(await writtenFor(id)).toEqual(before);
    expect((await post(id, [entry({ step_kind: "note", payload: { blob: "x".repeat(MAX_ENTRY_PAYLOAD_BYTES - 20) } })])).status).toBe(200);
  });

  /** Entries as they could be stored before entries were bounded, written straight into the object. */
  async function storeLegacyEntries(id: string, count: number, payloadBytes: number) {
    await runInDurableObject(procedureStub(id), (_instance, state) => {
      const now = new Date().toISOString();
      for (let i = 0; i < count; i++) {
        state.storage.sql.exec(
          `INSERT INTO logbook (event_id, step_kind, payload, sampled_at, occurred_at, recorded_at, principal_id) VALUES (?, 'note', ?, ?, ?, ?, 'legacy')`,
          uuidv7(),
          JSON.stringify({ i, blob: "x".repeat(payloadBytes) }),
          now,
          now,
          now,
        );
      }
    });
  }

  async function pageThrough(id: string) {
    const seen: number[] = [];
    const sizes: number[] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const result = await call(`/v1/procedures/${id}/activities?limit=100${cursor ? `&cursor=${cursor}` : ""}`);
      expect(result.status).toBe(200);
      expect(result.json.items.length).toBeGreaterThan(0);
      seen.push(...result.json.items.map((item: { payload: { i: number } }) => item.payload.i));
      sizes.push(result.json.items.length);
      cursor = result.json.next_cursor;
    }
    return { seen, sizes };
  }

  it("ends a page once its entries reach about 1 MiB, and the cursor continues with the next entry", async () => {
    const id = await running();
    await storeLegacyEntries(id, 5, 400 * 1024);
    const { seen, sizes } = await pageThrough(id);
    expect(seen).toEqual([4, 3, 2, 1, 0]);
    expect(sizes).toEqual([2, 2, 1]);
  });

  it("answers every page of a logbook holding 33 entries of about 1 MiB (one entry per page)", async () => {
    const id = await running();
    await storeLegacyEntries(id, 33, 1024 * 1024 - 100);
    const { seen, sizes } = await pageThrough(id);
    expect(seen).toEqual(Array.from({ length: 33 }, (_, i) => 32 - i));
    expect(sizes.every((n) => n === 1)).toBe(true);
  });
});

describe("ill-formed Unicode", () => {
  const json = { "content-type": "application/json" };

  it("refuses a lone surrogate in a name with 400 and registers nothing", async () => {
    const kind = `kind-${uuidv7()}`;
    const result = await call("/v1/procedures", {
      rawBody: `{"name":"bad \\ud800 name","kind":"${kind}","target_asset_ids":[]}`,
      headers: json,
    });
    expectProblem(result, 400, "IllFormedInput");
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM procedure_summary WHERE kind = ?").bind(kind).first<{ n: number }>();
    expect(rows?.n).toBe(0);
  });

  it.each([
    ["a low surrogate alone", '{"reason":"\\udc00"}'],
    ["a high surrogate before a plain character", '{"reason":"\\ud800x"}'],
    ["a high surrogate before another escape", '{"reason":"\\ud800\\n"}'],
    ["a lone surrogate in a key", '{"\\ud800":"x","reason":"r"}'],
  ])("refuses %s in any string of any body", async (_label, rawBody) => {
    const id = await running();
    const before = await writtenFor(id);
    expectProblem(await call(`/v1/procedures/${id}/hold`, { rawBody, headers: json }), 400, "IllFormedInput");
    expect(await writtenFor(id)).toEqual(before);
  });

  it("refuses a body that is not UTF-8", async () => {
    const id = await running();
    const before = await writtenFor(id);
    const body = new Uint8Array([...new TextEncoder().encode('{"reason":"'), 0xff, 0xfe, ...new TextEncoder().encode('"}')]);
    const response = await (await import("cloudflare:workers")).exports.default.fetch(
      new Request(`http://procedure-edge.test/v1/procedures/${id}/hold`, {
        method: "POST",
        headers: { ...json, authorization: "Bearer test-admin-token" },
        body,
      }),
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error_class: "IllFormedInput" });
    expect(await writtenFor(id)).toEqual(before);
  });

  it("refuses a query or path %-escape that is not UTF-8", async () => {
    expectProblem(await call("/v1/procedures?kind=%ED%A0%80"), 400, "IllFormedInput");
    expectProblem(await call("/v1/pseudoaxes/a%ED%A0%80"), 400, "IllFormedInput");
  });

  it("keeps a well-formed pair of surrogate escapes as the character they encode", async () => {
    const result = await call("/v1/procedures", {
      rawBody: '{"name":"frame \\ud83d\\ude00","kind":"emoji","target_asset_ids":[]}',
      headers: json,
    });
    expect(result.status).toBe(201);
    expect(result.json.name).toBe("frame 😀");
    expect((await summaryOf(result.json.procedure_id))?.name).toBe("frame 😀");
  });
});

describe("pseudoaxes name only real addresses", () => {
  const define = (name: string, ...addresses: string[]) =>
    call(`/v1/pseudoaxes/${name}`, { method: "PUT", body: { constituents: addresses.map((address) => ({ address, scale: 1, offset: 0 })) } });
  const unique = (label: string) => `${label}-${uuidv7()}`;

  it("refuses a constituent that is a pseudoaxis (422) and writes nothing", async () => {
    const [inner, outer] = [unique("inner"), unique("outer")];
    expect((await define(inner, "stage.x")).status).toBe(200);
    expectProblem(await define(outer, "stage.y", inner), 422, "PseudoaxisOfPseudoaxis");
    expectProblem(await call(`/v1/pseudoaxes/${outer}`), 404, "PseudoaxisNotFound");
  });

  it("refuses a definition whose name another pseudoaxis uses as a constituent, so a cycle cannot form", async () => {
    const [a, b] = [unique("a"), unique("b")];
    expect((await define(a, b)).status).toBe(200);
    const refused = await define(b, a);
    expectProblem(refused, 422, "PseudoaxisOfPseudoaxis");
    expect(refused.json.detail).toContain(a);
    expectProblem(await define(b, "stage.z"), 422, "PseudoaxisOfPseudoaxis");
    expectProblem(await call(`/v1/pseudoaxes/${b}`), 404);
    // Editing a itself stays possible.
    expect((await define(a, "stage.q")).status).toBe(200);
  });

  it("refuses to conduct through a pseudoaxis of a pseudoaxis stored earlier, and pins nothing", async () => {
    const [outer, inner] = [unique("outer"), unique("inner")];
    const now = new Date().toISOString();
    for (const [name, address] of [[outer, inner], [inner, "stage.x"]] as const) {
      await env.DB.prepare("INSERT INTO pseudoaxes (name, constituents, updated_at, updated_by) VALUES (?, ?, ?, 'legacy')")
        .bind(name, JSON.stringify([{ address, scale: 1, offset: 0 }]), now)
        .run();
    }
    const id = await registerProcedure();
    const before = await writtenFor(id);
    const result = await conduct(id, { steps: [{ kind: "setpoint", address: outer, value: 1, verify: true }] });
    expectProblem(result, 422, "StepResolutionFailed");
    expect(result.json.detail).toContain(`names pseudoaxis ${inner}`);
    expect(await writtenFor(id)).toEqual(before);
  });
});

describe("refusals a newcomer meets read as advice", () => {
  it("a body sent without content-type: application/json is told to send it", async () => {
    for (const headers of [{ "content-type": "text/plain" }, {} as Record<string, string>]) {
      const refused = await call("/v1/procedures", { method: "POST", rawBody: JSON.stringify({ name: "n", kind: "k", target_asset_ids: [] }), headers });
      expectProblem(refused, 415, "UnsupportedMediaType");
      expect(refused.json.detail).toBe("send the body as JSON with the header content-type: application/json");
    }
  });

  it("well-formed JSON with wrong fields is not called invalid JSON: the detail points at the listed fields", async () => {
    const refused = await call("/v1/procedures", { body: { name: 1, kind: "k", target_asset_ids: [] } });
    expectProblem(refused, 400, "ValidationFailed");
    expect(refused.json.detail).not.toMatch(/json is invalid/i);
    expect(refused.json.detail).toBe("the JSON body does not match what this route accepts: see errors[] for each field and what it expects");
    expect(refused.json.errors).toEqual([{ path: "name", message: expect.stringContaining("expected string") }]);
    const query = await call("/v1/procedures?limit=0");
    expect(query.json.detail).toMatch(/^the query string does not match/);
  });

  it("activity on a Defined procedure says to conduct or start it first", async () => {
    const id = await registerProcedure();
    const refused = await post(id, [entry({ step_kind: "action", step_index: 0 })]);
    expectProblem(refused, 409, "ProcedureStepsLogbookClosed");
    expect(refused.json.detail).toContain("conduct it (POST /v1/procedures/{id}/conduct) or start it without conduct");
    expect((await call(`/v1/procedures/${id}/activities`)).json.items).toEqual([]);
  });

  it("says an Aborted procedure and an action, not a Aborted or a action", async () => {
    const id = await registerProcedure();
    expect((await conduct(id, { steps: [STEPS.setpoint] })).json.succeeded).toBe(true);
    const mismatch = await post(id, [entry({ step_kind: "action", step_index: 0 })]);
    expect(mismatch.json.detail).toContain("step 0 is a setpoint, not an action");
    expect((await command(id, "abort", { reason: "test" })).status).toBe(200);
    expect((await command(id, "hold", { reason: "test" })).json.detail).toBe("cannot hold an Aborted procedure");
  });
});
