// Per-request identity: the bearer token's principal goes into c.var, and each
// route names the command it runs so it is authorized before any work.
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { isAuthorized, UNSCOPED_COMMANDS, type CommandName } from "../auth/grants";
import { principalForToken } from "../auth/principals";
import type { AppEnv } from "./context";
import { ProblemError } from "./problem";
import { addressLimited, unknownTokenBudget } from "./rate-limit";

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
  const outcome = await principalForToken(c.var.db, c.var.config.adminToken, match[1]!, Date.now(), unknownTokenBudget(c));
  if ("refused" in outcome) {
    // Only strangers are throttled: a token this isolate has not seen, from an address over its budget.
    if (outcome.refused === "throttled") throw addressLimited("unrecognised tokens");
    throw new ProblemError("Unauthenticated", "the bearer token is not recognised, revoked or expired");
  }
  c.set("principal", outcome.principal);
  c.set("token_hash", outcome.token_hash);
  await next();
});

/** The commands each `requires` middleware checks, so other channels (MCP's tools/list) read a route's grant from the route itself. */
const requiredCommands = new WeakMap<object, readonly CommandName[]>();

/** 403 unless the principal's roles grant every one of `commands`. */
export function requires(...commands: [CommandName, ...CommandName[]]) {
  const middleware = createMiddleware<AppEnv>(async (c, next) => {
    c.set("command", commands[0]);
    const command = commands.find((one) => !isAuthorized(c.var.principal, one));
    if (command !== undefined) {
      const why = c.var.principal.scopes !== null && UNSCOPED_COMMANDS.has(command) ? " (it reaches every scope: only an unscoped principal may)" : "";
      throw new ProblemError("Forbidden", `principal ${c.var.principal.principal_id} may not ${command}${why}`);
    }
    await next();
  });
  requiredCommands.set(middleware, commands);
  return middleware;
}

/** The commands a route handler (as listed in `app.routes`) requires, if it is a `requires` middleware. */
export function commandsRequiredBy(handler: object): readonly CommandName[] | undefined {
  return requiredCommands.get(handler);
}
