// Request ids end to end: every answer carries X-Request-Id (the caller's when
// valid), every problem body names it, and it travels with the request into
// the procedure's object (its events' correlation_id, its log line), through
// an MCP tool call's dispatched request, and onto the webhook deliveries the
// request's commit gave.
import { createExecutionContext, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { uuidv7 } from "../../src/ids";
import type { Notification } from "../../src/notify/events";
import { call, command, eventLog, expectProblem, procedureStub, registerProcedure } from "../helpers";
import { postMcp } from "../mcp-helpers";
import { consume, logLines } from "../ops-helpers";

const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

afterEach(() => {
  vi.restoreAllMocks();
});

describe("X-Request-Id", () => {
  it("echoes a valid id the caller sent", async () => {
    for (const id of ["req-1", "01J9Z8Q3K7:trace.span_4", "a".repeat(128)]) {
      const result = await call("/v1/me", { headers: { "x-request-id": id } });
      expect(result.status).toBe(200);
      expect(result.headers.get("x-request-id")).toBe(id);
    }
  });

  it("answers a new UUIDv7 when the caller sent none, or one that is not valid", async () => {
    for (const headers of [{} as Record<string, string>, { "x-request-id": "" }, { "x-request-id": "a".repeat(129) }, { "x-request-id": "has space" }, { "x-request-id": "<script>" }]) {
      const result = await call("/v1/me", { headers });
      expect(result.headers.get("x-request-id")).toMatch(UUIDV7);
      expect(result.headers.get("x-request-id")).not.toBe(headers["x-request-id"]);
    }
    const first = await call("/v1/me");
    const second = await call("/v1/me");
    expect(first.headers.get("x-request-id")).not.toBe(second.headers.get("x-request-id"));
  });

  it("names the request in every problem body, whatever refused it", async () => {
    const id = await registerProcedure();
    const refusals: Array<[string, number, string, string, Parameters<typeof call>[1]]> = [
      ["r-400", 400, "ValidationFailed", "/v1/procedures", { body: { name: "" } }],
      ["r-401", 401, "Unauthenticated", "/v1/me", { token: "not-a-token" }],
      ["r-403", 403, "Forbidden", "/v1/principals", { token: await readerToken() }],
      ["r-404", 404, "RouteNotFound", "/v1/nowhere", {}],
      ["r-404-procedure", 404, "ProcedureNotFound", `/v1/procedures/${uuidv7()}`, {}],
      ["r-405", 405, "MethodNotAllowed", `/v1/procedures/${id}`, { method: "DELETE" }],
      ["r-413", 413, "PayloadTooLarge", `/v1/procedures/${id}/hold`, { method: "POST", rawBody: "x".repeat(1024 * 1024 + 1), headers: { "content-type": "application/json" } }],
      ["r-415", 415, "UnsupportedMediaType", `/v1/procedures/${id}/hold`, { method: "POST", rawBody: "reason", headers: { "content-type": "text/plain" } }],
    ];
    for (const [requestId, status, errorClass, path, options] of refusals) {
      const result = await call(path, { ...options, headers: { ...options?.headers, "x-request-id": requestId } });
      expectProblem(result, status, errorClass);
      expect(result.json.request_id).toBe(requestId);
    }
  });

  it("names the request in a bare 500 and in its error line", async () => {
    const failing = { idFromName: (name: string) => env.PROCEDURES.idFromName(name), get: () => new Proxy({}, { get: () => () => Promise.reject(new Error("storage exploded")) }) };
    let result: Response | undefined;
    const lines = await logLines(async () => {
      const ctx = createExecutionContext();
      result = await worker.fetch(
        new Request(`http://procedure-edge.test/v1/procedures/${uuidv7()}`, { headers: { authorization: "Bearer test-admin-token", "x-request-id": "r-500" } }),
        { ...env, PROCEDURES: failing as unknown as DurableObjectNamespace },
        ctx,
      );
    });
    expect(result!.status).toBe(500);
    expect(result!.headers.get("x-request-id")).toBe("r-500");
    expect(await result!.json()).toMatchObject({ error_class: "InternalError", request_id: "r-500" });
    expect(lines.find((line) => line.msg === "unhandled error")).toMatchObject({ request_id: "r-500", level: "error" });
  });
});

let reader: string | undefined;
async function readerToken() {
  reader ??= (await call("/v1/principals", { body: { name: "request-id reader", roles: ["reader"] } })).json.token as string;
  return reader;
}

describe("a request id travels with the request", () => {
  it("into the object: the events' correlation_id, and the request's one line", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const lines = await logLines(() => call(`/v1/procedures/${id}/hold`, { body: { reason: "door open" }, headers: { "x-request-id": "hold-42" } }));
    const held = (await eventLog(id)).at(-1) as Record<string, unknown>;
    expect(held).toMatchObject({ type: "ProcedureHeld", correlation_id: "hold-42" });
    // One line for the command: the request's.
    expect(lines.filter((line) => line.request_id === "hold-42")).toEqual([
      expect.objectContaining({ msg: "request", request_id: "hold-42", operation: "holdProcedure", status: 200, outcome: "ok" }),
    ]);
  });

  it("through an MCP tool call: the request it dispatches carries the /mcp request's id", async () => {
    const id = await registerProcedure();
    await command(id, "start");
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "hold_procedure", arguments: { id, reason: "via mcp" } } });
    const lines = await logLines(() => postMcp(body, { "x-request-id": "mcp-7", "mcp-protocol-version": "2025-06-18" }));
    expect((await eventLog(id)).at(-1)).toMatchObject({ type: "ProcedureHeld", correlation_id: "mcp-7" });
    const requests = lines.filter((line) => line.msg === "request");
    expect(requests.map((line) => [line.operation, line.request_id])).toEqual(
      expect.arrayContaining([
        ["holdProcedure", "mcp-7"],
        ["POST /mcp", "mcp-7"],
      ]),
    );
  });

  it("onto each webhook delivery of the notifications its commit gave, and into the consumer's lines", async () => {
    const target = `asset-${uuidv7()}`;
    const created = await call("/v1/subscriptions", { body: { url: "https://hooks.example.test/in", event_types: ["procedure.held"], filter: { target_asset_id: target } } });
    expect(created.status).toBe(201);
    const id = await registerProcedure({ target_asset_ids: [target] });
    await command(id, "start");
    const sent: Notification[] = [];
    await runInDurableObject(procedureStub(id), (instance) => {
      instance.sendNotifications = async (batch) => void sent.push(...batch);
    });
    await call(`/v1/procedures/${id}/hold`, { body: { reason: "door" }, headers: { "x-request-id": "hook-9" } });
    await procedureStub(id).notify();
    expect(sent.map((n) => n.request_id)).toEqual(["hook-9"]);

    const received: Headers[] = [];
    const fanned = await consume(sent.map((notification) => ({ kind: "fanout", notification })));
    expect(fanned.retried).toEqual([]);
    const lines = await logLines(async () => {
      vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
        received.push(new Request(input, init).headers);
        return new Response(null, { status: 204 });
      });
      expect((await consume(fanned.onward)).retried).toEqual([]);
    });
    expect(received.map((headers) => headers.get("x-request-id"))).toEqual(["hook-9"]);
    expect(lines.find((line) => line.msg === "delivery attempt")).toMatchObject({
      request_id: "hook-9",
      subscription_id: created.json.subscription_id,
      outcome: "delivered",
      status_code: 204,
    });
  });
});
