// The derivation of MCP tools from an OpenAPI document, and the request a tool
// call stands for: pure, so they run in plain Node.
import { describe, expect, it } from "vitest";
import { requestFor } from "../../../src/mcp/dispatch";
import { deriveTools, snakeCase, type OpenApiDocument } from "../../../src/mcp/tools";

const Problem = { $ref: "#/components/schemas/Problem" };
const DOC: OpenApiDocument = {
  components: {
    schemas: {
      Hold: { type: "object", properties: { reason: { type: "string" }, cause: { type: "string", default: "operator" } }, required: ["reason"] },
      Node: { type: "object", properties: { next: { $ref: "#/components/schemas/Node" } } },
      Problem: { type: "object" },
      Thing: { type: "object", properties: { id: { type: "string" } }, required: ["id"] },
      CreatedThing: { allOf: [{ $ref: "#/components/schemas/Thing" }, { type: "object", properties: { secret: { type: "string" } } }] },
    },
  },
  paths: {
    "/v1/things/{id}/hold": {
      post: {
        operationId: "holdThing",
        summary: "Hold a thing",
        parameters: [
          { name: "id", in: "path", required: true, schema: { type: "string", format: "uuid" } },
          { name: "Idempotency-Key", in: "header", schema: { type: "string" } },
        ],
        requestBody: { required: true, content: { "application/json": { schema: { $ref: "#/components/schemas/Hold" } } } },
        responses: { "200": { content: { "application/json": { schema: Problem } } } },
      },
    },
    "/v1/things": {
      get: {
        operationId: "listThings",
        parameters: [{ name: "limit", in: "query", schema: { type: "integer" } }],
        responses: { "200": { content: { "application/json": { schema: Problem } } } },
      },
      post: {
        operationId: "createThing",
        responses: {
          "200": { content: { "application/json": { schema: { $ref: "#/components/schemas/Thing" } } } },
          "201": { content: { "application/json": { schema: { $ref: "#/components/schemas/CreatedThing" } } } },
          "409": { content: { "application/problem+json": { schema: Problem } } },
        },
      },
    },
    "/v1/things/{id}/export": {
      get: {
        operationId: "exportThing",
        parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
        responses: { "200": { content: { "application/x-ndjson": { schema: { type: "string" } } } } },
      },
    },
    "/v1/things/{id}/tags": {
      get: {
        operationId: "listThingTags",
        parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
        responses: { "200": { content: { "application/json": { schema: { type: "array", items: { type: "string" } } } } } },
      },
    },
    "/v1/things/{id}": {
      put: {
        operationId: "replaceThing",
        parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
        // A body field named like a path field: the body becomes one argument.
        requestBody: { required: true, content: { "application/json": { schema: { type: "object", properties: { id: { type: "string" }, next: { $ref: "#/components/schemas/Node" } } } } } },
        responses: { "200": {} },
      },
      delete: { operationId: "deleteThing", parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }], responses: { "204": {} } },
    },
    "/v1/things/{id}/stream": { get: { operationId: "streamThing", responses: { "200": { content: { "text/event-stream": {} } } } } },
    "/v1/things/{id}/stream-ticket": { post: { operationId: "issueThingTicket", responses: { "201": {} } } },
    "/healthz": { get: { operationId: "health", responses: { "200": {} } } },
  },
};

const tools = deriveTools(DOC);
const tool = (name: string) => tools.find((t) => t.name === name)!;
const CALLER = { origin: "https://edge.test", authorization: "Bearer t", requestId: "c-1" };

describe("deriving tools from the document", () => {
  it("makes a tool of every /v1 operation but a live stream and its ticket", () => {
    expect(tools.map((t) => t.name).sort()).toEqual([
      "create_thing",
      "delete_thing",
      "export_thing",
      "hold_thing",
      "list_thing_tags",
      "list_things",
      "replace_thing",
    ]);
  });

  it("names a tool by its operationId in snake_case", () => {
    expect(snakeCase("holdProcedure")).toBe("hold_procedure");
    expect(snakeCase("readProcedureResumePoint")).toBe("read_procedure_resume_point");
    expect(snakeCase("listAPIKeys")).toBe("list_api_keys");
  });

  it("merges path, header and body fields into one input schema, references inlined", () => {
    const hold = tool("hold_thing");
    expect(hold.inputSchema).toEqual({
      type: "object",
      properties: {
        id: { type: "string", format: "uuid" },
        idempotency_key: { type: "string" },
        reason: { type: "string" },
        cause: { type: "string", default: "operator" },
      },
      required: ["id", "reason"],
    });
    expect(hold.placement).toEqual({ path: ["id"], query: [], headers: { idempotency_key: "idempotency-key" }, body: { fields: ["reason", "cause"] } });
  });

  it("keeps a body whose field names are taken as one `body` argument, and ends a reference cycle", () => {
    const replace = tool("replace_thing");
    expect(replace.placement.body).toEqual({ whole: "body" });
    expect(replace.inputSchema.required).toEqual(["id", "body"]);
    const next = (replace.inputSchema.properties as Record<string, any>).body.properties.next;
    expect(next.properties.next).toEqual({ type: "object" });
  });

  it("declares the output of a call whose every success is a JSON object, references inlined; an extended schema is an object too", () => {
    expect(tool("hold_thing").outputSchema).toEqual({ type: "object" });
    const thing = { type: "object", properties: { id: { type: "string" } }, required: ["id"] };
    expect(tool("create_thing").outputSchema).toEqual({
      type: "object",
      anyOf: [thing, { type: "object", allOf: [thing, { type: "object", properties: { secret: { type: "string" } } }] }],
    });
  });

  it("declares no output for an answer without a body, without JSON, or that is not an object", () => {
    for (const name of ["delete_thing", "replace_thing", "export_thing", "list_thing_tags"]) expect(tool(name).outputSchema).toBeUndefined();
  });

  it("hints reads, deletes and idempotent methods", () => {
    expect(tool("list_things").annotations).toMatchObject({ readOnlyHint: true });
    expect(tool("delete_thing").annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true, idempotentHint: true });
    expect(tool("replace_thing").annotations).toMatchObject({ destructiveHint: false, idempotentHint: true });
    expect(tool("hold_thing").annotations).toMatchObject({ destructiveHint: false, idempotentHint: false });
  });
});

describe("the request a tool call stands for", () => {
  it("puts each argument where its operation takes it", async () => {
    const request = requestFor(tool("hold_thing"), { id: "a b", reason: "r", idempotency_key: "k-1" }, CALLER);
    expect(request.method).toBe("POST");
    expect(request.url).toBe("https://edge.test/v1/things/a%20b/hold");
    expect(request.headers.get("authorization")).toBe("Bearer t");
    expect(request.headers.get("idempotency-key")).toBe("k-1");
    expect(request.headers.get("x-request-id")).toBe("c-1");
    expect(await request.json()).toEqual({ reason: "r" });
    const list = requestFor(tool("list_things"), { limit: 5 }, CALLER);
    expect(list.url).toBe("https://edge.test/v1/things?limit=5");
    expect(list.body).toBeNull();
  });

  it("leaves arguments the tool does not name to the route's schema (body, else query)", async () => {
    expect(await requestFor(tool("hold_thing"), { id: "x", reason: "r", stray: 1 }, CALLER).json()).toEqual({ reason: "r", stray: 1 });
    expect(requestFor(tool("list_things"), { stray: [1, 2] }, CALLER).url).toBe("https://edge.test/v1/things?stray=1&stray=2");
  });

  it("refuses a missing path field or a dot segment, which would reach another route", () => {
    for (const id of [undefined, ".", "..", { a: 1 }]) {
      expect(() => requestFor(tool("delete_thing"), { id }, CALLER)).toThrow(/ValidationFailed/);
    }
  });
});
