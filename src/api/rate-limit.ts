// Per-principal rate limits, checked right after authentication and before a
// body is read or a handler runs, so a request over the limit does nothing.
// Activity ingest has its own budget: a busy gateway's batches must not eat
// into the budget its other calls need, nor an operator's reads into ingest.
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { BOOTSTRAP_ADMIN_ID, type UnknownTokenBudget } from "../auth/principals";
import type { AppEnv } from "./context";
import { ProblemError } from "./problem";

interface Limiter {
  binding: "INGEST_RATE_LIMITER" | "API_RATE_LIMITER" | "ADDRESS_RATE_LIMITER";
  /** The binding's period in wrangler.toml: a client over the limit retries after it. */
  periodSeconds: number;
}

const INGEST: Limiter = { binding: "INGEST_RATE_LIMITER", periodSeconds: 10 };
const API: Limiter = { binding: "API_RATE_LIMITER", periodSeconds: 60 };
const ADDRESS: Limiter = { binding: "ADDRESS_RATE_LIMITER", periodSeconds: 10 };

/** The client's address as Cloudflare's edge reports it; requests without one (a local run) share one budget. */
export function clientAddress(c: Context<AppEnv>): string {
  return c.req.header("cf-connecting-ip") ?? "no-address";
}

/**
 * True while the client's address is within its budget of requests no principal
 * vouches for: a stream ticket's redemption spends one before the object is reached.
 * Keyed by address, so one address's flood spends only its own.
 */
export async function withinAddressBudget(c: Context<AppEnv>): Promise<boolean> {
  const { success } = await c.env[ADDRESS.binding].limit({ key: clientAddress(c) });
  return success;
}

/** Addresses this isolate found over budget, until when: their unseen tokens are not looked up meanwhile. */
const overBudget = new Map<string, number>();
const OVER_BUDGET_LIMIT = 10_000;

/**
 * The client address's budget for unknown bearer tokens: a look-up that finds no
 * live principal spends from it (a valid token spends nothing), and once the
 * binding says the address is over, this isolate looks up none of its unseen
 * tokens for the limiter's period.
 */
export function unknownTokenBudget(c: Context<AppEnv>): UnknownTokenBudget {
  const address = clientAddress(c);
  return {
    open: () => (overBudget.get(address) ?? 0) <= Date.now(),
    spend: async () => {
      const { success } = await c.env[ADDRESS.binding].limit({ key: address });
      if (success) return;
      if (overBudget.size >= OVER_BUDGET_LIMIT) overBudget.delete(overBudget.keys().next().value!);
      overBudget.set(address, Date.now() + ADDRESS.periodSeconds * 1000);
    },
  };
}

/** The refusal of a request over its address's budget. */
export function addressLimited(what: string): ProblemError {
  return new ProblemError("RateLimited", `too many ${what} from this address; retry after ${ADDRESS.periodSeconds} s`, undefined, {
    "retry-after": String(ADDRESS.periodSeconds),
  });
}

const ACTIVITY_INGEST = /^\/v1\/procedures\/[^/]+\/activities\/?$/;

/** Which budget a request spends. */
export function limiterFor(method: string, path: string): Limiter {
  return method === "POST" && ACTIVITY_INGEST.test(path) ? INGEST : API;
}

/**
 * 429 RateLimited once the principal is over its limit. The bootstrap admin is
 * not limited: it is the operators' way in to revoke whatever is flooding the
 * service, and a secret only they hold.
 */
export const rateLimit = createMiddleware<AppEnv>(async (c, next) => {
  await spendRequest(c, c.req.method, c.req.path);
  await next();
});

/** Spends one request of the principal's budget for `method path`; throws 429 RateLimited when it is spent. */
export async function spendRequest(c: Context<AppEnv>, method: string, path: string): Promise<void> {
  // No principal yet: a stream opened by a single-use ticket, which a limited request issued.
  const principal_id = c.get("principal")?.principal_id;
  if (principal_id === undefined || principal_id === BOOTSTRAP_ADMIN_ID) return;
  const limiter = limiterFor(method, path);
  const { success } = await c.env[limiter.binding].limit({ key: principal_id });
  if (!success) {
    throw new ProblemError("RateLimited", `principal ${principal_id} is over its request limit; retry after ${limiter.periodSeconds} s`, undefined, {
      "retry-after": String(limiter.periodSeconds),
    });
  }
}
