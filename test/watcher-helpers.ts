// The watcher's tick as the tests run it: against the real projection and
// objects, with `now` injected and the configuration given, never the Cron's.
import { env } from "cloudflare:workers";
import { database } from "../src/db/client";
import { WATCHER_AGENT } from "../src/watcher/stall";
import { runTick, type TickDeps } from "../src/watcher/sweep";
import { procedureStub } from "./helpers";

/** The watcher on, with the documented windows. */
export const CONFIG = { enabled: true, staleAfterSeconds: 3600, heldStaleAfterSeconds: 86400 };

/** One tick at `nowMs`; `overrides` swap any of its dependencies (a failing read, another configuration). */
export function tick(nowMs: number, overrides: Partial<TickDeps> = {}) {
  return runTick({
    db: database(env.DB),
    d1: env.DB,
    config: CONFIG,
    nowMs,
    readProcedure: (id) => procedureStub(id).watchReading(),
    observeStall: (id, episode, mayHold) => procedureStub(id).observeStall(episode, mayHold),
    ...overrides,
  });
}

/** The watcher's agent as seeded: its actor active, its principal in the `watcher` role. */
export async function seededAgent() {
  await env.DB.batch([
    env.DB.prepare("UPDATE actors SET active = 1 WHERE actor_id = ?").bind(WATCHER_AGENT.id),
    env.DB.prepare(`UPDATE principals SET roles = '["watcher"]' WHERE principal_id = ?`).bind(WATCHER_AGENT.id),
  ]);
}
