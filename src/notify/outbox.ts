// The procedure object's notification outbox: the notifications of a commit
// are written in the same transaction as its events, and the `notify` job
// hands them to the queue afterwards; each is removed only once the queue took
// it, and that removal may wait for the object's next write (its Cleanup). A
// queue outage delays them; a crash between the send and the removal resends
// them with the same webhook ids, which the consumer skips once delivered.
import type { Notification } from "./events";
import { jobRetryDelay } from "../procedure/object/schedule";

export const NOTIFY_JOB = "notify";
/** The alarm backstop for a send the object could not finish on its own. */
export const NOTIFY_BACKSTOP_MS = 10_000;
/** A commit this soon after the last send waits this long before its own, so a busy procedure sends its notifications a few at a time. */
export const NOTIFY_COALESCE_MS = 50;
/** Notifications per send (the queue's sendBatch limit). */
const SEND_LIMIT = 100;

/** Writes a commit's notifications; call inside the commit's transaction. True when there were any. */
export function recordNotifications(sql: SqlStorage, notifications: readonly Notification[]): boolean {
  for (const n of notifications) sql.exec("INSERT OR IGNORE INTO notifications (webhook_id, message) VALUES (?, ?)", n.webhook_id, JSON.stringify(n));
  return notifications.length > 0;
}

/**
 * Sends every notification after seq `after`, oldest first, and tells `sent`
 * the last seq of each batch the queue took. Throws when a send fails; what
 * was sent before stays sent.
 */
export async function sendPending(
  sql: SqlStorage,
  after: number,
  send: (batch: Notification[]) => Promise<void>,
  sent: (through: number) => void,
): Promise<void> {
  for (;;) {
    const rows = sql
      .exec<{ seq: number; message: string }>("SELECT seq, message FROM notifications WHERE seq > ? ORDER BY seq LIMIT ?", after, SEND_LIMIT)
      .toArray();
    if (rows.length === 0) return;
    await send(rows.map((row) => JSON.parse(row.message) as Notification));
    after = rows[rows.length - 1]!.seq;
    sent(after);
  }
}

/** Removes the notifications the queue took, through seq `through`. */
export function removeSent(sql: SqlStorage, through: number): void {
  sql.exec("DELETE FROM notifications WHERE seq <= ?", through);
}

/** When a send that failed `attempts + 1` times in a row is tried again: the schedule's one backoff table. */
export function retryAt(attempts: number, now: number): number {
  return now + jobRetryDelay(attempts);
}
