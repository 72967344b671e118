// The app factory: one validation hook and one error mapper for every route,
// so every refusal is application/problem+json with a fixed error_class.
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { cutText } from "../conduct/entries";
import { database } from "../db/client";
import { config } from "../env";
import { uuidv7 } from "../ids";
import { authenticate } from "./auth";
import type { AppEnv } from "./context";
import { wellFormedInput } from "./input";
import { ProblemError, type Problem } from "./problem";
import { rateLimit } from "./rate-limit";

export type { AppEnv } from "./context";

/** A refusal lists at most this many offending fields, so its size never follows the request's. */
export const MAX_LISTED_ERRORS = 20;
const MAX_ERROR_TEXT = 300;

type Issue = { path: readonly PropertyKey[]; message: string };

/** The offending fields of a validation failure, capped in count and in length. */
export function listedErrors(issues: readonly Issue[]): NonNullable<Problem["errors"]> {
  return issues.slice(0, MAX_LISTED_ERRORS).map((issue) => ({
    path: cutText(issue.path.map(String).join(".") || "(root)", MAX_ERROR_TEXT),
    message: issue.message.length > MAX_ERROR_TEXT ? `${cutText(issue.message, MAX_ERROR_TEXT)}…` : issue.message,
  }));
}

/** A router whose request validation failures become 400 problems listing the offending fields. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (result.success) return;
      const issues = result.error.issues;
      const target = (result as { target?: string }).target ?? "request";
      const more = issues.length - MAX_LISTED_ERRORS;
      const detail = `the ${target} is invalid${more > 0 ? ` (${issues.length} problems; ${more} more are not listed)` : ""}`;
      throw new ProblemError("ValidationFailed", detail, listedErrors(issues));
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
export function toProblem(error: unknown, request: Request, correlationId: string | undefined): Response {
  if (error instanceof ProblemError) return error.response();
  if (error instanceof HTTPException) {
    const status = error.status;
    const error_class =
      status === 413 ? "PayloadTooLarge" : status === 400 ? "MalformedRequest" : status === 415 ? "UnsupportedMediaType" : "HttpError";
    return new ProblemError(error_class, error.message || "request refused").response();
  }
  if (isOverloaded(error)) {
    console.warn(JSON.stringify({ msg: "object overloaded", method: request.method, url: request.url, correlation_id: correlationId, error: String(error) }));
    return new ProblemError("ServiceOverloaded", "the procedure is busy right now; retry shortly", undefined, {
      "retry-after": String(OVERLOADED_RETRY_AFTER_SECONDS),
    }).response();
  }
  console.error(
    JSON.stringify({
      msg: "unhandled error",
      method: request.method,
      url: request.url,
      correlation_id: correlationId,
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    }),
  );
  return new ProblemError("InternalError", "an unexpected error occurred").response();
}

/** A correlation id a client may choose: 1-128 letters, digits and `. _ : -`; anything else is replaced by the service's own. */
export const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

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
  app.use("*", async (c, next) => {
    // A client's id is stored with every event the request appends: only a short, plain one is taken.
    const offered = c.req.header("x-correlation-id");
    const correlationId = offered !== undefined && CORRELATION_ID.test(offered) ? offered : uuidv7();
    c.set("correlation_id", correlationId);
    c.set("config", config(c.env));
    c.set("db", database(c.env.DB));
    await next();
    c.header("x-correlation-id", correlationId);
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
  // Built on first use: the routes are mounted after this factory returns.
  let allowed: ReturnType<typeof methodsByPath> | undefined;
  app.notFound((c) => {
    const path = new URL(c.req.url).pathname;
    allowed ??= methodsByPath(app.routes);
    const methods = allowed.find((entry) => entry.pattern.test(path))?.methods;
    if (methods) {
      const allow = methods.join(", ");
      return new ProblemError("MethodNotAllowed", `${c.req.method} is not allowed on ${path}; allowed: ${allow}`).response({ allow });
    }
    return new ProblemError("RouteNotFound", `no route for ${c.req.method} ${path}`).response();
  });
  app.onError((error, c) => toProblem(error, c.req.raw, c.get("correlation_id")));
  return app;
}
