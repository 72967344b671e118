// Decisions: append-only records (a correction is a new decision with parent_id).
import { and, desc, eq, getTableColumns, sql } from "drizzle-orm";
import type { DecisionRecord } from "../decisions/vocabulary";
import type { Database } from "./client";
import { splitPage } from "../paging";
import type { PrincipalScopes } from "../auth/grants";
import { beyond } from "./keyset";
import { inScopeSql } from "./scope";
import { decisions, procedureTargets } from "./schema";

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

/** The query of one page, newest first, one row past the page; a test reads what it costs. */
export function decisionPageQuery(db: Database, filter: DecisionFilter, before: DecisionCursor | null, limit: number) {
  const t = decisions;
  // A scoped listing walks the target rows of the scope's assets, then each
  // procedure's decisions on decisions_subject (the CROSS JOIN keeps that
  // order), so its cost follows the procedures in scope, not every decision.
  const scopes = filter.subject_id ? null : filter.scopes;
  const conditions = and(
    filter.context ? eq(t.context, filter.context) : undefined,
    filter.choice ? eq(t.choice, filter.choice) : undefined,
    filter.subject_id ? eq(t.subject_id, filter.subject_id) : undefined,
    filter.subject_id ? inScopeSql(t.subject_id, filter.scopes) : undefined,
    scopes ? eq(t.subject_id, procedureTargets.procedure_id) : undefined,
    scopes ? sql`${procedureTargets.asset_id} IN (SELECT value FROM json_each(${JSON.stringify(scopes.target_asset_ids)}))` : undefined,
    before ? beyond("desc", t.recorded_at, t.id, before.recorded_at, before.id) : undefined,
  );
  // A procedure with two assets in the scope is walked twice: DISTINCT keeps its decisions once.
  const from = scopes ? db.selectDistinct(getTableColumns(t)).from(procedureTargets).crossJoin(t) : db.select().from(t);
  return from
    .where(conditions)
    .orderBy(desc(t.recorded_at), desc(t.id))
    .limit(limit + 1);
}

/** Newest first, keyset on (recorded_at, id). */
export async function listDecisions(db: Database, filter: DecisionFilter, before: DecisionCursor | null, limit: number) {
  const rows = await decisionPageQuery(db, filter, before, limit);
  return splitPage(rows, limit, (row) => ({ recorded_at: row.recorded_at, id: row.id }));
}
