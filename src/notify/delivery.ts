// The queue consumer. A message is either a notification to fan out (one per
// committed source) or one delivery of it to one subscription. Fanning out in
// the consumer keeps the sources simple (they know nothing of subscriptions)
// and gives every delivery its own retries: one slow or failing receiver never
// delays or repeats another's.
import { Webhook } from "standardwebhooks";
import { database, type Database } from "../db/client";
import { activeSubscriptions, alreadyDelivered, findSubscription, recordDelivery, type StoredSubscription } from "../db/subscriptions";
import { uuidv7 } from "../ids";
import { matches, slackBody, standardBody, type Notification } from "./events";
import { decryptSecret } from "./secret";

export type NotifyMessage =
  | { kind: "fanout"; notification: Notification }
  | { kind: "delivery"; subscription_id: string; notification: Notification };

/** Attempts per delivery; the queue's max_retries (wrangler.toml) is one less, so the last failure goes to the dead-letter queue. */
export const MAX_DELIVERY_ATTEMPTS = 6;
/** Delay before attempt n + 1 after attempt n failed (the last repeats). */
export const RETRY_DELAYS_SECONDS = [10, 60, 300, 1800, 3600] as const;
/** No receiver holds a delivery longer than this. */
export const DELIVERY_TIMEOUT_MS = 10_000;
/** sendBatch takes at most 100 messages. */
const SEND_BATCH = 100;

export interface ConsumerDeps {
  db: Database;
  queue: Queue<NotifyMessage>;
  signingKey: string;
  fetch: typeof fetch;
  now: () => number;
}

export function consumerDeps(env: Env): ConsumerDeps {
  return {
    db: database(env.DB),
    queue: env.NOTIFICATIONS as Queue<NotifyMessage>,
    signingKey: env.WEBHOOK_SIGNING_KEY,
    fetch: (input, init) => fetch(input, init),
    now: () => Date.now(),
  };
}

/** Hands notifications to the queue for fanning out, 100 to a send. */
export async function enqueueNotifications(queue: Queue<NotifyMessage>, notifications: readonly Notification[]): Promise<void> {
  for (let i = 0; i < notifications.length; i += SEND_BATCH) {
    await queue.sendBatch(notifications.slice(i, i + SEND_BATCH).map((notification) => ({ body: { kind: "fanout", notification } })));
  }
}

/** Handles a batch; every message is acked or retried on its own, all at once. */
export async function consume(batch: MessageBatch<NotifyMessage>, deps: ConsumerDeps): Promise<void> {
  await Promise.all(batch.messages.map((message) => handle(message, deps)));
}

async function handle(message: Message<NotifyMessage>, deps: ConsumerDeps): Promise<void> {
  try {
    const body = message.body;
    if (body.kind === "fanout") await fanOut(body.notification, deps);
    else await deliverOnce(message, body.subscription_id, body.notification, deps);
    message.ack();
  } catch (error) {
    // A receiver's refusal is in the delivery log already; anything else is our
    // own failure (D1, the queue), logged and tried again the same way.
    if (!(error instanceof ReceiverRefused)) console.error(JSON.stringify({ msg: "notification deferred", id: message.id, attempts: message.attempts, error: String(error) }));
    message.retry({ delaySeconds: retryDelay(message.attempts) });
  }
}

function retryDelay(attempt: number): number {
  return RETRY_DELAYS_SECONDS[Math.min(attempt, RETRY_DELAYS_SECONDS.length) - 1] ?? RETRY_DELAYS_SECONDS[0];
}

async function fanOut(notification: Notification, deps: ConsumerDeps): Promise<void> {
  const targets = (await activeSubscriptions(deps.db)).filter((s) => matches(s, notification));
  for (let i = 0; i < targets.length; i += SEND_BATCH) {
    await deps.queue.sendBatch(
      targets.slice(i, i + SEND_BATCH).map((s) => ({ body: { kind: "delivery", subscription_id: s.subscription_id, notification } })),
    );
  }
}

/** One attempt; a receiver's refusal is recorded and retried by the queue, never thrown. */
async function deliverOnce(message: Message<NotifyMessage>, subscriptionId: string, notification: Notification, deps: ConsumerDeps) {
  // Deleted since it was fanned out: nothing more goes to it.
  const subscription = await findSubscription(deps.db, subscriptionId, null);
  if (!subscription) return;
  if (await alreadyDelivered(deps.db, notification.webhook_id, subscriptionId)) return;
  const attempt = message.attempts;
  const status = await post(subscription, notification, deps);
  const ok = status !== null && status >= 200 && status < 300;
  const last = attempt >= MAX_DELIVERY_ATTEMPTS;
  await recordDelivery(deps.db, {
    delivery_id: uuidv7(deps.now()),
    subscription_id: subscriptionId,
    webhook_id: notification.webhook_id,
    event_type: notification.type,
    attempt,
    status_code: status,
    outcome: ok ? "delivered" : last ? "failed" : "retrying",
    attempted_at: new Date(deps.now()).toISOString(),
  });
  if (ok) return;
  // After the last attempt the retry hands the message to the dead-letter queue.
  throw new ReceiverRefused(status);
}

class ReceiverRefused extends Error {
  constructor(status: number | null) {
    super(status === null ? "no answer" : `answered ${status}`);
  }
}

/** Posts the signed body; the status, or null when the receiver gave no answer in time. */
async function post(subscription: StoredSubscription, notification: Notification, deps: ConsumerDeps): Promise<number | null> {
  const secret = await decryptSecret(deps.signingKey, subscription.subscription_id, subscription.secret_ciphertext);
  const body = subscription.format === "slack" ? slackBody(notification, subscription.origin) : standardBody(notification);
  const at = new Date(deps.now());
  const headers = {
    "content-type": "application/json",
    "user-agent": "procedure-edge-webhooks",
    "webhook-id": notification.webhook_id,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign(notification.webhook_id, at, body),
  };
  try {
    const response = await deps.fetch(subscription.url, {
      method: "POST",
      headers,
      body,
      // A redirect is an answer (3xx, so not delivered), never followed elsewhere.
      redirect: "manual",
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    });
    // The answer's body is never read: a huge or endless one costs nothing.
    await response.body?.cancel();
    return response.status;
  } catch {
    return null;
  }
}
