// The cross-procedure database (D1). drizzle-kit generates migrations/ from it.
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { PrincipalScopes } from "../auth/grants";
import type { PseudoaxisConstituent } from "../conduct/resolve";
import type { Notification } from "../notify/events";
import type { HoldCause } from "../procedure/events";
import type { WatchWindow } from "../watcher/stall";

/** One row per procedure, fed from each object's outbox; monotonic in `version`. */
export const procedureSummary = sqliteTable(
  "procedure_summary",
  {
    procedure_id: text().primaryKey(),
    name: text().notNull(),
    kind: text().notNull(),
    target_asset_ids: text({ mode: "json" }).$type<string[]>().notNull(),
    status: text().notNull(),
    activity_logbook_id: text(),
    registered_at: text().notNull(),
    last_status_changed_at: text(),
    last_status_reason: text(),
    interrupted_at: text(),
    hold_causes: text({ mode: "json" }).$type<HoldCause[]>().notNull(),
    version: integer().notNull(),
    /** Coarse mirror of the object's last activity: may lag the truth, never leads it. */
    last_activity_at: text(),
    updated_at: text().notNull(),
    /** When this procedure last made progress, as far as the projection can tell. */
    progress_at: text().generatedAlwaysAs(
      sql`CASE WHEN status = 'Running' AND last_activity_at > last_status_changed_at THEN last_activity_at ELSE last_status_changed_at END`,
      { mode: "stored" },
    ),
    /** The procedure's own Running window (conduct's stale_after_seconds); null: STALE_AFTER_SECONDS. */
    stale_after_seconds: integer(),
    /** Which stall window applies, as the watcher's core (`watchWindow`) computed it; null when not in conduct. */
    watch_window: text().$type<WatchWindow>(),
    /** When a procedure judged on its own window becomes stalled; null on the shared windows. */
    stall_due_at: text().generatedAlwaysAs(
      sql`CASE WHEN watch_window = 'own' THEN strftime('%Y-%m-%dT%H:%M:%fZ', progress_at, '+' || stale_after_seconds || ' seconds') END`,
      { mode: "stored" },
    ),
    /** The progress_at of the stall episode the watcher already decided on. */
    stall_flagged_at: text(),
    /** Pinned steps; null when not conducted. Written with each delivery. */
    step_count: integer(),
    /** Steps reported done, as of the delivery: a coarse mirror like last_activity_at. */
    completed_count: integer().notNull().default(0),
    /** The current stall episode has a Stall decision (the watcher flagged it and nothing progressed since). */
    stalled: integer({ mode: "boolean" }).generatedAlwaysAs(
      sql`watch_window IS NOT NULL AND stall_flagged_at IS NOT NULL AND stall_flagged_at = progress_at`,
      { mode: "virtual" },
    ),
    /** The attention order's rank: 0 Held or stalled, 1 Running, 2 the rest. */
    attention: integer().generatedAlwaysAs(
      sql`CASE WHEN status = 'Held' OR stalled THEN 0 WHEN status = 'Running' THEN 1 ELSE 2 END`,
      { mode: "virtual" },
    ),
    /** When the Cron Trigger asked the procedure's object to archive itself (the object keeps the request). */
    archive_requested_at: text(),
    /** When the procedure was archived: its record is in the ARCHIVE bucket, its object holds a tombstone. */
    archived_at: text(),
  },
  (t) => [
    index("procedure_summary_registered").on(t.registered_at, t.procedure_id),
    index("procedure_summary_status").on(t.status, t.registered_at, t.procedure_id),
    // Kinds match case-insensitively: the index carries the same collation, so the filter is a seek.
    index("procedure_summary_kind_nocase").on(sql`${t.kind} COLLATE NOCASE`, t.registered_at, t.procedure_id),
    index("procedure_summary_attention").on(t.attention, t.registered_at, t.procedure_id),
    // Only procedures in conduct whose current episode is not yet decided are in
    // this index, so a tick's cost follows the new candidates.
    index("procedure_summary_watch")
      .on(t.watch_window, t.progress_at, t.procedure_id)
      .where(sql`watch_window IS NOT NULL AND (stall_flagged_at IS NULL OR stall_flagged_at <> progress_at)`),
    // The same set narrowed to procedures on their own windows, in due order:
    // each has its own window, so progress_at alone cannot order them.
    index("procedure_summary_watch_own")
      .on(t.stall_due_at, t.procedure_id)
      .where(sql`watch_window = 'own' AND (stall_flagged_at IS NULL OR stall_flagged_at <> progress_at)`),
    // Finished procedures not yet asked to archive, oldest finish first: an
    // archive pass reads about as many rows as it archives.
    index("procedure_summary_archive")
      .on(t.last_status_changed_at, t.procedure_id)
      .where(sql`archive_requested_at IS NULL AND status IN ('Completed', 'Aborted', 'Truncated')`),
  ],
);

/**
 * One row per (target asset, procedure), inserted by a trigger with the first
 * insert of the procedure's summary (migrations/0006), so listing by asset is
 * a keyset walk of this table.
 * A procedure's targets never change after registration.
 */
export const procedureTargets = sqliteTable(
  "procedure_targets",
  {
    asset_id: text().notNull(),
    registered_at: text().notNull(),
    procedure_id: text().notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.asset_id, t.registered_at, t.procedure_id] }),
    // The asset filter matches case-insensitively (scopes stay exact, on the key above).
    index("procedure_targets_asset_nocase").on(sql`${t.asset_id} COLLATE NOCASE`, t.registered_at, t.procedure_id),
  ],
);

export const principals = sqliteTable("principals", {
  principal_id: text().primaryKey(),
  name: text().notNull(),
  roles: text({ mode: "json" }).$type<string[]>().notNull(),
  /** SHA-256 of the bearer token; the token itself is never stored. Null: no token (an agent). */
  token_hash: text().unique(),
  created_at: text().notNull(),
  /** The assets this principal may act on; null: every procedure. */
  scopes: text({ mode: "json" }).$type<PrincipalScopes>(),
  /** When the token stops working; null: never. */
  expires_at: text(),
  /** Once set, the token is refused; a revocation is never undone. */
  revoked_at: text(),
  revoked_reason: text(),
  /** When the token was last replaced (the previous one is refused from then on). */
  rotated_at: text(),
});

/** Who changed access or a shared definition, when and why: appended only, written in the same batch as the change. */
export const auditLog = sqliteTable(
  "audit_log",
  {
    audit_id: text().primaryKey(),
    action: text().notNull(),
    subject_id: text().notNull(),
    actor_id: text().notNull(),
    reason: text(),
    occurred_at: text().notNull(),
    /** A definition change's value before it (null: there was none) and after it; null for access changes. */
    before: text({ mode: "json" }).$type<unknown>(),
    after: text({ mode: "json" }).$type<unknown>(),
  },
  (t) => [
    index("audit_log_occurred").on(t.occurred_at, t.audit_id),
    index("audit_log_subject").on(t.subject_id, t.occurred_at, t.audit_id),
  ],
);

export const actors = sqliteTable("actors", {
  actor_id: text().primaryKey(),
  kind: text().notNull(),
  name: text().notNull(),
  active: integer({ mode: "boolean" }).notNull(),
  updated_at: text().notNull(),
});

export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    principal_id: text().notNull(),
    idempotency_key: text().notNull(),
    procedure_id: text().notNull(),
    request_hash: text().notNull(),
    created_at: text().notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.principal_id, t.idempotency_key] }),
    // Retention deletes expired keys oldest first, a bounded batch per tick.
    index("idempotency_keys_created").on(t.created_at),
  ],
);

/**
 * Named conduct requests a lab shares: the steps (as requested, unresolved:
 * a template resolves when a procedure is conducted from it), and the
 * defaults the console fills in when one starts from it.
 */
export const templates = sqliteTable("templates", {
  name: text().primaryKey(),
  description: text(),
  /** The kind a procedure started from the template is registered with; null: chosen each time. */
  kind: text(),
  /** The body of POST /v1/procedures/{id}/conduct, as validated when saved. */
  conduct: text({ mode: "json" }).$type<Record<string, unknown>>().notNull(),
  updated_at: text().notNull(),
  updated_by: text().notNull(),
});

export const pseudoaxes = sqliteTable("pseudoaxes", {
  name: text().primaryKey(),
  constituents: text({ mode: "json" }).$type<PseudoaxisConstituent[]>().notNull(),
  updated_at: text().notNull(),
  updated_by: text().notNull(),
});

export const decisions = sqliteTable(
  "decisions",
  {
    id: text().primaryKey(),
    context: text().notNull(),
    choice: text().notNull(),
    decided_by: text().notNull(),
    rule: text().notNull(),
    subject_id: text().notNull(),
    reasoning: text().notNull(),
    inputs: text({ mode: "json" }).$type<Record<string, unknown>>().notNull(),
    confidence_source: text().notNull(),
    parent_id: text(),
    override_kind: text(),
    recorded_at: text().notNull(),
  },
  (t) => [
    index("decisions_recorded").on(t.recorded_at, t.id),
    index("decisions_subject").on(t.subject_id, t.recorded_at, t.id),
  ],
);

/** The watcher's own memory between ticks: the last summary and the denial episode. */
export const watcherState = sqliteTable("watcher_state", {
  id: integer().primaryKey(),
  last_tick: text({ mode: "json" }).$type<Record<string, unknown>>(),
  denied_since: text(),
});

/**
 * Webhook subscriptions. The signing secret is kept only encrypted (AES-GCM
 * under a key derived from the WEBHOOK_SIGNING_KEY Worker secret), so a dump
 * of this table does not give it away. A deleted subscription keeps its row
 * (inactive) so that its delivery log stays consistent, but answers 404.
 */
export const subscriptions = sqliteTable(
  "subscriptions",
  {
    subscription_id: text().primaryKey(),
    url: text().notNull(),
    event_types: text({ mode: "json" }).$type<string[]>().notNull(),
    filter_kind: text(),
    filter_target_asset_id: text(),
    format: text().$type<"standard" | "slack">().notNull(),
    description: text(),
    secret_ciphertext: text().notNull(),
    created_by: text().notNull(),
    /** The creating principal's scope (target asset ids) when it had one: the subscription hears of nothing outside it. */
    scope_target_asset_ids: text({ mode: "json" }).$type<string[]>(),
    active: integer({ mode: "boolean" }).notNull(),
    created_at: text().notNull(),
    deleted_at: text(),
  },
  (t) => [
    index("subscriptions_listed").on(t.active, t.created_at, t.subscription_id),
    // Counting a principal's active subscriptions (its cap) reads only its own rows.
    index("subscriptions_by_creator").on(t.created_by, t.active),
  ],
);

/** One row per delivery attempt: what a subscriber's log shows. */
export const deliveries = sqliteTable(
  "deliveries",
  {
    delivery_id: text().primaryKey(),
    subscription_id: text().notNull(),
    webhook_id: text().notNull(),
    event_type: text().notNull(),
    attempt: integer().notNull(),
    status_code: integer(),
    outcome: text().$type<"delivered" | "retrying" | "failed">().notNull(),
    attempted_at: text().notNull(),
    /** The notification itself, kept on a `failed` row only, so an admin can send it again under its webhook-id. */
    notification: text({ mode: "json" }).$type<Notification>(),
  },
  (t) => [
    index("deliveries_by_subscription").on(t.subscription_id, t.attempted_at, t.delivery_id),
    index("deliveries_by_webhook").on(t.webhook_id, t.subscription_id, t.outcome),
    // GET /v1/deliveries?outcome=failed: a keyset walk, newest first.
    index("deliveries_by_outcome").on(t.outcome, t.attempted_at, t.delivery_id),
  ],
);

/**
 * Notifications committed with their source in D1 (a Stall decision's insert)
 * and not yet handed to the queue. The tick drains it; a row leaves only once
 * the queue accepted it.
 */
export const notificationOutbox = sqliteTable("notification_outbox", {
  webhook_id: text().primaryKey(),
  message: text().notNull(),
  created_at: text().notNull(),
});

/**
 * The watcher's recent ticks, one row each, for GET /v1/watcher and the
 * console's Health page. The tick prunes rows older than TICK_RETENTION_MS
 * (src/db/operations.ts), so the table stays about a day of ticks.
 */
export const watcherTicks = sqliteTable("watcher_ticks", {
  started_at: text().primaryKey(),
  outcome: text().notNull(),
  duration_ms: integer().notNull(),
  rows_read: integer().notNull(),
  candidates: integer().notNull(),
  flagged: integer().notNull(),
  acted: integer().notNull(),
  archived: integer().notNull(),
  failures: integer().notNull(),
});

/**
 * Refusals per minute and error class (RateLimited among them), summed by
 * each isolate and added here in batches: what the Health page shows, since
 * Analytics Engine cannot be read locally. Pruned by the tick.
 */
export const refusalCounts = sqliteTable(
  "refusal_counts",
  {
    /** The minute, as an ISO timestamp truncated to the minute (`2026-12-05T01:58:00.000Z`). */
    minute: text().notNull(),
    error_class: text().notNull(),
    count: integer().notNull(),
  },
  (t) => [primaryKey({ columns: [t.minute, t.error_class] })],
);
