// Conduct templates: named step lists a lab shares, kept in D1 and listed by name.
import { asc, eq, gt } from "drizzle-orm";
import { splitPage } from "../paging";
import type { Database } from "./client";
import { templates } from "./schema";

export type TemplateRecord = typeof templates.$inferSelect;

export async function findTemplate(db: Database, name: string): Promise<TemplateRecord | null> {
  return (await db.query.templates.findFirst({ where: eq(templates.name, name) })) ?? null;
}

/** Creates or replaces the template named `row.name`: one statement. */
export async function saveTemplate(db: Database, row: TemplateRecord): Promise<void> {
  const { name: _name, ...changed } = row;
  await db.insert(templates).values(row).onConflictDoUpdate({ target: templates.name, set: changed }).run();
}

/** True when a template was there to delete. */
export async function deleteTemplate(db: Database, name: string): Promise<boolean> {
  const result = await db.delete(templates).where(eq(templates.name, name)).run();
  return result.meta.changes > 0;
}

/** One page of templates in name order, after the name `after`: a walk of the primary key. */
export async function listTemplates(db: Database, after: string | null, limit: number) {
  const rows = await db
    .select()
    .from(templates)
    .where(after === null ? undefined : gt(templates.name, after))
    .orderBy(asc(templates.name))
    .limit(limit + 1);
  return splitPage(rows, limit, (row) => ({ name: row.name }));
}
