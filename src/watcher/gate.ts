// Whether the watcher's agent may act now: enabled, its actor present and
// active (the kill switch), its principal holding the read grants a tick
// needs. The Cron tick and a procedure object's step deadlines ask the same
// question here, so a kill switch stops both.
import { isAuthorized, WATCHER_ACT_COMMANDS, WATCHER_COMMANDS } from "../auth/grants";
import { activePrincipalById } from "../auth/principals";
import { findActor } from "../db/actors";
import type { Database } from "../db/client";
import { WATCHER_AGENT, type TickSummary } from "./stall";

export type WatcherGate =
  | { open: true; /** The agent may also hold (the act rung). */ mayHold: boolean }
  | { open: false; outcome: Exclude<TickSummary["outcome"], "ran"> };

/** The watcher's gates at `nowMs`; two D1 reads when enabled, none when not. */
export async function watcherGate(db: Database, enabled: boolean, nowMs: number): Promise<WatcherGate> {
  if (!enabled) return { open: false, outcome: "disabled" };
  const actor = await findActor(db, WATCHER_AGENT.id);
  if (!actor) return { open: false, outcome: "agent-missing" };
  if (!actor.active) return { open: false, outcome: "agent-inactive" };
  const principal = await activePrincipalById(db, WATCHER_AGENT.id, nowMs);
  if (!principal || !WATCHER_COMMANDS.every((command) => isAuthorized(principal, command))) return { open: false, outcome: "denied" };
  return { open: true, mayHold: WATCHER_ACT_COMMANDS.every((command) => isAuthorized(principal, command)) };
}
