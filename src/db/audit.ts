// The audit trail of access changes (who changed which principal or actor,
// when and why) and of shared definitions (a pseudoaxis: who, before, after).
// Rows are only appended, each in the batch of the change it records.
import { and, desc, eq, sql, type SQL } from "drizzle-orm";
import type { Database } from "./client";
import { beyond } from "./keyset";
import { splitPage } from "../paging";
import { auditLog } from "./schema";

export const AUDIT_ACTIONS = [
  "principal.created",
  "principal.revoked",
  "principal.rotated",
  "principal.scoped",
  "actor.deactivated",
  "actor.activated",
  "pseudoaxis.defined",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEntry {
  audit_id: string;
  action: AuditAction;
  subject_id: string;
  actor_id: string;
  reason: string | null;
  occurred_at: string;
  /** A definition change's stored value before it, read in the change's own batch (JSON text; NULL when new). */
  before?: SQL;
  /** A definition change's value after it. */
  after?: unknown;
}

/** The audit row of a change, written only when `condition` holds when it runs (same batch as the change). */
export function auditStatement(db: Database, entry: AuditEntry, condition: SQL = sql`true`) {
  const after = entry.after === undefined ? null : JSON.stringify(entry.after);
  return db
    .insert(auditLog)
    .select(
      sql`SELECT ${entry.audit_id}, ${entry.action}, ${entry.subject_id}, ${entry.actor_id}, ${entry.reason}, ${entry.occurred_at}, ${entry.before ?? null}, ${after} WHERE ${condition}`,
    );
}

export interface AuditCursor {
  occurred_at: string;
  audit_id: string;
}

/** Newest first, keyset on (occurred_at, audit_id); by subject it walks that subject's index. */
export async function listAudit(db: Database, subjectId: string | undefined, before: AuditCursor | null, limit: number) {
  const t = auditLog;
  const rows = await db
    .select()
    .from(t)
    .where(
      and(
        subjectId !== undefined ? eq(t.subject_id, subjectId) : undefined,
        before ? beyond("desc", t.occurred_at, t.audit_id, before.occurred_at, before.audit_id) : undefined,
      ),
    )
    .orderBy(desc(t.occurred_at), desc(t.audit_id))
    .limit(limit + 1);
  return splitPage(rows, limit, (row) => ({ occurred_at: row.occurred_at, audit_id: row.audit_id }));
}
