// What each request leaves for whoever runs the service: one JSON log line
// and one metric, written after the answer is known. Nothing here reads a
// header or a body: a token can only reach a line through a field named here.
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { matchedRoutes } from "hono/route";
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
}
