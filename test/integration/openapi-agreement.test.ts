// The served OpenAPI document and the validation agree: what the document
// allows is accepted, what the check refuses the document rules out too.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { uuidv7 } from "../../src/ids";
import { ADMIN_TOKEN, call, command, expectProblem, registerProcedure, summaryOf } from "../helpers";

type Operation = { operationId?: string; security?: unknown[]; requestBody?: unknown; responses: Record<string, unknown>; parameters?: Array<{ name: string; schema: Record<string, unknown> }> };

async function served() {
  const result = await call("/openapi.json", { token: null });
  expect(result.status).toBe(200);
  return result.json as { servers?: Array<{ url: string }>; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, any> } };
}

const operations = (doc: Awaited<ReturnType<typeof served>>) =>
  Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })));

describe("the document", () => {
  it("names every operation once, marks the public ones and says where the service is", async () => {
    const doc = await served();
    const ids = operations(doc).map(({ op }) => op.operationId);
    expect(ids.every((id) => typeof id === "string" && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const path of ["/healthz", "/openapi.json"]) expect(doc.paths[path]?.get?.security).toEqual([]);
    expect(doc.servers).toEqual([{ url: "http://procedure-edge.test", description: "This service" }]);
  });

  it("declares 413 and 415 on every operation that takes a body", async () => {
    for (const { path, method, op } of operations(await served())) {
      if (!op.requestBody) continue;
      expect(Object.keys(op.responses), `${method} ${path}`).toEqual(expect.arrayContaining(["413", "415"]));
    }
  });

  it("documents event_id as a UUIDv7 and gives body integers their maximum", async () => {
    const { components } = await served();
    expect(components.schemas.ActivityEntryInput.properties.event_id.pattern).toContain("-7[0-9a-fA-F]{3}-");
    expect(components.schemas.ProcedureEvent.properties.event_id.pattern).toContain("-7[0-9a-fA-F]{3}-");
    for (const [schema, field] of [["ResumeProcedure", "re_establishment_boundary"], ["ConductFrom", "re_establishment_boundary"], ["GoAhead", "step_index"]] as const) {
      expect(components.schemas[schema].properties[field], `${schema}.${field}`).toMatchObject({ type: "integer", minimum: 0, maximum: 10_000 });
    }
  });

  it("documents trimmed text with a non-space pattern, and query integers as non-null integers", async () => {
    const doc = await served();
    expect(doc.components.schemas.RegisterProcedure.properties.name).toMatchObject({ pattern: "\\S", maxLength: 200 });
    const after = doc.paths["/v1/procedures/{id}/events"]!.get!.parameters!.find((p) => p.name === "after")!;
    expect(after.schema).toMatchObject({ type: "integer", minimum: 0 });
  });
});

describe("validation as documented", () => {
  it.each(["0x10", "1e1", "", " 5", "+5", "05", "5.0", "null"])("refuses limit=%s (strict decimal digits only)", async (limit) => {
    expectProblem(await call(`/v1/procedures?limit=${encodeURIComponent(limit)}`), 400, "ValidationFailed");
  });

  it.each(["", "null", "-1", "1e2", "0x1"])("refuses after=%s on the event log", async (after) => {
    const id = await registerProcedure();
    expectProblem(await call(`/v1/procedures/${id}/events?after=${after}`), 400, "ValidationFailed");
  });

  it("accepts plain digits", async () => {
    const id = await registerProcedure();
    const result = await call(`/v1/procedures/${id}/events?after=0&limit=10`);
    expect(result.status).toBe(200);
    expect(result.json.items).toHaveLength(1);
  });

  it("refuses blank text (the documented pattern) and stores nothing", async () => {
    const kind = `kind-${uuidv7()}`;
    expectProblem(await call("/v1/procedures", { body: { name: " \t ", kind, target_asset_ids: [] } }), 400, "ValidationFailed");
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM procedure_summary WHERE kind = ?").bind(kind).first<{ n: number }>();
    expect(rows?.n).toBe(0);
  });

  it.each(["0000-01-01T00:00:00.000Z", "1969-12-31T23:59:59.999Z", "2100-01-01T00:00:00.000Z", "9999-12-31T23:59:59Z"])(
    "refuses interrupted_at %s and leaves the procedure Running",
    async (interrupted_at) => {
      const id = await registerProcedure();
      await command(id, "start");
      const before = (await call(`/v1/procedures/${id}`)).json;
      expectProblem(await command(id, "truncate", { reason: "power cut", interrupted_at }), 400, "ValidationFailed");
      expect((await call(`/v1/procedures/${id}`)).json).toEqual(before);
      expect(await summaryOf(id)).toMatchObject({ status: "Running", version: before.version });
    },
  );

  it("accepts interrupted_at inside the range", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const result = await command(id, "truncate", { reason: "power cut", interrupted_at: "2026-11-21T05:00:00.000Z" });
    expect(result.status).toBe(200);
    expect(result.json.interrupted_at).toBe("2026-11-21T05:00:00.000Z");
  });
});

describe("refusals", () => {
  it("answers a wrong method on a known path with 405 and Allow", async () => {
    const id = uuidv7();
    const result = await call(`/v1/procedures/${id}`, { method: "DELETE" });
    expectProblem(result, 405, "MethodNotAllowed");
    expect(result.headers.get("allow")).toBe("GET");
    const put = await call("/v1/procedures", { method: "PUT", body: {} });
    expectProblem(put, 405, "MethodNotAllowed");
    expect(put.headers.get("allow")?.split(", ").sort()).toEqual(["GET", "POST"]);
    expectProblem(await call("/v1/nothing-here", { method: "DELETE" }), 404, "RouteNotFound");
  });

  it("lists at most 20 offending fields, however many the request has", async () => {
    const body: Record<string, unknown> = { name: "n", kind: "k", target_asset_ids: [] };
    for (let i = 0; i < 60_000; i++) body[`k${i}`] = 0;
    const result = await call("/v1/procedures", { body });
    expectProblem(result, 400, "ValidationFailed");
    expect(result.text.length).toBeLessThan(10_000);
    expect(result.json.errors.length).toBeLessThanOrEqual(20);
    expect(result.json.errors[0].message.length).toBeLessThanOrEqual(301);
  });

  it("notes how many problems were left out of the list", async () => {
    const result = await call("/v1/procedures", { body: { name: 1, kind: 2, target_asset_ids: Array.from({ length: 30 }, () => 3) } });
    expectProblem(result, 400, "ValidationFailed");
    expect(result.json.errors).toHaveLength(20);
    expect(result.json.detail).toContain("32 problems; 12 more are not listed");
  });
});

describe("the stream's declared response", () => {
  it("describes each Server-Sent Event (id, event, JSON data) so a checker that parses the stream validates every event", async () => {
    const doc = (await call("/openapi.json", { token: null })).json;
    const media = doc.paths["/v1/procedures/{id}/stream"].get.responses["200"].content["text/event-stream"];
    const ref: string = media.schema.$ref ?? "";
    const declared = ref ? doc.components.schemas[ref.split("/").pop()!] : media.schema;
    const schema = z.fromJSONSchema(declared);

    const id = await registerProcedure();
    await command(id, "start");
    await command(id, "hold", { reason: "declared" });
    const response = await exports.default.fetch(
      new Request(`http://procedure-edge.test/v1/procedures/${id}/stream?after=0.0`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, accept: "text/event-stream" } }),
    );
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const reader = response.body!.getReader();
    let text = "";
    while (text.split("\n\n").length < 5) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    // As an EventSource parser reads them: one object per event, its fields as strings.
    const events = text
      .split("\n\n")
      .filter((frame) => frame.trim() !== "" && !frame.startsWith(":"))
      .slice(0, 4)
      .map((frame) => Object.fromEntries(frame.split("\n").map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 2)])));
    expect(events.map((e) => e.event)).toEqual(["ProcedureRegistered", "ProcedureStarted", "ProcedureHeld", "state"]);
    for (const event of events) {
      expect(schema.safeParse(event).success, JSON.stringify(event).slice(0, 200)).toBe(true);
      expect(() => JSON.parse(event.data ?? "")).not.toThrow();
    }
  });
});
