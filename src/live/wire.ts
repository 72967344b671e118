// What the Worker and a procedure's object exchange on a stream request. The
// object's `fetch` is reachable only through the Worker (a Durable Object has
// no public address), so the object trusts these headers: the Worker sets them
// after it authenticated and authorized the caller.
import type { PrincipalScopes } from "../auth/grants";
import type { Refusal } from "../procedure/refusal";

/** JSON `{principal_id, token_hash, scopes}`: who is watching, with which token. */
export const PRINCIPAL_HEADER = "x-procedure-edge-principal";
/** The id the subscriber resumes after (from Last-Event-ID or `?after=`), already validated. */
export const AFTER_HEADER = "x-procedure-edge-after";
/** Marks an object's answer as a refusal whose body is the Refusal as JSON; the Worker maps it to a problem. */
export const REFUSAL_HEADER = "x-procedure-edge-refusal";

export interface Subscriber {
  principal_id: string;
  /** The token that opened the stream (directly, or by asking for its ticket): its rotation, revocation or expiry ends the stream. */
  token_hash: string;
  /** The principal's scope: a procedure outside it answers 404, as every other route does. */
  scopes: PrincipalScopes | null;
}

export function refusalResponse(refusal: Refusal): Response {
  return new Response(JSON.stringify(refusal), { status: 400, headers: { [REFUSAL_HEADER]: "1", "content-type": "application/json" } });
}
