// A schema-driven fuzz of every operation of the served OpenAPI document, with
// a fixed seed and a bounded number of cases. Inputs follow the declared
// schemas or break them on purpose (wrong types, missing and extra fields,
// deep, huge and ill-formed strings, bad query strings, wrong media types and
// methods). A case fails on any 5xx, on any status the document does not
// declare for the operation, and on any write by a refused request. The same
// for /mcp: malformed JSON-RPC, unknown tools and arguments of the wrong type.
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { conduct, STEPS } from "../conduct-helpers";
import { call, command, registerProcedure, settled, tokenFor } from "../helpers";
import { postMcp } from "../mcp-helpers";

type Schema = Record<string, any>;
type Operation = { path: string; method: string; op: Schema };
type Doc = { paths: Record<string, Record<string, Schema>>; components: { schemas: Record<string, Schema> } };

const SEED = 20_261_121;
const RUNS = 260;
const MAX_NESTING = 5;

/** Values a schema accepts (as far as the document says): the valid side of the fuzz. */
function valid(doc: Doc, schema: Schema, depth = 0): fc.Arbitrary<unknown> {
  if (schema.$ref) return valid(doc, doc.components.schemas[schema.$ref.split("/").pop()!]!, depth + 1);
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const choices = schema.oneOf ?? schema.anyOf;
  // Past a few levels only the first alternative (a plain step), so recursion ends.
  if (choices) return depth > MAX_NESTING ? valid(doc, choices[0], depth + 1) : fc.oneof(...choices.map((s: Schema) => valid(doc, s, depth + 1)));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case "string":
      if (schema.format === "uuid") return fc.uuid({ version: 7 });
      if (schema.format === "date-time") return fc.date({ min: new Date("1970-01-01"), max: new Date("2099-12-31"), noInvalidDate: true }).map((d) => d.toISOString());
      if (schema.pattern) return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length <= (schema.maxLength ?? 200));
      return fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 20, 20) });
    case "integer":
      return fc.integer({ min: schema.minimum ?? -1000, max: Math.min(schema.maximum ?? 1000, 100_000) });
    case "number":
      return fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 });
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "array":
      return fc.array(valid(doc, schema.items ?? {}, depth + 1), {
        minLength: schema.minItems ?? 0,
        maxLength: Math.max(schema.minItems ?? 0, Math.min(schema.maxItems ?? 3, depth > MAX_NESTING ? 1 : 3)),
      });
    case "object": {
      const props = Object.fromEntries(Object.entries(schema.properties ?? {}).map(([k, s]) => [k, valid(doc, s as Schema, depth + 1)]));
      if (Object.keys(props).length === 0) return fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 });
      return fc.record(props, { requiredKeys: schema.required ?? [] });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

const junkString = fc.oneof(
  fc.constantFrom("", " ", "0x10", "1e1", "-1", "null", "true", "%", "é😀", "\u0000", "a".repeat(600), "<script>"),
  fc.string({ maxLength: 30, unit: "binary" }),
);
const junkValue: fc.Arbitrary<unknown> = fc.oneof(
  junkString,
  fc.constantFrom(null, true, -1, 1.5, 2 ** 60, 1e308, [], {}, [[[]]]),
  fc.jsonValue({ maxDepth: 3 }),
);

type Body = { kind: "json"; value: unknown } | { kind: "raw"; text: string; contentType?: string };

/** Breaks a valid body in one of the ways a careless or hostile client would. */
function broken(value: unknown): fc.Arbitrary<Body> {
  const object = value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  const keys = Object.keys(object);
  const nested = (levels: number) => '{"a":'.repeat(levels) + "1" + "}".repeat(levels);
  return fc.oneof(
    junkValue.map((junk) => ({ kind: "json" as const, value: junk })),
    fc.constant({ kind: "json" as const, value: Object.fromEntries(keys.slice(1).map((k) => [k, object[k]])) }),
    fc.tuple(fc.string({ minLength: 1, maxLength: 10 }), junkValue).map(([k, v]) => ({ kind: "json" as const, value: { ...object, [`x${k}`]: v } })),
    fc.tuple(fc.constantFrom(...(keys.length ? keys : ["x"])), junkValue).map(([k, v]) => ({ kind: "json" as const, value: { ...object, [k]: v } })),
    fc.constantFrom(40, 70, 3500).map((levels) => ({ kind: "raw" as const, text: `{"deep":${nested(levels)},${JSON.stringify(object).slice(1)}` })),
    fc.constant({ kind: "raw" as const, text: JSON.stringify(object).replace(/^\{/, '{"x\\ud800":"\\udc00 lone",') }),
    fc.constant({ kind: "raw" as const, text: '{"unterminated": ' }),
    fc.constant({ kind: "raw" as const, text: JSON.stringify({ ...object, filler: "x".repeat(1_100_000) }) }),
    fc.constant({ kind: "raw" as const, text: JSON.stringify(object), contentType: "text/plain" }),
    fc.constant({ kind: "raw" as const, text: JSON.stringify(object), contentType: "" }),
  );
}

const METHODS = ["get", "post", "put", "delete", "patch"];

type Case = {
  op: Operation;
  method: string;
  params: Record<string, string>;
  query: string;
  body: Body | undefined;
  auth: "admin" | "reader" | "none";
};

function cases(doc: Doc, operations: Operation[], procedureIds: string[], principalIds: string[]): fc.Arbitrary<Case> {
  return fc.constantFrom(...operations).chain((operation) => {
    const { op } = operation;
    const parameters: Schema[] = op.parameters ?? [];
    const pathParams = parameters.filter((p) => p.in === "path");
    const queryParams = parameters.filter((p) => p.in === "query");
    const paramValue = (p: Schema) =>
      p.name === "id" && operation.path.startsWith("/v1/procedures")
        ? fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...procedureIds) }, { weight: 1, arbitrary: fc.uuid({ version: 7 }) }, { weight: 1, arbitrary: junkString })
        : p.name === "id" && operation.path.startsWith("/v1/principals")
          ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...principalIds) }, { weight: 1, arbitrary: fc.uuid({ version: 7 }) }, { weight: 1, arbitrary: junkString })
          : fc.oneof({ weight: 3, arbitrary: valid(doc, p.schema).map(String) }, { weight: 1, arbitrary: junkString });
    const params = fc.record(Object.fromEntries(pathParams.map((p) => [p.name, paramValue(p)]))) as fc.Arbitrary<Record<string, string>>;
    const queryPart = (p: Schema) =>
      fc.option(fc.oneof({ weight: 3, arbitrary: valid(doc, p.schema).map(String) }, { weight: 1, arbitrary: junkString }), { nil: undefined }).map((v) =>
        v === undefined ? "" : `${p.name}=${encodeURIComponent(v)}`,
      );
    const query = fc
      .tuple(fc.tuple(...queryParams.map(queryPart)), fc.constantFrom("", "", "", "zzz=1", "limit=0x10&limit=2", "kind=%ED%A0%80"))
      .map(([parts, extra]) => [...parts, extra].filter(Boolean).join("&"));
    const schema = op.requestBody?.content?.["application/json"]?.schema;
    const body: fc.Arbitrary<Body | undefined> = schema
      ? valid(doc, schema).chain((value) =>
          fc.oneof({ weight: 3, arbitrary: fc.constant<Body>({ kind: "json", value }) }, { weight: 2, arbitrary: broken(value) }),
        )
      : fc.constantFrom<Body | undefined>(undefined, undefined, undefined, { kind: "json", value: { stray: 1 } }, { kind: "raw", text: '"\\ud800"' });
    const method = fc.oneof({ weight: 9, arbitrary: fc.constant(operation.method) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) });
    const auth = fc.constantFrom<Case["auth"]>("admin", "admin", "admin", "admin", "reader", "none");
    return fc.record({ op: fc.constant(operation), method, params, query, body, auth });
  });
}

/**
 * What a request could have written: the targeted procedure's version, newest logbook entry and
 * projection row, and the D1 rows the request names.
 */
async function writes(procedureIds: string[], c: Case) {
  const id = c.params.id !== undefined && procedureIds.includes(c.params.id) ? c.params.id : null;
  let procedure: unknown = null;
  if (id !== null) {
    await settled(id);
    const state = await call(`/v1/procedures/${id}`);
    const newest = await call(`/v1/procedures/${id}/activities?limit=1`);
    const summary = await env.DB.prepare("SELECT version, status FROM procedure_summary WHERE procedure_id = ?").bind(id).first();
    procedure = { version: state.json.version, status: state.json.status, newest: newest.json.items[0]?.event_id ?? null, summary };
  }
  const body = c.body?.kind === "json" && c.body.value && typeof c.body.value === "object" ? (c.body.value as Record<string, unknown>) : {};
  const name = typeof body.name === "string" ? body.name : "";
  const [summaries, principals, pseudoaxis, actor, keys, principal, audit, template] = await env.DB.batch([
    env.DB.prepare("SELECT count(*) AS n FROM procedure_summary WHERE name IN (?, ?)").bind(name, name.trim()),
    env.DB.prepare("SELECT count(*) AS n FROM principals WHERE name IN (?, ?)").bind(name, name.trim()),
    env.DB.prepare("SELECT constituents, updated_at FROM pseudoaxes WHERE name = ?").bind(c.params.name ?? ""),
    env.DB.prepare("SELECT active, updated_at FROM actors WHERE actor_id = ?").bind(c.params.id ?? ""),
    env.DB.prepare("SELECT count(*) AS n FROM idempotency_keys"),
    env.DB.prepare("SELECT token_hash, revoked_at, rotated_at FROM principals WHERE principal_id = ?").bind(c.params.id ?? ""),
    env.DB.prepare("SELECT count(*) AS n FROM audit_log"),
    env.DB.prepare("SELECT conduct, updated_at FROM templates WHERE name = ?").bind(c.params.name ?? ""),
  ]);
  return { procedure, d1: [summaries, principals, pseudoaxis, actor, keys, principal, audit, template].map((r) => r!.results) };
}

async function send(c: Case, tokens: { admin: string; reader: string }) {
  let path = c.op.path;
  for (const [name, value] of Object.entries(c.params)) path = path.replace(`{${name}}`, encodeURIComponent(value));
  const headers: Record<string, string> = {};
  let rawBody: string | undefined;
  if (c.body && c.method !== "get") {
    rawBody = c.body.kind === "json" ? JSON.stringify(c.body.value) : c.body.text;
    const contentType = c.body.kind === "raw" && c.body.contentType !== undefined ? c.body.contentType : "application/json";
    if (contentType) headers["content-type"] = contentType;
  }
  const token = c.auth === "none" ? null : tokens[c.auth];
  return call(`${path}${c.query ? `?${c.query}` : ""}`, { method: c.method.toUpperCase(), token, rawBody, headers });
}

// Path values a URL cannot carry as one segment (dot segments are resolved away by the URL itself).
const routable = (c: Case) => Object.values(c.params).every((v) => v !== "" && v !== "." && v !== "..");

describe("fuzzing the served OpenAPI document", () => {
  it("answers every generated request with a declared status, never a 5xx, and a refused request writes nothing", async () => {
    const doc = (await call("/openapi.json", { token: null })).json as Doc;
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ path, method, op })),
    );
    const tokens = { admin: await tokenFor("admin"), reader: await tokenFor("reader") };
    const defined = await registerProcedure();
    const running = await registerProcedure();
    await command(running, "start");
    const conducted = await registerProcedure();
    await conduct(conducted, { steps: [STEPS.setpoint, STEPS.action, STEPS.check], on_failure: "hold" });
    const procedureIds = [defined, running, conducted];
    const principalIds = [(await call("/v1/principals", { body: { name: "fuzzed", roles: ["reader"] } })).json.principal_id as string];
    const seenStatuses = new Map<string, Set<number>>();

    await fc.assert(
      fc.asyncProperty(cases(doc, operations, procedureIds, principalIds), async (c) => {
        fc.pre(routable(c));
        const before = await writes(procedureIds, c);
        const result = await send(c, tokens);
        const label = `${c.method.toUpperCase()} ${c.op.path} (${c.op.op.operationId})`;
        (seenStatuses.get(label) ?? seenStatuses.set(label, new Set()).get(label)!).add(result.status);
        expect(result.status, `${label}: ${result.text.slice(0, 300)}`).toBeLessThan(500);
        const methodServed = doc.paths[c.op.path]![c.method] !== undefined;
        if (!methodServed) {
          // Input every route refuses (authentication, size, well-formedness) is checked before routing.
          expect([400, 401, 405, 413], `${label} answered ${result.status}`).toContain(result.status);
          if (result.status === 405) expect(result.headers.get("allow"), label).toBeTruthy();
        } else {
          const op = doc.paths[c.op.path]![c.method]!;
          expect(Object.keys(op.responses), `${label} answered ${result.status}: ${result.text.slice(0, 300)}`).toContain(String(result.status));
        }
        if (result.status >= 400) {
          expect(result.headers.get("content-type"), label).toContain("application/problem+json");
          expect(await writes(procedureIds, c), `${label} was refused (${result.status}) but wrote`).toEqual(before);
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    // The fuzz reached every operation, and answered more than refusals.
    expect(seenStatuses.size).toBeGreaterThanOrEqual(operations.length);
    expect([...seenStatuses.values()].some((statuses) => [...statuses].some((s) => s < 300))).toBe(true);
  }, 120_000);
});

/** A JSON-RPC answer from /mcp, whether sent as JSON or as one SSE message. */
function rpcAnswer(text: string): { result?: { isError?: boolean }; error?: { code: number } } | undefined {
  const data = text.startsWith("event:") || text.startsWith("data:") ? text.split("\n").find((line) => line.startsWith("data:"))?.slice(5) : text;
  try {
    return data ? JSON.parse(data) : undefined;
  } catch {
    return undefined;
  }
}

type McpCase = { body: string; args: Record<string, unknown>; auth: "admin" | "reader" | "none" };

function mcpCases(tools: Array<{ name: string; inputSchema: Schema }>, procedureIds: string[]): fc.Arbitrary<McpCase> {
  const rpc = (method: string, params: unknown, id: unknown = 1) => JSON.stringify({ jsonrpc: "2.0", id, method, params });
  const withProcedure = (args: unknown) =>
    fc.constantFrom(...procedureIds, undefined).map((id) => (args && typeof args === "object" && !Array.isArray(args) && id && "id" in (args as object) ? { ...(args as object), id } : args));
  const call = fc.constantFrom(...tools).chain((tool) =>
    valid({ paths: {}, components: { schemas: {} } }, tool.inputSchema)
      .chain((args) => fc.oneof({ weight: 2, arbitrary: fc.constant(args) }, { weight: 3, arbitrary: broken(args).map((b) => (b.kind === "json" ? b.value : { raw: b.text })) }))
      .chain(withProcedure)
      .map((args) => ({ name: tool.name, args })),
  );
  const unknownTool = fc.tuple(fc.oneof(junkString, fc.string({ maxLength: 12 })), junkValue).map(([name, args]) => ({ name, args }));
  const toolCall = fc.oneof({ weight: 5, arbitrary: call }, { weight: 1, arbitrary: unknownTool }).map(({ name, args }) => ({
    body: rpc("tools/call", { name, arguments: args }),
    args: args && typeof args === "object" && !Array.isArray(args) ? (args as Record<string, unknown>) : {},
  }));
  const other = fc
    .oneof(
      fc.tuple(fc.constantFrom("tools/list", "resources/list", "resources/templates/list", "ping", "initialize", "prompts/list", "nope/nope", ""), junkValue).map(([m, p]) => rpc(m, p)),
      fc.tuple(fc.constantFrom(...procedureIds.map((id) => `procedure://${id}`), "procedure://", "procedure://%zz/manifest", "file:///etc/passwd"), junkValue).map(([uri, id]) => rpc("resources/read", { uri }, id)),
      junkString,
      junkValue.map((v) => JSON.stringify(v) ?? ""),
      fc.constantFrom('{"jsonrpc":"2.0","id":1,"method":"tools/call"', '[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0"}]', '{"jsonrpc":"1.0","id":{},"method":7}'),
    )
    .map((body) => ({ body, args: {} }));
  return fc.tuple(fc.oneof({ weight: 3, arbitrary: toolCall }, { weight: 1, arbitrary: other }), fc.constantFrom<McpCase["auth"]>("admin", "admin", "reader", "none")).map(([c, auth]) => ({ ...c, auth }));
}

describe("fuzzing /mcp", () => {
  it("answers malformed JSON-RPC, unknown tools and wrong argument types without a 5xx, and a refused call writes nothing", async () => {
    const tokens = { admin: await tokenFor("admin"), reader: await tokenFor("reader") };
    const running = await registerProcedure();
    await command(running, "start");
    const conducted = await registerProcedure();
    await conduct(conducted, { steps: [STEPS.setpoint, STEPS.action, STEPS.check], on_failure: "hold" });
    const procedureIds = [running, conducted];
    const list = await postMcp(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }));
    const tools = rpcAnswer(list.text) as { result: { tools: Array<{ name: string; inputSchema: Schema }> } };
    expect(tools.result.tools.length).toBeGreaterThan(10);
    let refused = 0;
    let served = 0;

    await fc.assert(
      fc.asyncProperty(mcpCases(tools.result.tools, procedureIds), async (c) => {
        const pseudo = { params: { id: String(c.args.id ?? ""), name: String(c.args.name ?? "") }, body: { kind: "json", value: c.args } } as unknown as Case;
        const before = await writes(procedureIds, pseudo);
        const token = c.auth === "none" ? null : tokens[c.auth];
        const result = await postMcp(c.body, {}, token);
        const label = `${c.body.slice(0, 200)} as ${c.auth}`;
        expect(result.status, `${label}: ${result.text.slice(0, 300)}`).toBeLessThan(500);
        const answer = rpcAnswer(result.text);
        if (result.status >= 400 || answer?.error || answer?.result?.isError) {
          refused += 1;
          expect(await writes(procedureIds, pseudo), `${label} was refused but wrote`).toEqual(before);
        } else if (answer?.result && c.body.includes('"tools/call"')) served += 1;
      }),
      { seed: SEED, numRuns: 200, endOnFailure: true },
    );
    // Both sides were reached: refusals, and tool calls that ran.
    expect(refused).toBeGreaterThan(50);
    expect(served).toBeGreaterThan(10);
  }, 120_000);
});
