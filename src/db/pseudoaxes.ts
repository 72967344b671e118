// Pseudoaxis definitions: editable at any time, which is why conduct pins the
// list it resolved from them.
import { eq, inArray } from "drizzle-orm";
import type { PseudoaxisConstituent, Pseudoaxes } from "../conduct/resolve";
import type { Database } from "./client";
import { pseudoaxes } from "./schema";

export type PseudoaxisRecord = typeof pseudoaxes.$inferSelect;

export async function findPseudoaxis(db: Database, name: string): Promise<PseudoaxisRecord | null> {
  return (await db.query.pseudoaxes.findFirst({ where: eq(pseudoaxes.name, name) })) ?? null;
}

/** Creates or replaces a definition. */
export async function savePseudoaxis(
  db: Database,
  name: string,
  constituents: PseudoaxisConstituent[],
  principalId: string,
  now: string,
): Promise<PseudoaxisRecord> {
  const row = { name, constituents, updated_at: now, updated_by: principalId };
  await db.insert(pseudoaxes).values(row).onConflictDoUpdate({ target: pseudoaxes.name, set: row });
  return row;
}

/** The definitions among `addresses` (only those a request names are loaded). */
export async function loadPseudoaxes(db: Database, addresses: ReadonlySet<string>): Promise<Pseudoaxes> {
  if (addresses.size === 0) return new Map();
  const names = [...addresses];
  const found = new Map<string, PseudoaxisConstituent[]>();
  // D1 binds at most 100 parameters per statement.
  for (let i = 0; i < names.length; i += 90) {
    const rows = await db.select().from(pseudoaxes).where(inArray(pseudoaxes.name, names.slice(i, i + 90)));
    for (const row of rows) found.set(row.name, row.constituents);
  }
  return found;
}
