// Hands the D1 notification outbox (Stall decisions) to the queue. The tick
// runs it after its sweep; what a D1 or queue outage leaves is sent by a later
// tick, under the same webhook ids.
import type { Database } from "../db/client";
import { pendingOutbox, removeFromOutbox } from "../db/subscriptions";
import { enqueueNotifications, type NotifyMessage } from "./delivery";

const DRAIN_PAGE = 100;
/** A backlog beyond this waits for the next tick, so one tick's work stays bounded. */
const DRAIN_MAX_PAGES = 10;

/** Sends pending rows oldest first, removing each page once the queue took it; answers how many were sent. */
export async function drainOutbox(db: Database, d1: D1Database, queue: Queue<NotifyMessage>): Promise<number> {
  let sent = 0;
  for (let page = 0; page < DRAIN_MAX_PAGES; page++) {
    const rows = await pendingOutbox(db, DRAIN_PAGE);
    if (rows.length === 0) break;
    await enqueueNotifications(queue, rows.map((row) => row.notification));
    await removeFromOutbox(d1, rows.map((row) => row.webhook_id));
    sent += rows.length;
    if (rows.length < DRAIN_PAGE) break;
  }
  return sent;
}
