// Per-request identity: the bearer token's principal goes into c.var, and each
// route names the command it runs so it is authorized before any work.
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { isAuthorized, type CommandName } from "../auth/grants";
import { principalForToken } from "../auth/principals";
import type { AppEnv } from "./context";
import { ProblemError } from "./problem";

/** A stream request carrying a ticket and no Authorization header: the stream route authenticates it by the ticket. */
function carriesStreamTicket(c: Context<AppEnv>): boolean {
  return c.req.method === "GET" && /^\/v1\/procedures\/[^/]+\/stream$/.test(c.req.path) && c.req.query("ticket") !== undefined;
}

/** 401 unless a known, live bearer token is presented. */
export const authenticate = createMiddleware<AppEnv>(async (c, next) => {
  const header = c.req.header("authorization") ?? "";
  // A browser's WebSocket cannot send the header; the stream route checks its ticket instead.
  if (header === "" && carriesStreamTicket(c)) return next();
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw new ProblemError("Unauthenticated", "an Authorization: Bearer token is required");
  const outcome = await principalForToken(c.var.db, c.var.config.adminToken, match[1]!, Date.now());
  if ("refused" in outcome) {
    // Only strangers are throttled: a token this isolate has not seen, while unknown tokens flood it.
    if (outcome.refused === "throttled") {
      throw new ProblemError("RateLimited", "too many unrecognised tokens right now; retry shortly", undefined, { "retry-after": "1" });
    }
    throw new ProblemError("Unauthenticated", "the bearer token is not recognised, revoked or expired");
  }
  c.set("principal", outcome.principal);
  await next();
});

/** The command each `requires` middleware checks, so other channels (MCP's tools/list) read a route's grant from the route itself. */
const requiredCommands = new WeakMap<object, CommandName>();

/** 403 unless the principal's roles grant `command`. */
export function requires(command: CommandName) {
  const middleware = createMiddleware<AppEnv>(async (c, next) => {
    if (!isAuthorized(c.var.principal, command)) {
      throw new ProblemError("Forbidden", `principal ${c.var.principal.principal_id} may not ${command}`);
    }
    await next();
  });
  requiredCommands.set(middleware, command);
  return middleware;
}

/** The command a route handler (as listed in `app.routes`) requires, if it is a `requires` middleware. */
export function commandRequiredBy(handler: object): CommandName | undefined {
  return requiredCommands.get(handler);
}
