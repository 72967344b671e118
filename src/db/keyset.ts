// Keyset paging on a two-column sort key, the way every listing pages.
import { and, gt, gte, lt, lte, or, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";

/** Rows strictly after (`"asc"`) or before (`"desc"`) the position (x, y) in (a, b) order. */
export function beyond(direction: "asc" | "desc", a: SQLiteColumn, b: SQLiteColumn, x: string, y: string): SQL | undefined {
  const past = direction === "asc" ? gt : lt;
  const from = direction === "asc" ? gte : lte;
  // The leading bound on `a` alone is what SQLite can seek an index to; the
  // OR alone would make it walk every earlier row of the index again.
  return and(from(a, x), or(past(a, x), past(b, y)));
}
