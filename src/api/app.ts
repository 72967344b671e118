// The app factory: one validation hook and one error mapper for every route,
// so every refusal is application/problem+json with a fixed error_class.
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { database } from "../db/client";
import { config, ConfigurationError } from "../env";
import { logLine } from "../observability/log";
import { REQUEST_ID_HEADER, requestIdFrom } from "../observability/request-id";
import { authenticate } from "./auth";
import { operationIndex, recordRequest, type OperationIndex } from "./observe";
import type { AppEnv } from "./context";
import { wellFormedInput } from "./input";
import { ProblemError, validationFailed, type ValidationTarget } from "./problem";
import { rateLimit } from "./rate-limit";

export type { AppEnv } from "./context";

/** A router whose request validation failures become 400 problems listing the offending fields. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (result.success) return;
      // The validator's target (json, query, param, header); a result that names none is the request's.
      throw validationFailed((result as { target?: ValidationTarget }).target ?? "request", result.error.issues);
    },
  });
}

/** What `Retry-After` asks of a client that met an overloaded object. */
export const OVERLOADED_RETRY_AFTER_SECONDS = 1;

/**
 * A Durable Object error the runtime marks as worth retrying: the object is
 * overloaded (too many requests queued for it) or was briefly unavailable
 * (`retryable`). The client's retry is the remedy, so it is a 503, not a 500.
 */
function isOverloaded(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const flags = error as Error & { overloaded?: unknown; retryable?: unknown };
  return flags.overloaded === true || flags.retryable === true;
}

/** Maps any thrown error to a problem; an overloaded object is a 503, other unknown errors are logged with context and answered as a bare 500. */
export function toProblem(error: unknown, request: Request, requestId: string): ProblemError {
  if (error instanceof ProblemError) return error;
  if (error instanceof HTTPException) {
    const status = error.status;
    const error_class =
      status === 413 ? "PayloadTooLarge" : status === 400 ? "MalformedRequest" : status === 415 ? "UnsupportedMediaType" : "HttpError";
    // The validator's own 415 names no remedy; the only one is to send JSON and say so.
    const detail = status === 415 ? "send the body as JSON with the header content-type: application/json" : error.message || "request refused";
    return new ProblemError(error_class, detail);
  }
  if (isOverloaded(error)) {
    logLine("warn", { msg: "object overloaded", request_id: requestId, method: request.method, path: new URL(request.url).pathname, error: String(error) });
    return new ProblemError("ServiceOverloaded", "the procedure is busy right now; retry shortly", undefined, {
      "retry-after": String(OVERLOADED_RETRY_AFTER_SECONDS),
    });
  }
  logLine("error", {
    msg: "unhandled error",
    request_id: requestId,
    method: request.method,
    // The path only: a query may carry a stream ticket.
    path: new URL(request.url).pathname,
    error: error instanceof Error ? (error.stack ?? error.message) : String(error),
  });
  if (error instanceof ConfigurationError) return new ProblemError("InternalError", "the service's configuration is invalid; its log names the variable");
  return new ProblemError("InternalError", "an unexpected error occurred");
}

/** The problem as the request's answer; its class is kept for the request's log line and metric. */
function refused(c: Context<AppEnv>, problem: ProblemError): Response {
  c.set("error_class", problem.error_class);
  return problem.response(c.var.request_id);
}

/** Request bodies above this are refused with 413 before they are read. */
export const MAX_BODY_BYTES = 1024 * 1024;

type Route = { method: string; path: string };

/** For each route path (as a pattern), the methods it answers; middleware (method ALL) is left out. */
function methodsByPath(routes: readonly Route[]): Array<{ pattern: RegExp; methods: string[] }> {
  const byPath = new Map<string, Set<string>>();
  for (const { method, path } of routes) {
    if (method === "ALL") continue;
    byPath.set(path, (byPath.get(path) ?? new Set()).add(method));
  }
  return [...byPath].map(([path, methods]) => ({
    pattern: new RegExp(`^${path.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\/:[^/]+/g, "/[^/]+")}$`),
    methods: [...methods],
  }));
}

/**
 * The root app: per-request dependencies in c.var, bearer authentication, the per-principal
 * rate limit, the body limit and the well-formedness checks on /v1, and every error answered
 * as a problem.
 */
export function createApp() {
  const app = createRouter();
  // Built on first use: the routes are mounted after this factory returns.
  let operations: OperationIndex | undefined;
  app.use("*", async (c, next) => {
    const startedMs = Date.now();
    // First, so even a refusal of the configuration names the request. It is
    // stored with every event the request appends: only a short, plain one is
    // taken. X-Correlation-Id is the header's earlier name, still taken (and
    // answered) for clients that send it.
    const requestId = requestIdFrom(c.req.header(REQUEST_ID_HEADER) ?? c.req.header("x-correlation-id"));
    c.set("request_id", requestId);
    c.set("config", config(c.env));
    c.set("db", database(c.env.DB));
    await next();
    c.header(REQUEST_ID_HEADER, requestId);
    c.header("x-correlation-id", requestId);
    recordRequest(c, (operations ??= operationIndex(app)), startedMs);
  });
  app.use("/v1/*", authenticate);
  app.use("/v1/*", rateLimit);
  app.use(
    "/v1/*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new ProblemError("PayloadTooLarge", `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );
  app.use("/v1/*", wellFormedInput);
  let allowed: ReturnType<typeof methodsByPath> | undefined;
  app.notFound((c) => {
    const path = new URL(c.req.url).pathname;
    allowed ??= methodsByPath(app.routes);
    const methods = allowed.find((entry) => entry.pattern.test(path))?.methods;
    if (methods) {
      const allow = methods.join(", ");
      return refused(c, new ProblemError("MethodNotAllowed", `${c.req.method} is not allowed on ${path}; allowed: ${allow}`, undefined, { allow }));
    }
    return refused(c, new ProblemError("RouteNotFound", `no route for ${c.req.method} ${path}`));
  });
  // The request id is set first thing; a request that failed before (none yet) still gets one.
  app.onError((error, c) => {
    // The request id is set first thing; a request that failed before that still gets one.
    const requestId = c.get("request_id") ?? requestIdFrom(null);
    c.set("request_id", requestId);
    return refused(c, toProblem(error, c.req.raw, requestId));
  });
  return app;
}
