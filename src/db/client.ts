import { drizzle } from "drizzle-orm/d1";
import * as schema from "./schema";

function open(d1: D1Database) {
  return drizzle(d1, { schema });
}

export type Database = ReturnType<typeof open>;

// drizzle derives its relational config from the schema on every call; the
// binding lives as long as the isolate, so one handle per binding is enough.
const handles = new WeakMap<D1Database, Database>();

/** The drizzle handle over the D1 binding. */
export function database(d1: D1Database): Database {
  let handle = handles.get(d1);
  if (!handle) {
    handle = open(d1);
    handles.set(d1, handle);
  }
  return handle;
}
