// Keyset paging on a two-column sort key, the way both listings page.
import { and, eq, gt, lt, or, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";

/** Rows strictly after (`"asc"`) or before (`"desc"`) the position (x, y) in (a, b) order. */
export function beyond(direction: "asc" | "desc", a: SQLiteColumn, b: SQLiteColumn, x: string, y: string): SQL | undefined {
  const past = direction === "asc" ? gt : lt;
  return or(past(a, x), and(eq(a, x), past(b, y)));
}
