// Decisions: append-only records (a correction is a new decision with parent_id).
import { and, desc, eq } from "drizzle-orm";
import type { DecisionRecord } from "../decisions/vocabulary";
import type { Database } from "./client";
import { splitPage } from "../paging";
import type { PrincipalScopes } from "../auth/grants";
import { beyond } from "./keyset";
import { inScopeSql } from "./scope";
import { decisions } from "./schema";

export type StoredDecision = typeof decisions.$inferSelect;

/** The statement that records a decision once: a repeated id is ignored, never edited. */
export function insertDecisionStatement(d1: D1Database, decision: DecisionRecord): D1PreparedStatement {
  return d1
    .prepare(
      `INSERT OR IGNORE INTO decisions (id, context, choice, decided_by, rule, subject_id, reasoning, inputs,
         confidence_source, parent_id, override_kind, recorded_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .bind(
      decision.id,
      decision.context,
      decision.choice,
      decision.decided_by,
      decision.rule,
      decision.subject_id,
      decision.reasoning,
      JSON.stringify(decision.inputs),
      decision.confidence_source,
      decision.parent_id,
      decision.override_kind,
      decision.recorded_at,
    );
}

/** The decision, unless its subject is a procedure outside the caller's scopes. */
export async function findDecision(db: Database, id: string, scopes: PrincipalScopes | null): Promise<StoredDecision | null> {
  return (await db.query.decisions.findFirst({ where: and(eq(decisions.id, id), inScopeSql(decisions.subject_id, scopes)) })) ?? null;
}

export interface DecisionFilter {
  /** The caller's scopes: only decisions about procedures within them are listed. */
  scopes: PrincipalScopes | null;
  context?: string | undefined;
  choice?: string | undefined;
  subject_id?: string | undefined;
}

export interface DecisionCursor {
  recorded_at: string;
  id: string;
}

/** Newest first, keyset on (recorded_at, id). */
export async function listDecisions(db: Database, filter: DecisionFilter, before: DecisionCursor | null, limit: number) {
  const t = decisions;
  const rows = await db
    .select()
    .from(t)
    .where(
      and(
        filter.context ? eq(t.context, filter.context) : undefined,
        filter.choice ? eq(t.choice, filter.choice) : undefined,
        filter.subject_id ? eq(t.subject_id, filter.subject_id) : undefined,
        inScopeSql(t.subject_id, filter.scopes),
        before ? beyond("desc", t.recorded_at, t.id, before.recorded_at, before.id) : undefined,
      ),
    )
    .orderBy(desc(t.recorded_at), desc(t.id))
    .limit(limit + 1);
  return splitPage(rows, limit, (row) => ({ recorded_at: row.recorded_at, id: row.id }));
}
