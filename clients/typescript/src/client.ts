// The entry point: one client per service and token.
import { type ClientOptions, Transport } from "./http.ts";
import { ProcedureHandle } from "./procedure.ts";
import type { Procedure, RegisterRequest } from "./types.ts";

export class ProcedureEdgeClient {
  readonly http: Transport;

  constructor(options: ClientOptions) {
    this.http = new Transport(options);
  }

  /** A handle on procedure `id` (no request is made). */
  procedure(id: string): ProcedureHandle {
    return new ProcedureHandle(this.http, id);
  }

  /** Registers a procedure; with an idempotency key a retry answers the same procedure, so it is retried like a read. */
  register(request: RegisterRequest, idempotencyKey?: string): Promise<Procedure> {
    return this.http.call("post", "/v1/procedures", {
      body: request,
      ...(idempotencyKey === undefined ? {} : { headers: { "idempotency-key": idempotencyKey }, retry: "safe" as const }),
    });
  }
}

export function createClient(options: ClientOptions): ProcedureEdgeClient {
  return new ProcedureEdgeClient(options);
}
