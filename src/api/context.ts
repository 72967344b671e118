// What every request carries through the middleware chain: its own module, so
// the app factory and the middleware it mounts depend on it and not on each other.
import type { Principal } from "../auth/grants";
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
    correlation_id: string;
  };
}
