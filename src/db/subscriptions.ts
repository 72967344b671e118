// Webhook subscriptions, their delivery log and the D1 notification outbox.
import { and, asc, desc, eq, getTableColumns, gt, inArray, isNotNull, isNull, or, sql, type SQL } from "drizzle-orm";
import { BOOTSTRAP_ADMIN_ID } from "../auth/principals";
import type { Notification } from "../notify/events";
import { splitPage } from "../paging";
import type { Database } from "./client";
import { beyond } from "./keyset";
import { deliveries, notificationOutbox, principals, subscriptions } from "./schema";

export type StoredSubscription = typeof subscriptions.$inferSelect;
export type StoredDelivery = typeof deliveries.$inferSelect;

export async function insertSubscription(db: Database, row: typeof subscriptions.$inferInsert): Promise<void> {
  await db.insert(subscriptions).values(row);
}

/** How many active subscriptions a principal created, counted up to `upTo` (its index reads no more). */
export async function countActiveSubscriptions(db: Database, createdBy: string, upTo: number): Promise<number> {
  const t = subscriptions;
  const mine = db
    .select({ one: sql`1` })
    .from(t)
    .where(and(eq(t.created_by, createdBy), eq(t.active, true)))
    .limit(upTo);
  const [row] = await db.select({ n: sql<number>`count(*)` }).from(mine.as("mine"));
  return row?.n ?? 0;
}

/** An active subscription the principal may see: a scoped principal sees only its own. */
export async function findSubscription(db: Database, id: string, ownedBy: string | null): Promise<StoredSubscription | null> {
  const t = subscriptions;
  const row = await db.query.subscriptions.findFirst({
    where: and(eq(t.subscription_id, id), eq(t.active, true), ownedBy === null ? undefined : eq(t.created_by, ownedBy)),
  });
  return row ?? null;
}

export interface SubscriptionCursor {
  created_at: string;
  subscription_id: string;
}

/** Oldest first, keyset on (created_at, subscription_id). */
export async function listSubscriptions(db: Database, ownedBy: string | null, after: SubscriptionCursor | null, limit: number) {
  const t = subscriptions;
  const rows = await db
    .select()
    .from(t)
    .where(
      and(
        eq(t.active, true),
        ownedBy === null ? undefined : eq(t.created_by, ownedBy),
        after ? beyond("asc", t.created_at, t.subscription_id, after.created_at, after.subscription_id) : undefined,
      ),
    )
    .orderBy(asc(t.created_at), asc(t.subscription_id))
    .limit(limit + 1);
  return splitPage(rows, limit, (row) => ({ created_at: row.created_at, subscription_id: row.subscription_id }));
}

/** Stops deliveries: the consumer checks `active` before every attempt. True when it was active. */
export async function deactivateSubscription(db: Database, id: string, now: string): Promise<boolean> {
  const t = subscriptions;
  const result = await db
    .update(t)
    .set({ active: false, deleted_at: now })
    .where(and(eq(t.subscription_id, id), eq(t.active, true)))
    .returning({ id: t.subscription_id });
  return result.length > 0;
}

/**
 * The subscriptions that are served at `now`: active, and created by a
 * principal that may still act (stored, not revoked, not expired; the
 * bootstrap admin is the ADMIN_TOKEN secret, not a stored row, and always
 * may). Joined in the one query, so a revoked or expired principal's
 * subscriptions stop without a look-up per message.
 */
function served(db: Database, now: string, where?: SQL) {
  const s = subscriptions;
  const p = principals;
  const creatorLive = or(
    eq(s.created_by, BOOTSTRAP_ADMIN_ID),
    and(isNotNull(p.principal_id), isNull(p.revoked_at), or(isNull(p.expires_at), gt(p.expires_at, now))),
  );
  return db
    .select(getTableColumns(s))
    .from(s)
    .leftJoin(p, eq(p.principal_id, s.created_by))
    .where(and(eq(s.active, true), creatorLive, where));
}

/** Every served subscription (see `served`), for fanning a notification out. */
export async function activeSubscriptions(db: Database, now: string): Promise<StoredSubscription[]> {
  return served(db, now);
}

export interface DeliveryCursor {
  attempted_at: string;
  delivery_id: string;
}

export type DeliveryOutcome = StoredDelivery["outcome"];

/**
 * Newest first, keyset on (attempted_at, delivery_id): one subscription's
 * attempts, or every attempt with one outcome (each has its index).
 */
export async function listDeliveries(
  db: Database,
  of: { subscription_id: string } | { outcome: DeliveryOutcome },
  before: DeliveryCursor | null,
  limit: number,
) {
  const rows = await deliveriesPageQuery(db, of, before, limit);
  return splitPage(rows, limit, (row) => ({ attempted_at: row.attempted_at, delivery_id: row.delivery_id }));
}

/** The statement behind `listDeliveries` (one row past the page), for a test to read its cost. */
export function deliveriesPageQuery(
  db: Database,
  of: { subscription_id: string } | { outcome: DeliveryOutcome },
  before: DeliveryCursor | null,
  limit: number,
) {
  const t = deliveries;
  return db
    .select()
    .from(t)
    .where(
      and(
        "subscription_id" in of ? eq(t.subscription_id, of.subscription_id) : eq(t.outcome, of.outcome),
        before ? beyond("desc", t.attempted_at, t.delivery_id, before.attempted_at, before.delivery_id) : undefined,
      ),
    )
    .orderBy(desc(t.attempted_at), desc(t.delivery_id))
    .limit(limit + 1);
}

/** D1 binds at most 100 parameters to a statement: lists go in slices of this many. */
const IN_LIST = 90;

function slices<T>(items: readonly T[]): T[][] {
  const unique = [...new Set(items)];
  return Array.from({ length: Math.ceil(unique.length / IN_LIST) }, (_, i) => unique.slice(i * IN_LIST, (i + 1) * IN_LIST));
}

/** The served subscriptions among `ids` (see `served`), by id. */
export async function activeSubscriptionsById(db: Database, ids: readonly string[], now: string): Promise<Map<string, StoredSubscription>> {
  const found = await Promise.all(slices(ids).map((some) => served(db, now, inArray(subscriptions.subscription_id, some))));
  return new Map(found.flat().map((row) => [row.subscription_id, row]));
}

/** `${webhook_id} ${subscription_id}` of the pairs already delivered: a redelivered message is not sent again. */
export async function deliveredPairs(db: Database, webhookIds: readonly string[]): Promise<Set<string>> {
  const t = deliveries;
  const found = await Promise.all(
    slices(webhookIds).map((some) =>
      db
        .select({ webhook_id: t.webhook_id, subscription_id: t.subscription_id })
        .from(t)
        .where(and(inArray(t.webhook_id, some), eq(t.outcome, "delivered"))),
    ),
  );
  return new Set(found.flat().map((row) => `${row.webhook_id} ${row.subscription_id}`));
}

const INSERT_DELIVERY = `INSERT INTO deliveries (delivery_id, subscription_id, webhook_id, event_type, attempt, status_code, outcome, attempted_at, notification)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)`;

function deliveryValues(row: StoredDelivery) {
  const kept = row.notification === null ? null : JSON.stringify(row.notification);
  return [row.delivery_id, row.subscription_id, row.webhook_id, row.event_type, row.attempt, row.status_code, row.outcome, row.attempted_at, kept];
}

/** Records a batch's attempts in one D1 batch. */
export async function recordDeliveries(d1: D1Database, rows: readonly StoredDelivery[]): Promise<void> {
  if (rows.length === 0) return;
  await d1.batch(rows.map((row) => d1.prepare(INSERT_DELIVERY).bind(...deliveryValues(row))));
}

/**
 * Records dead letters as `failed` deliveries in one D1 batch, each only when
 * the pair has no `failed` or `delivered` row yet: a delivery whose last
 * attempt was recorded `failed` is not recorded twice when it reaches the
 * dead-letter queue.
 */
export async function recordDeadLetters(d1: D1Database, rows: readonly StoredDelivery[]): Promise<void> {
  if (rows.length === 0) return;
  await d1.batch(
    rows.map((row) =>
      d1
        .prepare(
          `INSERT INTO deliveries (delivery_id, subscription_id, webhook_id, event_type, attempt, status_code, outcome, attempted_at, notification)
           SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9
           WHERE NOT EXISTS (SELECT 1 FROM deliveries WHERE webhook_id = ?3 AND subscription_id = ?2 AND outcome IN ('failed', 'delivered'))`,
        )
        .bind(...deliveryValues(row)),
    ),
  );
}

/** One delivery attempt by id. */
export async function findDelivery(db: Database, id: string): Promise<StoredDelivery | null> {
  return (await db.query.deliveries.findFirst({ where: eq(deliveries.delivery_id, id) })) ?? null;
}

/**
 * The statement that puts a Stall decision's notification in the outbox. It
 * must run right after the decision's insert in the same batch: it inserts
 * only when that insert did (`changes()`), so a decision seen again by a later
 * or overlapping tick is not announced again. The subject's kind and targets
 * come from the projection row the tick read.
 */
export function outboxAfterInsertStatement(d1: D1Database, notification: Notification, now: string): D1PreparedStatement {
  return d1
    .prepare("INSERT OR IGNORE INTO notification_outbox (webhook_id, message, created_at) SELECT ?1, ?2, ?3 WHERE changes() > 0")
    .bind(notification.webhook_id, JSON.stringify(notification), now);
}

/** The oldest pending outbox rows. */
export async function pendingOutbox(db: Database, limit: number): Promise<Array<{ webhook_id: string; notification: Notification }>> {
  const rows = await db.select().from(notificationOutbox).orderBy(asc(notificationOutbox.created_at)).limit(limit);
  return rows.map((row) => ({ webhook_id: row.webhook_id, notification: JSON.parse(row.message) as Notification }));
}

export async function removeFromOutbox(d1: D1Database, webhookIds: readonly string[]): Promise<void> {
  if (webhookIds.length === 0) return;
  await d1.batch(webhookIds.map((id) => d1.prepare("DELETE FROM notification_outbox WHERE webhook_id = ?").bind(id)));
}
