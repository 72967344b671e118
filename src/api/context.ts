// What every request carries through the middleware chain: its own module, so
// the app factory and the middleware it mounts depend on it and not on each other.
import type { CommandName, Principal } from "../auth/grants";
import type { ErrorClass } from "../errors";
import type { Database } from "../db/client";
import type { Config } from "../env";

export interface AppEnv {
  Bindings: Env;
  Variables: {
    config: Config;
    db: Database;
    principal: Principal;
    /** The hash of the bearer token the principal presented: a stream is bound to it. */
    token_hash: string;
    /** The request's id (X-Request-Id): in its problem body, its log lines, its events' correlation_id. */
    request_id: string;
    /** The grant the matched route requires, set by `requires`: what the request's metric counts it as. */
    command: CommandName;
    /** The refusal's class, when the request was refused: its log line and metric name it. */
    error_class: ErrorClass;
  };
}
