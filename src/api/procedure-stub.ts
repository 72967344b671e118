// The one way a route reaches a procedure: its own object, by id.
import type { Context } from "hono";
import type { Actor } from "../procedure/contract";
import type { Decision } from "../procedure/refusal";
import type { AppEnv } from "./app";
import { ProblemError } from "./problem";

/** The procedure's Durable Object. */
export function procedureObject(env: Env, procedureId: string) {
  return env.PROCEDURES.get(env.PROCEDURES.idFromName(procedureId));
}

/** The acting principal and correlation id for the events a command appends. */
export function actorOf(c: Context<AppEnv>): Actor {
  return { principal_id: c.var.principal.principal_id, correlation_id: c.var.correlation_id };
}

/** The accepted value, or the refusal thrown as a problem. */
export async function unwrap<T>(decision: Promise<Decision<T>> | Decision<T>): Promise<T> {
  const settled = await decision;
  if (!settled.ok) throw ProblemError.from(settled.refusal);
  return settled.value;
}
