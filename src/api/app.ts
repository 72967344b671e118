// The app factory: one validation hook and one error mapper for every route,
// so every refusal is application/problem+json with a fixed error_class.
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import type { Principal } from "../auth/grants";
import { database, type Database } from "../db/client";
import { config, type Config } from "../env";
import { uuidv7 } from "../ids";
import { authenticate } from "./auth";
import { ProblemError } from "./problem";

export interface AppEnv {
  Bindings: Env;
  Variables: {
    config: Config;
    db: Database;
    principal: Principal;
    correlation_id: string;
  };
}

/** A router whose request validation failures become 400 problems listing the offending fields. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (result.success) return;
      const errors = result.error.issues.map((issue) => ({
        path: issue.path.map(String).join(".") || "(root)",
        message: issue.message,
      }));
      const target = (result as { target?: string }).target ?? "request";
      throw new ProblemError("ValidationFailed", `the ${target} is invalid`, errors);
    },
  });
}

/** Maps any thrown error to a problem; unknown errors are logged with context and answered as a bare 500. */
export function toProblem(error: unknown, request: Request, correlationId: string | undefined): Response {
  if (error instanceof ProblemError) return error.response();
  if (error instanceof HTTPException) {
    const status = error.status;
    const error_class =
      status === 413 ? "PayloadTooLarge" : status === 400 ? "MalformedRequest" : status === 415 ? "UnsupportedMediaType" : "HttpError";
    return new ProblemError(error_class, error.message || "request refused").response();
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

/** Request bodies above this are refused with 413 before they are read. */
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * The root app: per-request dependencies in c.var, bearer authentication then
 * the body limit on /v1, and every error answered as a problem.
 */
export function createApp() {
  const app = createRouter();
  app.use("*", async (c, next) => {
    const correlationId = c.req.header("x-correlation-id")?.slice(0, 200) || uuidv7();
    c.set("correlation_id", correlationId);
    c.set("config", config(c.env));
    c.set("db", database(c.env.DB));
    await next();
    c.header("x-correlation-id", correlationId);
  });
  app.use("/v1/*", authenticate);
  app.use(
    "/v1/*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new ProblemError("PayloadTooLarge", `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );
  app.notFound((c) => new ProblemError("RouteNotFound", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`).response());
  app.onError((error, c) => toProblem(error, c.req.raw, c.get("correlation_id")));
  return app;
}
