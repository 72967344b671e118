// Every route of the served document, for every role, unscoped and scoped,
// over REST and as its MCP tool: the status each cell answers, and that every refusal wrote nothing (the
// procedure's log, projection and logbook, the principals and the audit trail).
// A scoped principal cannot read, change or learn of a procedure outside its
// scopes, whichever route it tries.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { insertDecisionStatement } from "../../src/db/decisions";
import { uuidv7 } from "../../src/ids";
import { WATCHER_AGENT } from "../../src/watcher/stall";
import { conduct, entry, STEPS } from "../conduct-helpers";
import { call, expectProblem, registerProcedure, settled } from "../helpers";
import { mcpClient, refusedProblem } from "../mcp-helpers";
import { snakeCase } from "../../src/mcp/tools";
import type { Client } from "@modelcontextprotocol/client";

const RUN = crypto.randomUUID().slice(0, 8);
const INSIDE = `lab-in-${RUN}`;
const OUTSIDE = `lab-out-${RUN}`;
const ROLES = ["admin", "operator", "gateway", "reader"] as const;
type Role = (typeof ROLES)[number];

interface Caller {
  role: Role;
  scoped: boolean;
  principal_id: string;
  token: string;
}

/** A Running conducted procedure on `asset`, whose manifest and resume point exist. */
async function conducted(asset: string) {
  const id = await registerProcedure({ target_asset_ids: [asset] });
  const result = await conduct(id, { steps: [STEPS.setpoint, STEPS.action, STEPS.check], on_failure: "hold" });
  expect(result.json.succeeded).toBe(true);
  return id;
}

function decision(subjectId: string) {
  return {
    id: uuidv7(),
    context: "ProcedureProgress",
    choice: "Stall",
    decided_by: WATCHER_AGENT.id,
    rule: "stall-window",
    subject_id: subjectId,
    reasoning: "seeded for the scope matrix",
    inputs: {},
    confidence_source: "self_reported",
    parent_id: null,
    override_kind: null,
    recorded_at: new Date().toISOString(),
  } as const;
}

const callers: Caller[] = [];
let outside: string;
let inside: string;
let outsideDecision: string;
let insideDecision: string;
let victim: string;

beforeAll(async () => {
  for (const role of ROLES) {
    for (const scoped of role === "admin" ? [false] : [false, true]) {
      const body = { name: `matrix ${role}${scoped ? " scoped" : ""}`, roles: [role], ...(scoped ? { scopes: { target_asset_ids: [INSIDE] } } : {}) };
      const created = await call("/v1/principals", { body });
      expect(created.status).toBe(201);
      callers.push({ role, scoped, ...created.json });
    }
  }
  outside = await conducted(OUTSIDE);
  inside = await conducted(INSIDE);
  const decisions = [decision(outside), decision(inside)];
  await env.DB.batch(decisions.map((d) => insertDecisionStatement(env.DB, d as never)));
  [outsideDecision, insideDecision] = decisions.map((d) => d.id) as [string, string];
  victim = (await call("/v1/principals", { body: { name: "matrix victim", roles: ["reader"] } })).json.principal_id;
  const doc = (await call("/openapi.json", { token: null })).json as { paths: Record<string, Record<string, { operationId: string }>> };
  templates = new Map(
    Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.values(methods).map((op) => [op.operationId, new RegExp(`^${path.replace(/\{([^}]+)\}/g, "(?<$1>[^/]+)")}$`)] as const),
    ),
  );
});

type Cell = { status: number; error_class?: string };

interface Operation {
  operationId: string;
  method: string;
  /** The path for a procedure id (for operations on one procedure) or the fixed path. */
  path: (id: string) => string;
  body?: () => unknown;
  roles: readonly Role[];
  /** On one procedure: a scoped caller outside it gets 404 ProcedureNotFound. */
  onProcedure?: boolean;
  /** Changes the procedure: each granted cell gets a fresh one. */
  mutates?: boolean;
  /** What a granted caller gets (on a procedure within reach). */
  ok: Cell;
  /** What a granted scoped caller gets, when it differs from `ok`. */
  scopedOk?: Cell;
  /** A command that reaches every scope: a scoped caller is not granted it at all (403, and no MCP tool). */
  unscopedOnly?: boolean;
}

const OPERATOR: readonly Role[] = ["admin", "operator"];
const READERS: readonly Role[] = ["admin", "operator", "reader"];
const ALL: readonly Role[] = ROLES;
const ADMIN: readonly Role[] = ["admin"];

const OPERATIONS: Operation[] = [
  { operationId: "registerProcedure", method: "POST", path: () => "/v1/procedures", body: () => ({ name: "m", kind: "k", target_asset_ids: [OUTSIDE] }), roles: OPERATOR, ok: { status: 201 }, scopedOk: { status: 403, error_class: "Forbidden" } },
  { operationId: "listProcedures", method: "GET", path: () => "/v1/procedures", roles: READERS, ok: { status: 200 } },
  { operationId: "readProcedure", method: "GET", path: (id) => `/v1/procedures/${id}`, roles: ALL, onProcedure: true, ok: { status: 200 } },
  { operationId: "readProcedureEvents", method: "GET", path: (id) => `/v1/procedures/${id}/events`, roles: READERS, onProcedure: true, ok: { status: 200 } },
  { operationId: "exportProcedure", method: "GET", path: (id) => `/v1/procedures/${id}/export`, roles: READERS, onProcedure: true, ok: { status: 200 } },
  { operationId: "readManifest", method: "GET", path: (id) => `/v1/procedures/${id}/manifest`, roles: ALL, onProcedure: true, ok: { status: 200 } },
  { operationId: "readResumePoint", method: "GET", path: (id) => `/v1/procedures/${id}/resume-point`, roles: ALL, onProcedure: true, ok: { status: 200 } },
  { operationId: "pageActivities", method: "GET", path: (id) => `/v1/procedures/${id}/activities`, roles: READERS, onProcedure: true, ok: { status: 200 } },
  { operationId: "appendActivities", method: "POST", path: (id) => `/v1/procedures/${id}/activities`, body: () => ({ entries: [entry({ step_kind: "setpoint", step_index: 0, result: "in_flight" })] }), roles: ["admin", "gateway"], onProcedure: true, mutates: true, ok: { status: 200 } },
  { operationId: "startProcedure", method: "POST", path: (id) => `/v1/procedures/${id}/start`, roles: OPERATOR, onProcedure: true, mutates: true, ok: { status: 409, error_class: "ProcedureCannotStart" } },
  { operationId: "conductProcedure", method: "POST", path: (id) => `/v1/procedures/${id}/conduct`, body: () => ({ steps: [STEPS.setpoint] }), roles: OPERATOR, onProcedure: true, mutates: true, ok: { status: 200 } },
  { operationId: "holdProcedure", method: "POST", path: (id) => `/v1/procedures/${id}/hold`, body: () => ({ reason: "matrix" }), roles: OPERATOR, onProcedure: true, mutates: true, ok: { status: 200 } },
  { operationId: "resumeProcedure", method: "POST", path: (id) => `/v1/procedures/${id}/resume`, body: () => ({ re_establishment_boundary: 0 }), roles: OPERATOR, onProcedure: true, mutates: true, ok: { status: 409, error_class: "ProcedureCannotResume" } },
  { operationId: "completeProcedure", method: "POST", path: (id) => `/v1/procedures/${id}/complete`, roles: OPERATOR, onProcedure: true, mutates: true, ok: { status: 200 } },
  { operationId: "abortProcedure", method: "POST", path: (id) => `/v1/procedures/${id}/abort`, body: () => ({ reason: "matrix" }), roles: OPERATOR, onProcedure: true, mutates: true, ok: { status: 200 } },
  { operationId: "truncateProcedure", method: "POST", path: (id) => `/v1/procedures/${id}/truncate`, body: () => ({ reason: "matrix" }), roles: OPERATOR, onProcedure: true, mutates: true, ok: { status: 200 } },
  { operationId: "conductProcedureFrom", method: "POST", path: (id) => `/v1/procedures/${id}/conduct-from`, body: () => ({ re_establishment_boundary: 0 }), roles: OPERATOR, onProcedure: true, mutates: true, ok: { status: 409, error_class: "ProcedureCannotResume" } },
  { operationId: "authorizeReplayStep", method: "POST", path: (id) => `/v1/procedures/${id}/go-ahead`, body: () => ({ step_index: 1 }), roles: OPERATOR, onProcedure: true, mutates: true, ok: { status: 409, error_class: "ReplayStepNotAwaitingOperator" } },
  { operationId: "listDecisions", method: "GET", path: () => "/v1/decisions", roles: READERS, ok: { status: 200 } },
  { operationId: "readDecision", method: "GET", path: () => `/v1/decisions/${outsideDecision}`, roles: READERS, ok: { status: 200 }, scopedOk: { status: 404, error_class: "DecisionNotFound" } },
  { operationId: "definePseudoaxis", method: "PUT", path: () => `/v1/pseudoaxes/matrix-${RUN}`, body: () => ({ constituents: [{ address: "m", scale: 1, offset: 0 }] }), roles: OPERATOR, ok: { status: 200 }, scopedOk: { status: 403, error_class: "Forbidden" }, unscopedOnly: true },
  { operationId: "readPseudoaxis", method: "GET", path: () => `/v1/pseudoaxes/matrix-${RUN}-none`, roles: READERS, ok: { status: 404, error_class: "PseudoaxisNotFound" } },
  { operationId: "previewConduct", method: "POST", path: () => "/v1/conduct-preview", body: () => ({ steps: [{ kind: "action", name: "a", params: {} }] }), roles: OPERATOR, ok: { status: 200 } },
  { operationId: "saveTemplate", method: "PUT", path: () => `/v1/templates/matrix-${RUN}`, body: () => ({ conduct: { steps: [{ kind: "action", name: "a", params: {} }] } }), roles: OPERATOR, ok: { status: 200 } },
  { operationId: "readTemplate", method: "GET", path: () => `/v1/templates/matrix-${RUN}-none`, roles: READERS, ok: { status: 404, error_class: "TemplateNotFound" } },
  { operationId: "readPrincipalNames", method: "GET", path: () => `/v1/principal-names?ids=${victim}`, roles: READERS, ok: { status: 200 } },
  { operationId: "listTemplates", method: "GET", path: () => "/v1/templates", roles: READERS, ok: { status: 200 } },
  { operationId: "deleteTemplate", method: "DELETE", path: () => `/v1/templates/matrix-${RUN}-none`, roles: OPERATOR, ok: { status: 404, error_class: "TemplateNotFound" } },
  { operationId: "readWatcher", method: "GET", path: () => "/v1/watcher", roles: READERS, ok: { status: 200 } },
  { operationId: "readActor", method: "GET", path: () => `/v1/actors/${WATCHER_AGENT.id}`, roles: ADMIN, ok: { status: 200 } },
  { operationId: "activateActor", method: "POST", path: () => `/v1/actors/${WATCHER_AGENT.id}/activate`, roles: ADMIN, ok: { status: 200 } },
  { operationId: "deactivateActor", method: "POST", path: () => `/v1/actors/${crypto.randomUUID()}/deactivate`, roles: ADMIN, ok: { status: 404, error_class: "ActorNotFound" } },
  { operationId: "createPrincipal", method: "POST", path: () => "/v1/principals", body: () => ({ name: `matrix-made-${RUN}`, roles: ["reader"] }), roles: ADMIN, ok: { status: 201 } },
  { operationId: "listPrincipals", method: "GET", path: () => "/v1/principals", roles: ADMIN, ok: { status: 200 } },
  { operationId: "readPrincipal", method: "GET", path: () => `/v1/principals/${victim}`, roles: ADMIN, ok: { status: 200 } },
  { operationId: "revokePrincipal", method: "POST", path: () => `/v1/principals/${crypto.randomUUID()}/revoke`, roles: ADMIN, ok: { status: 404, error_class: "PrincipalNotFound" } },
  { operationId: "rotatePrincipal", method: "POST", path: () => `/v1/principals/${victim}/rotate`, roles: ADMIN, ok: { status: 200 } },
  { operationId: "listAudit", method: "GET", path: () => "/v1/audit", roles: ADMIN, ok: { status: 200 } },
  { operationId: "getMe", method: "GET", path: () => "/v1/me", roles: ALL, ok: { status: 200 } },
  { operationId: "streamProcedure", method: "GET", path: (id) => `/v1/procedures/${id}/stream`, roles: READERS, onProcedure: true, ok: { status: 200 } },
  { operationId: "issueStreamTicket", method: "POST", path: (id) => `/v1/procedures/${id}/stream-ticket`, roles: READERS, onProcedure: true, ok: { status: 201 } },
  { operationId: "createSubscription", method: "POST", path: () => "/v1/subscriptions", body: () => ({ url: "https://receiver.test/hook", event_types: ["procedure.held"], description: `matrix-${RUN}` }), roles: OPERATOR, ok: { status: 201 } },
  { operationId: "listSubscriptions", method: "GET", path: () => "/v1/subscriptions", roles: OPERATOR, ok: { status: 200 } },
  { operationId: "readSubscription", method: "GET", path: () => `/v1/subscriptions/${crypto.randomUUID()}`, roles: OPERATOR, ok: { status: 404, error_class: "SubscriptionNotFound" } },
  { operationId: "deleteSubscription", method: "DELETE", path: () => `/v1/subscriptions/${crypto.randomUUID()}`, roles: OPERATOR, ok: { status: 404, error_class: "SubscriptionNotFound" } },
  { operationId: "testSubscription", method: "POST", path: () => `/v1/subscriptions/${crypto.randomUUID()}/test`, roles: OPERATOR, ok: { status: 404, error_class: "SubscriptionNotFound" } },
  { operationId: "listSubscriptionDeliveries", method: "GET", path: () => `/v1/subscriptions/${crypto.randomUUID()}/deliveries`, roles: OPERATOR, ok: { status: 404, error_class: "SubscriptionNotFound" } },
  { operationId: "listDeliveries", method: "GET", path: () => "/v1/deliveries?outcome=failed", roles: ADMIN, ok: { status: 200 } },
  { operationId: "readRefusals", method: "GET", path: () => "/v1/refusals", roles: ADMIN, ok: { status: 200 } },
  { operationId: "redeliverDelivery", method: "POST", path: () => `/v1/deliveries/${crypto.randomUUID()}/redeliver`, roles: ADMIN, ok: { status: 404, error_class: "DeliveryNotFound" } },
];

/** Everything a refused request could have written. */
async function footprint(procedureId: string, caller: Caller) {
  await settled(procedureId);
  const events = await call(`/v1/procedures/${procedureId}/events?limit=500`);
  const logbook = await call(`/v1/procedures/${procedureId}/activities?limit=500`);
  const summary = await env.DB.prepare("SELECT version, status, last_activity_at FROM procedure_summary WHERE procedure_id = ?").bind(procedureId).first();
  const audit = await env.DB.prepare("SELECT count(*) AS n FROM audit_log WHERE actor_id = ?").bind(caller.principal_id).first<{ n: number }>();
  const made = await env.DB.prepare("SELECT count(*) AS n FROM principals WHERE name = ?").bind(`matrix-made-${RUN}`).first<{ n: number }>();
  const axis = await env.DB.prepare("SELECT count(*) AS n FROM pseudoaxes WHERE updated_by = ?").bind(caller.principal_id).first<{ n: number }>();
  const subscriptions = await env.DB.prepare("SELECT count(*) AS n FROM subscriptions WHERE created_by = ?").bind(caller.principal_id).first<{ n: number }>();
  const templates = await env.DB.prepare("SELECT count(*) AS n FROM templates WHERE updated_by = ?").bind(caller.principal_id).first<{ n: number }>();
  return { events: events.json.items.length, logbook: logbook.json.items.length, summary, audit: audit!.n, made: made!.n, axis: axis!.n, subscriptions: subscriptions!.n, templates: templates!.n };
}

/** Over MCP, every operation is a tool but the live stream and its ticket (the slice contract, mcp-contract.test.ts). */
const NOT_TOOLS = ["streamProcedure", "issueStreamTicket"];

/** The channels a cell is tried over: REST, and the operation's MCP tool (the same rules must hold on both). */
const CHANNELS = ["rest", "mcp"] as const;
type Channel = (typeof CHANNELS)[number];

/** What a cell answered, over either channel. */
type Answer = { status: number; problem?: { status: number; error_class: string }; text: string; rest?: Awaited<ReturnType<typeof call>> };

const clients = new Map<string, Client>();
let templates: Map<string, RegExp>;

/** A tool call's arguments: the path fields read back from the concrete path by the document's template, the query's and the body's fields. */
function argumentsOf(op: Operation, path: string, body: unknown): Record<string, unknown> {
  const [pathname, query = ""] = path.split("?");
  const match = templates.get(op.operationId)!.exec(pathname!)!;
  return { ...match.groups, ...Object.fromEntries(new URLSearchParams(query)), ...(body as Record<string, unknown> | undefined) };
}

async function send(op: Operation, id: string, caller: Caller, channel: Channel = "rest"): Promise<Answer> {
  const body = op.body?.();
  if (channel === "rest") {
    const rest = await call(op.path(id), { method: op.method, body, token: caller.token, headers: body === undefined && op.method === "POST" ? {} : undefined });
    return { status: rest.status, text: rest.text, rest };
  }
  let client = clients.get(caller.token);
  if (!client) clients.set(caller.token, (client = await mcpClient(caller.token)));
  const result = await client.callTool({ name: snakeCase(op.operationId), arguments: argumentsOf(op, op.path(id), body) });
  const text = JSON.stringify(result);
  if (!result.isError) return { status: 200, text };
  const problem = refusedProblem<Answer["problem"]>(result);
  return { status: problem!.status, problem, text };
}

function expectCell(result: Answer, cell: Cell, label: string) {
  if (result.rest === undefined) {
    // A tool result carries no HTTP status: success is a result, a refusal the same problem REST answers.
    expect(result.status < 400 ? 200 : result.status, `${label}: ${result.text.slice(0, 300)}`).toBe(cell.status < 400 ? 200 : cell.status);
    if (cell.status >= 400) expect(result.problem, label).toMatchObject({ status: cell.status, ...(cell.error_class ? { error_class: cell.error_class } : {}) });
    return;
  }
  expect(result.status, `${label}: ${result.text.slice(0, 300)}`).toBe(cell.status);
  if (cell.status >= 400) expectProblem(result.rest, cell.status, cell.error_class);
}

describe("the route x role x scope matrix", () => {
  it("covers every operation of the served document that takes a bearer token", async () => {
    const doc = (await call("/openapi.json", { token: null })).json as { paths: Record<string, Record<string, { operationId: string; security?: unknown[] }>> };
    const served = Object.values(doc.paths).flatMap((methods) => Object.values(methods).filter((op) => (op.security ?? []).length > 0).map((op) => op.operationId));
    expect(OPERATIONS.map((op) => op.operationId).sort()).toEqual(served.sort());
  });

  it("lists over MCP exactly the tools each role is granted", async () => {
    for (const caller of callers) {
      const client = await mcpClient(caller.token);
      const listed = (await client.listTools()).tools.map((tool) => tool.name).sort();
      const granted = OPERATIONS.filter((op) => op.roles.includes(caller.role) && !(caller.scoped && op.unscopedOnly) && !NOT_TOOLS.includes(op.operationId)).map((op) =>
        snakeCase(op.operationId),
      );
      expect(listed, `${caller.role}${caller.scoped ? " (scoped)" : ""}`).toEqual(granted.sort());
    }
  });

  const cells = CHANNELS.flatMap((channel) =>
    OPERATIONS.filter((op) => channel === "rest" || !NOT_TOOLS.includes(op.operationId)).map((op) => ({ channel, op, operationId: op.operationId })),
  );

  describe.each(cells)("$operationId over $channel", ({ channel, op }) => {
    it.each(ROLES)("as %s, unscoped and scoped", async (role) => {
      for (const caller of callers.filter((c) => c.role === role)) {
        const label = `${op.operationId} over ${channel} as ${role}${caller.scoped ? " (scoped)" : ""}`;
        if (!op.roles.includes(role)) {
          const before = await footprint(outside, caller);
          expectCell(await send(op, outside, caller, channel), { status: 403, error_class: "Forbidden" }, label);
          expect(await footprint(outside, caller), label).toEqual(before);
          continue;
        }
        if (op.onProcedure && caller.scoped) {
          // Out of scope: as if it did not exist, and nothing written, whatever the route would do.
          const hidden = op.mutates ? await conducted(OUTSIDE) : outside;
          const before = await footprint(hidden, caller);
          expectCell(await send(op, hidden, caller, channel), { status: 404, error_class: "ProcedureNotFound" }, `${label} outside`);
          expect(await footprint(hidden, caller), label).toEqual(before);
        }
        // Within reach: what any caller with the grant gets.
        const reachable = op.mutates ? await conducted(caller.scoped ? INSIDE : OUTSIDE) : caller.scoped ? inside : outside;
        const expected = caller.scoped ? (op.scopedOk ?? op.ok) : op.ok;
        const before = expected.status >= 400 ? await footprint(reachable, caller) : null;
        expectCell(await send(op, reachable, caller, channel), expected, label);
        if (before) expect(await footprint(reachable, caller), label).toEqual(before);
      }
    });
  });
});

describe("a scoped principal cannot learn of a procedure outside its scopes", () => {
  const ids = (result: Awaited<ReturnType<typeof call>>, key = "procedure_id") => result.json.items.map((i: Record<string, string>) => i[key]);
  const scopedReader = () => callers.find((c) => c.role === "reader" && c.scoped)!;
  const reader = () => callers.find((c) => c.role === "reader" && !c.scoped)!;

  it("lists only procedures within its scopes, whichever filter it asks for", async () => {
    const orders = ["order=newest&limit=100", "order=attention&limit=100", "order=attention&limit=1", "q=PROCEDURE&limit=100", "kind=CALIBRATION&order=newest&limit=100"];
    const byAsset = [`target_asset_id=${OUTSIDE.toUpperCase()}&order=attention`, `target_asset_id=${INSIDE.toUpperCase()}&q=procedure`];
    for (const query of ["limit=100", `target_asset_id=${OUTSIDE}`, `target_asset_id=${INSIDE}`, "status=Running&limit=100", ...orders, ...byAsset]) {
      const all: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await call(`/v1/procedures?${query}${cursor ? `&cursor=${cursor}` : ""}`, { token: scopedReader().token });
        expect(page.status).toBe(200);
        all.push(...ids(page));
        cursor = page.json.next_cursor;
      } while (cursor);
      expect(all, query).not.toContain(outside);
      if (!query.toLowerCase().includes(OUTSIDE.toLowerCase())) expect(all, query).toContain(inside);
    }
    expect(ids(await call(`/v1/procedures?target_asset_id=${OUTSIDE}`, { token: reader().token }))).toContain(outside);
  });

  it("sees only decisions about procedures within its scopes", async () => {
    const mine = await call(`/v1/decisions?subject_id=${outside}`, { token: scopedReader().token });
    expect(mine.status).toBe(200);
    expect(mine.json.items).toEqual([]);
    expect(ids(await call(`/v1/decisions?subject_id=${inside}`, { token: scopedReader().token }), "id")).toEqual([insideDecision]);
    expect(ids(await call(`/v1/decisions?subject_id=${outside}`, { token: reader().token }), "id")).toEqual([outsideDecision]);
    expectProblem(await call(`/v1/decisions/${outsideDecision}`, { token: scopedReader().token }), 404, "DecisionNotFound");
    expect((await call(`/v1/decisions/${insideDecision}`, { token: scopedReader().token })).status).toBe(200);
  });

  it("answers a procedure outside its scopes exactly as one that does not exist", async () => {
    const gateway = callers.find((c) => c.role === "gateway" && c.scoped)!;
    for (const path of ["", "/manifest", "/resume-point"]) {
      const hidden = await call(`/v1/procedures/${outside}${path}`, { token: gateway.token });
      const missing = await call(`/v1/procedures/${uuidv7()}${path}`, { token: gateway.token });
      expectProblem(hidden, 404, "ProcedureNotFound");
      // Alike but for the id named in the detail and each request's own id.
      expect({ ...hidden.json, detail: "", request_id: "" }).toEqual({ ...missing.json, detail: "", request_id: "" });
    }
  });

  it("registers a procedure only on assets within its scopes, and writes nothing otherwise", async () => {
    const operator = callers.find((c) => c.role === "operator" && c.scoped)!;
    const key = crypto.randomUUID();
    for (const target_asset_ids of [[OUTSIDE], [INSIDE, OUTSIDE], []]) {
      const refused = await call("/v1/procedures", { token: operator.token, headers: { "idempotency-key": key }, body: { name: "scoped", kind: "k", target_asset_ids } });
      expectProblem(refused, 403, "Forbidden");
    }
    const claims = await env.DB.prepare("SELECT count(*) AS n FROM idempotency_keys WHERE principal_id = ?").bind(operator.principal_id).first<{ n: number }>();
    expect(claims!.n).toBe(0);
    const registered = await call("/v1/procedures", { token: operator.token, body: { name: "scoped", kind: "k", target_asset_ids: [INSIDE] } });
    expect(registered.status).toBe(201);
    expect((await call(`/v1/procedures/${registered.json.procedure_id}`, { token: operator.token })).status).toBe(200);
  });

  it("keeps its scopes after a rotation", async () => {
    const created = await call("/v1/principals", { body: { name: "rotating scoped", roles: ["reader"], scopes: { target_asset_ids: [INSIDE] } } });
    const rotated = await call(`/v1/principals/${created.json.principal_id}/rotate`, { method: "POST" });
    expectProblem(await call(`/v1/procedures/${outside}`, { token: rotated.json.token }), 404, "ProcedureNotFound");
    expect((await call(`/v1/procedures/${inside}`, { token: rotated.json.token })).status).toBe(200);
  });
});

describe("the scope check in the procedure's object", () => {
  it("refuses any call whose access does not reach the procedure, before anything else", async () => {
    const stub = env.PROCEDURES.get(env.PROCEDURES.idFromName(outside));
    const access = { scopes: { target_asset_ids: [INSIDE] } };
    const actor = { ...access, principal_id: uuidv7(), correlation_id: "scope-test" };
    const outcomes = [
      await stub.read(access),
      await stub.events(0, 10, access),
      await stub.readManifest(access),
      await stub.resumePoint(access),
      await stub.activities(null, 10, access),
      await stub.command({ type: "HoldProcedure", reason: "x", cause: "operator" }, actor),
      await stub.appendActivities([entry({ step_kind: "setpoint", step_index: 0, result: "ok" })], actor),
      await stub.conductFrom(0, actor),
      await stub.authorizeReplayStep(1, actor),
    ];
    for (const outcome of outcomes) expect(outcome).toMatchObject({ ok: false, refusal: { error_class: "ProcedureNotFound" } });
    const events = await stub.events(0, 100, { scopes: null });
    expect(events.ok && events.value.items.every((e) => e.principal_id !== actor.principal_id)).toBe(true);
  });

});
