// What each request leaves for whoever runs the service: one JSON log line
// and one metric, written after the answer is known. Nothing here reads a
// header or a body: a token can only reach a line through a field named here.
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { matchedRoutes } from "hono/route";
import { addRefusals, minuteOf, type RefusalCount } from "../db/operations";
import { metricsFor } from "../env";
import { logLine } from "../observability/log";
import type { AppEnv } from "./context";

/** The operationId of each route, by `METHOD /hono/:path`. */
export type OperationIndex = Map<string, string>;

/** Every documented route's operationId, keyed as Hono lists the route. */
export function operationIndex(app: OpenAPIHono<AppEnv>): OperationIndex {
  const index: OperationIndex = new Map();
  for (const definition of app.openAPIRegistry.definitions) {
    if (definition.type !== "route" || !definition.route.operationId) continue;
    const { method, path, operationId } = definition.route;
    index.set(`${method.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ":$1")}`, operationId);
  }
  return index;
}

/** The request's operation: its route's operationId, else the route path (an undocumented route), else "unmatched". */
function operationOf(c: Context<AppEnv>, index: OperationIndex): string {
  const route = matchedRoutes(c).findLast((r) => r.method !== "ALL");
  if (!route) return "unmatched";
  return index.get(`${c.req.method} ${route.path}`) ?? `${c.req.method} ${route.path}`;
}

/** Logs the request as one line and writes its metric; `startedMs` is when the request arrived. */
export function recordRequest(c: Context<AppEnv>, index: OperationIndex, startedMs: number): void {
  const status = c.res.status;
  const duration_ms = Date.now() - startedMs;
  const operation = operationOf(c, index);
  const error_class = c.get("error_class");
  const outcome = error_class ?? (status < 400 ? "ok" : `status_${status}`);
  const principal_id = c.get("principal")?.principal_id ?? null;
  const command = c.get("command") ?? "";
  const enabled = c.var.config.telemetry;
  logLine(
    status >= 500 ? "warn" : "info",
    {
      msg: "request",
      request_id: c.var.request_id,
      principal_id,
      method: c.req.method,
      // The path only: a query may carry a stream ticket.
      path: c.req.path,
      operation,
      status,
      outcome,
      duration_ms,
    },
    enabled,
  );
  metricsFor(c.env).write({ kind: "request", operation, outcome, command, principal_id: principal_id ?? "", status, duration_ms });
  if (error_class) countRefusal(c, error_class, startedMs);
}

/**
 * Refusals this isolate counted and has not yet added to D1, by minute and
 * class. A flood of refusals costs one D1 batch in flight at a time, not one
 * write each; counts an evicted isolate had not flushed are lost, which a
 * health view can afford.
 */
const pendingRefusals = new Map<string, RefusalCount>();
let flushing = false;

/** Counts a refusal for the Health page and, unless a flush is under way, flushes after the response. */
function countRefusal(c: Context<AppEnv>, error_class: string, atMs: number): void {
  const minute = minuteOf(atMs);
  const key = `${minute} ${error_class}`;
  const counted = pendingRefusals.get(key);
  if (counted) counted.count += 1;
  else pendingRefusals.set(key, { minute, error_class, count: 1 });
  if (flushing) return;
  let ctx: Context<AppEnv>["executionCtx"];
  try {
    ctx = c.executionCtx;
  } catch {
    return; // no execution context (a direct app.request in a test): left for the next flush
  }
  flushing = true;
  ctx.waitUntil(flushRefusals(c.env.DB).finally(() => (flushing = false)));
}

/** Adds what is pending to D1 until nothing is; a failed batch is logged and its counts dropped. */
async function flushRefusals(d1: D1Database): Promise<void> {
  while (pendingRefusals.size > 0) {
    const batch = [...pendingRefusals.values()];
    pendingRefusals.clear();
    try {
      await addRefusals(d1, batch);
    } catch (error) {
      logLine("warn", { msg: "refusal counts dropped", count: batch.reduce((n, r) => n + r.count, 0), error: String(error) });
      return;
    }
  }
}
