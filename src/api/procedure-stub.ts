// The one way a route reaches a procedure: its own object, by id.
import type { Context } from "hono";
import type { Actor } from "../procedure/object";
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

/** Opaque keyset cursors: base64url JSON. */
export function encodeCursor(value: unknown): string {
  return btoa(JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function decodeCursor<T>(cursor: string, isValid: (value: unknown) => value is T): T {
  try {
    const value: unknown = JSON.parse(atob(cursor.replace(/-/g, "+").replace(/_/g, "/")));
    if (isValid(value)) return value;
  } catch {
    // fall through to the refusal
  }
  throw new ProblemError(400, "InvalidCursor", "the cursor is not one this service issued");
}
