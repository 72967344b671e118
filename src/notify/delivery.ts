// The queue consumer. A message is either a notification to fan out (one per
// committed source) or one delivery of it to one subscription. Fanning out in
// the consumer keeps the sources simple (they know nothing of subscriptions)
// and gives every delivery its own retries: one slow or failing receiver never
// delays or repeats another's.
import { Webhook } from "standardwebhooks";
import { database, type Database } from "../db/client";
import {
  activeSubscriptions,
  activeSubscriptionsById,
  deliveredPairs,
  recordDeadLetters,
  recordDeliveries,
  type StoredDelivery,
  type StoredSubscription,
} from "../db/subscriptions";
import { config, metricsFor } from "../env";
import { logLine } from "../observability/log";
import type { Metrics } from "../observability/metrics";
import { REQUEST_ID_HEADER } from "../observability/request-id";
import { uuidv7 } from "../ids";
import { matches, slackBody, standardBody, type Notification } from "./events";
import { decryptSecret } from "./secret";

export type NotifyMessage =
  | { kind: "fanout"; notification: Notification }
  | { kind: "delivery"; subscription_id: string; notification: Notification };

/** The dead-letter queue (wrangler.toml): the Worker's queue handler gives its batches to `consumeDeadLetters`. */
export const DEAD_LETTER_QUEUE = "procedure-edge-notifications-dlq";

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
  d1: D1Database;
  queue: Queue<NotifyMessage>;
  signingKey: string;
  /** PUBLIC_CONSOLE_URL: where Slack messages link to; null for no link. */
  consoleUrl: string | null;
  fetch: typeof fetch;
  now: () => number;
  /** Whether each attempt is logged as a line (TELEMETRY_ENABLED); failures to record always are. */
  logs: boolean;
  metrics: Metrics;
}

export function consumerDeps(env: Env): ConsumerDeps {
  return {
    db: database(env.DB),
    d1: env.DB,
    queue: env.NOTIFICATIONS as Queue<NotifyMessage>,
    signingKey: config(env).webhookSigningKey,
    consoleUrl: config(env).consoleUrl,
    fetch: (input, init) => fetch(input, init),
    now: () => Date.now(),
    logs: config(env).telemetry,
    metrics: metricsFor(env),
  };
}

/** Hands notifications to the queue for fanning out, 100 to a send. */
export async function enqueueNotifications(queue: Queue<NotifyMessage>, notifications: readonly Notification[]): Promise<void> {
  for (let i = 0; i < notifications.length; i += SEND_BATCH) {
    await queue.sendBatch(notifications.slice(i, i + SEND_BATCH).map((notification) => ({ body: { kind: "fanout", notification } })));
  }
}

/**
 * Handles a batch; every message is acked or retried on its own. The
 * deliveries share their reads and writes: one look at the subscriptions, one
 * at what was delivered already, one D1 batch for the attempts.
 */
export async function consume(batch: MessageBatch<NotifyMessage>, deps: ConsumerDeps): Promise<void> {
  const fanouts = batch.messages.filter((m) => m.body.kind === "fanout");
  const deliveries = batch.messages.filter((m): m is Message<DeliveryMessage> => m.body.kind === "delivery");
  await Promise.all([fanouts.length > 0 ? fanOut(fanouts, deps) : null, deliveries.length > 0 ? deliver(deliveries, deps) : null]);
}

type DeliveryMessage = Extract<NotifyMessage, { kind: "delivery" }>;

/**
 * The dead-letter queue's consumer: every message the notifications queue
 * gave up on is recorded as a `failed` delivery, with its notification kept so
 * an admin can send it again (POST /v1/deliveries/{id}/redeliver). A delivery
 * is recorded for its subscription, unless its last attempt already was; a
 * fan-out that never happened, for every subscription it would have reached.
 * The batch is recorded in one D1 batch, or retried as a whole.
 */
export async function consumeDeadLetters(batch: MessageBatch<NotifyMessage>, deps: ConsumerDeps): Promise<void> {
  const attemptedAt = new Date(deps.now()).toISOString();
  try {
    const fanouts = batch.messages.some((m) => m.body.kind === "fanout") ? await activeSubscriptions(deps.db, attemptedAt) : [];
    const rows = batch.messages.flatMap((message): StoredDelivery[] => {
      const body = message.body;
      const targets = body.kind === "delivery" ? [body.subscription_id] : fanouts.filter((s) => matches(s, body.notification)).map((s) => s.subscription_id);
      logLine("warn", {
        msg: "notification dead-lettered",
        request_id: body.notification.request_id ?? null,
        kind: body.kind,
        webhook_id: body.notification.webhook_id,
        subscriptions: targets.length,
      });
      return targets.map((subscription_id) => ({
        delivery_id: uuidv7(deps.now()),
        subscription_id,
        webhook_id: body.notification.webhook_id,
        event_type: body.notification.type,
        // A dead-lettered fan-out never reached its subscriptions: no attempt was made.
        attempt: body.kind === "delivery" ? MAX_DELIVERY_ATTEMPTS : 0,
        status_code: null,
        outcome: "failed",
        attempted_at: attemptedAt,
        notification: body.notification,
      }));
    });
    await recordDeadLetters(deps.d1, rows);
    batch.ackAll();
  } catch (error) {
    logLine("error", { msg: "dead letters deferred", count: batch.messages.length, error: String(error) });
    batch.retryAll({ delaySeconds: RETRY_DELAYS_SECONDS[0] });
  }
}

function retryDelay(attempt: number): number {
  return RETRY_DELAYS_SECONDS[Math.min(Math.max(attempt, 1), RETRY_DELAYS_SECONDS.length) - 1]!;
}

/** Our own failure (D1, the queue), not a receiver's: logged, and the message tried again like a delivery. */
function deferred(message: Message<NotifyMessage>, error: unknown): void {
  logLine("error", {
    msg: "notification deferred",
    request_id: message.body.notification.request_id ?? null,
    id: message.id,
    attempts: message.attempts,
    error: String(error),
  });
  message.retry({ delaySeconds: retryDelay(message.attempts) });
}

async function fanOut(messages: Message<NotifyMessage>[], deps: ConsumerDeps): Promise<void> {
  let subscriptions: StoredSubscription[];
  try {
    subscriptions = await activeSubscriptions(deps.db, new Date(deps.now()).toISOString());
  } catch (error) {
    for (const message of messages) deferred(message, error);
    return;
  }
  await Promise.all(
    messages.map(async (message) => {
      const notification = message.body.notification;
      const targets = subscriptions.filter((s) => matches(s, notification));
      try {
        for (let i = 0; i < targets.length; i += SEND_BATCH) {
          await deps.queue.sendBatch(
            targets.slice(i, i + SEND_BATCH).map((s) => ({ body: { kind: "delivery", subscription_id: s.subscription_id, notification } })),
          );
        }
        message.ack();
      } catch (error) {
        deferred(message, error);
      }
    }),
  );
}

async function deliver(messages: Message<DeliveryMessage>[], deps: ConsumerDeps): Promise<void> {
  let subscriptions: Map<string, StoredSubscription>;
  let delivered: Set<string>;
  try {
    [subscriptions, delivered] = await Promise.all([
      activeSubscriptionsById(deps.db, messages.map((m) => m.body.subscription_id), new Date(deps.now()).toISOString()),
      deliveredPairs(deps.db, messages.map((m) => m.body.notification.webhook_id)),
    ]);
  } catch (error) {
    for (const message of messages) deferred(message, error);
    return;
  }
  const secrets = new Map<string, Promise<string>>();
  const attempts: Array<{ message: Message<DeliveryMessage>; row: StoredDelivery }> = [];
  await Promise.all(
    messages.map(async (message) => {
      const { subscription_id, notification } = message.body;
      const subscription = subscriptions.get(subscription_id);
      // Deleted (or its creator revoked or expired) since it was fanned out, or already delivered: nothing more to send.
      if (!subscription || delivered.has(`${notification.webhook_id} ${subscription_id}`)) return message.ack();
      const sentAt = deps.now();
      const status = await attempt(subscription, notification, secrets, deps);
      const latency_ms = deps.now() - sentAt;
      const ok = status !== null && status >= 200 && status < 300;
      const row: StoredDelivery = {
        delivery_id: uuidv7(deps.now()),
        subscription_id,
        webhook_id: notification.webhook_id,
        event_type: notification.type,
        attempt: message.attempts,
        status_code: status,
        outcome: ok ? "delivered" : message.attempts >= MAX_DELIVERY_ATTEMPTS ? "failed" : "retrying",
        attempted_at: new Date(deps.now()).toISOString(),
        notification: null,
      };
      if (row.outcome === "failed") row.notification = notification;
      attempts.push({ message, row });
      logLine(
        "info",
        {
          msg: "delivery attempt",
          request_id: notification.request_id ?? null,
          webhook_id: notification.webhook_id,
          event_type: notification.type,
          subscription_id,
          attempt: row.attempt,
          status_code: status,
          outcome: row.outcome,
          latency_ms,
        },
        deps.logs,
      );
      deps.metrics.write({
        kind: "delivery",
        outcome: row.outcome as "delivered" | "retrying" | "failed",
        event_type: notification.type,
        subscription_id,
        latency_ms,
        status_code: status ?? 0,
        attempt: row.attempt,
      });
    }),
  );
  try {
    await recordDeliveries(deps.d1, attempts.map((a) => a.row));
  } catch (error) {
    // Unrecorded attempts are tried again; a receiver may see a delivered one twice, under the same webhook-id.
    for (const { message } of attempts) deferred(message, error);
    return;
  }
  for (const { message, row } of attempts) {
    if (row.outcome === "delivered") message.ack();
    // After the last attempt the retry hands the message to the dead-letter queue.
    else message.retry({ delaySeconds: retryDelay(message.attempts) });
  }
}

/**
 * One delivery attempt, walled off from the rest of the batch: a secret that
 * does not decrypt or a signing error is logged and counts as an attempt with
 * no answer (status null), so only this message is retried and the others of
 * the batch are delivered (and acked) once.
 */
async function attempt(
  subscription: StoredSubscription,
  notification: Notification,
  secrets: Map<string, Promise<string>>,
  deps: ConsumerDeps,
): Promise<number | null> {
  const { subscription_id } = subscription;
  let body: string;
  let headers: Record<string, string>;
  try {
    let secret = secrets.get(subscription_id);
    if (!secret) secrets.set(subscription_id, (secret = decryptSecret(deps.signingKey, subscription_id, subscription.secret_ciphertext)));
    body = subscription.format === "slack" ? slackBody(notification, deps.consoleUrl) : standardBody(notification);
    headers = signedHeaders(await secret, notification.webhook_id, body, new Date(deps.now()));
    // The request that gave the notification, for a receiver to quote back.
    if (notification.request_id) headers[REQUEST_ID_HEADER] = notification.request_id;
  } catch (error) {
    logLine("error", { msg: "delivery not signed", request_id: notification.request_id ?? null, subscription_id, webhook_id: notification.webhook_id, error: String(error) });
    return null;
  }
  return post(subscription.url, body, headers, deps);
}

function signedHeaders(secret: string, webhookId: string, body: string, at: Date): Record<string, string> {
  return {
    "content-type": "application/json",
    "user-agent": "procedure-edge-webhooks",
    "webhook-id": webhookId,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign(webhookId, at, body),
  };
}

/** Posts the signed body; the status, or null when the receiver gave no answer in time (or the POST failed). */
async function post(url: string, body: string, headers: Record<string, string>, deps: ConsumerDeps): Promise<number | null> {
  try {
    const response = await deps.fetch(url, {
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
