// Pseudoaxis definitions: editable at any time, which is why conduct pins the
// list it resolved from them. A constituent is always a real address: a
// pseudoaxis never names another one, so resolution is one level deep.
import { eq, inArray, sql } from "drizzle-orm";
import type { PseudoaxisConstituent, Pseudoaxes } from "../conduct/resolve";
import { auditStatement } from "./audit";
import type { Database } from "./client";
import { pseudoaxes } from "./schema";

export type PseudoaxisRecord = typeof pseudoaxes.$inferSelect;

export async function findPseudoaxis(db: Database, name: string): Promise<PseudoaxisRecord | null> {
  return (await db.query.pseudoaxes.findFirst({ where: eq(pseudoaxes.name, name) })) ?? null;
}

export type SaveOutcome = { ok: true; saved: PseudoaxisRecord } | { ok: false; detail: string };

/**
 * Creates or replaces a definition unless a constituent is a pseudoaxis or `name` is already a
 * constituent of another pseudoaxis, and audits it (who, the constituents before and after).
 * Check, audit and write are one batch under one condition, so two concurrent definitions cannot
 * name each other, and no definition changes without its audit row nor the other way round.
 */
export async function savePseudoaxis(
  db: Database,
  name: string,
  constituents: PseudoaxisConstituent[],
  principalId: string,
  now: string,
  auditId: string,
): Promise<SaveOutcome> {
  const row = { name, constituents, updated_at: now, updated_by: principalId };
  const addresses = JSON.stringify(constituents.map((c) => c.address));
  const definable = sql`NOT EXISTS (SELECT 1 FROM pseudoaxes WHERE name IN (SELECT value FROM json_each(${addresses})))
      AND NOT EXISTS (
        SELECT 1 FROM pseudoaxes AS p, json_each(p.constituents) AS c
        WHERE p.name <> ${name} AND json_extract(c.value, '$.address') = ${name})`;
  // The audit row first: it reads the definition as it was before the write below.
  const audit = auditStatement(
    db,
    {
      audit_id: auditId,
      action: "pseudoaxis.defined",
      subject_id: name,
      actor_id: principalId,
      reason: null,
      occurred_at: now,
      before: sql`(SELECT constituents FROM pseudoaxes WHERE name = ${name})`,
      after: constituents,
    },
    definable,
  );
  const write = db
    .insert(pseudoaxes)
    .select(sql`SELECT ${name}, ${JSON.stringify(constituents)}, ${now}, ${principalId} WHERE ${definable}`)
    .onConflictDoUpdate({
      target: pseudoaxes.name,
      set: { constituents: sql`excluded.constituents`, updated_at: sql`excluded.updated_at`, updated_by: sql`excluded.updated_by` },
    });
  const [, result] = await db.batch([audit, write]);
  if (result.meta.changes > 0) return { ok: true, saved: row };
  return { ok: false, detail: await whyNotSaved(db, name, addresses) };
}

// Only after a refusal: names the definitions that stood in the way.
async function whyNotSaved(db: Database, name: string, addresses: string): Promise<string> {
  const named = await db.all<{ name: string }>(
    sql`SELECT name FROM pseudoaxes WHERE name IN (SELECT value FROM json_each(${addresses})) ORDER BY name LIMIT 5`,
  );
  if (named.length > 0) {
    return `constituents must be real addresses; ${named.map((r) => r.name).join(", ")} ${named.length > 1 ? "are pseudoaxes" : "is a pseudoaxis"}`;
  }
  const users = await db.all<{ name: string }>(sql`
    SELECT DISTINCT p.name AS name FROM pseudoaxes AS p, json_each(p.constituents) AS c
    WHERE p.name <> ${name} AND json_extract(c.value, '$.address') = ${name} ORDER BY p.name LIMIT 5`);
  return `${name} is a constituent of ${users.map((r) => r.name).join(", ") || "another pseudoaxis"}, so it must stay a real address`;
}

// D1 binds at most 100 parameters per statement.
async function definitionsAmong(db: Database, names: readonly string[], into: Map<string, PseudoaxisConstituent[]>) {
  for (let i = 0; i < names.length; i += 90) {
    const rows = await db.select().from(pseudoaxes).where(inArray(pseudoaxes.name, names.slice(i, i + 90)));
    for (const row of rows) into.set(row.name, row.constituents);
  }
}

/**
 * The definitions among `addresses` (only those a request names are loaded), and any definition
 * their constituents name, so resolution can refuse a pseudoaxis of a pseudoaxis stored before
 * definitions were checked.
 */
export async function loadPseudoaxes(db: Database, addresses: ReadonlySet<string>): Promise<Pseudoaxes> {
  const found = new Map<string, PseudoaxisConstituent[]>();
  if (addresses.size === 0) return found;
  await definitionsAmong(db, [...addresses], found);
  const constituents = new Set([...found.values()].flat().map((c) => c.address).filter((a) => !addresses.has(a)));
  await definitionsAmong(db, [...constituents], found);
  return found;
}
