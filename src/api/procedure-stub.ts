// The one way a route reaches a procedure: its own object, by id.
import type { Context } from "hono";
import type { Caller } from "../procedure/contract";
import type { Verdict } from "../procedure/refusal";
import type { AppEnv } from "./app";
import { ProblemError } from "./problem";

/** The procedure's Durable Object. */
export function procedureObject(env: Env, procedureId: string) {
  return env.PROCEDURES.get(env.PROCEDURES.idFromName(procedureId));
}

/**
 * The acting principal, its scopes and the request id (the events'
 * correlation id, and what the object's log lines name): every call to a
 * procedure's object carries it (reads too), and the object refuses a
 * procedure outside the scopes before anything else.
 */
export function actorOf(c: Context<AppEnv>): Caller {
  const { principal_id, scopes } = c.var.principal;
  return { principal_id, scopes, correlation_id: c.var.request_id };
}

/** The accepted value, or the refusal thrown as a problem. */
export async function unwrap<T>(decision: Promise<Verdict<T>> | Verdict<T>): Promise<T> {
  const settled = await decision;
  if (!settled.ok) throw ProblemError.from(settled.refusal);
  return settled.value;
}
